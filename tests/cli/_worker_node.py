"""Run a second Ray node on this machine, joined to a head on 127.0.0.1 (test harness).

``ray start --address`` refuses to add a node while ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
keeps Ray on loopback, so this starts the node the way Ray's own multi-node test
utilities do. It stands in for a second machine; stops (with its processes) on SIGTERM.
It prints its node ID and its raylet's PID (node-loss tests kill that raylet).

    python _worker_node.py GCS_ADDRESS TEMP_DIR '{"special": 1}' [NUM_CPUS]
"""

import json
import signal
import sys
import time

import ray  # noqa: F401  (initialises Ray's configuration from the environment)
from ray._private import ray_constants
from ray._private.node import Node
from ray._private.parameter import RayParams


def main() -> None:
    gcs_address, temp_dir, resources = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    num_cpus = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    params = RayParams(
        gcs_address=gcs_address,
        node_ip_address="127.0.0.1",
        num_cpus=num_cpus,
        resources=resources,
        temp_dir=temp_dir,
        include_log_monitor=False,
        node_manager_port=0,
        min_worker_port=0,
        max_worker_port=0,
        dashboard_agent_listen_port=None,
        object_store_memory=150 * 1024 * 1024,
    )
    node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    print(node.node_id, raylet, flush=True)  # the node, and its raylet to kill
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()

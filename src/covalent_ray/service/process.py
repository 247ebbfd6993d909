"""The service process: the long-lived Ray driver behind ``covalent-ray start``.

It creates the detached dispatcher and result manager actors and then stays connected,
serving the HTTP API and dashboard (``covalent_ray.api``) when ``--api-host`` is given.
Staying connected matters for speed: Ray attributes the tasks a detached actor submits
to the job that created the actor, and once that job's driver has exited, every task
gets a freshly started worker process (0.6-0.8 s each, measured) instead of a reused one
(a few ms).

Run as ``python -m covalent_ray.service.process --home DIR [--api-host H --api-port P]``
(the API token, if any, comes in ``$COVALENT_RAY_API_TOKEN``, never on the command line);
stops on SIGTERM/SIGINT. The HTTP port is bound before anything else starts, so a busy
port fails the start at once with a message saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from .._exceptions import ServiceError
from .._home import ENV_HOME, private_umask
from ..client.connect import ServiceInfo, apply_cluster_env
from .options import DEFAULT_PORT, ENV_TOKEN, ApiOptions, bind, url_for

log = logging.getLogger("covalent_ray.service")


def create_actors(home: Path, namespace: str, timeout: float = 120.0) -> None:
    """Create (or find) the detached actors and wait until both answer."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .._home import DISPATCHER_NAME, RESULT_MANAGER_NAME
    from ..runtime.dispatcher import Dispatcher
    from ..runtime.result_manager import ResultManager

    here = ray.get_runtime_context().get_node_id()
    manager = (
        ray.remote(ResultManager)
        .options(
            name=RESULT_MANAGER_NAME,
            namespace=namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_restarts=-1,
            max_task_retries=-1,
            max_concurrency=1000,
            # the database file is on this machine: keep its only writer here
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        )
        .remote(str(home))
    )
    ray.get(manager.ping.remote(), timeout=timeout)
    dispatcher = (
        ray.remote(Dispatcher)
        .options(
            name=DISPATCHER_NAME,
            namespace=namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_restarts=-1,
            max_concurrency=1000,
        )
        .remote(str(home))
    )
    ray.get(dispatcher.ping.remote(), timeout=timeout)


def _mark_ready(home: Path, api_url: str | None) -> None:
    info = ServiceInfo.read(home)
    info.service_pid = os.getpid()
    info.api_url = api_url
    info.ready = True
    info.write()
    log.info("covalent-ray service ready (cluster %s, dashboard %s)", info.address, api_url)


async def _serve_until_stopped(
    home: Path, api: ApiOptions | None, sock: socket.socket | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if api is None or sock is None:
        _mark_ready(home, None)
        await stop.wait()
        return
    from .http import build_server, start_server, stop_server

    server = build_server(home, api)
    task = await start_server(server, sock)
    # ready only once the server accepts connections: the URL start prints works at once
    _mark_ready(home, url_for(api.host, sock.getsockname()[1]))
    stopping = loop.create_task(stop.wait())
    await asyncio.wait({stopping, task}, return_when=asyncio.FIRST_COMPLETED)
    if task.done() and not stopping.done():
        # the API failed; the actors (and running workflows) are unaffected
        log.error(
            "the HTTP server stopped: %r; the service keeps running without it", task.exception()
        )
        await stopping
    await stop_server(server, task)


def main(argv: list[str] | None = None) -> int:
    """Connect, create the actors, report readiness in service.json, wait for a signal."""
    parser = argparse.ArgumentParser(prog="covalent_ray.service.process")
    parser.add_argument("--home", required=True)
    parser.add_argument(
        "--api-host", default=None, help="serve the REST API and dashboard on this address"
    )
    parser.add_argument("--api-port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--api-max-body-bytes", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    private_umask()  # everything this process writes in the home stays the user's
    home = Path(args.home)
    # code of this process that asks for the current home (get_config, lattice previews)
    # finds the service's own, not the default one
    os.environ[ENV_HOME] = str(home)
    api, sock = None, None
    if args.api_host is not None:
        api = ApiOptions(
            args.api_host,
            args.api_port,
            os.environ.get(ENV_TOKEN) or None,
            max_body_bytes=args.api_max_body_bytes,
        )
        try:
            sock = bind(api)
        except ServiceError as exc:
            log.error("%s", exc)
            return 2
    info = ServiceInfo.read(home)
    apply_cluster_env(info)
    import ray

    ray.init(
        address=info.address, namespace=info.namespace, log_to_driver=False, logging_level="WARNING"
    )
    create_actors(home, info.namespace)
    try:
        asyncio.run(_serve_until_stopped(home, api, sock))
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

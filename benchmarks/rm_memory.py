"""Memory of the service's actors over many small dispatches: it must stay flat.

    python benchmarks/rm_memory.py [--dispatches 10000] [--threads 4] [--every 1000] [--home DIR]

Dispatches a one-electron lattice back to back (``--threads`` clients in this process,
each waiting for its dispatch's result) and prints the resident memory (VmRSS) of the
result manager and the dispatcher after every ``--every`` dispatches, with the growth
per 1000 dispatches measured from the first checkpoint (warm-up excluded). Without
``--home`` it starts a service of its own in a temporary home and stops it at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    """Resident memory of a process on this machine, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dispatches", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()

    import ray

    import covalent_ray as ct
    from covalent_ray.client.connect import connect
    from covalent_ray.service import control
    from covalent_ray.service.options import ApiOptions

    own = args.home is None
    home = Path(args.home or tempfile.mkdtemp(prefix="covalent-ray-memory-"))
    if own:
        control.start(home, head=control.HeadOptions(num_cpus=2), api=ApiOptions(port=0))

    @ct.electron
    def inc(x: int) -> int:
        return x + 1

    @ct.lattice
    def small(x: int) -> int:
        return inc(x)

    conn = connect(home)
    rm_pid = int(ray.get(conn.result_manager.pid.remote()))
    dispatcher_pid = int(ray.get(conn.dispatcher.pid.remote()))
    done = 0
    wrong = 0
    lock = threading.Lock()
    checkpoint = threading.Condition(lock)
    rows: list[tuple[int, float, float, float]] = []
    started = time.monotonic()

    def client() -> None:
        nonlocal done, wrong
        while True:
            with lock:
                if done >= args.dispatches:
                    return
                i = done
                done += 1
            result = ct.get_result(ct.dispatch(small, home=home)(i), wait=True, home=home)
            with lock:
                if result.result != i + 1:
                    wrong += 1
                if (i + 1) % args.every == 0:
                    rows.append(
                        (i + 1, rss_mb(rm_pid), rss_mb(dispatcher_pid), time.monotonic() - started)
                    )
                    checkpoint.notify_all()
                    n, rm, disp, t = rows[-1]
                    print(
                        f"{n:>7} dispatches  result manager {rm:8.1f} MB  "
                        f"dispatcher {disp:8.1f} MB  ({t:6.0f} s)",
                        flush=True,
                    )

    threads = [threading.Thread(target=client) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(rows) >= 2:
        (n0, rm0, d0, _), (n1, rm1, d1, _) = rows[0], rows[-1]
        per = 1000 / (n1 - n0)
        print(
            f"growth after the first {n0}: result manager {(rm1 - rm0) * per:+.2f} MB per "
            f"1000 dispatches ({rm1 - rm0:+.1f} MB in total), dispatcher "
            f"{(d1 - d0) * per:+.2f} MB per 1000 ({d1 - d0:+.1f} MB); wrong results: {wrong}"
        )
    if own:
        control.stop(home)


if __name__ == "__main__":
    main()

"""Peak memory of the service's actors while one electron returns a large output.

    python benchmarks/large_output.py [--mb 500] [--home DIR]

Dispatches a lattice whose one electron returns ``--mb`` megabytes of bytes, waits for
its result in this process and prints, for the result manager and the dispatcher, the
resident memory before, the peak during (the kernel's high-water mark, reset before the
dispatch through ``/proc/PID/clear_refs``) and after. Issue 13's bar: the result
manager's peak rises by less than 100 MB for a 500 MB output. Without ``--home`` it
starts a service of its own in a temporary home and stops it at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rm_memory import rss_mb


def peak_mb(pid: int) -> float:
    """The process's resident high-water mark (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()

    import ray

    import covalent_ray as ct
    from covalent_ray.client.connect import connect
    from covalent_ray.service import control
    from covalent_ray.service.options import ApiOptions

    own = args.home is None
    home = Path(args.home or tempfile.mkdtemp(prefix="covalent-ray-large-"))
    if own:
        control.start(home, head=control.HeadOptions(num_cpus=2), api=ApiOptions(port=0))

    @ct.electron
    def big(n: int) -> bytes:
        return b"x" * n

    @ct.lattice
    def large(n: int) -> bytes:
        return big(n)

    conn = connect(home)
    pids = {
        "result manager": int(ray.get(conn.result_manager.pid.remote())),
        "dispatcher": int(ray.get(conn.dispatcher.pid.remote())),
    }
    ct.get_result(ct.dispatch(large, home=home)(10), wait=True, home=home)  # warm up
    before = {name: rss_mb(pid) for name, pid in pids.items()}
    for pid in pids.values():
        reset_peak(pid)
    started = time.monotonic()
    n = args.mb * 1_000_000
    result = ct.get_result(ct.dispatch(large, home=home)(n), wait=True, home=home)
    took = time.monotonic() - started
    assert result.status == ct.status.COMPLETED, result.error
    assert len(result.result) == n
    del result
    for name, pid in pids.items():
        peak, after = peak_mb(pid), rss_mb(pid)
        print(
            f"{name:>14}: before {before[name]:7.1f} MB  peak {peak:7.1f} MB "
            f"({peak - before[name]:+7.1f})  after {after:7.1f} MB"
        )
    print(f"a {args.mb} MB output, dispatch to result read back: {took:.1f} s")
    if own:
        control.stop(home)


if __name__ == "__main__":
    main()

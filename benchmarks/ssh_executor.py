"""Per-electron overhead of SSHExecutor, against the default executor in the same run.

Starts its own sshd on 127.0.0.1 (as the tests do: ``tests/servers.py``; needs root and
Debian's openssh-server) and runs against a started service (``covalent-ray start``):

    python benchmarks/ssh_executor.py [--repeat 5] [--width 100] [--login-rc]

The sshd's sessions skip the login user's ``~/.bashrc``, as most servers' non-interactive
commands do (``--login-rc`` reads it: on this machine root's runs ``pyenv init``, which
then dominates every figure: each electron is one SSH session).

Prints medians of: one SSH session running ``true`` over an open connection (what the
remote login shell costs: every electron is one session); the executor alone (one
trivial electron, ``run`` to result, over an open connection); a one-electron lattice,
dispatch to result, on SSH (each dispatch starting its adaptor, as when it runs alone;
and with another dispatch keeping the adaptor and its connection alive) and on the
default executor; a ``width``-wide fan-out of trivial electrons on SSH and on the
default. The load average before and after is printed with them: the figures mean
little without it on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import covalent_ray as ct  # noqa: E402
from covalent_ray.executors import SSHExecutor  # noqa: E402
from covalent_ray.runtime.executor_calls import run_task  # noqa: E402
from servers import start_sshd, stop  # noqa: E402


def trivial(x: int) -> int:
    return x + 1


def median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--login-rc", action="store_true", help="sessions read ~/.bashrc")
    opts = parser.parse_args()
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    server = start_sshd(
        Path(tempfile.mkdtemp(prefix="covalent-ray-bench-sshd-")), login_rc=opts.login_rc
    )
    try:
        ssh = SSHExecutor(**server.settings(max_sessions=64))

        async def direct() -> tuple[list[float], list[float]]:
            await ssh.setup({})
            await run_task(ssh, trivial, [0], {}, {"node_id": 0})  # runner uploaded
            sessions, times = [], []
            for i in range(opts.repeat):
                start = time.perf_counter()
                await ssh.connection.run("true")
                sessions.append(time.perf_counter() - start)
                start = time.perf_counter()
                await run_task(ssh, trivial, [i], {}, {"node_id": i})
                times.append(time.perf_counter() - start)
            await ssh.teardown({})
            return sessions, times

        sessions, times = asyncio.run(direct())
        session, alone = statistics.median(sessions), statistics.median(times)

        remote = ct.electron(trivial, executor=ssh)
        default = ct.electron(trivial)

        @ct.lattice
        def one_ssh(x: int) -> int:
            return remote(x)

        @ct.lattice
        def one_default(x: int) -> int:
            return default(x)

        @ct.lattice
        def wide_ssh(n: int) -> list[int]:
            return [remote(i) for i in range(n)]

        @ct.lattice
        def wide_default(n: int) -> list[int]:
            return [default(i) for i in range(n)]

        def check(lattice: Any, arg: int) -> Callable[[], Any]:
            def go() -> None:
                result = ct.dispatch_sync(lattice)(arg)
                assert result.status == ct.status.COMPLETED, result.error

            return go

        @ct.electron(executor=ssh)
        def held(gate: str) -> None:
            import os
            import time

            while not os.path.exists(gate):
                time.sleep(0.05)

        @ct.lattice
        def holder(gate: str) -> None:
            return held(gate)

        check(one_ssh, 1)()  # warm: the Ray workers, the sshd
        cold = median(check(one_ssh, 1), opts.repeat)
        # with another dispatch keeping the adaptor (and its connection) alive, a
        # dispatch's electron costs its SSH session only
        gate = Path(tempfile.mkdtemp(prefix="covalent-ray-bench-gate-")) / "gate"
        holding = ct.dispatch(holder)(str(gate))
        check(one_ssh, 1)()
        warm = median(check(one_ssh, 1), opts.repeat)
        gate.touch()
        ct.get_result(holding, wait=True)
        rows = [
            ("SSH executor alone, one electron", alone, None),
            ("one SSH session running `true`", session, None),
            ("one electron, SSH", cold, None),
            ("one electron, SSH, adaptor kept", warm, None),
            ("one electron, default", median(check(one_default, 1), opts.repeat), None),
            (f"{opts.width} at once, SSH", median(check(wide_ssh, opts.width), opts.repeat), None),
            (
                f"{opts.width} at once, default",
                median(check(wide_default, opts.width), opts.repeat),
                None,
            ),
        ]
        for name, seconds, _ in rows:
            print(f"{name:40s} {seconds * 1000:9.1f} ms")
        by_name = {name: seconds for name, seconds, _ in rows}
        one = by_name["one electron, SSH"] / by_name["one electron, default"]
        wide = by_name[f"{opts.width} at once, SSH"] / by_name[f"{opts.width} at once, default"]
        print(f"SSH / default, one electron:  {one:.1f}x")
        print(f"SSH / default, {opts.width} at once: {wide:.1f}x")
        print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    finally:
        stop(server.proc)
        shutil.rmtree(server.directory, ignore_errors=True)


if __name__ == "__main__":
    main()

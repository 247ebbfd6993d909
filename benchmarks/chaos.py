"""Faults on purpose: clients dispatch while the service's actors are killed and the
service is stopped and started; every ``ct.dispatch`` must have exactly one outcome.

    python benchmarks/chaos.py                       # 5 clients x 20 dispatches; 3 dispatcher
                                                     # kills, 1 result-manager kill, 1 stop+start
    python benchmarks/chaos.py --clients 2 --dispatches 5 --dispatcher-kills 1 \\
        --rm-kills 1 --stop-start 0 --home DIR --json  # the small run of the test suite

Without ``--home`` it starts a service of its own in a temporary home and stops it at the
end (with ``--home`` it uses the service running there). Each client is a process of its
own that dispatches a small fan-out lattice (three electrons and a sum) again and again
and records what every call returned. Faults are spread over the run: each is injected
once enough calls have finished. At the end it waits for every dispatch to end and
prints: the calls that returned an ID and those that raised, the dispatches that exist,
those that completed with the right result, those stuck (not ended), the dispatches that
exist although their call raised, and the electrons that ran to the end more than once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

WIDTH = 3  # electrons per dispatch (plus their sum)


def _lattice(name: str, marks: str) -> Any:
    import covalent_ray as ct

    @ct.electron
    def work(i: int, j: int) -> int:
        ctx = ct.get_context()
        mark = Path(marks) / f"{ctx.dispatch_id}-{ctx.node_id}"
        with open(mark, "a") as f:
            f.write("start\n")
        time.sleep(0.2)
        with open(mark, "a") as f:
            f.write("done\n")
        return 10 * i + j

    @ct.electron
    def total(values: list[int]) -> int:
        return sum(values)

    def fan(i: int) -> int:
        return total([work(i, j) for j in range(WIDTH)])

    fan.__name__ = fan.__qualname__ = name
    return ct.lattice(fan)


def expected(i: int) -> int:
    """The right result of dispatch number ``i``."""
    return sum(10 * i + j for j in range(WIDTH))


def client(home: str, name: str, marks: str, first: int, count: int, out: str) -> None:
    """Dispatch ``count`` lattices; one JSON line per call in ``out``."""
    import covalent_ray as ct

    lattice = _lattice(name, marks)
    with open(out, "a") as f:
        for i in range(first, first + count):
            started = time.monotonic()
            try:
                dispatch_id = ct.dispatch(lattice, home=home)(i)
                line = {"i": i, "id": dispatch_id}
            except Exception as exc:
                line = {"i": i, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            line["seconds"] = round(time.monotonic() - started, 3)
            f.write(json.dumps(line) + "\n")
            f.flush()


def _finished_calls(outs: list[Path]) -> int:
    return sum(len(p.read_text().splitlines()) for p in outs if p.exists())


def _kill(home: Path, which: str) -> int:
    import ray

    from covalent_ray.client.connect import connect

    conn = connect(home)
    actor = conn.dispatcher if which == "dispatcher" else conn.result_manager
    pid = int(ray.get(actor.pid.remote(), timeout=60))
    os.kill(pid, signal.SIGKILL)
    return pid


def _start(home: Path) -> None:
    from covalent_ray.service import control
    from covalent_ray.service.options import ApiOptions

    control.start(home, head=control.HeadOptions(num_cpus=2), api=ApiOptions(port=0))


def _inject(home: Path, faults: list[str], outs: list[Path], total: int, log: list[str]) -> None:
    """Inject each fault once ``total * (k + 1) / (len(faults) + 1)`` calls have finished."""
    from covalent_ray.service import control

    for k, fault in enumerate(faults):
        threshold = total * (k + 1) / (len(faults) + 1)
        deadline = time.monotonic() + 900
        while _finished_calls(outs) < threshold and time.monotonic() < deadline:
            time.sleep(0.1)  # the clients' progress, read from their files
        try:
            if fault == "stop+start":
                control.stop(home)
                _start(home)
                log.append(f"{time.strftime('%X')} stopped and started the service")
            else:
                pid = _kill(home, fault)
                log.append(f"{time.strftime('%X')} killed the {fault} (pid {pid})")
        except Exception as exc:
            log.append(f"{time.strftime('%X')} injecting {fault} failed: {exc!r}")


def _settle(home: Path, name: str, deadline_s: float) -> list[dict[str, Any]]:
    """Every dispatch of this run, once none is running (or the deadline passed)."""
    import ray

    from covalent_ray.client.connect import connect

    deadline = time.monotonic() + deadline_s
    while True:
        rm = connect(home).result_manager
        page = ray.get(rm.list_dispatches.remote(name=name, limit=100_000), timeout=120)
        rows = page["items"]
        running = [r for r in rows if r["status"] in ("RUNNING", "NEW_OBJECT")]
        if not running or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole experiment; returns the summary."""
    own = args.home is None
    home = Path(args.home or tempfile.mkdtemp(prefix="covalent-ray-chaos-"))
    work = Path(tempfile.mkdtemp(prefix="covalent-ray-chaos-run-"))
    marks = work / "marks"
    marks.mkdir()
    name = f"chaos_{uuid.uuid4().hex[:8]}"
    if own:
        _start(home)
    env = dict(os.environ, COVALENT_RAY_HOME=str(home))
    env.setdefault("COVALENT_RAY_RETRY_TIMEOUT", str(args.retry_timeout))
    outs = [work / f"client{c}.jsonl" for c in range(args.clients)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "client",
                str(home),
                name,
                str(marks),
                str(c * args.dispatches),
                str(args.dispatches),
                str(outs[c]),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in range(args.clients)
    ]
    faults = ["dispatcher"] * args.dispatcher_kills + ["result_manager"] * args.rm_kills
    faults += ["stop+start"] * args.stop_start
    # spread the result-manager kill and the restart between the dispatcher kills
    faults.sort(key=lambda f: {"dispatcher": 0, "result_manager": 1, "stop+start": 2}[f])
    order = faults[::2] + faults[1::2]
    log: list[str] = []
    total = args.clients * args.dispatches
    injector = threading.Thread(target=_inject, args=(home, order, outs, total, log))
    injector.start()
    waits = []
    for p in procs:
        _, err = p.communicate(timeout=3600)
        waits.append((p.returncode, err[-2000:]))
    injector.join()
    calls = [json.loads(line) for p in outs for line in p.read_text().splitlines()]
    rows = _settle(home, name, args.settle_timeout)
    summary = _summarize(home, calls, rows, marks)
    summary["faults"] = log
    summary["client_exit_codes"] = [code for code, _ in waits]
    summary["retry_messages"] = sum(err.count("retrying for up to") for _, err in waits)
    if own:
        from covalent_ray.service import control

        control.stop(home)
    return summary


def _summarize(
    home: Path, calls: list[dict[str, Any]], rows: list[dict[str, Any]], marks: Path
) -> dict[str, Any]:
    import covalent_ray as ct

    returned = {c["id"]: c["i"] for c in calls if "id" in c}
    raised = [c for c in calls if "error" in c]
    correct = 0
    wrong = []
    for row in rows:
        if row["dispatch_id"] in returned and row["status"] == "COMPLETED":
            result = ct.get_result(row["dispatch_id"], home=home, intermediate_outputs=False)
            if result.result == expected(returned[row["dispatch_id"]]):
                correct += 1
                continue
        shown = {k: row[k] for k in ("dispatch_id", "status", "error")}
        try:
            result = ct.get_result(row["dispatch_id"], home=home, intermediate_outputs=False)
            shown["electrons"] = [
                (n["node_id"], n["node_name"], n["status"], (n["error"] or "")[-300:])
                for n in result.get_all_node_results()
                if n["status"] != "COMPLETED"
            ]
        except Exception as exc:
            shown["electrons"] = repr(exc)
        wrong.append(shown)
    ran_twice = started_twice = 0
    twice: list[str] = []
    for mark in marks.iterdir():
        lines = mark.read_text().splitlines()
        ran_twice += lines.count("done") > 1
        started_twice += lines.count("start") > 1
        if lines.count("done") > 1:
            twice.append(mark.name)
    created = {r["dispatch_id"] for r in rows}
    return {
        "calls": len(calls),
        "returned_id": len(returned),
        "raised": len(raised),
        "errors": sorted({c["error"][:160] for c in raised}),
        "dispatches_created": len(created),
        "created_without_id": len(created - set(returned)),
        "returned_but_missing": len(set(returned) - created),
        "completed_correctly": correct,
        "not_correct": wrong[:10],
        "stuck": sum(r["status"] in ("RUNNING", "NEW_OBJECT") for r in rows),
        "electrons_completed_more_than_once": ran_twice,
        "electrons_started_more_than_once": started_twice,
        "completed_more_than_once": sorted(twice)[:10],  # dispatch ID-node ID
        "slowest_call_s": max((c["seconds"] for c in calls), default=0.0),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        home, name, marks, first, count, out = sys.argv[2:8]
        client(home, name, marks, int(first), int(count), out)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--dispatches", type=int, default=20, help="per client")
    parser.add_argument("--dispatcher-kills", type=int, default=3)
    parser.add_argument("--rm-kills", type=int, default=1)
    parser.add_argument("--stop-start", type=int, default=1)
    parser.add_argument("--home", default=None, help="use the service running here")
    parser.add_argument("--retry-timeout", type=float, default=300.0)
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    summary = run(args)
    if args.json:
        print(json.dumps(summary))
        return
    for line in summary.pop("faults"):
        print(line)
    for key, value in summary.items():
        print(f"{key:36} {value}")


if __name__ == "__main__":
    main()

"""The program a :class:`~covalent_ray.executors.local.LocalExecutor` subprocess runs.

``python -P -m covalent_ray.executors._runner TASK_DIR`` reads ``TASK_DIR/task.pkl``,
calls the function and writes ``TASK_DIR/result.pkl``. Its stdout and stderr are files
the parent opened, so everything written to fds 1 and 2 (by Python, C code or child
processes) is kept. Kept small and free of Ray so that starting it costs little more than
the interpreter.

``task.pkl`` is a plain pickle of a dict:

- ``sys_path``: the parent's ``sys.path``, appended to ours *before* the payload is
  unpickled, so functions pickled by reference import here as they did there;
- ``context``: fields of the :class:`~covalent_ray.core.context.TaskContext` to install,
  so ``ct.get_context()`` works inside the electron;
- ``parent_pid``: when that process goes away, this one kills its process group rather
  than run on as an orphan;
- ``payload``: cloudpickled ``(function, args, kwargs)``.

``result.pkl`` is cloudpickled ``("ok", value)`` or ``("error", exception, traceback_text)``.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from covalent_ray._files import atomic_write, watch_parent
from covalent_ray.executors.local import RESULT_FILE, TASK_FILE


def _orphaned(task_dir: Path) -> None:
    """The parent is gone (we were re-parented): clean up and kill our process group."""
    import shutil

    shutil.rmtree(task_dir, ignore_errors=True)  # nobody is left to remove it
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _extend_sys_path(parent_path: list[str]) -> None:
    for entry in parent_path:
        if entry and entry not in sys.path:
            sys.path.append(entry)


def _install_context(fields: dict[str, Any] | None) -> None:
    if not fields:
        return
    from covalent_ray.core.context import TaskContext, current

    current.set(TaskContext(**fields))


def _write_result(task_dir: Path, outcome: tuple[Any, ...]) -> None:
    import cloudpickle

    try:
        data = cloudpickle.dumps(outcome)
    except Exception as exc:  # the value or exception cannot travel back
        if outcome[0] == "ok":
            from covalent_ray._exceptions import SerializationError

            err: BaseException = SerializationError(
                f"the electron's output ({type(outcome[1]).__name__}) cannot be pickled: {exc}"
            )
            tb = ""
        else:
            from covalent_ray._exceptions import TaskRuntimeError

            original = outcome[1]
            err = TaskRuntimeError(f"{type(original).__name__}: {original}")
            tb = outcome[2]
        data = cloudpickle.dumps(("error", err, tb))
    atomic_write(task_dir / RESULT_FILE, data)  # the parent sees a whole file or none


def main(argv: list[str]) -> int:
    """Run the task in ``argv[1]``; the exit code is 0 whenever a result was written."""
    task_dir = Path(argv[1])
    with open(task_dir / TASK_FILE, "rb") as f:
        task = pickle.load(f)
    watch_parent(task["parent_pid"], lambda: _orphaned(task_dir))
    _extend_sys_path(task["sys_path"])
    try:
        import cloudpickle

        _install_context(task.get("context"))
        function, args, kwargs = cloudpickle.loads(task["payload"])
        del task
        outcome: tuple[Any, ...] = ("ok", function(*args, **kwargs))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: report, don't vanish
        outcome = ("error", exc, "".join(traceback.format_exception(exc)))
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    _write_result(task_dir, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

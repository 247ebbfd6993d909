"""The program the SSH and Slurm executors run on the remote host: ``python RUNNER TASK_DIR``.

Its source text is uploaded once per connection, so it must need nothing but Python and
cloudpickle there: no covalent-ray, no Ray. It reads ``TASK_DIR/task.pkl`` (cloudpickled
``(function, args, kwargs)``), calls the function in the current directory (the
electron's remote working directory) and writes ``TASK_DIR/result.pkl``: cloudpickled
``("ok", value)`` or ``("error", exception, traceback_text)``, written whole or not at
all. Its fds 1 and 2 are files the launching shell opened (``TASK_DIR/stdout`` and
``stderr``), so what child processes and C code write is kept too.

It first writes its pid to ``TASK_DIR/pid`` and only then looks for ``TASK_DIR/cancelled``
(it exits at once when it is there). An executor that gives up on a launch before it
learnt the pid (a timeout or cancel while the job was starting) writes ``cancelled``
first and reads ``pid`` second, so the runner either sees the marker or is killed by
its pid: it never runs on unwatched.
"""

import os
import sys
import traceback


def _write(task_dir, data):
    tmp = os.path.join(task_dir, "result.pkl.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, os.path.join(task_dir, "result.pkl"))


def main(argv):
    task_dir = argv[1]
    with open(os.path.join(task_dir, "pid"), "w") as f:
        f.write(str(os.getpid()))
    if os.path.exists(os.path.join(task_dir, "cancelled")):
        return 0  # given up on while it started: no result, nothing run
    import cloudpickle

    try:
        with open(os.path.join(task_dir, "task.pkl"), "rb") as f:
            function, args, kwargs = cloudpickle.load(f)
        outcome = ("ok", function(*args, **kwargs))
    except BaseException as exc:  # SystemExit too: report it rather than vanish
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        outcome = ("error", exc, text)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        data = cloudpickle.dumps(outcome)
    except Exception as exc:  # the value or the exception cannot travel back
        if outcome[0] == "ok":
            kind = type(outcome[1]).__name__
            message = f"the electron's output ({kind}) cannot be pickled: {exc}"
            data = cloudpickle.dumps(("error", RuntimeError(message), ""))
        else:
            original = outcome[1]
            error = RuntimeError(f"{type(original).__name__}: {original}")
            data = cloudpickle.dumps(("error", error, outcome[2]))
    _write(task_dir, data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

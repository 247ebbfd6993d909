"""``SlurmExecutor``: each electron is a Slurm batch job, submitted with ``sbatch`` over SSH
(or on this machine when no ``address`` is given).

How one electron runs:

1. Once per connection, the runner (Python and cloudpickle only) is uploaded and the
   remote Python checked, as for the SSH executor.
2. One shell command writes the cloudpickled function and inputs and the job script to
   the electron's task directory, ``<remote_workdir>/.covalent-ray/<dispatch>/node_<id>``,
   and submits it: ``sbatch --parsable``. The Slurm job ID is the job handle, and it is
   written to ``jobid`` in the task directory.
3. ``squeue`` is asked for the job's state every ``poll_freq`` seconds, over the pooled
   connection (one SSH session per poll, never a new connection). Once the job has left
   the queue, one more command reads how it ended (``scontrol show job``, else ``sacct``)
   and sends back ``result.pkl``, stdout and stderr.
4. A job that completed returns the electron's output or raises its exception; a job that
   Slurm ended (time limit, node failure, out of memory, cancelled) fails the electron
   with Slurm's state and reason.

Cancel (and an electron ``timeout=``) runs ``scancel``. After a service restart, the
electron runs again with the same task directory: a job recorded there that is still
queued or running is picked up by its job ID instead of being submitted again.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._exceptions import (
    ExecutorError,
    RemoteHostError,
    TaskCancelledError,
    TaskRuntimeError,
)
from ..core.messages import electron_label
from ._ssh import Connection, Target, quote
from .base import AsyncBaseExecutor
from .ssh import (
    RemotePython,
    _text,
    emit_files_script,
    outcome_of,
    parse_files,
    prepare_remote,
)

EXECUTOR_PLUGIN_NAME = "SlurmExecutor"
_EXECUTOR_PLUGIN_DEFAULTS: dict[str, Any] = {
    "username": "",
    "address": "",
    "ssh_key_file": "",
    "cert_file": None,
    "remote_workdir": "covalent-workdir",
    "create_unique_workdir": False,
    "variables": {},
    "conda_env": "",
    "options": {"parsable": ""},
    "prerun_commands": [],
    "postrun_commands": [],
    "use_srun": True,
    "srun_options": {},
    "srun_append": "",
    "bashrc_path": "$HOME/.bashrc",
    "slurm_path": "",
    "poll_freq": 5,
    "cleanup": True,
    "python_path": "python3",
}
#: squeue states of a job that is still queued or running
ACTIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)
_OPTION_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


def _settings() -> dict[str, Any]:
    from .._config import raw_config

    value = raw_config("executors.slurm", {})
    return value if isinstance(value, dict) else {}


def _directive_args(options: dict[str, Any]) -> list[str]:
    """``{"time": "00:10:00", "N": 1, "exclusive": ""}`` -> ``--time=00:10:00 -N 1 --exclusive``."""
    args = []
    for key, value in options.items():
        text = "" if value is None or value == "" else str(value)
        if len(key) == 1:
            args.append(f"-{key}" + (f" {shlex.quote(text)}" if text else ""))
        else:
            args.append(f"--{key}" + (f"={shlex.quote(text)}" if text else ""))
    return args


class LocalShell:
    """:class:`~._ssh.Connection`'s ``run`` for this machine (Slurm without ``address``)."""

    def __init__(self) -> None:
        self.target = Target(hostname="localhost")

    async def run(self, command: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run ``command`` with bash in the home directory, as an SSH login would (relative
        paths mean the same thing with or without ``address``); ``(exit status, stdout,
        stderr)``."""
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            command,
            cwd=str(Path.home()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin)
        return int(proc.returncode or 0), out, err

    async def close(self) -> None:
        """Nothing to close."""


class SlurmExecutor(AsyncBaseExecutor):
    """Run each electron as a Slurm batch job (see the module docstring).

    Covalent's Slurm plugin arguments: ``username``, ``address`` (the login node; empty:
    this machine), ``ssh_key_file``, ``cert_file``, ``remote_workdir``,
    ``create_unique_workdir``, ``options`` (``#SBATCH`` options: ``{"time": "00:10:00",
    "mem": "4G", "N": 1}``), ``variables`` (exported in the job), ``conda_env``,
    ``prerun_commands``, ``postrun_commands``, ``use_srun``, ``srun_options``,
    ``srun_append``, ``bashrc_path`` (sourced before Slurm commands and in the job),
    ``slurm_path`` (where sbatch and friends are, when not on PATH), ``poll_freq``,
    ``cleanup``; plus ``python_path`` (the compute nodes' Python), ``port`` and
    ``known_hosts`` as for :class:`~covalent_ray.executors.ssh.SSHExecutor`. Unset ones
    come from config ``[executors.slurm]``.
    """

    captures_output = True
    max_concurrency = 256  # waiting on a queued job costs one asyncio task

    def __init__(
        self,
        username: str | None = None,
        address: str | None = None,
        ssh_key_file: str | None = None,
        cert_file: str | None = None,
        remote_workdir: str | None = None,
        create_unique_workdir: bool | None = None,
        options: dict[str, Any] | None = None,
        variables: dict[str, str] | None = None,
        conda_env: str | None = None,
        prerun_commands: list[str] | None = None,
        postrun_commands: list[str] | None = None,
        use_srun: bool | None = None,
        srun_options: dict[str, Any] | None = None,
        srun_append: str | None = None,
        bashrc_path: str | None = None,
        slurm_path: str | None = None,
        poll_freq: float | None = None,
        cleanup: bool | None = None,
        cache_dir: str | None = None,
        python_path: str | None = None,
        port: int | None = None,
        known_hosts: str | None = None,
        max_sessions: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(cache_dir=cache_dir or "", **kwargs)
        cfg = {**_EXECUTOR_PLUGIN_DEFAULTS, **_settings()}

        def pick(value: Any, name: str) -> Any:
            return cfg.get(name) if value is None else value

        self.username = str(pick(username, "username") or "")
        self.address = str(pick(address, "address") or "")
        self.ssh_key_file = str(pick(ssh_key_file, "ssh_key_file") or "")
        self.cert_file = str(pick(cert_file, "cert_file") or "")
        self.remote_workdir = str(pick(remote_workdir, "remote_workdir") or "covalent-workdir")
        self.create_unique_workdir = bool(pick(create_unique_workdir, "create_unique_workdir"))
        self.options = {
            k: v for k, v in dict(pick(options, "options") or {}).items() if k != "parsable"
        }
        self.variables = {
            str(k): str(v) for k, v in dict(pick(variables, "variables") or {}).items()
        }
        self.conda_env = str(pick(conda_env, "conda_env") or "")
        self.prerun_commands = list(pick(prerun_commands, "prerun_commands") or [])
        self.postrun_commands = list(pick(postrun_commands, "postrun_commands") or [])
        self.use_srun = bool(pick(use_srun, "use_srun"))
        self.srun_options = dict(pick(srun_options, "srun_options") or {})
        self.srun_append = str(pick(srun_append, "srun_append") or "")
        self.bashrc_path = str(pick(bashrc_path, "bashrc_path") or "")
        self.slurm_path = str(pick(slurm_path, "slurm_path") or "")
        self.poll_freq = float(pick(poll_freq, "poll_freq") or 5)
        self.cleanup = bool(pick(cleanup, "cleanup"))
        self.python_path = str(pick(python_path, "python_path") or "python3")
        self.port = int(port or cfg.get("port") or 0) or None
        self.known_hosts = str(known_hosts or cfg.get("known_hosts") or "")
        self.max_sessions = int(max_sessions)
        self._check_settings()
        self._conn: Connection | LocalShell | None = None
        self._submitted: set[str] = set()  # task directories this instance submitted from

    def _check_settings(self) -> None:
        for name in ("options", "srun_options"):
            for key in getattr(self, name):
                if not isinstance(key, str) or not _OPTION_KEY.match(key):
                    raise ExecutorError(
                        f"SlurmExecutor {name}: {key!r} is not an option name (give sbatch's "
                        "option names without dashes: {'time': '00:10:00', 'N': 1})"
                    )
        if self.poll_freq <= 0:
            raise ExecutorError(f"SlurmExecutor poll_freq must be positive, not {self.poll_freq}")

    def check_settings(self) -> list[str]:
        """Bad settings, one message each (checked when a dispatch is submitted)."""
        problems = []
        for name in ("options", "srun_options"):
            value = getattr(self, name)
            if not isinstance(value, dict):
                problems.append(f"{name} must be a dict of sbatch options, not {value!r}")
                continue
            for key, option in value.items():
                if not isinstance(key, str) or not _OPTION_KEY.match(key):
                    problems.append(
                        f"{name}: {key!r} is not an option name (give sbatch's option names "
                        "without dashes: {'time': '00:10:00', 'N': 1})"
                    )
                elif not (option is None or isinstance(option, (str, int, float))):
                    problems.append(
                        f"{name}: the value of {key!r} must be a string or a number, not {option!r}"
                    )
        for name in ("ssh_key_file", "cert_file"):
            path = getattr(self, name)
            if self.address and path and not Path(path).expanduser().is_file():
                problems.append(f"{name} {path!r} does not exist on this machine")
        if self.poll_freq <= 0:
            problems.append(f"poll_freq must be positive, not {self.poll_freq}")
        return problems

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_conn"] = None  # a connection never travels
        state["_submitted"] = set()
        return state

    # ----- plumbing

    def remote_host(self) -> str | None:
        """``user@address:port`` of the Slurm login node (``localhost`` without one)."""
        if not self.address:
            return "localhost"
        return Target(hostname=self.address, port=self.port, username=self.username or None).label()

    @property
    def connection(self) -> Connection | LocalShell:
        """The pooled SSH connection to ``address`` (or this machine's shell)."""
        if getattr(self, "_conn", None) is None:
            if self.address:
                target = Target(
                    hostname=self.address,
                    port=self.port,
                    username=self.username or None,
                    ssh_key_file=self.ssh_key_file or None,
                    cert_file=self.cert_file or None,
                    known_hosts=self.known_hosts or None,
                )
                self._conn = Connection(target, self.max_sessions)
            else:
                self._conn = LocalShell()
        assert self._conn is not None
        return self._conn

    def _slurm(self, command: str) -> str:
        """A Slurm command line, after ``bashrc_path`` (which may set ``SLURM_CONF``)."""
        prefix = ""
        if self.bashrc_path:
            path = self.bashrc_path
            prefix = f'[ -f "{path}" ] && . "{path}" >/dev/null 2>&1; '
        binary = f"{self.slurm_path.rstrip('/')}/{command}" if self.slurm_path else command
        return prefix + binary

    def _task_dir(self, remote: RemotePython, task_metadata: dict[str, Any]) -> str:
        dispatch = task_metadata.get("dispatch_id", "task")
        node = task_metadata.get("node_id", 0)
        return remote.absolute(f"{self.remote_workdir}/.covalent-ray/{dispatch}/node_{node}")

    def _workdir(self, remote: RemotePython, task_metadata: dict[str, Any]) -> str:
        base = self.remote_workdir
        if self.create_unique_workdir:
            dispatch = task_metadata.get("dispatch_id", "")
            base = f"{base.rstrip('/')}/{dispatch}/node_{task_metadata.get('node_id', '')}"
        return remote.absolute(base)

    def job_script(
        self, remote: RemotePython, task_dir: str, workdir: str, task_metadata: dict[str, Any]
    ) -> str:
        """The ``sbatch`` script of one electron."""
        options: dict[str, Any] = {
            "job-name": f"covalent-ray-{task_metadata.get('node_name') or 'electron'}",
            "output": f"{task_dir}/stdout",
            "error": f"{task_dir}/stderr",
            "chdir": workdir,
        }
        if "J" in self.options:
            options.pop("job-name")
        options.update(self.options)
        lines = ["#!/bin/bash"]
        lines += [f"#SBATCH {arg}" for arg in _directive_args(options)]
        if self.bashrc_path:
            path = self.bashrc_path
            lines.append(f'[ -f "{path}" ] && . "{path}"')
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.variables.items()]
        python = self.python_path
        if self.conda_env:
            lines.append(f"conda activate {shlex.quote(self.conda_env)} || exit 98")
        lines += list(self.prerun_commands)
        run = f"{python} {shlex.quote(remote.runner)} {shlex.quote(task_dir)}"
        if self.use_srun:
            srun = " ".join(["srun", *_directive_args(self.srun_options)])
            run = f"{srun} {self.srun_append} {run}" if self.srun_append else f"{srun} {run}"
        lines += [run, "status=$?"]
        lines += list(self.postrun_commands)
        lines += ["wait", "exit $status"]
        return "\n".join(lines) + "\n"

    # ----- the contract

    async def setup(self, task_metadata: dict[str, Any]) -> None:
        """Open the pooled connection (a failure here is reported by the electron's run)."""
        conn = self.connection
        if isinstance(conn, Connection):
            try:
                await conn.get()
            except Exception:
                pass

    async def teardown(self, task_metadata: dict[str, Any]) -> None:
        """Close the pooled connection."""
        if getattr(self, "_conn", None) is not None:
            await self.connection.close()

    async def run(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
    ) -> Any:
        """Submit the electron as a batch job, wait for it, return its output."""
        from .. import _serialize

        where = electron_label(task_metadata)
        if await self.get_cancel_requested():
            raise TaskCancelledError(f"{where} was cancelled before it started")
        _serialize.prepare(function)
        payload = _serialize.portable_dumps(
            (function, list(args), dict(kwargs)), f"the function or inputs of {where}"
        )
        remote = await prepare_remote(
            self.connection, self.python_path, f"{self.remote_workdir}/.covalent-ray", where
        )
        task_dir = self._task_dir(remote, task_metadata)
        workdir = self._workdir(remote, task_metadata)
        resumed = self.resumed_job_handle()
        if resumed:  # the service restarted while it ran: pick the job up by its ID
            job_id = str(resumed)
        else:
            token = uuid.uuid4().hex[:12]
            try:
                job_id = await self._submit(
                    remote, payload, task_dir, workdir, task_metadata, where, token
                )
            except asyncio.CancelledError:  # a timeout or cancel while sbatch ran
                if self._cancel_requested():
                    await asyncio.shield(self._withdraw(task_dir, token))
                raise
        await self.set_job_handle(job_id)
        try:
            if await self.get_cancel_requested():  # handle first, flag second: no cancel lost
                await self._scancel(job_id)
            state, files = await self._wait(job_id, task_dir, where)
        except asyncio.CancelledError:  # a timeout or cancel: the job must not run on
            if self._cancel_requested():  # (without the flag: a restart, it is picked up)
                await asyncio.shield(self._scancel(job_id))
            raise
        self.task_stdout.write(_text(files.get("stdout")))
        self.task_stderr.write(_text(files.get("stderr")))
        if await self.get_cancel_requested():
            raise TaskCancelledError(f"{where} was cancelled (scancel {job_id})")
        if "result.pkl" not in files or not state.get("JobState", "").startswith("COMPLETED"):
            if "result.pkl" in files and state.get("JobState") in ("FAILED", None, ""):
                return outcome_of(files, where, "")  # the electron raised: its own exception
            raise TaskRuntimeError(_ended_message(where, job_id, state, files))
        return outcome_of(files, where, f"Slurm job {job_id}")

    async def _submit(
        self,
        remote: RemotePython,
        payload: bytes,
        task_dir: str,
        workdir: str,
        task_metadata: dict[str, Any],
        where: str,
        token: str = "",
    ) -> str:
        td, wd = quote(task_dir), quote(workdir)
        withdrawn = quote(f"{task_dir}.withdrawn-{token}")
        script = self.job_script(remote, task_dir, workdir, task_metadata)
        marker = "COVALENT_RAY_JOB_SCRIPT"
        squeue = self._slurm("squeue")
        sbatch = self._slurm("sbatch")
        # A job of this electron still queued or running that another run submitted (the
        # service restarted before its ID was stored): reuse it. A retry on this adaptor
        # never does: the job it gave up on may still be COMPLETING after its scancel.
        attach = (
            ""
            if task_dir in getattr(self, "_submitted", set())
            else (
                f"if [ -f {td}/jobid ]; then id=$(cat {td}/jobid); "
                f'if [ -n "$({squeue} -h -j "$id" -o %T 2>/dev/null)" ]; then '
                'echo "ATTACH $id"; cat > /dev/null; exit 0; fi; fi\n'
            )
        )
        self.__dict__.setdefault("_submitted", set()).add(task_dir)
        command = (
            attach + f"rm -rf {td} && mkdir -p {td} {wd} && cat > {td}/task.pkl || exit 97\n"
            f"cat > {td}/job.sh << '{marker}'\n{script}{marker}\n"
            f"out=$({sbatch} --parsable {td}/job.sh) || exit 95\n"
            f'id=${{out%%;*}}; echo "$id" > {td}/jobid\n'
            # given up on while sbatch ran (see _withdraw): the job must not run unwatched
            f'if [ -e {withdrawn} ]; then {self._slurm("scancel")} "$id"; exit 93; fi\n'
            'echo "SUBMITTED $id"\n'
        )
        status, out, err = await self.connection.run(command, payload)
        words = out.decode(errors="replace").split()
        if status == 0 and len(words) >= 2 and words[0] in ("ATTACH", "SUBMITTED"):
            return words[1]
        reason = err.decode(errors="replace").strip()[-2000:]
        if status == 95:
            raise ExecutorError(
                f"{where}: sbatch refused the job on {self.connection.target.label()}: "
                f"{reason} (check options={self.options!r}, srun_options and the partition)"
            )
        raise TaskRuntimeError(
            f"{where}: could not write the job to {task_dir} on "
            f"{self.connection.target.label()} (exit {status}): {reason}"
        )

    async def _wait(
        self, job_id: str, task_dir: str, where: str
    ) -> tuple[dict[str, str], dict[str, bytes]]:
        squeue = self._slurm(f"squeue -h -j {shlex.quote(job_id)} -o %T")
        while True:
            try:
                _, out, _ = await self.connection.run(f"{squeue} 2>/dev/null")
            except RemoteHostError as exc:
                raise RemoteHostError(f"{where}: {exc}") from None
            state = out.decode(errors="replace").strip()
            if not state or state.split()[0] not in ACTIVE:
                break
            await asyncio.sleep(self.poll_freq)
        jid = shlex.quote(job_id)
        scontrol = self._slurm(f"scontrol show job -o {jid}")
        sacct = self._slurm(f"sacct -n -P -X -j {jid} -o JobID,State,Reason,ExitCode,TimeLimit")
        td = quote(task_dir)
        cleanup = f"; rm -rf {td}" if self.cleanup else ""
        command = (
            f"({scontrol} 2>/dev/null || {sacct} 2>/dev/null) | head -1; "
            f"{emit_files_script(task_dir)}{cleanup}"
        )
        _, out, _ = await self.connection.run(command)
        first, _, rest = out.partition(b"\n")
        return _job_state(first.decode(errors="replace")), parse_files(rest)

    async def _withdraw(self, task_dir: str, token: str) -> None:
        """Stop a job whose submission was sent but whose ID never came back (a timeout
        or cancel while ``sbatch`` ran): leave the marker the submitting shell looks for
        after ``sbatch``, then ``scancel`` the ID it recorded, if it did. Either that shell
        sees the marker or this sees the ID: the job never runs unwatched."""
        td = quote(task_dir)
        marker = quote(f"{task_dir}.withdrawn-{token}")
        scancel = self._slurm("scancel")
        try:
            await self.connection.run(
                f"mkdir -p {quote(str(Path(task_dir).parent))} && : > {marker}; "
                f'id=$(cat {td}/jobid 2>/dev/null) && [ -n "$id" ] && {scancel} "$id" '
                "2>/dev/null; true"
            )
        except Exception:  # the login node went away meanwhile: nothing more to do
            pass

    async def _scancel(self, job_id: str) -> bool:
        status, _, _ = await self.connection.run(
            self._slurm(f"scancel {shlex.quote(job_id)}") + " 2>/dev/null"
        )
        return status == 0

    async def cancel(self, task_metadata: dict[str, Any], job_handle: Any) -> bool:
        """``scancel`` the job ``job_handle`` (its Slurm job ID)."""
        try:
            return await self._scancel(str(job_handle))
        except Exception:
            return False


def _job_state(line: str) -> dict[str, str]:
    """``JobState``, ``Reason``, ``ExitCode``, ``TimeLimit`` from scontrol or sacct output."""
    line = line.strip()
    if not line:
        return {}
    if "JobState=" in line:
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        return {k: fields.get(k, "") for k in ("JobState", "Reason", "ExitCode", "TimeLimit")}
    parts = line.split("|")
    parts += [""] * (5 - len(parts))
    return {
        "JobState": parts[1].split()[0] if parts[1] else "",
        "Reason": parts[2],
        "ExitCode": parts[3],
        "TimeLimit": parts[4],
    }


def _ended_message(where: str, job_id: str, state: dict[str, str], files: dict[str, bytes]) -> str:
    job_state = state.get("JobState") or "unknown (Slurm no longer knows the job)"
    reason = state.get("Reason") or ""
    detail = {
        "TIMEOUT": f"it exceeded its time limit ({state.get('TimeLimit') or '?'}); raise "
        "options['time']",
        "OUT_OF_MEMORY": "it ran out of memory; raise options['mem']",
        "NODE_FAIL": "its node failed",
        "CANCELLED": "it was cancelled (scancel or an administrator)",
        "PREEMPTED": "it was preempted",
        "BOOT_FAIL": "its node failed to boot",
        "DEADLINE": "it reached its deadline",
    }.get(job_state.split()[0], "")
    text = f"{where}: Slurm job {job_id} ended {job_state}"
    if reason and reason != "None":
        text += f" (reason: {reason})"
    if state.get("ExitCode"):
        text += f", exit code {state['ExitCode']}"
    if detail:
        text += f": {detail}"
    stderr = _text(files.get("stderr"))
    if stderr:
        text += f". Last stderr:\n{stderr[-2000:]}"
    return text

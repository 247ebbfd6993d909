"""Real servers for the SSH and Slurm executor tests, started by the tests themselves.

``Sshd`` runs Debian's ``/usr/sbin/sshd`` on 127.0.0.1 and a free port with a temporary
host key, accepting one temporary client key; ``known_hosts`` trusts its host key. The
remote Python is a venv without covalent-ray and Ray: only Python and a copy of our
cloudpickle, as a user's server would have. Only processes started here are stopped
(by the pids kept here).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling a deadline for a port to open
    raise RuntimeError(f"{what} did not listen on port {port} within 30 s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a process this module started (by its own Popen), and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def remote_python(directory: Path) -> Path:
    """A venv with Python and cloudpickle only (no pip, no covalent-ray, no Ray)."""
    import cloudpickle

    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(directory)],
        check=True,
        capture_output=True,
    )
    site = next((directory / "lib").glob("python3*/site-packages"))
    shutil.copytree(Path(cloudpickle.__file__).parent, site / "cloudpickle")
    return directory / "bin" / "python"


@dataclass
class Sshd:
    """A running test sshd and what a client needs to log in."""

    port: int
    key_file: Path
    known_hosts: Path
    python: Path
    directory: Path
    proc: subprocess.Popen[bytes]
    username: str = "root"

    def settings(self, **extra: object) -> dict[str, object]:
        """SSHExecutor arguments for this server."""
        return {
            "hostname": "127.0.0.1",
            "port": self.port,
            "username": self.username,
            "ssh_key_file": str(self.key_file),
            "known_hosts": str(self.known_hosts),
            "python_path": str(self.python),
            "remote_cache": str(self.directory / "remote-cache"),
            "remote_workdir": str(self.directory / "remote-work"),
            "retry_wait_time": 0.2,
            "poll_freq": 0.2,
            **extra,
        }


def start_sshd(directory: Path, login_rc: bool = False) -> Sshd:
    """Start sshd in ``directory`` (keys, config, log live there).

    Debian's bash reads ``~/.bashrc`` for the commands sshd runs unless it believes it is
    a nested shell. Most servers' ``.bashrc`` returns at once for such commands; this
    machine's root one runs ``pyenv init`` (about a second on a loaded machine). Unless
    ``login_rc``, the sessions get ``SHLVL=1`` so that commands run as on most servers.
    """
    import getpass

    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    host_key = directory / "host_ed25519"
    key = directory / "client_ed25519"
    for path in (host_key, key):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
            check=True,
            capture_output=True,
        )
    (directory / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\nAuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nMaxSessions 64\n"
        "MaxStartups 100\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
        + ("" if login_rc else "SetEnv SHLVL=1\n")
    )
    host_pub = host_key.with_suffix(".pub").read_text().split()
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    log = directory / "sshd.log"
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=open(log, "wb"),  # noqa: SIM115 - the daemon keeps it
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, "sshd", log)
        python = remote_python(directory / "remote-python")
    except BaseException:
        stop(proc)
        raise
    return Sshd(port, key, known_hosts, python, directory, proc, getpass.getuser())


@dataclass
class Slurm:
    """A running one-node Slurm (munged, slurmctld, slurmd) and how to reach it."""

    conf: Path
    bashrc: Path  # sourced by the executor before Slurm commands: sets SLURM_CONF
    directory: Path
    procs: list[subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        """The environment for running Slurm commands against this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *args: str) -> str:
        """Run a Slurm command (``scontrol``, ``sacct``, ...) here; its stdout."""
        return subprocess.run(
            list(args), env=self.env(), capture_output=True, text=True, check=True
        ).stdout


def start_slurm(directory: Path) -> Slurm:
    """Start munged, slurmctld and slurmd with a generated ``slurm.conf`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    munge = directory / "munge"
    munge.mkdir(mode=0o711)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    socket_path = munge / "munge.socket"
    for sub in ("state", "spool", "log"):
        (directory / sub).mkdir()
    hostname = socket.gethostname().split(".")[0]
    ctld_port, slurmd_port = free_port(), free_port()
    conf = directory / "slurm.conf"
    conf.write_text(
        f"ClusterName=covalentray\nSlurmctldHost={hostname}(127.0.0.1)\n"
        f"SlurmctldPort={ctld_port}\nSlurmdPort={slurmd_port}\n"
        f"AuthType=auth/munge\nAuthInfo=socket={socket_path}\nCredType=cred/munge\n"
        f"StateSaveLocation={directory / 'state'}\nSlurmdSpoolDir={directory / 'spool'}\n"
        f"SlurmctldPidFile={directory / 'slurmctld.pid'}\n"
        f"SlurmdPidFile={directory / 'slurmd.pid'}\n"
        f"SlurmctldLogFile={directory / 'log' / 'slurmctld.log'}\n"
        f"SlurmdLogFile={directory / 'log' / 'slurmd.log'}\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSlurmUser=root\n"
        "SlurmdUser=root\nReturnToService=2\nSchedulerType=sched/backfill\n"
        "SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\nMpiDefault=none\n"
        "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
        f"JobCompType=jobcomp/filetxt\nJobCompLoc={directory / 'log' / 'jobcomp.txt'}\n"
        "MinJobAge=3600\nKillWait=2\n"
        f"NodeName=covnode NodeAddr=127.0.0.1 NodeHostname={hostname} CPUs=2 State=UNKNOWN\n"
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
    )
    bashrc = directory / "slurm-env.sh"
    bashrc.write_text(f"export SLURM_CONF={conf}\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs: list[subprocess.Popen[bytes]] = []
    commands = [
        [
            "munged",
            "-F",
            "--force",
            f"--socket={socket_path}",
            f"--key-file={key}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--log-file={munge / 'munged.log'}",
            f"--seed-file={munge / 'seed'}",
        ],
        ["slurmctld", "-D", "-i", "-f", str(conf)],
        ["slurmd", "-D", "-N", "covnode", "-f", str(conf)],
    ]
    try:
        for i, command in enumerate(commands):
            log = directory / "log" / f"{command[0]}.out"
            procs.append(
                subprocess.Popen(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=open(log, "wb"),  # noqa: SIM115 - the daemon keeps it
                    stderr=subprocess.STDOUT,
                )
            )
            if i == 0:
                _wait_until(lambda: socket_path.exists(), procs[0], "munged", log)
        slurm = Slurm(conf, bashrc, directory, procs)

        def node_idle() -> bool:
            done = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True
            )
            return done.stdout.strip() == "idle"

        _wait_until(node_idle, procs[2], "slurmd", directory / "log" / "slurmd.out")
    except BaseException:
        for proc in reversed(procs):
            stop(proc)
        raise
    return slurm


def _wait_until(ready, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within 60 s:\n{log.read_text()}")
        time.sleep(0.1)  # polling a deadline for a daemon to come up

"""Where covalent-ray keeps its state on this machine.

The home directory holds the database, large stored objects, logs, the config file and
``service.json`` (how to reach the running service). It is ``--home`` on the CLI, else
``$COVALENT_RAY_HOME``, else ``~/.local/share/covalent_ray``.

The home is private, as Jupyter's runtime directory is: it is created 0700, and every
file the service writes in it is 0600 whatever the umask (the processes that write there
run with :data:`PRIVATE_UMASK`). On a shared machine (an HPC login node) no other local
user can read an input, an output or a pickled lattice. :func:`make_private` also
tightens a home made by an older version, when the service starts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

ENV_HOME = "COVALENT_RAY_HOME"
NAMESPACE = "covalent_ray"
DISPATCHER_NAME = "covalent_ray.dispatcher"
RESULT_MANAGER_NAME = "covalent_ray.result_manager"
#: the umask of every process that writes in the home: files 0600, directories 0700
PRIVATE_UMASK = 0o077
#: entries that show a directory is a covalent-ray home (so tightening it is safe)
_MARKERS = frozenset(
    {
        "results.duckdb",
        "service.json",
        "covalent_ray.toml",
        "logs",
        "objects",
        "workdir",
        "cache",
        "ray_auth_token",
        "api_token",
        "sql-sandbox",
    }
)
#: entries holding the user's own files (electron working directories, caches): the
#: private home already hides them, so their modes are left as the user's code made them
_USER_ENTRIES = frozenset({"workdir", "cache"})


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The home directory in effect (not created)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().resolve()
    return Path("~/.local/share/covalent_ray").expanduser()


def db_path(home: Path) -> Path:
    """The DuckDB file holding every result."""
    return home / "results.duckdb"


def objects_dir(home: Path) -> Path:
    """Where stored objects too large for the database live."""
    return home / "objects"


def ends_dir(home: Path) -> Path:
    """Electrons' ends not yet acknowledged by the result manager (``runtime.ends``)."""
    return home / "ends"


def results_path(home: Path) -> Path:
    """Where electrons' results directories (executors' ``results_dir``) live."""
    return home / "results"


def logs_dir(home: Path) -> Path:
    """Logs of the processes the service starts."""
    return home / "logs"


def service_file(home: Path) -> Path:
    """How to reach the running service (written by ``covalent-ray start``)."""
    return home / "service.json"


def config_file(home: Path) -> Path:
    """The TOML config file (``ct.get_config`` / ``ct.set_config``)."""
    return home / "covalent_ray.toml"


def api_token_file(home: Path) -> Path:
    """The REST API's token of the running service (0600; the SDK and CLI read it)."""
    return home / "api_token"


def write_private(path: Path, data: str) -> None:
    """Write a small file readable by its owner only (0600 whatever the umask)."""
    from ._files import atomic_write

    atomic_write(path, data, mode=0o600)


def private_umask() -> None:
    """Make files this process creates from now on private (0600, directories 0700).

    Called by the processes that write in the home: the service process, the
    dispatcher and the result manager. Electrons keep the user's umask."""
    os.umask(PRIVATE_UMASK)


def make_private(home: Path) -> None:
    """Create ``home`` with mode 0700, or make an existing one private: the home and its
    directories 0700, its files without group or other bits (0600 for ours).

    A directory that holds other things and none of a home's own files is refused
    (``ServiceError``) rather than changed: ``--home ~/project`` must not make a
    project's files private by surprise. The user's own files under ``workdir/`` and
    ``cache/`` keep their modes (the 0700 home hides them already)."""
    from ._exceptions import ServiceError

    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        os.chmod(home, 0o700)  # mkdir's mode is cut by the umask
        return
    entries = {p.name for p in home.iterdir()}
    if entries and not entries & _MARKERS:
        raise ServiceError(
            f"{home} holds other files and is not a covalent-ray home; covalent-ray makes "
            "its home private (mode 0700), so give an empty or a new directory as --home "
            "(or $COVALENT_RAY_HOME)."
        )
    _tighten(home)
    for name in sorted(entries - _USER_ENTRIES):
        path = home / name
        if path.is_dir() and not path.is_symlink():
            for root, dirs, files in os.walk(path):
                for child in (*dirs, *files):
                    _tighten(Path(root) / child)
            _tighten(path)
        else:
            _tighten(path)


def _tighten(path: Path) -> None:
    """Drop the group and other bits of ``path`` (not through a symbolic link)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return  # removed meanwhile (a temporary file)
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
        return
    mode = stat.S_IMODE(st.st_mode)
    private = 0o700 if stat.S_ISDIR(st.st_mode) else mode & 0o700
    if mode != private:
        os.chmod(path, private)

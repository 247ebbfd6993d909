"""The callables a strategy hands out: each performs one transfer when called.

They hold plain strings and settings, so they pickle small and run anywhere Python runs.
Directory semantics are rsync's, for every back end: a source path ending in ``/`` copies
the folder's contents into the destination; without it the folder itself is copied into
the destination (``Folder(path, include_folder=True)``).

Errors are built-in exceptions whose message names the file and says what to do.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: characters of a failing command's stderr quoted in the error
TAIL = 2000

#: fsspec protocol -> (the package it needs, the covalent-ray extra that installs it)
PLUGINS: dict[str, tuple[str, str]] = {
    "s3": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcloud"),
    "abfs": ("adlfs", "azure"),
    "http": ("aiohttp", "http"),
    "https": ("aiohttp", "http"),
}


def _here() -> str:
    return socket.gethostname()


def _missing_source(path: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{path} does not exist on {_here()}, where the electron runs: create it before "
        "the transfer runs, or correct the path given to the FileTransfer"
    )


def _make_parent(path: str) -> None:
    """Create the folders a local destination needs (the folder itself if it ends in /)."""
    target = Path(path) if path.endswith("/") else Path(path).parent
    if str(target):
        target.mkdir(parents=True, exist_ok=True)


class Action:
    """One transfer: ``action()`` performs it; ``describe()`` names it in errors."""

    def __call__(self) -> None:  # pragma: no cover - every action overrides it
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


class Prepare(Action):
    """Before any transfer of an electron: create the temporary files its transfers use
    (a ``File()`` without a path) and return ``(from_path, to_path)``: the value Covalent
    passes in the electron's ``files`` keyword argument."""

    def __init__(self, from_path: str, to_path: str, touch: Sequence[str] = ()) -> None:
        self.from_path = from_path
        self.to_path = to_path
        self.touch = list(touch)

    def __call__(self) -> tuple[str, str]:  # type: ignore[override]
        for path in self.touch:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).touch()
        return (self.from_path, self.to_path)

    def describe(self) -> str:
        return f"preparing the transfer of {self.from_path} to {self.to_path}"


class LocalCopy(Action):
    """A copy within the filesystem where the electron runs (``shutil``)."""

    def __init__(self, source: str, dest: str) -> None:
        self.source = source
        self.dest = dest

    def __call__(self) -> None:
        src = Path(self.source)
        if not src.exists():
            raise _missing_source(self.source)
        dest = self.dest
        into = dest.endswith("/") or Path(dest).is_dir()
        if src.is_dir():
            if self.source.endswith("/"):  # the contents, into dest
                shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)
            else:  # the folder itself, into dest
                Path(dest).mkdir(parents=True, exist_ok=True)
                shutil.copytree(src, Path(dest) / src.name, dirs_exist_ok=True, symlinks=True)
            return
        _make_parent(dest)
        target = Path(dest) / src.name if into else Path(dest)
        shutil.copy2(src, target)

    def describe(self) -> str:
        return f"copying {self.source} to {self.dest}"


class RsyncCopy(Action):
    """``rsync -a source dest``; either side may be ``[user@]host:path`` (rsync over SSH).

    SSH runs with ``BatchMode=yes`` (a missing key fails at once instead of waiting for a
    password) and with the host-key checking of the user's SSH configuration.
    """

    def __init__(
        self,
        source: str,
        dest: str,
        *,
        ssh: Sequence[str] | None = None,
        local_dest: bool = True,
        local_source: bool = True,
    ) -> None:
        self.source = source
        self.dest = dest
        self.ssh = list(ssh) if ssh is not None else None
        self.local_dest = local_dest
        self.local_source = local_source

    def argv(self) -> list[str]:
        """The command line run."""
        argv = ["rsync", "-a"]
        if self.ssh is not None:
            argv += ["-e", " ".join(shlex.quote(a) for a in self.ssh)]
        return [*argv, self.source, self.dest]

    def __call__(self) -> None:
        if self.local_source and not os.path.exists(self.source):
            raise _missing_source(self.source)
        if self.local_dest:
            _make_parent(self.dest)
        try:
            proc = subprocess.run(
                self.argv(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
            )
        except FileNotFoundError:
            raise FileNotFoundError(
                f"rsync is not installed on {_here()}, where the electron runs: install it "
                "there (e.g. apt-get install rsync), or use ct.fs_strategies.Shutil() for "
                "local copies"
            ) from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip()[-TAIL:]
            hint = (
                "check the paths, that the host is reachable with this key and user, and "
                "that the host is in known_hosts (ssh to it once)"
                if self.ssh is not None
                else "check that the source exists and the destination is writable"
            )
            raise RuntimeError(
                f"{shlex.join(self.argv())} exited with status {proc.returncode}: {tail}; {hint}"
            )

    def describe(self) -> str:
        return f"rsync of {self.source} to {self.dest}"


def filesystem(protocol: str, options: dict[str, Any]) -> Any:
    """A fresh fsspec filesystem for ``protocol``; a missing plugin names the extra."""
    package, extra = PLUGINS.get(protocol, (protocol, protocol))
    missing = [p for p in ("fsspec", package) if importlib.util.find_spec(p) is None]
    if missing:
        raise ImportError(
            f"transfers over {protocol}:// need {' and '.join(missing)}, not installed on "
            f"{_here()} where the electron runs: pip install 'covalent-ray[{extra}]' there"
        )
    import fsspec

    return fsspec.filesystem(protocol, skip_instance_cache=True, **options)


class FsspecTransfer(Action):
    """A download or upload through an fsspec filesystem (HTTP, S3, GCS, Azure Blob)."""

    def __init__(
        self,
        protocol: str,
        options: dict[str, Any],
        direction: str,
        remote: str,
        local: str,
        *,
        recursive: bool = False,
        put_method: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        if direction not in ("download", "upload"):
            raise ValueError(f"direction must be 'download' or 'upload', not {direction!r}")
        self.protocol = protocol
        self.options = dict(options)
        self.direction = direction
        self.remote = remote
        self.local = local
        self.recursive = recursive
        self.put_method = put_method
        self.environ = dict(environ or {})

    def __call__(self) -> None:
        os.environ.update(self.environ)  # e.g. AWS_SHARED_CREDENTIALS_FILE, as Covalent sets it
        fs = filesystem(self.protocol, self.options)
        try:
            if self.direction == "download":
                _make_parent(self.local)
                if self.recursive:
                    fs.get(self.remote, self.local, recursive=True)
                else:
                    fs.get_file(self.remote, self.local)
            else:
                if not os.path.exists(self.local):
                    raise _missing_source(self.local)
                kwargs: dict[str, Any] = {}
                if self.put_method:  # HTTP: a PUT with a length (presigned URLs refuse chunks)
                    size = str(os.path.getsize(self.local))
                    kwargs = {"method": self.put_method, "headers": {"Content-Length": size}}
                if self.recursive:
                    fs.put(self.local, self.remote, recursive=True, **kwargs)
                else:
                    fs.put_file(self.local, self.remote, **kwargs)
        except FileNotFoundError as exc:
            if self.direction == "upload" and not os.path.exists(self.local):
                raise
            raise FileNotFoundError(
                f"{self.remote} was not found ({exc}): check the URL, and that the bucket "
                "or server holds it"
            ) from exc
        except ImportError:
            raise
        except Exception as exc:
            raise RuntimeError(
                f"{self.describe()} failed: {type(exc).__name__}: {exc}; check the URL, "
                "that it is reachable from where the electron runs, and the strategy's "
                "credentials"
            ) from exc

    def describe(self) -> str:
        if self.direction == "download":
            return f"download of {self.remote} to {self.local}"
        return f"upload of {self.local} to {self.remote}"

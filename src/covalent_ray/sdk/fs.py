"""``ct.fs``: Covalent's file transfers, declared on an electron with ``files=[...]``.

- ``File(path)`` / ``Folder(path)``: a local path, ``file://`` URL or remote URL
  (``http(s)://``, ``s3://``, ``gs://``, ``blob://``, ``ftp://``, ``globus://``, or a
  scheme registered for a custom strategy); no path means a new temporary file
  ``/tmp/<uuid>``. A path ending in ``/`` is a folder whose *contents* are transferred;
  ``Folder(path, include_folder=True)`` transfers the folder itself.
- ``FileTransfer(from_file, to_file, order=Order.BEFORE, strategy=None)``: without a
  strategy one is chosen from the URL schemes (local to local: ``Shutil``; from a remote
  URL: its downloader; to one: its uploader). ``TransferFromRemote`` and
  ``TransferToRemote`` mark the remote side (for ``Rsync`` over SSH) and set the order.
- ``register_downloader(scheme, cls)`` / ``register_uploader(scheme, cls)``: a custom
  strategy class for a scheme.

These objects only describe transfers. Where the electron runs, before it, every
transfer's temporary files are created and the electron receives ``files``: the list of
``(from_path, to_path)`` of its transfers, in order; ``BEFORE`` transfers run before the
electron, ``AFTER`` ones after it succeeded (:mod:`covalent_ray.runtime.hooks`).
"""

from __future__ import annotations

import enum
import posixpath
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..transfer import strategies as _strategies
from ..transfer.strategies import FileTransferStrategy

__all__ = [
    "File",
    "FileTransfer",
    "Folder",
    "Order",
    "TransferFromRemote",
    "TransferToRemote",
    "register_downloader",
    "register_uploader",
]


class Order(str, enum.Enum):
    """When a transfer runs: before the electron, or after it succeeded."""

    BEFORE = "before"
    AFTER = "after"


#: scheme -> whether its files are remote; ``file`` (and plain paths) are local
_REMOTE_SCHEMES: dict[str, bool] = {
    "file": False,
    "s3": True,
    "blob": True,
    "gs": True,
    "globus": True,
    "http": True,
    "https": True,
    "ftp": True,
}

_downloaders: dict[str, type[FileTransferStrategy]] = {
    "file": _strategies.Shutil,
    "http": _strategies.HTTP,
    "https": _strategies.HTTP,
    "s3": _strategies.S3,
    "gs": _strategies.GCloud,
    "blob": _strategies.Blob,
}
_uploaders: dict[str, type[FileTransferStrategy]] = dict(_downloaders)


def register_downloader(scheme: str, cls: type[FileTransferStrategy]) -> None:
    """Use ``cls()`` for transfers from ``scheme://`` URLs (the scheme becomes remote)."""
    _REMOTE_SCHEMES[scheme] = True
    _downloaders[scheme] = cls


def register_uploader(scheme: str, cls: type[FileTransferStrategy]) -> None:
    """Use ``cls()`` for transfers to ``scheme://`` URLs (the scheme becomes remote)."""
    _REMOTE_SCHEMES[scheme] = True
    _uploaders[scheme] = cls


def _normalize(path: str) -> str:
    """``.`` and ``..`` resolved, repeated slashes collapsed, a trailing ``/`` kept."""
    if not path:
        return path
    normal = posixpath.normpath(path)
    if normal == ".":
        normal = ""
    if path.endswith("/") and not normal.endswith("/"):
        normal += "/"
    return normal


class File:
    """A file (or folder) to transfer: a local path or a URL.

    ``is_remote`` marks a ``file://`` path as being on another host (``Rsync`` over SSH);
    ``is_dir`` marks a folder (a path ending in ``/`` is one); ``include_folder`` transfers
    the folder itself rather than its contents.
    """

    def __init__(
        self,
        filepath: str | None = None,
        is_remote: bool = False,
        is_dir: bool = False,
        include_folder: bool = False,
    ) -> None:
        if filepath is not None and not isinstance(filepath, str):
            raise AttributeError(
                f"File(): the path must be a string (or None for a temporary file), not "
                f"{type(filepath).__name__}: pass str(path)"
            )
        self.id = str(uuid.uuid4())
        if filepath is None:
            filepath = self.get_temp_filepath()
        self._is_remote = bool(is_remote)
        self._is_dir = bool(is_dir)
        self._include_folder = bool(include_folder)
        self.scheme = File.resolve_scheme(filepath)
        parts = urlsplit(filepath)
        if parts.scheme:
            self._netloc, self._query = parts.netloc, parts.query
            self._path = _normalize(parts.path)
        else:
            self._netloc, self._query = "", ""
            self._path = _normalize(filepath)
        self.uri = File.get_uri(self.scheme, filepath)

    @staticmethod
    def resolve_scheme(path: str) -> str:
        """The URL scheme of ``path`` (``file`` for a plain path); unknown ones are refused."""
        scheme = urlsplit(path).scheme
        if not scheme:
            return "file"
        if scheme not in _REMOTE_SCHEMES:
            known = ", ".join(f"{s}://" for s in _REMOTE_SCHEMES)
            raise ValueError(
                f"File {path!r}: the scheme {scheme}:// is not supported; use a local path "
                f"or one of {known}, or register a strategy for it with "
                "ct.fs.register_downloader / register_uploader"
            )
        return scheme

    @staticmethod
    def get_uri(scheme: str, path: str) -> str:
        """``path`` as a URL of ``scheme`` (a plain path becomes ``file://...``)."""
        parts = urlsplit(path)
        if parts.scheme:
            return urlunsplit((parts.scheme, parts.netloc, _normalize(parts.path), parts.query, ""))
        normal = _normalize(path)
        return f"{scheme}://{normal}" if normal.startswith("/") else f"{scheme}:{normal}"

    def get_temp_filepath(self) -> str:
        """The temporary file a ``File()`` without a path stands for."""
        return f"/tmp/{self.id}"

    @property
    def is_temp_file(self) -> bool:
        """Whether this is a temporary file (created before the electron runs)."""
        return self.filepath == self.get_temp_filepath()

    @property
    def is_remote(self) -> bool:
        """Whether the file is on another host or service."""
        return self._is_remote or _REMOTE_SCHEMES.get(self.scheme, True)

    @property
    def is_dir(self) -> bool:
        """Whether this is a folder."""
        return self._is_dir or self._path.endswith("/")

    @property
    def filepath(self) -> str:
        """The path (without scheme and host): with a trailing ``/`` for a folder whose
        contents are transferred, without one for a folder transferred whole."""
        path = self._path
        if self.is_dir and not self._include_folder and not path.endswith("/"):
            path += "/"
        if self._include_folder:
            path = path.rstrip("/")
        return path

    def touch(self) -> None:
        """Create the (local) file if it does not exist."""
        Path(self.filepath).touch()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, File):
            return NotImplemented
        return (self.uri, self.filepath, self.is_remote) == (
            other.uri,
            other.filepath,
            other.is_remote,
        )

    def __hash__(self) -> int:
        return hash((self.uri, self.filepath))

    def __repr__(self) -> str:
        kind = "Folder" if self.is_dir else "File"
        return f"{kind}({self.uri!r}{', remote' if self._is_remote else ''})"


class Folder(File):
    """A folder to transfer: its contents, or itself with ``include_folder=True``."""

    def __init__(
        self,
        filepath: str | None = None,
        is_remote: bool = False,
        is_dir: bool = True,
        include_folder: bool = False,
    ) -> None:
        super().__init__(filepath, is_remote, is_dir, include_folder)


def _as_file(value: File | str | None, which: str) -> File:
    if value is None or isinstance(value, str):
        return File(value)
    if isinstance(value, File):
        return value
    raise AttributeError(
        f"FileTransfer(): {which} must be a ct.fs.File, a path or URL string, or None, not "
        f"{type(value).__name__}"
    )


def guess_transfer_strategy(from_file: File, to_file: File) -> type[FileTransferStrategy]:
    """The strategy class Covalent picks for a pair of files."""
    if not from_file.is_remote and not to_file.is_remote:
        return _strategies.Shutil
    if not from_file.is_remote:
        found = _uploaders.get(to_file.scheme)
        if found is None:
            raise AttributeError(
                f"Cannot guess an upload strategy for {to_file.uri}: pass strategy= (see "
                "ct.fs_strategies) or ct.fs.register_uploader one for its scheme"
            )
        return found
    if not to_file.is_remote:
        found = _downloaders.get(from_file.scheme)
        if found is None:
            raise AttributeError(
                f"Cannot guess a download strategy for {from_file.uri}: pass strategy= "
                "(see ct.fs_strategies) or ct.fs.register_downloader one for its scheme"
            )
        return found
    raise AttributeError(
        f"FileTransfer from {from_file.uri} to {to_file.uri}: both are remote, and remote to "
        "remote transfers are not supported; make one side a local path"
    )


class FileTransfer:
    """A file (or folder) to copy before or after an electron, where the electron runs."""

    def __init__(
        self,
        from_file: File | str | None = None,
        to_file: File | str | None = None,
        order: Order = Order.BEFORE,
        strategy: FileTransferStrategy | None = None,
    ) -> None:
        self.from_file = _as_file(from_file, "from_file")
        self.to_file = _as_file(to_file, "to_file")
        self.order = Order(getattr(order, "value", order))
        self.strategy = strategy or guess_transfer_strategy(self.from_file, self.to_file)()
        if self.from_file.is_remote and self.to_file.is_remote:
            raise ValueError(
                f"FileTransfer from {self.from_file.uri} to {self.to_file.uri}: remote to "
                "remote transfers are not supported; make one side a local path (transfer "
                "through the machine the electron runs on in two steps)"
            )

    def cp(self) -> tuple[Any, Any]:
        """``(prepare, transfer)``: the callables run where the electron runs (Covalent's
        interface: ``prepare()`` returns the electron's ``files`` entry)."""
        src, dst = self.from_file, self.to_file
        if src.is_remote and not dst.is_remote:
            transfer = self.strategy.download(src, dst)
        elif dst.is_remote and not src.is_remote:
            transfer = self.strategy.upload(src, dst)
        else:
            transfer = self.strategy.cp(src, dst)
        prepare = self.strategy.pre_transfer_hook(src, dst, return_value_type="from_to")
        return prepare, transfer

    def describe(self) -> str:
        """How errors name this transfer."""
        return (
            f"file transfer {self.from_file.uri} -> {self.to_file.uri} "
            f"({type(self.strategy).__name__}, {self.order.value} the electron)"
        )

    def __repr__(self) -> str:
        return (
            f"FileTransfer({self.from_file.uri!r}, {self.to_file.uri!r}, "
            f"order={self.order.value}, strategy={self.strategy!r})"
        )


def TransferFromRemote(  # noqa: N802 - Covalent's name
    from_filepath: str,
    to_filepath: str | None = None,
    strategy: FileTransferStrategy | None = None,
    order: Order = Order.BEFORE,
) -> FileTransfer:
    """A transfer from a remote file (``from_filepath`` marked remote) before the electron.

    A source ending in ``/`` is a folder, and then the destination must end in ``/`` too.
    ``order`` is accepted for Covalent's signature; the transfer always runs before.
    """
    is_dir = from_filepath.endswith("/")
    if is_dir and not (to_filepath or "").endswith("/"):
        raise ValueError(
            f"TransferFromRemote({from_filepath!r}, {to_filepath!r}): the source is a "
            "folder, so the destination must be a folder path ending with '/'"
        )
    return FileTransfer(
        File(from_filepath, is_remote=True, is_dir=is_dir),
        File(to_filepath, is_dir=is_dir),
        order=Order.BEFORE,
        strategy=strategy,
    )


def TransferToRemote(  # noqa: N802 - Covalent's name
    to_filepath: str,
    from_filepath: str | None = None,
    strategy: FileTransferStrategy | None = None,
    order: Order = Order.AFTER,
) -> FileTransfer:
    """A transfer to a remote file (``to_filepath`` marked remote) after the electron.

    A source ending in ``/`` is a folder, and then the destination must end in ``/`` too.
    ``order`` is accepted for Covalent's signature; the transfer always runs after.
    """
    is_dir = bool(from_filepath) and str(from_filepath).endswith("/")
    if is_dir and not to_filepath.endswith("/"):
        raise ValueError(
            f"TransferToRemote({to_filepath!r}, {from_filepath!r}): the source is a folder, "
            "so the destination must be a folder path ending with '/'"
        )
    return FileTransfer(
        File(from_filepath, is_dir=is_dir),
        File(to_filepath, is_remote=True, is_dir=is_dir),
        order=Order.AFTER,
        strategy=strategy,
    )

"""``ct.fs_strategies``: how a ``FileTransfer`` moves its file, with Covalent's classes and
constructor arguments.

A strategy's ``cp(from_file, to_file)`` (both local), ``download`` (from a remote source)
and ``upload`` (to a remote destination) return a callable that performs the transfer
where the electron runs; the files are ``ct.fs.File`` objects (only their ``filepath``,
``uri``, ``is_dir`` and ``is_temp_file`` are read). A custom strategy subclasses
:class:`FileTransferStrategy` and is registered for a URL scheme with
``ct.fs.register_downloader`` / ``ct.fs.register_uploader``, as in Covalent.

========  ==============================================  =====================
strategy  back end                                        extra
========  ==============================================  =====================
Shutil    ``shutil`` (files and folders)                  none
Rsync     the ``rsync`` command, locally or over SSH      none (rsync, ssh)
HTTP      fsspec's HTTP filesystem (GET; PUT to upload)   ``covalent-ray[http]``
S3        s3fs                                            ``covalent-ray[s3]``
GCloud    gcsfs                                           ``covalent-ray[gcloud]``
Blob      adlfs (``blob://<account>.blob.core.windows.net/<container>/<path>``)
                                                          ``covalent-ray[azure]``
========  ==============================================  =====================

Beyond Covalent's arguments, the fsspec-based strategies accept ``**storage_options``
passed to their filesystem (``S3(endpoint_url=...)`` for an S3-compatible server), and
``Rsync`` accepts ``port`` and ``ssh_options``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .actions import Action, FsspecTransfer, LocalCopy, Prepare, RsyncCopy

__all__ = ["HTTP", "S3", "Blob", "FileTransferStrategy", "GCloud", "Rsync", "Shutil"]


def _remote_url(file: Any) -> str:
    """The file's URL, with its path as ``filepath`` gives it (trailing ``/`` kept or not)."""
    parts = urlsplit(file.uri)
    url = f"{parts.scheme}://{parts.netloc}{file.filepath}"
    return f"{url}?{parts.query}" if parts.query else url


class FileTransferStrategy:
    """Base of every strategy: ``cp``, ``download`` and ``upload`` return a callable.

    The defaults refuse with a message naming the strategy, so a subclass implements only
    the directions it supports.
    """

    def cp(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        """A callable copying ``from_file`` to ``to_file``, both local."""
        raise NotImplementedError(
            f"{type(self).__name__} does not copy between local paths: use "
            "ct.fs_strategies.Shutil() or Rsync() for that transfer"
        )

    def download(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        """A callable fetching the remote ``from_file`` to the local ``to_file``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not download: choose a strategy for "
            f"{from_file.uri} (ct.fs_strategies)"
        )

    def upload(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        """A callable sending the local ``from_file`` to the remote ``to_file``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not upload: choose a strategy for "
            f"{to_file.uri} (ct.fs_strategies)"
        )

    def pre_transfer_hook(
        self, from_file: Any, to_file: Any, return_value_type: Any = "from_to"
    ) -> Callable[[], Any]:
        """The callable run before the electron: creates temporary files and returns the
        value passed in ``files`` (``(from_path, to_path)`` unless told ``"to"``/``"from"``)."""
        touch = [f.filepath for f in (from_file, to_file) if getattr(f, "is_temp_file", False)]
        kind = getattr(return_value_type, "value", return_value_type)
        prepare = Prepare(from_file.filepath, to_file.filepath, touch)
        if kind in ("to", "from"):
            return _Pick(prepare, 1 if kind == "to" else 0)
        return prepare

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if not k.startswith("_") and v}
        hidden = ("credentials", "client_secret", "secret", "key", "token")
        args = ", ".join(f"{k}={'***' if k in hidden else repr(v)}" for k, v in shown.items())
        return f"{type(self).__name__}({args})"


class _Pick(Action):
    def __init__(self, prepare: Prepare, index: int) -> None:
        self.prepare = prepare
        self.index = index

    def __call__(self) -> str:  # type: ignore[override]
        return self.prepare()[self.index]

    def describe(self) -> str:
        return self.prepare.describe()


class Shutil(FileTransferStrategy):
    """Copies within the filesystem where the electron runs (files and folders).

    A ``file://`` path marked remote (``TransferFromRemote("/data/x")``) is copied the same
    way: without a host there is nowhere else for it to be.
    """

    def __init__(self) -> None:
        pass

    def cp(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        return LocalCopy(from_file.filepath, to_file.filepath)

    def download(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        return self.cp(from_file, to_file)

    def upload(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        return self.cp(from_file, to_file)


class Rsync(FileTransferStrategy):
    """``rsync -a``: a local copy, or over SSH to ``user@host`` when a host is given.

    Covalent's arguments: ``user``, ``host``, ``private_key_path`` (checked to exist).
    Also ``port`` (SSH port) and ``ssh_options`` (more ``ssh`` arguments, e.g.
    ``["-o", "UserKnownHostsFile=/path"]``). Without a host, ``download``/``upload`` copy
    locally too.
    """

    def __init__(
        self,
        user: str | None = "",
        host: str | None = "",
        private_key_path: str | None = None,
        *,
        port: int | None = None,
        ssh_options: Sequence[str] = (),
    ) -> None:
        self.user = user or ""
        self.host = host or ""
        self.private_key_path = private_key_path
        self.port = port
        self.ssh_options = list(ssh_options)
        if self.private_key_path and not os.path.exists(self.private_key_path):
            raise FileNotFoundError(
                f"Rsync: the private key {self.private_key_path} does not exist; give the "
                "path of the SSH key that opens the remote host"
            )

    def ssh_command(self) -> list[str]:
        """The ``ssh`` command rsync runs (``-e``)."""
        argv = ["ssh", "-o", "BatchMode=yes"]
        if self.private_key_path:
            argv += ["-i", str(self.private_key_path)]
        if self.port:
            argv += ["-p", str(self.port)]
        return argv + self.ssh_options

    def _remote(self, path: str) -> str:
        return f"{self.user}@{self.host}:{path}" if self.user else f"{self.host}:{path}"

    def cp(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        return RsyncCopy(from_file.filepath, to_file.filepath)

    def download(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        if not self.host:
            return self.cp(from_file, to_file)
        return RsyncCopy(
            self._remote(from_file.filepath),
            to_file.filepath,
            ssh=self.ssh_command(),
            local_source=False,
        )

    def upload(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        if not self.host:
            return self.cp(from_file, to_file)
        return RsyncCopy(
            from_file.filepath,
            self._remote(to_file.filepath),
            ssh=self.ssh_command(),
            local_dest=False,
        )


class _Fsspec(FileTransferStrategy):
    """A strategy over one fsspec filesystem."""

    protocol = ""
    put_method: str | None = None

    def __init__(self, **storage_options: Any) -> None:
        self.storage_options = storage_options

    def options(self) -> dict[str, Any]:
        """The filesystem's constructor arguments."""
        return dict(self.storage_options)

    def environ(self) -> dict[str, str]:
        """Environment variables set where the transfer runs."""
        return {}

    def remote_path(self, file: Any) -> str:
        """The path the filesystem is given for a remote file."""
        return _remote_url(file)

    def _transfer(self, direction: str, remote: Any, local: Any) -> FsspecTransfer:
        return FsspecTransfer(
            self.protocol,
            self.options(),
            direction,
            self.remote_path(remote),
            local.filepath,
            recursive=bool(remote.is_dir or local.is_dir),
            put_method=self.put_method,
            environ=self.environ(),
        )

    def download(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        return self._transfer("download", from_file, to_file)

    def upload(self, from_file: Any, to_file: Any) -> Callable[[], Any]:
        return self._transfer("upload", to_file, from_file)


class HTTP(_Fsspec):
    """Downloads from an http(s) URL (GET); uploads with PUT (e.g. to a presigned URL)."""

    protocol = "http"
    put_method = "put"

    def remote_path(self, file: Any) -> str:
        return str(file.uri)


class S3(_Fsspec):
    """Amazon S3 (and S3-compatible servers): ``s3://bucket/key``.

    Covalent's arguments: ``credentials`` (a shared credentials file), ``profile``,
    ``region_name``; any other keyword goes to ``s3fs.S3FileSystem`` (``endpoint_url``,
    ``key``, ``secret``, ...).
    """

    protocol = "s3"

    def __init__(
        self,
        credentials: str | None = None,
        profile: str | None = None,
        region_name: str | None = None,
        **storage_options: Any,
    ) -> None:
        super().__init__(**storage_options)
        self.credentials = credentials
        self.profile = profile
        self.region_name = region_name

    def options(self) -> dict[str, Any]:
        options = dict(self.storage_options)
        if self.profile:
            options["profile"] = self.profile
        if self.region_name:
            client = dict(options.get("client_kwargs") or {})
            client.setdefault("region_name", self.region_name)
            options["client_kwargs"] = client
        return options

    def environ(self) -> dict[str, str]:
        return {"AWS_SHARED_CREDENTIALS_FILE": str(self.credentials)} if self.credentials else {}


class GCloud(_Fsspec):
    """Google Cloud Storage: ``gs://bucket/path``.

    Covalent's arguments: ``credentials`` (a service account's JSON key file, read now),
    ``project_id``; other keywords go to ``gcsfs.GCSFileSystem``.
    """

    protocol = "gs"

    def __init__(
        self, credentials: str | None = None, project_id: str | None = None, **storage_options: Any
    ) -> None:
        super().__init__(**storage_options)
        if credentials is not None:
            path = Path(credentials).expanduser().resolve()
            if not path.is_file():
                raise ValueError(
                    f"GCloud: the credentials file {credentials} does not exist; give the "
                    "path of a service account's JSON key"
                )
            self.credentials: dict[str, Any] | None = json.loads(path.read_text())
        else:
            self.credentials = None
        self.project_id = project_id

    def options(self) -> dict[str, Any]:
        options = dict(self.storage_options)
        if self.project_id:
            options["project"] = self.project_id
        if self.credentials is not None:
            options["token"] = self.credentials
        return options


class Blob(_Fsspec):
    """Azure Blob Storage: ``blob://<account>.blob.core.windows.net/<container>/<path>``.

    Covalent's arguments: ``client_id``, ``client_secret``, ``tenant_id`` (a service
    principal); other keywords go to ``adlfs.AzureBlobFileSystem``.
    """

    protocol = "abfs"

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        tenant_id: str | None = None,
        **storage_options: Any,
    ) -> None:
        super().__init__(**storage_options)
        self.credentials = (tenant_id, client_id, client_secret)

    def _account(self, file: Any) -> str:
        return urlsplit(file.uri).netloc.split(".", 1)[0]

    def _transfer(self, direction: str, remote: Any, local: Any) -> FsspecTransfer:
        transfer = super()._transfer(direction, remote, local)
        transfer.options.setdefault("account_name", self._account(remote))
        return transfer

    def options(self) -> dict[str, Any]:
        options = dict(self.storage_options)
        tenant_id, client_id, client_secret = self.credentials
        for key, value in (
            ("tenant_id", tenant_id),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ):
            if value:
                options[key] = value
        return options

    def remote_path(self, file: Any) -> str:
        return str(file.filepath).lstrip("/")  # <container>/<path>

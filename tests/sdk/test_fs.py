"""``ct.fs``: Covalent's URL handling, defaults and errors, and objects that pickle."""

from __future__ import annotations

import cloudpickle
import pytest

import covalent_ray as ct
from covalent_ray.sdk import fs as fs_module


@pytest.mark.parametrize(
    ("path", "scheme", "filepath", "uri", "remote"),
    [
        ("/data/in.csv", "file", "/data/in.csv", "file:///data/in.csv", False),
        ("file:///data/./x/../in.csv", "file", "/data/in.csv", "file:///data/in.csv", False),
        ("s3://bucket/dir/key.bin", "s3", "/dir/key.bin", "s3://bucket/dir/key.bin", True),
        ("gs://bucket/obj", "gs", "/obj", "gs://bucket/obj", True),
        ("https://example.org/a.csv?v=2", "https", "/a.csv", "https://example.org/a.csv?v=2", True),
        (
            "blob://acct.blob.core.windows.net/box/p.txt",
            "blob",
            "/box/p.txt",
            "blob://acct.blob.core.windows.net/box/p.txt",
            True,
        ),
    ],
)
def test_urls_and_paths(path: str, scheme: str, filepath: str, uri: str, remote: bool) -> None:
    f = ct.fs.File(path)
    assert (f.scheme, f.filepath, f.uri, f.is_remote) == (scheme, filepath, uri, remote)
    assert not f.is_dir and not f.is_temp_file


def test_folders_contents_or_the_folder_itself() -> None:
    assert ct.fs.File("/data/dir/").is_dir
    assert ct.fs.Folder("/data/dir").filepath == "/data/dir/"
    assert ct.fs.Folder("/data/dir/", include_folder=True).filepath == "/data/dir"
    assert ct.fs.File("/data/x", is_dir=True).filepath == "/data/x/"


def test_no_path_is_a_temporary_file() -> None:
    f = ct.fs.File()
    assert f.is_temp_file and f.filepath == f"/tmp/{f.id}" and not f.is_remote
    ft = ct.fs.FileTransfer("/data/in.csv")
    assert ft.to_file.is_temp_file and ft.order is ct.fs.Order.BEFORE


def test_default_strategies_follow_the_schemes() -> None:
    S = ct.fs_strategies  # noqa: N806
    cases = [
        (("/a", "/b"), S.Shutil),
        (("https://h/x", "/b"), S.HTTP),
        (("/a", "s3://bkt/k"), S.S3),
        (("gs://bkt/k", "/b"), S.GCloud),
        (("/a", "blob://acct.blob.core.windows.net/c/k"), S.Blob),
    ]
    for (src, dst), expected in cases:
        assert type(ct.fs.FileTransfer(src, dst).strategy) is expected, (src, dst)
    rsync = S.Rsync()
    assert ct.fs.FileTransfer("/a", "/b", strategy=rsync).strategy is rsync


def test_factories_mark_the_remote_side_and_the_order() -> None:
    down = ct.fs.TransferFromRemote("/remote/in.png", "/local/in.png", order=ct.fs.Order.AFTER)
    assert down.from_file.is_remote and not down.to_file.is_remote
    assert down.order is ct.fs.Order.BEFORE  # always before, as in Covalent
    up = ct.fs.TransferToRemote("/remote/out.png")
    assert up.to_file.is_remote and up.from_file.is_temp_file and up.order is ct.fs.Order.AFTER
    with pytest.raises(ValueError, match="must be a folder path ending with '/'"):
        ct.fs.TransferFromRemote("/remote/dir/", "/local/file")
    with pytest.raises(ValueError, match="must be a folder path ending with '/'"):
        ct.fs.TransferToRemote("/remote/file", "/local/dir/")


def test_bad_transfers_are_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"scheme sftp:// is not supported.*register"):
        ct.fs.File("sftp://host/x")
    with pytest.raises(AttributeError, match="remote to remote transfers are not supported"):
        ct.fs.FileTransfer("s3://a/x", "gs://b/x")
    with pytest.raises(ValueError, match="remote to remote transfers are not supported"):
        ct.fs.FileTransfer("s3://a/x", "gs://b/x", strategy=ct.fs_strategies.S3())
    with pytest.raises(AttributeError, match="pass str"):
        ct.fs.File(123)  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="to_file must be"):
        ct.fs.FileTransfer("/a", 5)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="HTTP does not copy between local paths"):
        ct.fs.FileTransfer("/a", "/b", strategy=ct.fs_strategies.HTTP()).cp()


def test_transfers_and_strategies_pickle() -> None:
    ft = ct.fs.FileTransfer(
        ct.fs.Folder("s3://bkt/prefix"),
        ct.fs.Folder("/tmp/out"),
        strategy=ct.fs_strategies.S3(profile="dev", region_name="eu-west-1"),
    )
    clone = cloudpickle.loads(cloudpickle.dumps(ft))
    assert clone.from_file == ft.from_file and clone.to_file.filepath == "/tmp/out/"
    assert clone.strategy.profile == "dev" and clone.order is ct.fs.Order.BEFORE
    assert "S3(" in repr(clone) and "s3://bkt/prefix" in repr(clone)


def test_custom_strategy_registered_for_a_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs_module, "_REMOTE_SCHEMES", dict(fs_module._REMOTE_SCHEMES))
    monkeypatch.setattr(fs_module, "_downloaders", dict(fs_module._downloaders))
    monkeypatch.setattr(fs_module, "_uploaders", dict(fs_module._uploaders))
    fetched = []

    class Vault(ct.fs_strategies.FileTransferStrategy):
        def download(self, from_file, to_file):
            return lambda: fetched.append((from_file.uri, to_file.filepath))

    ct.fs.register_downloader("vault", Vault)
    ft = ct.fs.FileTransfer("vault://secrets/db.key", "/tmp/db.key")
    assert isinstance(ft.strategy, Vault) and ft.from_file.is_remote
    prepare, transfer = ft.cp()
    assert prepare() == ("/db.key", "/tmp/db.key")
    transfer()
    assert fetched == [("vault://secrets/db.key", "/tmp/db.key")]
    with pytest.raises(AttributeError, match="Cannot guess an upload strategy for vault://"):
        ct.fs.FileTransfer("/tmp/x", "vault://secrets/x")
    ct.fs.register_uploader("vault", Vault)
    with pytest.raises(NotImplementedError, match="Vault does not upload"):
        ct.fs.FileTransfer("/tmp/x", "vault://secrets/x").cp()

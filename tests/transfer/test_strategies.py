"""Each strategy moving real files, as the runtime runs them (``prepare()``, then the
transfer): Shutil and Rsync locally, HTTP against a server on 127.0.0.1, S3 against a
local moto server. No test reaches the internet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

import covalent_ray as ct
from covalent_ray.transfer import actions

from .conftest import HttpServer, S3Server


def run(ft: ct.fs.FileTransfer) -> tuple[str, str]:
    """What the runtime does with one transfer: prepare, then transfer."""
    prepare, transfer = ft.cp()
    pair = prepare()
    transfer()
    return pair


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    return src


@pytest.mark.parametrize("strategy", [ct.fs_strategies.Shutil(), ct.fs_strategies.Rsync()])
def test_local_files_and_folders(strategy, tmp_path: Path, folder: Path) -> None:
    run(
        ct.fs.FileTransfer(
            str(folder / "a.txt"), str(tmp_path / "deep/er/a.txt"), strategy=strategy
        )
    )
    assert (tmp_path / "deep/er/a.txt").read_text() == "A"
    run(ct.fs.FileTransfer(str(folder) + "/", str(tmp_path / "contents") + "/", strategy=strategy))
    assert tree(tmp_path / "contents") == {"a.txt": "A", "sub/b.txt": "B"}
    whole = ct.fs.Folder(str(folder), include_folder=True)
    run(ct.fs.FileTransfer(whole, ct.fs.Folder(str(tmp_path / "whole")), strategy=strategy))
    assert tree(tmp_path / "whole") == {"src/a.txt": "A", "src/sub/b.txt": "B"}


def test_temporary_files_are_created_by_prepare(tmp_path: Path) -> None:
    ft = ct.fs.TransferToRemote(str(tmp_path / "sent.txt"), strategy=ct.fs_strategies.Rsync())
    prepare, transfer = ft.cp()
    source, dest = prepare()
    assert Path(source).exists() and source == ft.from_file.filepath
    Path(source).write_text("written by the electron")
    transfer()
    assert (tmp_path / "sent.txt").read_text() == "written by the electron"


@pytest.mark.parametrize("strategy", [ct.fs_strategies.Shutil(), ct.fs_strategies.Rsync()])
def test_missing_source_says_what_to_do(strategy, tmp_path: Path) -> None:
    ft = ct.fs.FileTransfer(str(tmp_path / "nope.txt"), str(tmp_path / "x"), strategy=strategy)
    with pytest.raises(FileNotFoundError, match=r"nope.txt does not exist on .*create it"):
        run(ft)


def test_rsync_failure_carries_status_and_stderr(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    # /proc takes no new files, even from root
    ft = ct.fs.FileTransfer(
        str(tmp_path / "f"), "/proc/covalent-ray-test", strategy=ct.fs_strategies.Rsync()
    )
    with pytest.raises(RuntimeError, match=r"rsync -a .* exited with status \d+: .*proc"):
        run(ft)


def test_rsync_over_ssh_builds_a_batch_mode_command(tmp_path: Path) -> None:
    key = tmp_path / "id_test"
    key.write_text("not a real key")
    strategy = ct.fs_strategies.Rsync(
        user="ubuntu", host="10.0.0.1", private_key_path=str(key), port=2222
    )
    down = ct.fs.TransferFromRemote("/home/ubuntu/in.png", "/tmp/in.png", strategy=strategy)
    argv = down.cp()[1].argv()
    assert argv[:2] == ["rsync", "-a"] and argv[-2:] == [
        "ubuntu@10.0.0.1:/home/ubuntu/in.png",
        "/tmp/in.png",
    ]
    assert argv[2] == "-e" and f"-o BatchMode=yes -i {key} -p 2222" in argv[3]
    up = ct.fs.TransferToRemote("/home/ubuntu/out.png", "/tmp/out.png", strategy=strategy)
    assert up.cp()[1].argv()[-2:] == ["/tmp/out.png", "ubuntu@10.0.0.1:/home/ubuntu/out.png"]
    with pytest.raises(FileNotFoundError, match="private key .* does not exist"):
        ct.fs_strategies.Rsync(host="h", private_key_path=str(tmp_path / "missing"))


def test_http_download_and_put_upload(http_server: HttpServer, tmp_path: Path) -> None:
    (http_server.root / "data.csv").write_text("Dataset Name,x\n1,2\n")
    ft = ct.fs.TransferFromRemote(f"{http_server.url}/data.csv")
    assert isinstance(ft.strategy, ct.fs_strategies.HTTP) and ft.to_file.is_temp_file
    _, local = run(ft)
    assert Path(local).read_text() == "Dataset Name,x\n1,2\n"
    (tmp_path / "report.txt").write_text("uploaded")
    run(ct.fs.TransferToRemote(f"{http_server.url}/up/report.txt", str(tmp_path / "report.txt")))
    assert (http_server.root / "up" / "report.txt").read_text() == "uploaded"


def test_http_missing_url_names_it(http_server: HttpServer) -> None:
    ft = ct.fs.TransferFromRemote(f"{http_server.url}/missing.csv", "/tmp/never-used.csv")
    with pytest.raises(FileNotFoundError, match=r"/missing.csv was not found.*check the URL"):
        run(ft)


def test_s3_files_and_folders(s3_server: S3Server, tmp_path: Path, folder: Path) -> None:
    s3_server.make_bucket("howto")
    fs = s3_server.filesystem()
    s3 = ct.fs_strategies.S3(region_name="us-east-1", **s3_server.options)
    run(ct.fs.FileTransfer(str(folder / "a.txt"), "s3://howto/raw/a.txt", strategy=s3))
    assert fs.cat("howto/raw/a.txt") == b"A"
    _, local = run(ct.fs.TransferFromRemote("s3://howto/raw/a.txt", strategy=s3))
    assert Path(local).read_text() == "A"
    run(ct.fs.TransferToRemote("s3://howto/tree/", str(folder) + "/", strategy=s3))
    assert sorted(fs.find("howto/tree/")) == ["howto/tree/a.txt", "howto/tree/sub/b.txt"]
    run(ct.fs.TransferFromRemote("s3://howto/tree/", str(tmp_path / "back") + "/", strategy=s3))
    assert tree(tmp_path / "back") == {"a.txt": "A", "sub/b.txt": "B"}


def test_s3_strategy_is_the_default_for_s3_urls(s3_server: S3Server, tmp_path: Path) -> None:
    ft = ct.fs.FileTransfer("s3://bucket/key.txt", str(tmp_path / "key.txt"))
    assert isinstance(ft.strategy, ct.fs_strategies.S3)
    assert ft.from_file.filepath == "/key.txt"  # Covalent's filepath of an s3 URL


def test_s3_missing_object_names_it(s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.make_bucket("empty-bucket")
    s3 = ct.fs_strategies.S3(**s3_server.options)
    ft = ct.fs.FileTransfer("s3://empty-bucket/nothing.bin", str(tmp_path / "n"), strategy=s3)
    with pytest.raises(FileNotFoundError, match="s3://empty-bucket/nothing.bin was not found"):
        run(ft)


def test_missing_plugin_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = actions.importlib.util.find_spec
    monkeypatch.setattr(
        actions.importlib.util, "find_spec", lambda name: None if name == "gcsfs" else real(name)
    )
    ft = ct.fs.FileTransfer("gs://bucket/x", "/tmp/x-never-written")
    with pytest.raises(ImportError, match=r"need gcsfs.*pip install 'covalent-ray\[gcloud\]'"):
        run(ft)


def test_actions_run_on_a_host_without_covalent_ray(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("shipped by value")
    from covalent_ray import transfer

    transfer.ship_by_value()
    payload = cloudpickle.dumps(
        ct.fs.FileTransfer(str(tmp_path / "in.txt"), str(tmp_path / "out.txt")).cp()
    )
    code = (
        "import sys, pickle; sys.modules['covalent_ray'] = None\n"
        "prepare, transfer = pickle.loads(sys.stdin.buffer.read())\n"
        "print(prepare()); transfer()\n"
    )
    subprocess.run([sys.executable, "-c", code], input=payload, check=True, capture_output=True)
    assert (tmp_path / "out.txt").read_text() == "shipped by value"


def test_rsync_over_ssh_to_the_test_sshd(sshd, tmp_path: Path, folder: Path) -> None:
    strategy = ct.fs_strategies.Rsync(
        user=sshd.username,
        host="127.0.0.1",
        private_key_path=str(sshd.key_file),
        port=sshd.port,
        ssh_options=["-o", f"UserKnownHostsFile={sshd.known_hosts}"],
    )
    remote = tmp_path / "remote"
    remote.mkdir()
    run(ct.fs.TransferToRemote(str(remote / "up.txt"), str(folder / "a.txt"), strategy=strategy))
    assert (remote / "up.txt").read_text() == "A"
    _, local = run(ct.fs.TransferFromRemote(str(remote / "up.txt"), strategy=strategy))
    assert Path(local).read_text() == "A"
    run(ct.fs.TransferToRemote(str(remote / "tree") + "/", str(folder) + "/", strategy=strategy))
    assert tree(remote / "tree") == {"a.txt": "A", "sub/b.txt": "B"}


def test_rsync_over_ssh_refuses_an_unknown_host_key(sshd, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    strategy = ct.fs_strategies.Rsync(
        user=sshd.username,
        host="127.0.0.1",
        private_key_path=str(sshd.key_file),
        port=sshd.port,
        ssh_options=["-o", f"UserKnownHostsFile={empty}", "-o", "StrictHostKeyChecking=yes"],
    )
    ft = ct.fs.TransferToRemote(str(tmp_path / "never.txt"), str(tmp_path / "f"), strategy=strategy)
    with pytest.raises(
        RuntimeError,
        match=r"(?s)exited with status \d+: .*Host key verification failed.*known_hosts",
    ):
        run(ft)
    assert not (tmp_path / "never.txt").exists()

"""File transfers (``files=[ct.fs.FileTransfer(...)]``) in real dispatches: the files move
where the electron runs, before or after it, and the electron sees Covalent's ``files``.

Cases follow Covalent's functional tests and its local file-transfer how-to."""

from __future__ import annotations

from pathlib import Path

import pytest

import covalent_ray as ct
from covalent_ray.executors import LocalExecutor

pytestmark = pytest.mark.usefixtures("service")


def _run(lattice, *args):
    result = ct.get_result(ct.dispatch(lattice)(*args), wait=True)
    return result


@pytest.mark.parametrize("order", [ct.fs.Order.BEFORE, ct.fs.Order.AFTER])
def test_local_file_is_copied_before_or_after(tmp_path: Path, order: ct.fs.Order) -> None:
    source, dest = tmp_path / "source.txt", tmp_path / "out" / "dest.txt"
    source.write_text("hello")

    @ct.electron(files=[ct.fs.FileTransfer(str(source), str(dest), order=order)])
    def look(files=None):
        return Path(files[0][1]).exists()  # the destination, as the electron sees it

    @ct.lattice
    def workflow():
        return look()

    result = _run(workflow)
    assert result.status == ct.status.COMPLETED, result.error
    assert dest.read_text() == "hello"
    assert result.result is (order is ct.fs.Order.BEFORE)  # AFTER: copied once it returned


def test_files_lists_every_transfer_in_order(tmp_path: Path) -> None:
    pairs = []
    for i in range(2):
        (tmp_path / f"in{i}.txt").write_text(f"content {i}")
        pairs.append(ct.fs.FileTransfer(str(tmp_path / f"in{i}.txt"), str(tmp_path / f"o{i}.txt")))

    @ct.electron(files=pairs)
    def read_both(files=None):
        return files, [Path(to).read_text() for _, to in files]

    @ct.lattice
    def workflow():
        files, texts = read_both()
        return files, texts

    result = _run(workflow)
    assert result.status == ct.status.COMPLETED, result.error
    files, texts = result.result
    assert files == [(ft.from_file.filepath, ft.to_file.filepath) for ft in pairs]
    assert texts == ["content 0", "content 1"]


def test_temporary_destination_and_transfer_to_after(tmp_path: Path) -> None:
    source, uploaded = tmp_path / "data.csv", tmp_path / "published" / "report.txt"
    source.write_text("a,b\n1,2\n")
    fetch = ct.fs.TransferFromRemote(str(source))  # to a temporary file
    publish = ct.fs.TransferToRemote(str(uploaded))  # from a temporary file

    @ct.electron(files=[fetch, publish])
    def summarize(files=None):
        (_, local), (report, _) = files
        rows = Path(local).read_text().splitlines()
        Path(report).write_text(f"{len(rows)} rows")
        return local, report

    @ct.lattice
    def workflow():
        return summarize()

    result = _run(workflow)
    assert result.status == ct.status.COMPLETED, result.error
    local, report = result.result
    assert local == fetch.to_file.filepath and local.startswith("/tmp/")
    assert report == publish.from_file.filepath
    assert uploaded.read_text() == "2 rows"


def test_folder_contents_and_folder_itself(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    contents, whole = tmp_path / "contents", tmp_path / "whole"

    @ct.electron(
        files=[
            ct.fs.FileTransfer(ct.fs.Folder(str(src)), ct.fs.Folder(str(contents))),
            ct.fs.FileTransfer(
                ct.fs.Folder(str(src), include_folder=True), ct.fs.Folder(str(whole))
            ),
        ]
    )
    def listing(files=None):
        return sorted(
            str(p.relative_to(root))
            for root in (Path(files[0][1]), Path(files[1][1]))
            for p in root.rglob("*.txt")
        )

    @ct.lattice
    def workflow():
        return listing()

    result = _run(workflow)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == ["a.txt", "src/a.txt", "src/sub/b.txt", "sub/b.txt"]


def test_transfers_run_where_a_local_executor_runs(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("via subprocess")

    @ct.electron(
        executor=LocalExecutor(workdir=str(tmp_path / "work")),
        files=[ct.fs.FileTransfer(str(source), str(dest), strategy=ct.fs_strategies.Rsync())],
    )
    def read(files=None):
        import os

        return os.getpid(), Path(files[0][1]).read_text()

    @ct.lattice
    def workflow():
        return read()

    result = _run(workflow)
    assert result.status == ct.status.COMPLETED, result.error
    pid, text = result.result
    assert text == "via subprocess"
    assert pid != result.get_node_result(0)["worker_pid"]  # ran in the executor's subprocess


def test_missing_source_fails_the_electron_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "never-written.txt"
    ran = tmp_path / "ran"

    @ct.electron(files=[ct.fs.FileTransfer(str(missing), str(tmp_path / "x.txt"))])
    def needs_input(files=None):
        ran.touch()

    @ct.electron
    def independent():
        return "still runs"

    @ct.lattice
    def workflow():
        return needs_input(), independent()

    result = _run(workflow)
    assert result.status == ct.status.FAILED
    node = result.get_node_result(0)
    assert node["status"] == ct.status.FAILED
    assert "FileTransferError" in node["error"]
    assert str(missing) in node["error"] and "electron 'needs_input'" in node["error"]
    assert "create it before the transfer runs" in node["error"]
    assert not ran.exists()  # the electron itself never ran
    assert result.get_node_result(1)["status"] == ct.status.COMPLETED


def test_after_transfer_does_not_run_when_the_electron_fails(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("x")

    @ct.electron(files=[ct.fs.FileTransfer(str(source), str(dest), order=ct.fs.Order.AFTER)])
    def boom(files=None):
        raise ValueError("no output today")

    @ct.lattice
    def workflow():
        return boom()

    result = _run(workflow)
    assert result.status == ct.status.FAILED
    assert "no output today" in result.get_node_result(0)["error"]
    assert not dest.exists()

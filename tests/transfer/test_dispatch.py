"""HTTP and S3 transfers inside real dispatches (Covalent's HTTP functional tests and its S3
how-to, with the servers on 127.0.0.1), and a custom strategy shipped with the electron."""

from __future__ import annotations

from pathlib import Path

import pytest

import covalent_ray as ct

from .conftest import HttpServer, S3Server

pytestmark = pytest.mark.usefixtures("service")


def test_http_download_before_the_electron(http_server: HttpServer) -> None:
    (http_server.root / "datasets.csv").write_text("Dataset Name,Rows\niris,150\n")

    @ct.electron(files=[ct.fs.TransferFromRemote(f"{http_server.url}/datasets.csv")])
    def get_remote_file(files=None):
        _, dest_path = files[0]
        return Path(dest_path).read_text()

    @ct.lattice
    def workflow():
        return get_remote_file()

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "Dataset Name,Rows\niris,150\n"


def test_wait_for_a_download(http_server: HttpServer, tmp_path: Path) -> None:
    (http_server.root / "datasets.csv").write_text("Dataset Name\n")
    dest = str(tmp_path / "dest.csv")

    @ct.electron(files=[ct.fs.TransferFromRemote(f"{http_server.url}/datasets.csv", dest)])
    def get_remote_file(files=None):
        pass

    @ct.electron
    def read_file():
        return Path(dest).read_text()

    @ct.lattice
    def workflow():
        fetched = get_remote_file()
        read = read_file()
        ct.wait(read, [fetched])
        return read

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "Dataset Name\n"


def test_http_404_fails_the_electron_naming_the_url(http_server: HttpServer) -> None:
    url = f"{http_server.url}/gone.csv"

    @ct.electron(files=[ct.fs.TransferFromRemote(url)])
    def get_remote_file(files=None):
        return "unreachable"

    @ct.lattice
    def workflow():
        return get_remote_file()

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.FAILED
    error = result.get_node_result(0)["error"]
    assert "FileTransferError" in error and url in error and "check the URL" in error


def test_s3_download_process_upload(s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.make_bucket("covalent-howto")
    s3_server.filesystem().pipe("covalent-howto/remote_unprocessed.txt", b"mares eat oats")
    strategy = ct.fs_strategies.S3(region_name="us-east-1", **s3_server.options)
    unprocessed, processed = str(tmp_path / "unprocessed.txt"), str(tmp_path / "processed.txt")
    ft_1 = ct.fs.FileTransfer(
        "s3://covalent-howto/remote_unprocessed.txt", unprocessed, strategy=strategy
    )
    ft_2 = ct.fs.FileTransfer(
        processed,
        "s3://covalent-howto/remote_processed.txt",
        strategy=strategy,
        order=ct.fs.Order.AFTER,
    )

    @ct.electron(files=[ft_1, ft_2])
    def to_upper(files=None):
        text = Path(files[0][1]).read_text()
        Path(files[1][0]).write_text(text.upper())

    @ct.lattice
    def process_s3_data():
        return to_upper()

    result = ct.dispatch_sync(process_s3_data)()
    assert result.status == ct.status.COMPLETED, result.error
    assert s3_server.filesystem().cat("covalent-howto/remote_processed.txt") == b"MARES EAT OATS"


class Shout(ct.fs_strategies.FileTransferStrategy):
    """A custom strategy: copies a file, upper-cased (defined in the test module, so it
    travels by value like any function of the user's)."""

    def cp(self, from_file, to_file):
        def copy():
            Path(to_file.filepath).write_text(Path(from_file.filepath).read_text().upper())

        return copy


def test_custom_strategy_runs_where_the_electron_runs(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("quiet")
    ft = ct.fs.FileTransfer(str(tmp_path / "in.txt"), str(tmp_path / "out.txt"), strategy=Shout())

    @ct.electron(files=[ft])
    def read(files=None):
        return Path(files[0][1]).read_text()

    @ct.lattice
    def workflow():
        return read()

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "QUIET"

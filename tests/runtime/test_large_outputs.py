"""Large outputs are written once where they are made, never carried whole through the
result manager (issue 13); readers open their files or fetch them."""

from __future__ import annotations

from pathlib import Path

from covalent_ray import _serialize
from covalent_ray.runtime.worker import stored_output
from covalent_ray.sdk.result import _Blobs
from covalent_ray.storage.blobs import INLINE_LIMIT


def test_a_large_output_is_written_to_the_objects_directory(tmp_path: Path) -> None:
    value = b"x" * (INLINE_LIMIT + 1)
    fields = stored_output(value, "the output of electron 'big'", str(tmp_path))
    assert fields["output_data"] is None
    assert fields["output_size"] == len(_serialize.dumps(value, "v"))
    assert _serialize.loads(Path(fields["output_file"]).read_bytes()) == value
    assert Path(fields["output_file"]).parent.parent == tmp_path


def test_small_outputs_and_machines_without_the_directory_send_the_bytes(
    tmp_path: Path,
) -> None:
    small = stored_output(b"x" * 10, "small", str(tmp_path))
    assert small["output_data"] is not None and "output_file" not in small
    elsewhere = stored_output(b"x" * (INLINE_LIMIT + 1), "big", str(tmp_path / "absent"))
    assert _serialize.loads(elsewhere["output_data"] or b"") == b"x" * (INLINE_LIMIT + 1)
    assert not (tmp_path / "absent").exists()


def test_a_result_reads_large_blobs_from_their_files_or_fetches_them(tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.write_bytes(b"from the file")
    asked: list[list[str]] = []

    def fetch(keys: list[str]) -> dict[str, bytes]:
        asked.append(keys)
        return {k: b"fetched" for k in keys if k == "remote"}

    blobs = _Blobs({"small": b"sent"}, {"here": str(here), "remote": str(tmp_path / "gone")}, fetch)
    assert blobs["small"] == b"sent" and blobs["here"] == b"from the file" and not asked
    assert blobs["remote"] == b"fetched" and asked == [["remote"]]
    assert set(blobs) == {"small", "here", "remote"} and len(blobs) == 3
    assert blobs.get("missing") is None

"""Atomic writes interrupted midway: the earlier file or folder stays whole, and no
temporary is left."""

from pathlib import Path

import pytest

from tfpipeline._atomic import dir_atomic, file_atomic, write_bytes_atomic
from tfpipeline.errors import TfpipelineError


class Interrupted(Exception):
    pass


def test_a_file_write_interrupted_after_some_bytes_leaves_the_earlier_file(tmp_path):
    target = tmp_path / "model.tflite"
    write_bytes_atomic(target, b"the earlier model")
    with pytest.raises(Interrupted), file_atomic(target) as tmp, open(tmp, "wb") as handle:
        handle.write(b"half of the new")
        handle.flush()
        assert target.read_bytes() == b"the earlier model"  # not written in place
        raise Interrupted
    assert target.read_bytes() == b"the earlier model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]
    write_bytes_atomic(target, b"the new model")
    assert target.read_bytes() == b"the new model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_a_folder_write_interrupted_midway_leaves_the_earlier_folder(tmp_path):
    target = tmp_path / "saved_model"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"the earlier graph")
    (target / "variables").mkdir()
    with pytest.raises(Interrupted), dir_atomic(target) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"the new graph")
        assert (target / "saved_model.pb").read_bytes() == b"the earlier graph"
        raise Interrupted  # before the variables were written
    assert (target / "saved_model.pb").read_bytes() == b"the earlier graph"
    assert (target / "variables").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]
    with dir_atomic(target) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"the new graph")
    assert [p.name for p in target.iterdir()] == ["saved_model.pb"]
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]


def test_a_failed_write_is_named_and_the_earlier_file_kept(tmp_path):
    target = tmp_path / "model.tflite"
    write_bytes_atomic(target, b"the earlier model")
    with pytest.raises(TfpipelineError) as failed, file_atomic(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")
    assert str(failed.value) == (
        f"Writing {target} failed: No space left on device. Nothing was written there (any "
        "earlier file at that path is unchanged); free space or choose another folder."
    )
    assert target.read_bytes() == b"the earlier model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_a_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    target = tmp_path / "taken" / "model.tflite"
    for write in (lambda: write_bytes_atomic(target, b"x"), lambda: dir_atomic(target).__enter__()):
        with pytest.raises(TfpipelineError) as failed:
            write()
        assert str(failed.value).startswith(
            f"Cannot write {target}: its folder {target.parent} cannot be created or written ("
        )
        assert str(failed.value).endswith("). Choose a writable output folder.")


def test_a_write_cut_off_by_a_full_disk_keeps_the_earlier_file(tmp_path, monkeypatch):
    target = tmp_path / "model.tflite"
    write_bytes_atomic(target, b"the earlier model")
    real_write = Path.write_bytes

    def half_then_full(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(TfpipelineError, match="No space left on device"):
        write_bytes_atomic(target, b"the new model, twice as long")
    monkeypatch.undo()
    assert target.read_bytes() == b"the earlier model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]

"""File figures of a folder (a SavedModel): they depend on its files' paths and bytes only."""

import os
import shutil

import pytest

from tfpipeline import TfpipelineError
from tfpipeline.report import file_stats, sha256_of


@pytest.fixture
def folder(tmp_path):
    """A small folder laid out like a SavedModel, built by hand."""
    root = tmp_path / "saved_model"
    (root / "variables").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "saved_model.pb").write_bytes(b"graph bytes")
    (root / "fingerprint.pb").write_bytes(b"fp")
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(b"\0" * 1000)
    return root


def test_permissions_and_another_place_keep_the_figures(folder, tmp_path):
    before = file_stats(folder)
    assert before["sha256"] == sha256_of(folder)
    assert before["size_bytes"] == 11 + 2 + 5 + 1000
    os.chmod(folder / "saved_model.pb", 0o600)
    os.chmod(folder / "variables", 0o700)
    os.utime(folder / "fingerprint.pb", (0, 0))
    assert file_stats(folder) == before
    copy = tmp_path / "elsewhere" / "copied"
    shutil.copytree(folder, copy)
    (copy / "assets").rmdir()  # empty folders are not covered
    assert file_stats(copy) == before


def test_the_tar_measured_for_gzip_bytes_carries_no_permissions_owners_or_times(folder):
    import io
    import tarfile

    from tfpipeline.report import _folder_files, _tar_bytes  # what `gzip_bytes` compresses

    os.chmod(folder / "saved_model.pb", 0o600)
    with tarfile.open(fileobj=io.BytesIO(_tar_bytes(_folder_files(folder)))) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "fingerprint.pb",
            "saved_model.pb",
            "variables/variables.data-00000-of-00001",
            "variables/variables.index",
        ]
        assert tar.extractfile("saved_model.pb").read() == b"graph bytes"
    for m in members:
        assert (m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) == (0o644, 0, 0, "", "", 0)


@pytest.mark.parametrize(
    "change",
    [
        lambda f: (f / "saved_model.pb").write_bytes(b"graph bytez"),  # one byte
        lambda f: (f / "fingerprint.pb").rename(f / "fingerprint2.pb"),
        lambda f: (f / "variables" / "variables.index").rename(f / "variables.index"),
        lambda f: (f / "assets" / "vocab.txt").write_bytes(b""),  # an empty file added
        lambda f: (f / "fingerprint.pb").unlink(),
        lambda f: (  # bytes moved from one file to the next: the framing tells them apart
            (f / "fingerprint.pb").write_bytes(b"f"),
            (f / "saved_model.pb").write_bytes(b"pgraph bytes"),
        ),
    ],
    ids=["one byte", "renamed", "moved", "added", "removed", "bytes moved between files"],
)
def test_any_change_of_paths_or_bytes_changes_the_sha256(folder, change):
    before = sha256_of(folder)
    change(folder)
    assert sha256_of(folder) != before


def test_the_folder_sha256_is_paths_and_bytes_framed_by_their_lengths(tmp_path):
    import hashlib

    def framed(*files):
        stream = b""
        for name, data in files:
            stream += len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data
        return hashlib.sha256(stream).hexdigest()

    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "\u00e9").write_bytes(b"y")
    two = sha256_of(tmp_path)
    assert two == framed((b"a", b"x"), ("b/\u00e9".encode(), b"y"))
    # one file whose bytes hold what looks like a second file: told apart by its length
    (tmp_path / "b" / "\u00e9").unlink()
    (tmp_path / "a").write_bytes(b"x" + (4).to_bytes(8, "big") + "b/\u00e9".encode() + b"y")
    one = sha256_of(tmp_path)
    assert one == framed((b"a", (tmp_path / "a").read_bytes())) and one != two


def test_a_symbolic_link_inside_is_refused_not_followed(folder, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not part of the model")
    (folder / "assets" / "link").symlink_to(outside)
    with pytest.raises(TfpipelineError, match=r"holds a symbolic link, assets/link"):
        sha256_of(folder)
    (folder / "assets" / "link").unlink()
    (folder / "variables" / "data").symlink_to(outside / "secret")
    with pytest.raises(TfpipelineError, match=r"holds a symbolic link, variables/data"):
        file_stats(folder)


def test_a_single_file_is_hashed_as_its_bytes(folder):
    import hashlib

    stats = file_stats(folder / "saved_model.pb")
    assert stats["sha256"] == hashlib.sha256(b"graph bytes").hexdigest()
    assert stats["size_bytes"] == 11 and stats["sha256"] == sha256_of(folder / "saved_model.pb")

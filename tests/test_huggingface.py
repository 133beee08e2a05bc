"""Tests for geolink.data.huggingface and acquire's huggingface source, against a fake Hub on 127.0.0.1.

The fake Hub (``hub`` fixture, tests/conftest.py) implements the two public routes the module uses: the paginated
tree listing and file resolution with range requests. ``HF_ENDPOINT`` points the code at it, as it would point
``huggingface_hub``.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from conftest import FAKE_HF_REPO, FAKE_HF_REVISION, FakeHub, closed_port

from geolink.data.acquire import acquire
from geolink.data.errors import DatasetError
from geolink.data.huggingface import git_blob_id, list_repo_files

REPO, REV = FAKE_HF_REPO, FAKE_HF_REVISION


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _source(files: list[str] | None = None) -> dict:
    return {"dataset": "denseuav", "huggingface": {"repo": REPO, "revision": REV, "files": files}}


def test_listing_follows_pages_and_reads_checksums(hub: FakeHub) -> None:
    hub.files = {"README.md": b"# card\n", "a.zip": b"A" * 10, "b.zip": b"B" * 20, "c/d.txt": b"d"}
    hub.lfs = {"a.zip", "b.zip"}
    files = {f.path: f for f in list_repo_files(REPO, REV)}
    assert sorted(files) == ["README.md", "a.zip", "b.zip", "c/d.txt"]  # two pages of two; the folder is skipped
    assert files["a.zip"].sha256 == hashlib.sha256(b"A" * 10).hexdigest() and files["a.zip"].size == 10
    assert files["README.md"].sha256 is None and files["README.md"].git_oid is not None


def test_git_blob_id_matches_git(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")
    assert git_blob_id(path) == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"


def test_archive_repository_is_downloaded_verified_and_extracted(hub: FakeHub, tmp_path: Path) -> None:
    hub.files = {
        "README.md": b"card",
        "train.zip": _zip({"DenseUAV/train/drone/000001/H80.JPG": b"img"}),
        "test.zip": _zip({"DenseUAV/test/query_drone/000002/H90.JPG": b"img2"}),
    }
    hub.lfs = {"train.zip", "test.zip"}
    hub.cut_after = 30  # the first file transfer is cut off midway and must be resumed

    folder = acquire(_source(["*.zip"]), tmp_path / "raw")

    assert folder == tmp_path / "raw" / "extracted"
    # Two archives merged into one tree; the README was not requested.
    assert (folder / "DenseUAV/train/drone/000001/H80.JPG").read_bytes() == b"img"
    assert (folder / "DenseUAV/test/query_drone/000002/H90.JPG").read_bytes() == b"img2"
    assert not (tmp_path / "raw" / "hub" / "README.md").exists()
    assert any(rng and rng.startswith("bytes=") for _, rng, _ in hub.requests)  # the cut transfer resumed
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["extracted", "hub"]  # no staging left


def test_repository_without_archives_becomes_the_tree(hub: FakeHub, tmp_path: Path) -> None:
    hub.files = {"University-1652/train/drone_3D/0001_group0/points3D.txt": b"# points\n"}
    folder = acquire(_source(), tmp_path / "raw")
    assert (folder / "University-1652/train/drone_3D/0001_group0/points3D.txt").read_bytes() == b"# points\n"


def test_corrupt_lfs_file_fails_and_extracts_nothing(hub: FakeHub, tmp_path: Path) -> None:
    hub.files = {"data.zip": _zip({"x.txt": b"x"})}
    hub.lfs = {"data.zip"}
    hub.listed_sha256 = {"data.zip": "0" * 64}
    with pytest.raises(DatasetError, match="Checksum mismatch"):
        acquire(_source(), tmp_path / "raw")
    assert not (tmp_path / "raw" / "extracted").exists()
    assert not (tmp_path / "raw" / "hub" / "data.zip").exists()


def test_small_file_is_checked_against_its_git_blob_id(hub: FakeHub, tmp_path: Path, monkeypatch) -> None:
    hub.files = {"notes.txt": b"right"}
    real_entry = hub.entry
    monkeypatch.setattr(hub, "entry", lambda p: real_entry(p) | {"oid": "f" * 40})
    with pytest.raises(DatasetError, match="git blob id"):
        acquire(_source(), tmp_path / "raw")
    assert not (tmp_path / "raw" / "hub" / "notes.txt").exists()


@pytest.mark.parametrize("revision", [None, "main", "0123abc"])
def test_unpinned_revision_is_refused_before_any_request(hub: FakeHub, tmp_path: Path, revision) -> None:
    source = _source()
    source["huggingface"]["revision"] = revision
    with pytest.raises(DatasetError, match="40-character id"):
        acquire(source, tmp_path / "raw")
    assert hub.requests == []


@pytest.mark.parametrize(("status", "message"), [(404, "has no commit"), (401, "HF_TOKEN"), (403, "gated")])
def test_listing_errors_say_what_to_do(hub: FakeHub, tmp_path: Path, status: int, message: str) -> None:
    hub.status = status
    with pytest.raises(DatasetError, match=message):
        acquire(_source(), tmp_path / "raw")


def test_token_is_sent(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.files = {"x.txt": b"x"}
    acquire(_source(), tmp_path / "raw")
    assert {auth for _, _, auth in hub.requests} == {"Bearer hf_secret"}


def test_no_matching_file_lists_what_is_there(hub: FakeHub, tmp_path: Path) -> None:
    hub.files = {"README.md": b"card"}
    with pytest.raises(DatasetError, match="README.md"):
        acquire(_source(["*.zip"]), tmp_path / "raw")


def test_offline_hub_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(DatasetError, match="seems offline"):
        acquire(_source(), tmp_path / "raw")

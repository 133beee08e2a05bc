"""Tests for geolink.data.huggingface and acquire's huggingface source, against a fake Hub on 127.0.0.1.

The fake Hub implements the two public routes the module uses: the paginated tree listing
(``/api/datasets/<repo>/tree/<rev>?recursive=true``) and file resolution (``/datasets/<repo>/resolve/<rev>/<path>``,
with range requests). ``HF_ENDPOINT`` points the code at it, as it would point ``huggingface_hub``.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from geolink.data.acquire import acquire
from geolink.data.errors import DatasetError
from geolink.data.huggingface import git_blob_id, list_repo_files

REPO = "owner/Dense"
REV = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    """Files of one repository at one commit, and what the Hub says about them."""

    files: dict[str, bytes] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)  # paths listed as Git LFS files (with a SHA-256)
    listed_sha256: dict[str, str] = field(default_factory=dict)  # overrides, to simulate corruption
    page_size: int = 2
    status: int = 200  # answer of the listing route
    cut_after: int | None = None  # drop the next file transfer after this many bytes
    requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # path, Range, Authorization
    base_url: str = ""

    def entry(self, path: str) -> dict:
        data = self.files[path]
        if path in self.lfs:
            sha = self.listed_sha256.get(path, hashlib.sha256(data).hexdigest())
            return {"type": "file", "path": path, "size": len(data), "oid": "x", "lfs": {"oid": sha, "size": len(data)}}
        return {
            "type": "file",
            "path": path,
            "size": len(data),
            "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
        }


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            hub.requests.append((url.path, self.headers.get("Range"), self.headers.get("Authorization")))
            tree = f"/api/datasets/{REPO}/tree/{REV}"
            resolve = f"/datasets/{REPO}/resolve/{REV}/"
            if url.path == tree:
                if hub.status != 200:
                    self.send_error(hub.status)
                    return
                start = int(urllib.parse.parse_qs(url.query).get("cursor", ["0"])[0])
                entries = [{"type": "directory", "path": "sub"}] if start == 0 else []
                paths = sorted(hub.files)
                entries += [hub.entry(p) for p in paths[start : start + hub.page_size]]
                body = json.dumps(entries).encode()
                self.send_response(200)
                if start + hub.page_size < len(paths):
                    nxt = f"{tree}?recursive=true&cursor={start + hub.page_size}"
                    self.send_header("Link", f'<{hub.base_url}{nxt}>; rel="next"')
            elif url.path.startswith(resolve) and urllib.parse.unquote(url.path[len(resolve) :]) in hub.files:
                data = hub.files[urllib.parse.unquote(url.path[len(resolve) :])]
                offset = int(self.headers["Range"][len("bytes=") : -1]) if self.headers.get("Range") else 0
                body = data[offset:]
                self.send_response(206 if offset else 200)
                if offset:
                    self.send_header("Content-Range", f"bytes {offset}-{len(data) - 1}/{len(data)}")
            else:
                self.send_error(404)
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if hub.cut_after is not None and not url.path.startswith("/api/"):
                body, hub.cut_after = body[: hub.cut_after], None
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    state = FakeHub()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", state.base_url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


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
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DatasetError, match="seems offline"):
        acquire(_source(), tmp_path / "raw")

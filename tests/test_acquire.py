"""Tests for geolink.data.acquire: resumable download, checksums, safe extraction, offline and local sources.

Every network test talks only to a loopback HTTP server the fixture starts on 127.0.0.1, so the suite runs on
machines without network access and never reaches the real dataset hosts.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import closed_port, loopback_server, send_ranged

from geolink.data import acquire as acquire_module
from geolink.data.acquire import REQUEST_ONLY, acquire, download, safe_extract, sha256_file
from geolink.data.errors import DatasetError


@dataclass
class FileServer:
    """A loopback server serving files from ``root``, with the knobs the tests turn.

    Attributes:
        root: Folder whose files are served by name.
        base_url: ``http://127.0.0.1:<port>``.
        cut_after: When set, the next response sends only this many body bytes and then drops the connection
            (once; the attribute is reset to None).
        ranges: The Range header of every request, None where absent, in arrival order.
    """

    root: Path
    base_url: str = ""
    cut_after: int | None = None
    ranges: list[str | None] = field(default_factory=list)

    def url(self, name: str) -> str:
        """The URL serving ``root / name``."""
        return f"{self.base_url}/{name}"


def _handler_for(state: FileServer) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to ``state``; honours ``Range: bytes=N-`` with 206 like real file hosts."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.ranges.append(self.headers.get("Range"))
            path = state.root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            state.cut_after = send_ranged(self, path.read_bytes(), state.cut_after)

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FileServer]:
    """Serve ``tmp_path / "served"`` on an ephemeral 127.0.0.1 port for the duration of one test."""
    root = tmp_path / "served"
    root.mkdir()
    state = FileServer(root=root)
    with loopback_server(_handler_for(state)) as base_url:
        state.base_url = base_url
        yield state


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive holding ``members`` (name -> content), names written verbatim."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


def _tar_file(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    """Write a tar archive of plain files (name, content) and prepared TarInfo entries (links etc.)."""
    with tarfile.open(path, mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, content = member
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def _leftovers(folder: Path) -> list[str]:
    """Everything under ``folder`` (relative names), to assert that a failure left nothing behind."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _dataset_zip() -> bytes:
    """A small valid dataset-like zip: Data/train/a.txt and Data/test/b.txt."""
    return _zip_bytes({"Data/train/a.txt": b"alpha" * 1000, "Data/test/b.txt": b"beta" * 1000})


def test_cut_transfer_resumes_with_range(server: FileServer, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 400
    (server.root / "big.bin").write_bytes(payload)
    server.cut_after = 30_000
    dest = tmp_path / "out" / "big.bin"

    result = download(
        server.url("big.bin"),
        dest,
        sha256=hashlib.sha256(payload).hexdigest(),
        retries=3,
        backoff=0.01,
        timeout=5,
        progress=False,
    )

    assert result == dest
    assert dest.read_bytes() == payload
    assert server.ranges == [None, "bytes=30000-"]
    assert not dest.with_name("big.bin.part").exists()


def test_leftover_part_is_resumed(server: FileServer, tmp_path: Path) -> None:
    payload = b"0123456789" * 100
    (server.root / "f.bin").write_bytes(payload)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(payload[:400])

    download(server.url("f.bin"), dest, retries=1, backoff=0.01, timeout=5, progress=False)

    assert dest.read_bytes() == payload
    assert server.ranges == ["bytes=400-"]


def test_complete_leftover_part_is_not_downloaded_again(server: FileServer, tmp_path: Path) -> None:
    payload = b"complete" * 100
    (server.root / "f.bin").write_bytes(payload)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(payload)

    download(server.url("f.bin"), dest, sha256=hashlib.sha256(payload).hexdigest(), retries=1, progress=False)

    assert dest.read_bytes() == payload
    assert server.ranges == [f"bytes={len(payload)}-"]


@pytest.mark.parametrize("via_record", [False, True], ids=["sha256", "checksum_record"])
def test_corrupt_download_fails_checksum_and_leaves_nothing(
    server: FileServer, tmp_path: Path, via_record: bool
) -> None:
    good = _dataset_zip()
    (server.root / "data.zip").write_bytes(good[:-10] + b"corrupted!")
    out = tmp_path / "out"
    source: dict = {"url": server.url("data.zip")}
    if via_record:
        record = tmp_path / "checksums.yaml"
        record.write_text(yaml.safe_dump({server.url("data.zip"): hashlib.sha256(good).hexdigest()}))
        source["checksum_record"] = str(record)
    else:
        source["sha256"] = hashlib.sha256(good).hexdigest()

    with pytest.raises(DatasetError, match="Checksum mismatch") as caught:
        acquire(source, out)

    assert hashlib.sha256(good).hexdigest() in str(caught.value)
    assert _leftovers(out) == ["downloads"]  # the empty download folder only: no .part, no file, no extraction


def test_truncated_archive_leaves_no_partial_folder(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    _tar_file(archive, [("Data/a.txt", b"x" * 50_000), ("Data/b.txt", b"y" * 50_000)])
    archive.write_bytes(archive.read_bytes()[:200])
    target = tmp_path / "out" / "extracted"

    with pytest.raises(DatasetError, match="broken.tar.gz"):
        safe_extract(archive, target)

    assert _leftovers(tmp_path / "out") == []


@pytest.mark.parametrize(
    "name",
    ["../evil", "Data/../../evil", "/abs/evil"],
    ids=["dotdot", "nested-dotdot", "absolute"],
)
def test_zip_with_escaping_member_is_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(_zip_bytes({"Data/ok.txt": b"ok", name: b"evil"}))
    out = tmp_path / "out"

    with pytest.raises(DatasetError, match="Refusing") as caught:
        safe_extract(archive, out / "extracted")

    assert repr(name) in str(caught.value)
    assert _leftovers(out) == []
    assert not (tmp_path / "evil").exists()


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def _hardlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (("../evil", b"evil"), "'../evil'"),
        (("/abs/evil", b"evil"), "'/abs/evil'"),
        (_symlink("Data/link", "/etc/passwd"), "symbolic link"),
        (_hardlink("Data/hard", "/etc/passwd"), "hard link"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink"],
)
def test_tar_with_unsafe_member_is_refused(
    tmp_path: Path, bad: tarfile.TarInfo | tuple[str, bytes], needle: str
) -> None:
    archive = _tar_file(tmp_path / "bad.tar.gz", [("Data/ok.txt", b"ok"), bad])
    out = tmp_path / "out"

    with pytest.raises(DatasetError, match="Refusing") as caught:
        safe_extract(archive, out / "extracted")

    assert needle in str(caught.value)
    assert _leftovers(out) == []
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("suffix", [".zip", ".tar", ".tgz"])
def test_safe_extract_formats(tmp_path: Path, suffix: str) -> None:
    archive = tmp_path / f"data{suffix}"
    if suffix == ".zip":
        archive.write_bytes(_dataset_zip())
    else:
        _tar_file(archive, [("Data/train/a.txt", b"alpha")], mode="w" if suffix == ".tar" else "w:gz")

    target = safe_extract(archive, tmp_path / "extracted")

    assert (target / "Data" / "train" / "a.txt").read_bytes().startswith(b"alpha")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left
    with pytest.raises(DatasetError, match="already exists"):
        safe_extract(archive, target)


def test_offline_raises_one_clear_paragraph(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/University-Release.zip"

    with pytest.raises(DatasetError) as caught:
        download(url, tmp_path / "x.zip", retries=2, backoff=0.001, timeout=2, progress=False)

    message = str(caught.value)
    assert "seems offline" in message
    assert url in message
    assert "local archive" in message
    assert "\n" not in message
    assert not (tmp_path / "x.zip").exists()


def test_offline_with_single_retry(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/data.zip"
    with pytest.raises(DatasetError, match="seems offline"):
        download(url, tmp_path / "x.zip", retries=1, backoff=0.001, timeout=2, progress=False)


def test_http_404_is_not_retried(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="HTTP 404"):
        download(server.url("missing.zip"), tmp_path / "m.zip", retries=3, backoff=0.01, progress=False)
    assert server.ranges == [None]


def test_insufficient_disk_space_is_reported(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (server.root / "f.bin").write_bytes(b"x" * 1000)
    monkeypatch.setattr(acquire_module.shutil, "disk_usage", lambda _path: SimpleNamespace(total=1, used=1, free=0))

    with pytest.raises(DatasetError, match="Not enough free disk space"):
        download(server.url("f.bin"), tmp_path / "f.bin", retries=1, progress=False)


def test_local_archive_downloads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a local archive must not trigger any download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    archive = tmp_path / "data.zip"
    archive.write_bytes(_dataset_zip())
    out = tmp_path / "out"

    result = acquire({"archive": str(archive), "sha256": sha256_file(archive)}, out)

    assert result == out / "extracted"
    assert (result / "Data" / "test" / "b.txt").is_file()
    assert not (out / "downloads").exists()
    assert acquire({"folder": str(result / "Data")}, tmp_path / "other") == result / "Data"


def test_local_archive_checksum_mismatch(tmp_path: Path) -> None:
    archive = tmp_path / "data.zip"
    archive.write_bytes(_dataset_zip())
    with pytest.raises(DatasetError, match="checksum mismatch"):
        acquire({"archive": str(archive), "sha256": "0" * 64}, tmp_path / "out")
    assert not (tmp_path / "out" / "extracted").exists()


def test_missing_local_sources_and_request_only(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="local archive does not exist") as caught:
        acquire({"dataset": "sues200", "archive": str(tmp_path / "nope.zip")}, tmp_path / "out")
    assert str(tmp_path / "nope.zip") in str(caught.value)
    with pytest.raises(DatasetError, match="folder does not exist"):
        acquire({"dataset": "denseuav", "folder": str(tmp_path / "nope")}, tmp_path / "out")
    with pytest.raises(DatasetError, match="request it by e-mail") as caught:
        acquire({"dataset": "university1652"}, tmp_path / "out")
    assert REQUEST_ONLY["university1652"] in str(caught.value)
    with pytest.raises(DatasetError, match="exactly one"):
        acquire({"url": "http://127.0.0.1:9/x.zip", "folder": str(tmp_path)}, tmp_path / "out")


def test_checksum_recorded_then_verified(server: FileServer, tmp_path: Path) -> None:
    payload = _dataset_zip()
    (server.root / "data.zip").write_bytes(payload)
    record = tmp_path / "checksums.yaml"
    url = server.url("data.zip")
    kwargs = {"checksum_record": record, "retries": 1, "backoff": 0.01, "timeout": 5, "progress": False}

    download(url, tmp_path / "first" / "data.zip", **kwargs)
    assert yaml.safe_load(record.read_text()) == {url: hashlib.sha256(payload).hexdigest()}

    # Same file again: verified against the record, record unchanged.
    assert download(url, tmp_path / "second" / "data.zip", **kwargs).read_bytes() == payload

    (server.root / "data.zip").write_bytes(payload + b"changed upstream")
    with pytest.raises(DatasetError, match="Checksum mismatch") as caught:
        download(url, tmp_path / "third" / "data.zip", **kwargs)
    assert str(record) in str(caught.value)
    assert _leftovers(tmp_path / "third") == []
    assert yaml.safe_load(record.read_text()) == {url: hashlib.sha256(payload).hexdigest()}


def test_acquire_url_downloads_and_extracts(server: FileServer, tmp_path: Path) -> None:
    payload = _dataset_zip()
    (server.root / "SUES-200.zip").write_bytes(payload)
    out = tmp_path / "out"
    source = {"dataset": "sues200", "url": server.url("SUES-200.zip"), "sha256": hashlib.sha256(payload).hexdigest()}

    result = acquire(source, out)

    assert result == out / "extracted"
    assert (out / "downloads" / "SUES-200.zip").read_bytes() == payload
    assert (result / "Data" / "train" / "a.txt").is_file()
    assert acquire(source, out) == result  # a second run reuses the complete extraction
    assert len(server.ranges) == 1

"""Shared pytest fixtures: miniature copies of the real dataset layouts, and a fake Hugging Face Hub.

Each ``make_*_tree`` fixture returns a builder function, so a test can build several trees or tweak one
before reading it. The trees follow the real folder and file naming (docs/datasets.md §1.2, §2.2, §3.2) with
a handful of tiny but valid images, which keeps every test fast while exercising the real adapters.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's snakemake, dvc and geolink live next to its python
#: The tiny synthetic configuration of tests and CI (products under results/tiny/, data/tiny/, logs/tiny/).
TINY_CONFIGS = ["config/synthetic.yaml", ".test/config.yaml"]
TINY = ["--configfile", *TINY_CONFIGS]


#: The tiny synthetic University-1652 that training tests learn from (32 px, 3 drone views, no street or web photos).
TRAINING_SOURCE = {
    "domain": "campus",
    "n_train": 10,
    "n_test": 3,
    "n_distractors": 1,
    "drone_views": 3,
    "street_views": 0,
    "google_views": 0,
    "google_empty_fraction": 0.0,
    "satellite_extent": 150.0,
}


def build_training_source(root: Path, *, seed: int = 2, n_points: int = 128, **overrides):
    """A tiny synthetic University-1652 under ``root``: its tree (``u/``), ``manifest.parquet`` and a ground-truth
    point bank ``bank.npz`` of 2 cloud groups per location; ``overrides`` change ``TRAINING_SOURCE``. Returns the
    manifest."""
    from geolink.data.manifest import read_manifest, write_manifest
    from geolink.recon.collect import collect_point_bank
    from geolink.recon.run import reconstruct_shard
    from geolink.synth import generate

    generate(
        "university1652",
        root / "u",
        workers=1,
        seed=seed,
        image_size=32,
        geometry_points=2000,
        **{**TRAINING_SOURCE, **overrides},
    )
    manifest = read_manifest("university1652", root / "u" / "University-Release")
    write_manifest(manifest, root / "manifest.parquet")
    truth = {"truth_dir": str(root / "u" / "geometry")}
    reconstruct_shard(manifest, "university1652", root / "shard", backend="groundtruth", groups=2, options=truth)
    collect_point_bank([root / "shard"], root / "bank.npz", root / "qc.csv", n_points=n_points, n_draws=2)
    return manifest


def tiny_train_settings(**train) -> dict:
    """The settings of run university1652__geolink__s0 under a tiny train section (the tiny ViT at 32 px with
    GeoLink's full loss, 2 epochs of batch 4), as rule train gets them; ``train`` overrides its keys."""
    from geolink.config import validate_config
    from geolink.pipeline import Pipeline

    section = {
        "model": {"name": "geolink_tiny", "kwargs": {"img_size": 32, "frozen_blocks": 0}},
        "image_size": 32,
        "epochs": 2,
        "batch_size": 4,
        "lr": 1e-3,
        "val_fraction": 0.2,
        "num_workers": 0,
        "log_every": 1,
        "heights": {},
        "vclub": {"hidden_dim": 32},
    }
    config = validate_config({"name": "tiny", "train": {**section, **train}})
    return Pipeline(config).train_settings("university1652", "geolink", 0)


def copy_workflow(dest: Path) -> Path:
    """A copy of what the workflow needs to run, as a user's checkout has it (no data, no results)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "profiles", "envs", ".test", "src"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def snakemake(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "snakemake"), "--cores", "2", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A copy of the workflow in which the whole tiny synthetic pipeline has run (shared, do not modify)."""
    work = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = snakemake(work, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return work


@cache
def _image_bytes(fmt: str) -> bytes:
    """An 8x8 RGB image encoded once per format; every miniature image is a copy of these bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 120, 200)).save(buffer, format=fmt)
    return buffer.getvalue()


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def write_image(path: Path) -> Path:
    """Write a tiny valid image whose format matches the file extension (any case)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_image_bytes(_FORMATS[path.suffix.lower()]))
    return path


def build_university1652_tree(root: Path) -> Path:
    """Build a miniature ``University-Release`` folder and return it.

    Contents (hand-countable):
        train: IDs 0839, 0840, 0841; drone 3 images each (9), satellite ``<ID>.jpg`` (3), street 2 images for
            0839 and 0840 (4), google 1 image for 0839 and EMPTY folders for 0840 and 0841 (1).
        test: query IDs 0000, 0001 and distractor 0837. query_drone 3 each for the query IDs (6), gallery_drone
            3 each for all three (9), query_satellite (2), gallery_satellite (3), query_street 1 each (2),
            gallery_street 1 each for the query IDs (2), and ``4K_drone/0000`` with 1 image (ignored).
        Noise that must be ignored: a hidden file and a text file inside an ID folder, and a stray file where
        ID folders are expected.
    """
    release = root / "University-Release"
    train, test = release / "train", release / "test"
    train_ids, query_ids, distractors = ["0839", "0840", "0841"], ["0000", "0001"], ["0837"]
    for loc in train_ids:
        for k in range(1, 4):
            write_image(train / "drone" / loc / f"image-{k:02d}.jpeg")
        write_image(train / "satellite" / loc / f"{loc}.jpg")
        (train / "google" / loc).mkdir(parents=True)
    for loc in train_ids[:2]:
        for k in range(2):
            write_image(train / "street" / loc / f"{k}.jpg")
    write_image(train / "google" / "0839" / "0.jpg")
    for loc in query_ids + distractors:
        for k in range(1, 4):
            write_image(test / "gallery_drone" / loc / f"image-{k:02d}.jpeg")
        write_image(test / "gallery_satellite" / loc / f"{loc}.jpg")
    for loc in query_ids:
        for k in range(1, 4):
            write_image(test / "query_drone" / loc / f"image-{k:02d}.jpeg")
        write_image(test / "query_satellite" / loc / f"{loc}.jpg")
        write_image(test / "query_street" / loc / "0.jpg")
        write_image(test / "gallery_street" / loc / "0.jpg")
    write_image(test / "4K_drone" / "0000" / "image-01.jpeg")
    (train / "drone" / "0839" / ".DS_Store").write_bytes(b"\0")
    (train / "drone" / "0839" / "notes.txt").write_text("not an image")
    (train / "drone" / "stray.jpg").write_bytes(_image_bytes("JPEG"))
    return release


def build_sues200_raw_tree(
    root: Path,
    ids: Sequence[str] = ("0007", "0008", "0009", "0012"),
    heights: Sequence[int] = (150, 200, 250, 300),
    frames: int = 2,
) -> Path:
    """Build a miniature raw SUES-200 archive (``SUES-200-512x512``) and return it.

    ``drone_view_512/<ID>/<h>/<k>.jpg`` for k < ``frames`` and ``satellite-view/<ID>/0.png``. With the default
    IDs, 0008 and 0012 are official test IDs and 0007, 0009 are training IDs.
    """
    raw = root / "SUES-200-512x512"
    for loc in ids:
        for height in heights:
            for k in range(frames):
                write_image(raw / "drone_view_512" / loc / str(height) / f"{k}.jpg")
        write_image(raw / "satellite-view" / loc / "0.png")
    return raw


def build_denseuav_tree(root: Path, *, gps: bool = True) -> Path:
    """Build a miniature ``DenseUAV`` folder and return it.

    Contents: training classes 000000 and 000001, test class 000002. query_* hold the test class, gallery_*
    hold all three (train + test merged, as the release does). Each class: drone ``H80/H90/H100.JPG`` (3) and
    satellite ``H80/H90/H100.tif`` + ``*_old.tif`` (6). With ``gps``, ``Dense_GPS_ALL.txt`` has one line per
    class (like the official file, which names the H80 satellite tile): class k at E(120 + k/10) N(30 + k/10).
    """
    dense = root / "DenseUAV"
    drone_files = ["H80.JPG", "H90.JPG", "H100.JPG"]
    satellite_files = ["H80.tif", "H90.tif", "H100.tif", "H80_old.tif", "H90_old.tif", "H100_old.tif"]
    layout = {
        ("train", "drone"): ["000000", "000001"],
        ("train", "satellite"): ["000000", "000001"],
        ("test", "query_drone"): ["000002"],
        ("test", "query_satellite"): ["000002"],
        ("test", "gallery_drone"): ["000000", "000001", "000002"],
        ("test", "gallery_satellite"): ["000000", "000001", "000002"],
    }
    for (split, folder), classes in layout.items():
        files = drone_files if folder.endswith("drone") else satellite_files
        for cls in classes:
            for name in files:
                write_image(dense / split / folder / cls / name)
    dense.mkdir(parents=True, exist_ok=True)
    if gps:
        lines = [
            "train/satellite/000000/H80.tif E120.0 N30.0 80\n",
            "train/satellite/000001/H80.tif E120.1 N30.1 80\n",
            "\n",  # blank lines are tolerated
            "/media/dmmm/data_2022/test/satellite/000002/H80.tif E120.2 N30.2 80.5\n",
        ]
        (dense / "Dense_GPS_ALL.txt").write_text("".join(lines))
    return dense


@pytest.fixture
def make_university1652_tree() -> Callable[[Path], Path]:
    """Builder for a miniature University-1652 release; see ``build_university1652_tree``."""
    return build_university1652_tree


@pytest.fixture
def make_sues200_raw_tree() -> Callable[..., Path]:
    """Builder for a miniature raw SUES-200 archive; see ``build_sues200_raw_tree``."""
    return build_sues200_raw_tree


@pytest.fixture
def make_denseuav_tree() -> Callable[..., Path]:
    """Builder for a miniature DenseUAV release; see ``build_denseuav_tree``."""
    return build_denseuav_tree


FAKE_HF_REPO = "owner/Dense"
FAKE_HF_REVISION = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    """A fake Hugging Face Hub: files of repository FAKE_HF_REPO at commit FAKE_HF_REVISION, and what it says of them.

    Serves the paginated tree listing (``/api/datasets/<repo>/tree/<rev>?recursive=true``, ``page_size`` files a
    page, ``Link: rel="next"``) and ``/datasets/<repo>/resolve/<rev>/<path>`` with range requests.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)  # paths listed as Git LFS files (with a SHA-256)
    listed_sha256: dict[str, str] = field(default_factory=dict)  # overrides, to simulate corruption
    repo_type: str = "dataset"  # or "model": routes without the /datasets prefix
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


def closed_port() -> int:
    """A loopback port with nothing listening (bind, read the port, close): what an offline host looks like."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on an ephemeral 127.0.0.1 port in a thread; yields ``http://127.0.0.1:<port>``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def send_ranged(handler: BaseHTTPRequestHandler, data: bytes, cut_after: int | None) -> int | None:
    """Answer a GET for ``data`` as file hosts do: ``Range: bytes=N-`` gives 206 (416 past the end), else 200.

    With ``cut_after`` set, the headers promise the whole body but only that many bytes are sent before the
    connection closes, as a dropped transfer would. Returns the ``cut_after`` to keep (None once used).
    """
    start, header = 0, handler.headers.get("Range")
    if header and header.startswith("bytes=") and header.endswith("-"):
        start = int(header[len("bytes=") : -1])
        if start >= len(data):
            handler.send_response(416)
            handler.send_header("Content-Range", f"bytes */{len(data)}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return cut_after
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
    else:
        handler.send_response(200)
    body = data[start:]
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if cut_after is not None:
        body, cut_after = body[:cut_after], None
        handler.close_connection = True
    handler.wfile.write(body)
    return cut_after


def _hub_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            hub.requests.append((url.path, self.headers.get("Range"), self.headers.get("Authorization")))
            tree = f"/api/{hub.repo_type}s/{FAKE_HF_REPO}/tree/{FAKE_HF_REVISION}"
            prefix = "/datasets" if hub.repo_type == "dataset" else ""
            resolve = f"{prefix}/{FAKE_HF_REPO}/resolve/{FAKE_HF_REVISION}/"
            name = urllib.parse.unquote(url.path[len(resolve) :]) if url.path.startswith(resolve) else None
            if name in hub.files:
                hub.cut_after = send_ranged(self, hub.files[name], hub.cut_after)
                return
            if url.path != tree or hub.status != 200:
                self.send_error(404 if url.path != tree else hub.status)
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
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A FakeHub on an ephemeral 127.0.0.1 port, with HF_ENDPOINT pointing at it and HF_TOKEN unset."""
    state = FakeHub()
    with loopback_server(_hub_handler(state)) as base_url:
        state.base_url = base_url
        monkeypatch.setenv("HF_ENDPOINT", base_url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield state

"""Tests for geolink.data.weights: pinned checkpoint downloads from a (fake) Hugging Face model repository."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from conftest import FAKE_HF_REPO, FAKE_HF_REVISION, FakeHub

from geolink.data.errors import DatasetError
from geolink.data.weights import INFO_NAME, fetch_weights, licence_of, recorded_repo
from geolink.recon.vggt import licence_notice


def _spec(**overrides: str | None) -> dict:
    return {"repo": FAKE_HF_REPO, "revision": FAKE_HF_REVISION, "file": "model.pt"} | overrides


def test_fetch_downloads_the_pinned_file_and_records_it(hub: FakeHub, tmp_path: Path, caplog) -> None:
    hub.repo_type = "model"
    hub.files = {"model.pt": b"\x00weights" * 100, "config.json": b"{}"}
    hub.lfs = {"model.pt"}
    with caplog.at_level(logging.WARNING):
        path = fetch_weights("vggt", _spec(), tmp_path / "vggt")
    assert path == tmp_path / "vggt" / "model.pt" and path.read_bytes() == hub.files["model.pt"]
    assert not (tmp_path / "vggt" / "config.json").exists()  # only the weight file
    info = json.loads((tmp_path / "vggt" / INFO_NAME).read_text())
    assert info["repo"] == FAKE_HF_REPO and info["sha256"] == hashlib.sha256(hub.files["model.pt"]).hexdigest()
    assert "licence" in caplog.text and FAKE_HF_REPO in caplog.text
    # Model repositories are served without the /datasets prefix.
    assert all(not p.startswith("/datasets") for p, _, _ in hub.requests)
    assert any(p.startswith("/api/models/") for p, _, _ in hub.requests)


def test_fetch_needs_a_pinned_commit(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"huggingface.co/owner/Dense/commits"):
        fetch_weights("vggt", _spec(revision=None), tmp_path / "vggt")


def test_vggt_licence_follows_the_recorded_repository(tmp_path: Path) -> None:
    weight = tmp_path / "vggt" / "model.pt"
    weight.parent.mkdir()
    weight.write_bytes(b"w")
    # Without a record a local file could be either release, so both licences are listed.
    assert "CC BY-NC 4.0" in licence_notice(str(weight)) and "commercial licence" in licence_notice(str(weight))
    (weight.parent / INFO_NAME).write_text(json.dumps({"repo": "facebook/VGGT-1B"}))
    assert recorded_repo(weight) == "facebook/VGGT-1B"
    notice = licence_notice(str(weight))
    assert "from facebook/VGGT-1B): CC BY-NC 4.0" in notice and "VGGT-1B-Commercial" not in notice


def test_unknown_checkpoint_points_to_its_card() -> None:
    assert licence_of("someone/else") == "not recorded here: read https://huggingface.co/someone/else before use"
    assert licence_of("timm/vit_base_patch14_dinov2.lvd142m").startswith("Apache-2.0")

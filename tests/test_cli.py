"""The ``geolink`` command: every subcommand runs the job its rule runs, with the same settings and files.

Most tests run a command by hand in a copy of the finished tiny workflow and compare its products with the ones
Snakemake made there; ``geolink train --show`` is compared with the job Snakemake's own graph schedules.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, TINY_CONFIGS, copy_workflow

from geolink.cli import main
from geolink.pipeline.dag import load_dag


@pytest.fixture(scope="module")
def work(finished_run, tmp_path_factory) -> Path:
    """A private copy of the finished tiny run (commands here write into it)."""
    copy = copy_workflow(tmp_path_factory.mktemp("cli"))
    for name in ("data", "results"):
        shutil.copytree(finished_run / name, copy / name)
    return copy


def geolink(work: Path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(work)
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".snakemake_timestamp"  # Snakemake's marker in directory outputs
    }


def test_config_prints_the_resolved_configuration(work, monkeypatch, capsys):
    code, out, _ = geolink(work, monkeypatch, capsys, "config", *TINY)
    config = yaml.safe_load(out)
    assert code == 0 and config["name"] == "tiny" and config["train"]["loss"]["weights"]["rd"] == 1.0
    code, out, _ = geolink(work, monkeypatch, capsys, "config", "--key", "train.loss.weights")
    assert yaml.safe_load(out) == {"cc": 1.0, "rd": 1.0, "ga": 1.0, "sc": 4.0}  # the paper's eq. 15
    code, _, err = geolink(work, monkeypatch, capsys, "config", "--key", "train.los")
    assert code == 2 and "no key 'train.los'" in err


@pytest.mark.e2e
def test_synth_writes_the_tree_rule_synth_wrote(work, monkeypatch, capsys, tmp_path):
    code, out, _ = geolink(
        work, monkeypatch, capsys, "synth", *TINY, "--dataset", "sues200", "--out-dir", str(tmp_path)
    )
    assert code == 0 and "sues200: 5 locations" in out
    assert digests(tmp_path / "sues200") == digests(work / "data/tiny/sues200")


@pytest.mark.e2e
def test_split_and_manifest_match_the_workflow(work, monkeypatch, capsys, tmp_path):
    code, out, _ = geolink(work, monkeypatch, capsys, "split-sues200", *TINY, "--out", str(tmp_path / "split"))
    assert code == 0 and "SUES-200 split written" in out
    assert digests(tmp_path / "split") == digests(work / "data/tiny/prepared/sues200")
    out_path = tmp_path / "m.parquet"
    code, out, _ = geolink(work, monkeypatch, capsys, "manifest", *TINY, "--dataset", "sues200", "--out", str(out_path))
    # Per height (4): training drone + satellite 3 + 3, query drone + satellite 2 + 2, galleries 5 + 5 = 20.
    assert code == 0 and "80 images" in out
    ours, theirs = pd.read_parquet(out_path), pd.read_parquet(work / "results/tiny/manifests/sues200.parquet")
    pd.testing.assert_frame_equal(ours, theirs)
    assert (tmp_path / "m_summary.csv").is_file()


@pytest.mark.e2e
def test_reconstruct_and_points_match_the_workflow(work, monkeypatch, capsys, tmp_path):
    shard = tmp_path / "shard0"
    code, _, _ = geolink(work, monkeypatch, capsys, "reconstruct", *TINY, "--dataset", "denseuav", "--out", str(shard))
    assert code == 0
    ours = pd.read_csv(shard / "qc.csv").drop(columns="seconds")
    theirs = pd.read_csv(work / "results/tiny/recon/denseuav/shard0/qc.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(ours, theirs)
    bank = tmp_path / "bank.npz"
    code, out, _ = geolink(
        work, monkeypatch, capsys, "points", *TINY, "--dataset", "denseuav", "--shards", str(shard), "--bank", str(bank)
    )
    assert code == 0 and f"QC table {tmp_path / 'bank_qc.csv'}" in out
    ours, theirs = np.load(bank), np.load(work / "results/tiny/points/denseuav.npz")
    assert set(ours.files) == set(theirs.files)
    for key in ours.files:
        assert np.array_equal(ours[key], theirs[key]), key


def test_train_resolves_to_the_job_rule_train_runs(work, monkeypatch, capsys):
    code, out, _ = geolink(work, monkeypatch, capsys, "train", *TINY, "--source", "sues200", "--show")
    assert code == 0
    shown = json.loads(out)
    workflow = load_dag(TINY_CONFIGS, repo=work)
    (job,) = [j for j in workflow.dag.jobs if j.rule.name == "train" and j.wildcards_dict["source"] == "sues200"]
    assert shown["settings"] == job.params.settings
    assert shown["settings"]["loss"]["weights"]["sc"] == 0.5 and shown["settings"]["seed"] == 0
    assert (shown["manifest_path"], shown["bank_path"]) == (job.input.manifest, job.input.bank)
    assert shown["checkpoint_dir"] == str(Path(job.output.best).parent) and shown["log_dir"] == job.output.logs
    assert shown["selection_manifest_path"] is None


@pytest.mark.e2e
def test_train_and_evaluate_by_hand(work, monkeypatch, capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, _ = geolink(work, monkeypatch, capsys, "train", *TINY, "--source", "denseuav", "--out", str(out_dir))
    assert code == 0 and json.loads(out)["epochs"] == 1
    rule_checkpoint = work / "results/tiny/checkpoints/denseuav__geolink__s0/last.pt"
    import torch

    ours, theirs = (torch.load(p, weights_only=True) for p in (out_dir / "last.pt", rule_checkpoint))
    assert ours["settings"] == theirs["settings"]
    assert (out_dir / "last.pt").read_bytes() == rule_checkpoint.read_bytes()  # the same training, byte for byte
    code, _, err = geolink(work, monkeypatch, capsys, "train", *TINY, "--source", "denseuav", "--out", str(out_dir))
    assert code == 2 and f"{out_dir / 'best.pt'} already exists" in err and "Traceback" not in err

    metrics = tmp_path / "m.json"
    args = ("evaluate", *TINY, "--source", "denseuav", "--target", "sues200", "--out", str(metrics))
    code, out, _ = geolink(work, monkeypatch, capsys, *args)
    assert code == 0 and "| sues200 | clean | drone_to_satellite | mean |" in out
    assert "fog_rain" not in out  # config/synthetic.yaml evaluates University-1652's runs only under weather
    theirs = json.loads((work / "results/tiny/metrics/denseuav__geolink__s0/sues200.json").read_text())
    assert json.loads(metrics.read_text()) == theirs


def test_training_without_its_point_bank_names_the_missing_file(work, monkeypatch, capsys, tmp_path):
    bank = work / "results/tiny/points/sues200.npz"
    bank.rename(bank.with_suffix(".away"))
    try:
        code, _, err = geolink(work, monkeypatch, capsys, "train", *TINY, "--source", "sues200", "--out", str(tmp_path))
    finally:
        bank.with_suffix(".away").rename(bank)
    assert code == 2 and "training input results/tiny/points/sues200.npz does not exist" in err
    assert not (tmp_path.parent / f"{tmp_path.name}.partial").exists()  # refused before any work


def test_a_run_the_configuration_does_not_have_is_refused(work, monkeypatch, capsys):
    code, _, err = geolink(work, monkeypatch, capsys, "train", *TINY, "--source", "sues200", "--variant", "nope")
    assert code == 2
    assert "sues200__nope__s0 is not a training run of configuration 'tiny'" in err
    assert "university1652__geolink__s0, sues200__geolink__s0, denseuav__geolink__s0" in err


def test_complexity_of_the_configured_model(work, monkeypatch, capsys):
    code, out, _ = geolink(work, monkeypatch, capsys, "complexity", *TINY)
    headline = json.loads(out)
    assert code == 0 and headline["params_total_M"] > 0
    code, out, _ = geolink(work, monkeypatch, capsys, "complexity", "--model", "geolink_dinov2_base", "--json")
    assert json.loads(out)["inference"]["thop_style"] == 90_500_868  # paper Table 6: 90.50M


def test_plan_counts_the_runs_and_estimates_gpu_hours_only_for_real_data(work, monkeypatch, capsys):
    code, out, _ = geolink(work, monkeypatch, capsys, "plan", *TINY)
    assert code == 0 and "Configuration 'tiny': 3 training runs" in out
    assert "| geolink | geolink_tiny_cnn | 3 |" in out and "sues200: synthetic" in out
    assert "Estimated GPU time" not in out  # no published counts for synthetic data
    code, out, _ = geolink(work, monkeypatch, capsys, "plan")  # the paper configuration
    assert code == 0 and "Configuration 'paper': 108 training runs" in out
    assert "Estimated GPU time:" in out and "at 60 TFLOP/s sustained" in out


def test_dvc_writes_and_checks(work, monkeypatch, capsys, tmp_path):
    target = tmp_path / "dvc.yaml"
    code, out, _ = geolink(work, monkeypatch, capsys, "dvc", *TINY, "--output", str(target))
    # one evaluation job per run, the six paper tables and six figures, the six jobs of the locate stage
    assert code == 0 and "(45 stages)" in out
    assert geolink(work, monkeypatch, capsys, "dvc", *TINY, "--output", str(target), "--check")[0] == 0
    target.write_text(target.read_text().replace("--cores all", "--cores 3"))
    code, _, err = geolink(work, monkeypatch, capsys, "dvc", *TINY, "--output", str(target), "--check")
    assert code == 1 and "is stale" in err


def test_outside_the_repository_the_command_says_where_to_run(monkeypatch, capsys, tmp_path):
    code, _, err = geolink(tmp_path, monkeypatch, capsys, "config")
    assert code == 2 and "run from the repository root" in err and "Traceback" not in err

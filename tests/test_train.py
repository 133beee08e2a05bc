"""Training loop and evaluation runner on a tiny synthetic dataset: resume, checkpoints, metrics records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import build_training_source, tiny_train_settings

import geolink.train
from geolink.atomic import OutputExistsError
from geolink.evaluation.run import evaluate_model, load_checkpoint, query_gallery
from geolink.models import create_model
from geolink.run_folder import TrainingRunError
from geolink.train import get_lr, is_better, loader_options, optimizer_groups, train


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("source")
    return root, build_training_source(root)


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    lrs = [get_lr(step, total_steps=100, warmup_steps=10, lr=6e-4, min_lr=1e-4) for step in range(100)]
    assert lrs[0] == pytest.approx(6e-5) and lrs[9] == pytest.approx(6e-4)
    assert lrs[10] == pytest.approx(6e-4) and all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert get_lr(100, 100, 10, 6e-4, 1e-4) == pytest.approx(1e-4)
    # Half-way through the decay the cosine is at the mid-point between the peak and the floor.
    assert get_lr(55, 100, 10, 6e-4, 1e-4) == pytest.approx(3.5e-4)


def _stop_after_epoch(monkeypatch, stop_epoch: int) -> None:
    """Make training stop (as Ctrl-C does) right after the checkpoint of ``stop_epoch`` is written."""
    real_save = geolink.train.save_checkpoint

    def save_then_stop(path, state):
        real_save(path, state)
        if path.name == "last.pt" and state["epoch"] == stop_epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(geolink.train, "save_checkpoint", save_then_stop)


def _plot_rows(live_dir) -> dict[str, list[list[str]]]:
    """Every dvclive plot table without its timestamp column (the only thing a resume may change)."""
    tables = {}
    for table in sorted(live_dir.glob("plots/metrics/**/*.tsv")):
        rows = [line.split("\t")[1:] for line in table.read_text().splitlines()]
        tables[str(table.relative_to(live_dir))] = rows
    return tables


def test_a_stopped_run_resumes_to_the_uninterrupted_result_byte_for_byte(source, tmp_path, monkeypatch):
    root, _ = source
    args = (str(root / "manifest.parquet"), str(root / "bank.npz"))
    straight = train(tiny_train_settings(epochs=3), *args, tmp_path / "straight", tmp_path / "live1", device="cpu")

    _stop_after_epoch(monkeypatch, stop_epoch=2)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_train_settings(epochs=3), *args, tmp_path / "resumed", tmp_path / "live2", device="cpu")
    # Nothing half-trained is published; the work folder keeps epoch 2.
    assert not (tmp_path / "resumed" / "best.pt").exists() and not (tmp_path / "live2").exists()
    stopped = torch.load(tmp_path / "resumed.partial" / "last.pt", weights_only=True)
    assert stopped["epoch"] == 2 and stopped["steps_per_epoch"] == 4 and stopped["total_steps"] == 12
    assert stopped["device"] == "cpu" and stopped["precision"] == "fp32"  # recorded: no autocast on the CPU
    monkeypatch.undo()

    resumed = train(tiny_train_settings(epochs=3), *args, tmp_path / "resumed", tmp_path / "live2", device="cpu")
    # 10 locations, 2 held out; one sample per (satellite, cloud group): 8 x 1 x 2 = 16 per epoch, batch 4.
    assert straight == resumed and resumed["steps"] == 3 * (16 // 4)
    for name in ("last.pt", "best.pt"):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes(), name
    assert _plot_rows(tmp_path / "live1") == _plot_rows(tmp_path / "live2")
    assert "precision: fp32" in (tmp_path / "live2" / "params.yaml").read_text()  # and in the training log
    assert len(_plot_rows(tmp_path / "live2")["plots/metrics/val/R@1.tsv"]) == 1 + 3  # header + one per epoch
    # Each loss term's epoch mean (Fig. 4's curves), one row per epoch, also across the resume.
    assert len(_plot_rows(tmp_path / "live2")["plots/metrics/epoch_loss/cc_dro_pc.tsv"]) == 1 + 3
    assert not (tmp_path / "resumed.partial").exists()


def test_identical_trainings_write_identical_checkpoints(source, tmp_path):
    root, _ = source
    args = (str(root / "manifest.parquet"), str(root / "bank.npz"))
    for run in ("a", "b"):
        train(tiny_train_settings(epochs=1), *args, tmp_path / run, tmp_path / f"{run}_live", device="cpu")
    assert (tmp_path / "a" / "last.pt").read_bytes() == (tmp_path / "b" / "last.pt").read_bytes()


def test_resuming_with_other_settings_names_the_keys(source, tmp_path, monkeypatch):
    root, _ = source
    args = (str(root / "manifest.parquet"), str(root / "bank.npz"))
    _stop_after_epoch(monkeypatch, stop_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_train_settings(epochs=2), *args, tmp_path / "ck", tmp_path / "live", device="cpu")
    monkeypatch.undo()
    with pytest.raises(TrainingRunError) as err:
        train(tiny_train_settings(epochs=3, batch_size=2), *args, tmp_path / "ck", tmp_path / "live", device="cpu")
    message = str(err.value)
    assert "settings.epochs: 2 then, 3 now" in message and "settings.batch_size: 4 then, 2 now" in message
    assert str(tmp_path / "ck.partial") in message and "lr" not in message.split("(")[1]


def test_a_finished_run_or_a_foreign_work_folder_is_never_overwritten(source, tmp_path):
    root, _ = source
    args = (str(root / "manifest.parquet"), str(root / "bank.npz"))
    train(tiny_train_settings(epochs=1), *args, tmp_path / "ck", tmp_path / "live", device="cpu")
    before = (tmp_path / "ck" / "last.pt").read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        train(tiny_train_settings(epochs=1), *args, tmp_path / "ck", tmp_path / "live", device="cpu")
    assert (tmp_path / "ck" / "last.pt").read_bytes() == before

    (tmp_path / "other.partial").mkdir()
    (tmp_path / "other.partial" / "notes.txt").write_text("someone's data")
    with pytest.raises(TrainingRunError, match="holds no run.json"):
        train(tiny_train_settings(epochs=1), *args, tmp_path / "other", tmp_path / "live_other", device="cpu")
    assert (tmp_path / "other.partial" / "notes.txt").read_text() == "someone's data"


def test_checkpoint_rebuilds_the_model_alone_and_logs_every_loss_term(source, tmp_path):
    root, manifest = source
    summary = train(
        tiny_train_settings(),
        str(root / "manifest.parquet"),
        str(root / "bank.npz"),
        tmp_path / "ck",
        tmp_path / "live",
    )
    checkpoint = torch.load(tmp_path / "ck" / "best.pt", weights_only=True)
    assert checkpoint["model_name"] == "geolink_tiny" and checkpoint["settings"]["epochs"] == 2
    assert checkpoint["epoch"] == summary["best_epoch"]
    model, _ = load_checkpoint(tmp_path / "ck" / "best.pt")
    logged = json.loads((tmp_path / "live" / "metrics.json").read_text())
    for term in ("cc_dro_sat", "cc_dro_pc", "cc_sat_pc", "sc_pc", "ga_dro", "rd_sat", "total", "lr"):
        assert term in logged["train"], term
    assert "R@1" in logged["val"]

    # A "weather" set whose drone images are a shuffled copy of the clean ones: the same images, other rows.
    shuffled = manifest.sample(frac=1.0, random_state=0).reset_index(drop=True)
    records = evaluate_model(model, manifest, image_size=32, batch_size=8, weather={"fog": shuffled})
    by_key = {(r["condition"], r["direction"]): r for r in records}
    assert sorted(by_key) == [(c, d) for c in ("clean", "fog") for d in ("drone_to_satellite", "satellite_to_drone")]
    d2s = by_key["clean", "drone_to_satellite"]
    assert d2s["n_queries"] == 3 * 3 and d2s["n_gallery"] == 4  # 3 query locations x 3 views; 3 + 1 distractor
    assert by_key["clean", "satellite_to_drone"]["n_gallery"] == 4 * 3
    assert 0 <= d2s["R@1"] <= d2s["R@5"] <= 100
    for record in records:  # each metric is the mean of the stored per-query outcomes
        rank, ap = np.array(record["per_query"]["rank"]), np.array(record["per_query"]["AP"])
        assert len(rank) == len(ap) == record["n_queries"]
        assert record["R@1"] == pytest.approx(100 * np.mean(rank == 0))
        assert record["R@5"] == pytest.approx(100 * np.mean((rank >= 0) & (rank < 5)))
        assert record["AP"] == pytest.approx(np.mean(ap))
    for direction in ("drone_to_satellite", "satellite_to_drone"):  # the same images give the same metrics
        fog, clean = by_key["fog", direction], by_key["clean", direction]
        assert {k: fog[k] for k in ("R@1", "R@5", "AP")} == pytest.approx({k: clean[k] for k in ("R@1", "R@5", "AP")})


def test_2d_baseline_trains_without_point_clouds(source, tmp_path):
    root, _ = source
    config = tiny_train_settings(model={"name": "baseline_tiny", "kwargs": {"img_size": 32, "frozen_blocks": 0}})
    summary = train(config, str(root / "manifest.parquet"), None, tmp_path / "ck", tmp_path / "live")
    assert summary["steps"] == 4
    logged = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert "cc_dro_pc" not in logged["train"] and "cc_dro_sat" in logged["train"]


def test_a_zero_weight_switches_a_loss_term_off(source, tmp_path):
    root, _ = source
    config = tiny_train_settings(epochs=1, loss={"weights": {"rd": 0.0, "ga": 0.0}})
    train(config, str(root / "manifest.parquet"), str(root / "bank.npz"), tmp_path / "ck", tmp_path / "live")
    logged = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert "rd" not in logged["train"] and "ga" not in logged["train"] and "sc" in logged["train"]
    assert torch.load(tmp_path / "ck" / "last.pt", weights_only=True)["estimators"] == {}


def test_query_gallery_sets_follow_the_official_folders(source):
    _, manifest = source
    query, gallery = query_gallery(manifest, "drone_to_satellite")
    assert set(query["folder"]) == {"query_drone"} and set(gallery["folder"]) == {"gallery_satellite"}
    query, gallery = query_gallery(manifest, "satellite_to_drone")
    assert set(query["folder"]) == {"query_satellite"} and set(gallery["folder"]) == {"gallery_drone"}
    assert np.isin(query["location"], gallery["location"]).all()


def test_target_test_selection_is_a_labelled_option(source, tmp_path):
    root, _ = source
    config = tiny_train_settings(epochs=1, selection="target_test", selection_target="university1652")
    args = (str(root / "manifest.parquet"), str(root / "bank.npz"), tmp_path / "ck", tmp_path / "live")
    with pytest.raises(ValueError, match="no target manifest"):
        train(config, *args)
    train(config, *args, selection_manifest_path=str(root / "manifest.parquet"))
    logged = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert "target_test_R@1" in logged["selection"] and "val" not in logged
    assert torch.load(tmp_path / "ck" / "best.pt", weights_only=True)["selection"] == "target_test"


def test_selection_breaks_recall_ties_by_ap_and_keeps_the_later_epoch():
    best = {"metric": 100.0, "ap": 80.0, "epoch": 3}
    assert is_better(100.0, 85.0, best)  # saturated Recall@1: AP still ranks
    assert not is_better(100.0, 79.0, best)
    assert is_better(100.0, 80.0, best)  # an exact tie goes to the later epoch
    assert not is_better(99.0, 99.0, best)
    assert is_better(10.0, 5.0, {"metric": -1.0, "epoch": -1})  # the first epoch (a resumed run's old record)


def test_weight_decay_spares_biases_norms_tokens_and_the_temperature():
    model = create_model("geolink_tiny", img_size=32, frozen_blocks=0)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = optimizer_groups(model, 0.05, "matrices")
    decayed = {names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    spared = {names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert decayed and spared and not decayed & spared
    assert len(decayed | spared) == sum(p.requires_grad for p in model.parameters())
    for name in spared:  # every spared one is 0-/1-d, a bias, a token or the position embedding
        param = dict(model.named_parameters())[name]
        assert param.ndim <= 1 or name.endswith((".bias", "token", "pos_embed")), name
    assert any(n.endswith("logit_scale") for n in spared) and any(n.endswith("pos_embed") for n in spared)
    assert all(dict(model.named_parameters())[n].ndim >= 2 for n in decayed)
    (everything,) = optimizer_groups(model, 0.05, "all")
    assert everything["weight_decay"] == 0.05 and len(everything["params"]) == len(decayed | spared)


def test_loader_options_pin_and_reformat_only_on_cuda():
    cfg = {"num_workers": 6, "prefetch_factor": 3, "pin_memory": True, "channels_last": True}
    cpu = loader_options(cfg, torch.device("cpu"))
    assert cpu == {
        "loader": {"num_workers": 6, "pin_memory": False, "prefetch_factor": 3},
        "copy": {"non_blocking": False},
        "channels_last": False,
    }
    cuda = loader_options(cfg, torch.device("cuda"))  # a device object only: nothing runs on it
    assert cuda["loader"]["pin_memory"] and cuda["channels_last"]
    assert cuda["copy"] == {"non_blocking": True, "memory_format": torch.channels_last}
    # In-process loading takes no prefetch factor (DataLoader refuses one without workers).
    assert loader_options(cfg | {"num_workers": 0}, torch.device("cpu"))["loader"] == {
        "num_workers": 0,
        "pin_memory": False,
    }

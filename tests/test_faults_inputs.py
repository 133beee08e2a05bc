"""Fault injection on inputs: bad configuration values, bad checkpoints and bad options end in a message.

Every fault here is one a user can make (a NaN in a YAML file, a zero batch size, an override file with a wrong
value, a checkpoint cut short by a killed copy, a crafted pickle, a typo in a model name). Each must raise a
``geolink.errors.UserError`` (the ``geolink`` command and the workflow scripts print those as ``error: ...``)
whose message names the file, key or value, and no traceback.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import torch
import yaml
from conftest import REPO, TINY, build_denseuav_tree, copy_workflow, snakemake

from geolink.checkpoint import CheckpointError, CheckpointNotFoundError, load_checkpoint, save_checkpoint
from geolink.cli import main
from geolink.config import ConfigError, load_config, load_schema, merge
from geolink.errors import UserError

BASE = REPO / "config/config.yaml"


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------- configuration values


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("train:\n  lr: .nan\n", "train.lr", "nan"),
        ("train:\n  batch_size: .inf\n", "train.batch_size", "inf"),
        ("reconstruct:\n  vggt:\n    conf_threshold: -.inf\n", "reconstruct.vggt.conf_threshold", "-inf"),
        ("train:\n  variants:\n    fast:\n      min_lr: .NaN\n", "train.variants.fast.min_lr", "nan"),
        ("train:\n  model:\n    kwargs: {img_size: .inf}\n", "train.model.kwargs.img_size", "inf"),
        ("train:\n  heights:\n    sues200: [.nan]\n", "train.heights.sues200.0", "nan"),
    ],
)
def test_nan_and_infinity_are_refused_anywhere_naming_key_value_and_file(tmp_path, text, key, shown):
    bad = write_yaml(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(BASE, bad)
    message = str(caught.value)
    assert f"'{key}'" in message and f"in {bad}" in message and f" is {shown}," in message
    assert "finite" in message


def test_nan_learning_rate_passes_the_schema_alone(tmp_path):
    """Why the NaN check exists: JSON-schema bounds compare with NaN, and every comparison with NaN is false."""
    merged = merge(yaml.safe_load(BASE.read_text()), {"train": {"lr": float("nan")}})
    assert jsonschema.Draft7Validator(load_schema()).is_valid(merged)


@pytest.mark.parametrize(
    ("text", "key", "bound"),
    [
        ("train:\n  batch_size: 0\n", "train.batch_size", "minimum of 2"),  # ZeroDivisionError in training
        ("train:\n  lr: -0.001\n", "train.lr", "minimum of 0"),
        ("train:\n  lr: 0\n", "train.lr", "minimum of 0"),  # exclusive: a zero rate trains nothing
        ("train:\n  epochs: 0\n", "train.epochs", "minimum of 1"),
        ("train:\n  flip_prob: 1.5\n", "train.flip_prob", "maximum of 1"),
        ("train:\n  num_workers: -1\n", "train.num_workers", "minimum of 0"),
        ("evaluate:\n  batch_size: 0\n", "evaluate.batch_size", "minimum of 1"),
        ("train:\n  seeds: [4294967296]\n", "train.seeds.0", "maximum of 4294967295"),  # np.random.seed's range
        ("train:\n  heights: {sues200: [0]}\n", "train.heights.sues200.0", "minimum of 0"),
        ("reconstruct:\n  sues200: {heights: [-300]}\n", "reconstruct.sues200.heights.0", "minimum of 0"),
        ("train:\n  variants:\n    small:\n      batch_size: 0\n", "train.variants.small.batch_size", "minimum of 2"),
    ],
)
def test_values_that_cannot_work_are_refused_by_bounds(tmp_path, text, key, bound):
    bad = write_yaml(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(BASE, bad)
    message = str(caught.value)
    assert f"'{key}'" in message and f"in {bad}" in message and bound in message


def test_a_whole_number_written_as_a_float_is_refused_where_a_count_is_meant(tmp_path):
    """JSON Schema counts 8.0 as an integer; DataLoader(batch_size=8.0) and range(2.0) do not."""
    bad = write_yaml(tmp_path / "bad.yaml", "train:\n  batch_size: 8.0\n")
    with pytest.raises(ConfigError, match=r"'train\.batch_size'.*must be of type integer.*as 8\b"):
        load_config(BASE, bad)
    assert load_config(BASE, write_yaml(tmp_path / "good.yaml", "train:\n  lr: 1\n"))["train"]["lr"] == 1  # numbers


def test_the_message_names_the_file_that_set_the_value_not_a_later_one(tmp_path):
    first = write_yaml(tmp_path / "first.yaml", "train:\n  lr: .nan\n")
    later = write_yaml(tmp_path / "later.yaml", "train:\n  epochs: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(BASE, first, later)
    assert f"in {first}" in str(caught.value) and str(later) not in str(caught.value)


# ----------------------------------------------------------------------------- configuration errors under Snakemake


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("faults_workflow"))


def error_line(result, start: str) -> str:
    """The line of Snakemake's output (it logs errors to stdout) that starts with ``start``."""
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(start)]
    assert lines, (result.stdout + result.stderr)[-3000:]
    return lines[0]


def test_snakemake_names_the_override_file_even_for_a_key_the_base_file_sets(workflow_copy):
    """config/config.yaml sets `name` too; the bad value comes from the --configfile file."""
    write_yaml(workflow_copy / "bad_name.yaml", "name: 'bad name!'\n")
    result = snakemake(workflow_copy, "-n", "--configfile", "config/synthetic.yaml", "bad_name.yaml")
    assert result.returncode != 0
    line = error_line(result, "Configuration key 'name'")
    assert line.startswith("Configuration key 'name' in bad_name.yaml has an invalid value 'bad name!'")
    assert "Traceback" not in result.stdout + result.stderr


def test_snakemake_refuses_nan_naming_the_override_file(workflow_copy):
    write_yaml(workflow_copy / "bad_nan.yaml", "train:\n  lr: .nan\n")
    result = snakemake(workflow_copy, "-n", "--configfile", "config/synthetic.yaml", "bad_nan.yaml")
    assert result.returncode != 0
    line = error_line(result, "Configuration key 'train.lr'")
    assert "in bad_nan.yaml is nan" in line
    assert "Traceback" not in result.stdout + result.stderr


def test_snakemake_names_the_config_option_for_values_given_on_the_command_line(workflow_copy):
    """`--config seed=nan` reaches the configuration as a float NaN (Snakemake tries float() on values)."""
    result = snakemake(workflow_copy, "-n", "--configfile", "config/synthetic.yaml", "--config", "seed=nan")
    assert result.returncode != 0
    line = error_line(result, "Configuration key 'seed'")
    assert "in the --config option is nan" in line


def test_snakemake_still_loads_a_valid_configuration(workflow_copy):
    result = snakemake(workflow_copy, "-n", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_missing_configfile_stops_snakemake_naming_it(workflow_copy):
    """Snakemake reads --configfile files before it loads the Snakefile, so this message is Snakemake's own (with a
    traceback in Snakemake 9; nothing of the workflow runs yet). It must still name the file."""
    result = snakemake(workflow_copy, "-n", "--configfile", "does_not_exist.yaml")
    assert result.returncode != 0
    assert "No such file or directory: 'does_not_exist.yaml'" in result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------------ checkpoints


def example_state() -> dict:
    generator = torch.Generator().manual_seed(0)
    return {
        "model": {"w": torch.randn(4, 3, generator=generator), "b": torch.zeros(3)},
        "epoch": 3,
        "best": {"metric": 0.5, "epoch": 2},
        "rng": {"torch": torch.get_rng_state()},
    }


def test_identical_states_give_identical_bytes_and_round_trip(tmp_path):
    state = example_state()
    first, second = tmp_path / "a" / "last.pt", tmp_path / "b" / "other.pt"
    save_checkpoint(first, state)
    save_checkpoint(second, state)
    assert first.read_bytes() == second.read_bytes()
    # The archive's records carry a constant name, neither the file's nor the temporary file's.
    assert {name.split("/")[0] for name in zipfile.ZipFile(first).namelist()} == {"archive"}
    loaded = load_checkpoint(first)
    assert loaded["epoch"] == 3 and loaded["best"] == {"metric": 0.5, "epoch": 2}
    for key, tensor in state["model"].items():
        assert torch.equal(loaded["model"][key], tensor)
    assert torch.equal(loaded["rng"]["torch"], state["rng"]["torch"])
    assert sorted(p.name for p in first.parent.iterdir()) == ["last.pt"]  # no temporary file left behind


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, example_state())
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - whatever pickling a lambda raises
        save_checkpoint(path, {"model": lambda: None})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


@pytest.fixture
def real_checkpoint(tmp_path) -> Path:
    path = tmp_path / "good" / "best.pt"
    save_checkpoint(path, example_state())
    return path


def truncated(real: Path, dest: Path) -> Path:
    data = real.read_bytes()
    dest.write_bytes(data[: len(data) // 3])
    return dest


class RunsACommand:
    """Unpickling this calls os.system: what a crafted checkpoint would do under weights_only=False."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def crafted_pickle(dest: Path, marker: Path) -> Path:
    dest.write_bytes(pickle.dumps(RunsACommand(f"touch {marker}")))  # dumps only records the call
    return dest


def test_a_truncated_checkpoint_is_named_with_its_full_path(tmp_path, real_checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = truncated(real_checkpoint, tmp_path / "cut.pt")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint("cut.pt")  # relative: the message still gives the full path
    message = str(caught.value)
    assert str(bad.absolute()) in message and "truncated or corrupt" in message and "rerun" in message


def test_an_empty_checkpoint(tmp_path):
    bad = tmp_path / "empty.pt"
    bad.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty") as caught:
        load_checkpoint(bad)
    assert str(bad) in str(caught.value)


def test_a_missing_checkpoint_is_also_a_file_not_found_error(tmp_path):
    with pytest.raises(CheckpointNotFoundError) as caught:
        load_checkpoint(tmp_path / "absent.pt")
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, UserError)
    assert str(tmp_path / "absent.pt") in str(caught.value)


def test_a_file_that_is_no_checkpoint(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("these are my notes, not weights\n")
    with pytest.raises(CheckpointError, match="not a torch checkpoint") as caught:
        load_checkpoint(bad)
    assert str(bad) in str(caught.value)


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain_pickle", "torch_zip"])
def test_a_crafted_pickle_never_runs_and_the_advice_is_not_to_load_it_unsafely(tmp_path, wrapped):
    marker = tmp_path / "PWNED"
    bad = crafted_pickle(tmp_path / "evil.pt", marker)
    if wrapped:  # the same payload inside torch's zip format
        buffer = io.BytesIO()
        torch.save(RunsACommand(f"touch {marker}"), buffer)
        bad.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(bad)
    message = str(caught.value)
    assert not marker.exists()
    assert str(bad) in message and "not a checkpoint this project wrote" in message
    assert "weights_only" not in message and "False" not in message  # torch's own advice would run the payload


def test_a_checkpoint_that_is_not_a_dictionary(tmp_path):
    bad = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], bad)
    with pytest.raises(CheckpointError, match="holds a list") as caught:
        load_checkpoint(bad)
    assert str(bad) in str(caught.value)


def test_required_keys_are_named_when_missing(real_checkpoint):
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(real_checkpoint, required=("model", "model_name", "settings"))
    message = str(caught.value)
    assert "lacks 'model_name', 'settings'" in message and str(real_checkpoint) in message


def test_evaluation_refuses_a_checkpoint_it_cannot_rebuild(tmp_path, real_checkpoint):
    from geolink.evaluation.run import load_checkpoint as load_model

    with pytest.raises(CheckpointError, match="lacks 'model_name', 'model_kwargs', 'settings', 'val_recall@1'"):
        load_model(str(real_checkpoint))
    foreign = tmp_path / "renamed.pt"
    state = {**example_state(), "model_name": "geolink_gigantic", "model_kwargs": {}, "settings": {}}
    save_checkpoint(foreign, {**state, "val_recall@1": 1.0})
    with pytest.raises(CheckpointError, match="model 'geolink_gigantic', which this version of geolink does not"):
        load_model(str(foreign))
    misfit = tmp_path / "misfit.pt"
    save_checkpoint(misfit, {**state, "model_name": "geolink_tiny_cnn", "val_recall@1": 1.0})
    with pytest.raises(CheckpointError, match=r"does not rebuild its model 'geolink_tiny_cnn' \(Missing key\(s\)"):
        load_model(str(misfit))


def test_backbone_weights_files(tmp_path, real_checkpoint):
    from geolink.models.registry import BACKBONES

    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        BACKBONES.create(
            "vit_tiny_patch8_test", img_size=32, weights_path=truncated(real_checkpoint, tmp_path / "t.pt")
        )
    with pytest.raises(CheckpointNotFoundError, match="weights file not found"):
        BACKBONES.create("vit_tiny_patch8_test", img_size=32, weights_path=tmp_path / "absent.pth")
    marker = tmp_path / "PWNED"
    with pytest.raises(CheckpointError, match="not a checkpoint this project wrote"):
        BACKBONES.create("vit_tiny_patch8_test", img_size=32, weights_path=crafted_pickle(tmp_path / "e.pth", marker))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="does not fit the model's backbone"):  # weights of something else
        BACKBONES.create("vit_tiny_patch8_test", img_size=32, weights_path=real_checkpoint)
    broken = tmp_path / "model.safetensors"
    broken.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        BACKBONES.create("vit_tiny_patch8_test", img_size=32, weights_path=broken)


@pytest.fixture
def fake_vggt(monkeypatch):
    """``import vggt`` finds the test double of tests/fake_vggt (as in test_vggt_backend.py)."""
    from geolink.recon import vggt as backend

    def drop() -> None:
        for name in [m for m in sys.modules if m == "vggt" or m.startswith("vggt.")]:
            del sys.modules[name]
        backend._shared_model.cache_clear()

    drop()
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fake_vggt"))
    yield backend
    drop()


def test_vggt_model_pt_files(tmp_path, real_checkpoint, fake_vggt):
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        fake_vggt.load_vggt(str(truncated(real_checkpoint, tmp_path / "model.pt")), "cpu")
    with pytest.raises(CheckpointError, match="do not fit the VGGT model"):
        fake_vggt.load_vggt(str(real_checkpoint), "cpu")
    good = tmp_path / "good_model.pt"
    save_checkpoint(good, {"weight": torch.tensor([2.0])})  # what the double's state dict holds
    assert fake_vggt.load_vggt(str(good), "cpu").weight.item() == 2.0


# -------------------------------------------------------------------------------------------- the geolink command


@pytest.fixture
def cli_repo(tmp_path, monkeypatch) -> Path:
    """A checkout where `geolink evaluate` of the tiny configuration finds its DenseUAV manifest."""
    from geolink.data.index import index_dataset

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("config", ".test"):
        shutil.copytree(REPO / name, repo / name)
    tree = build_denseuav_tree(tmp_path / "trees")
    manifests = repo / "results/tiny/manifests"
    index_dataset(
        "denseuav", tree, {"check_images": "none"}, "off", manifests / "denseuav.parquet", manifests / "s.csv"
    )
    monkeypatch.chdir(repo)
    return repo


def evaluate_with(checkpoint: Path, out: Path) -> list[str]:
    return ["evaluate", *TINY, "--source", "denseuav", "--target", "denseuav", "--checkpoint", str(checkpoint),
            "--out", str(out)]  # fmt: skip


@pytest.mark.parametrize("fault", ["truncated", "crafted"])
def test_geolink_evaluate_with_a_bad_checkpoint_prints_one_message(cli_repo, tmp_path, real_checkpoint, capsys, fault):
    marker = tmp_path / "PWNED"
    bad = (
        truncated(real_checkpoint, tmp_path / "cut.pt")
        if fault == "truncated"
        else crafted_pickle(tmp_path / "evil.pt", marker)
    )
    code = main(evaluate_with(bad, tmp_path / "metrics.json"))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("geolink evaluate: error: checkpoint ") and str(bad) in err
    assert "Traceback" not in err and not marker.exists()
    assert not (tmp_path / "metrics.json").exists()


def test_geolink_complexity_with_a_misspelt_model(cli_repo, capsys):
    code = main(["complexity", *TINY, "--model", "geolink_tiny_cn"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown model 'geolink_tiny_cn' (did you mean 'geolink_tiny_cnn'?)" in err
    assert "Traceback" not in err


def test_geolink_options_below_one_are_usage_errors(cli_repo, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["complexity", *TINY, "--image-size", "-5"])
    assert caught.value.code == 2 and "--image-size: -5 is not a positive number" in capsys.readouterr().err


def test_geolink_reconstruct_of_a_shard_the_configuration_does_not_have(cli_repo, capsys):
    shards = load_config(BASE, *(cli_repo / f for f in TINY[1:]))["reconstruct"]["n_shards"]
    code = main(["reconstruct", *TINY, "--dataset", "denseuav", "--shard", str(shards)])
    err = capsys.readouterr().err
    assert code == 2 and f"shard {shards} of denseuav does not exist: reconstruct.n_shards is {shards}" in err


@pytest.mark.parametrize("name", ["geolink_tiny", "geolink_tiny_cnn", "baseline_tiny_cnn"])
def test_pretrained_weights_for_a_backbone_that_has_none_is_a_configuration_error(name):
    """`pretrained: true` is the schema's default model kwarg, so a tiny model meets it easily."""
    from geolink.models import create_model

    with pytest.raises(ConfigError, match="Set train.model.kwargs.pretrained: false"):
        create_model(name, pretrained=True)

"""Configuration: schema defaults, merging, and the messages a user sees for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from geolink.config import ConfigError, apply_defaults, load_config, load_schema, merge, validate_config

REPO = Path(__file__).resolve().parents[1]


def validate(config: dict) -> dict:
    """``validate_config`` of a configuration that names itself, as every configuration must."""
    return validate_config({"name": "test", **config})


def walk_properties(schema: dict, root: dict, path: str = ""):
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    for key, sub in schema.get("properties", {}).items():
        yield f"{path}{key}", sub
        yield from walk_properties(sub, root, f"{path}{key}.")


def test_every_schema_key_is_described():
    schema = load_schema()
    missing = [key for key, sub in walk_properties(schema, schema) if not sub.get("description") and "$ref" not in sub]
    assert missing == []
    assert all(definition.get("description") for definition in schema["definitions"].values())


def test_the_shipped_configurations_are_valid():
    paper = load_config(REPO / "config/config.yaml")
    synthetic = load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml")
    tiny = load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml", REPO / ".test/config.yaml")
    assert paper["datasets"]["sues200"]["source"] == "local"
    assert synthetic["datasets"]["sues200"]["source"] == "synthetic"
    assert synthetic["datasets"]["sues200"]["heights"] == [150, 200, 250, 300]  # the schema's default
    assert tiny["synth"]["university1652"]["n_train"] == 3
    assert tiny["synth"]["university1652"]["domain"] == "campus"  # the schema's default, untouched by .test
    # Each configuration names the folders it writes; a later file's name wins.
    assert (paper["name"], synthetic["name"], tiny["name"]) == ("paper", "synthetic", "tiny")


def test_defaults_are_filled_recursively():
    config = validate({"synth": {"university1652": {"n_train": 5}}})
    assert config["seed"] == 0
    assert config["synth"]["image_size"] == 128
    assert config["synth"]["university1652"] == {**config["synth"]["university1652"], "n_train": 5}
    assert config["synth"]["university1652"]["drone_views"] == 12
    # A section given as {} gets every leaf default: eq. 15's weights with lambda = 4.
    assert validate({"train": {"loss": {"weights": {}}}})["train"]["loss"]["weights"] == {
        "cc": 1.0,
        "rd": 1.0,
        "ga": 1.0,
        "sc": 4.0,
    }
    assert config["datasets"]["denseuav"] == {
        "activate": True,
        "distractors": False,
        "source": "local",
        "root": None,
        "archive": None,
        "url": None,
        "sha256": None,
        "repo": None,
        "revision": None,
        "files": None,
        "subdir": None,
    }


@pytest.mark.parametrize("revision", [None, "main", "0123abc"])
def test_huggingface_source_needs_a_pinned_commit(revision):
    config = {"datasets": {"denseuav": {"source": "huggingface", "repo": "Dmmm997/DenseUAV", "revision": revision}}}
    with pytest.raises(ConfigError, match=r"datasets\.denseuav\.revision"):
        validate(config)
    config["datasets"]["denseuav"]["revision"] = "0123456789abcdef0123456789abcdef01234567"
    assert validate(config)["datasets"]["denseuav"]["source"] == "huggingface"


def test_apply_defaults_does_not_touch_given_values():
    schema = {"properties": {"a": {"type": "object", "default": {}, "properties": {"b": {"default": 1}}}}}
    assert apply_defaults({}, schema) == {"a": {"b": 1}}
    assert apply_defaults({"a": {"b": 7}}, schema) == {"a": {"b": 7}}


def test_merge_is_deep_and_lists_are_replaced():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    assert merge(base, {"a": {"y": [3]}}) == {"a": {"x": 1, "y": [3]}, "b": 1}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}


def test_unknown_key_names_the_file_and_suggests_the_spelling(tmp_path):
    good = tmp_path / "good.yaml"
    bad = tmp_path / "bad.yaml"
    good.write_text("name: good\nseed: 1\n")
    bad.write_text("synth:\n  imge_size: 64\n")
    with pytest.raises(ConfigError) as err:
        load_config(good, bad)
    message = str(err.value)
    assert "'imge_size'" in message and "did you mean 'image_size'" in message
    assert str(bad) in message and str(good) not in message


def test_wrong_type_names_key_value_and_description(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsynth:\n  image_size: large\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    message = str(err.value)
    assert "'synth.image_size'" in message and "'large'" in message and "integer" in message
    assert "Side of every rendered image" in message
    assert "\n" not in message  # one paragraph


def test_enum_and_range_violations():
    with pytest.raises(ConfigError, match="must be one of 'synthetic', 'local'"):
        validate({"datasets": {"denseuav": {"source": "ftp"}}})
    with pytest.raises(ConfigError, match="less than the minimum of 32"):
        validate({"synth": {"image_size": 8}})


def test_several_problems_are_listed_together():
    with pytest.raises(ConfigError) as err:
        validate({"seed": -1, "sed": 2})
    assert str(err.value).count("\n- ") == 1 and str(err.value).startswith("- ")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("seed: 1\nsynth:\n  image_size: [1, 2\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml is not valid YAML at line \d+"):
        load_config(bad)


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(scalar)


def test_a_configuration_without_a_name_is_refused(tmp_path):
    unnamed = tmp_path / "unnamed.yaml"
    unnamed.write_text("seed: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(unnamed)
    message = str(err.value)
    assert "Configuration key 'name' is missing at the top level in" in message and "unnamed.yaml" in message
    assert "results/<name>/" in message  # the description says what the name is for
    with pytest.raises(ConfigError, match="'name'.*does not match"):
        validate_config({"name": "../paper"})


def test_variant_overrides_are_validated_where_they_are_written(tmp_path):
    config = {"train": {"variants": {"geolink": {}, "no_rd": {"loss": {"weights": {"rd": -1}}}}}}
    with pytest.raises(ConfigError, match=r"'train\.variants\.no_rd\.loss\.weights\.rd'.*minimum of 0"):
        validate(config)
    config["train"]["variants"]["no_rd"] = {"selection": "somewhere"}
    with pytest.raises(ConfigError, match=r"'train\.variants\.no_rd\.selection' .*must be one of"):
        validate(config)
    config["train"]["variants"]["no_rd"] = {"loss": {"weights": {"rd": 0}}}
    assert validate(config)["train"]["variants"]["no_rd"] == {"loss": {"weights": {"rd": 0}}}


def test_the_schema_names_the_datasets_the_package_knows():
    from geolink.data.manifest import DATASETS

    schema = load_schema()
    assert tuple(schema["definitions"]["dataset_name"]["enum"]) == DATASETS
    assert set(schema["properties"]["datasets"]["properties"]) == set(DATASETS)
    with pytest.raises(ConfigError, match=r"'train\.sources\.0' .*must be one of 'university1652'"):
        validate({"train": {"sources": ["cvusa"]}})


def test_target_test_selection_needs_its_target():
    with pytest.raises(ConfigError, match=r"Configuration key 'selection_target' is missing under 'train'"):
        validate({"train": {"selection": "target_test"}})
    variants = {"geolink": {}, "official": {"selection": "target_test"}}
    with pytest.raises(ConfigError, match=r"'train\.variants\.official\.selection_target' .*must be of type string"):
        validate({"train": {"variants": variants}})
    variants["official"]["selection_target"] = "sues200"
    assert validate({"train": {"variants": variants}})["train"]["variants"]["official"]["selection_target"] == "sues200"


def test_a_per_source_batch_size_covers_every_source(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"'train\.batch_size' .*gives batch sizes for sues200 but train\.sources also "
        r"trains on university1652, denseuav; add 'university1652: <size>'",
    ):
        validate({"train": {"batch_size": {"sues200": 4}}})
    assert validate({"train": {"batch_size": {"sues200": 4}, "sources": ["sues200"]}})["train"]["batch_size"] == {
        "sues200": 4
    }
    variants = {"geolink": {}, "small": {"batch_size": {"sues200": 2, "university1652": 2}}}
    assert validate({"train": {"variants": variants}})  # merged into the default mapping, DenseUAV keeps 4
    variants = {"geolink": {}, "small": {"batch_size": {"sues200": 1}}}
    with pytest.raises(ConfigError, match=r"'train\.variants\.small\.batch_size\.sues200' .*minimum of 2"):
        validate({"train": {"variants": variants}})
    with pytest.raises(ConfigError, match=r"'train\.batch_size' .*is 'cvusa'"):
        validate({"train": {"batch_size": {"cvusa": 8}}})
    user = tmp_path / "mine.yaml"
    user.write_text("name: mine\ntrain: {batch_size: {denseuav: 2}}\n")
    with pytest.raises(ConfigError, match=r"'train\.batch_size' in .*mine\.yaml gives batch sizes for denseuav"):
        load_config(REPO / "config/config.yaml", user)

"""Configuration: schema defaults, merging, and the messages a user sees for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from geolink.config import ConfigError, apply_defaults, load_config, load_schema, merge, validate_config

REPO = Path(__file__).resolve().parents[1]


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
    assert synthetic["datasets"]["sues200"]["heights"] == [150, 200, 250, 300]  # kept from config.yaml
    assert tiny["synth"]["university1652"]["n_train"] == 3
    assert tiny["synth"]["university1652"]["domain"] == "campus"  # from synthetic.yaml, untouched by .test


def test_defaults_are_filled_recursively():
    config = validate_config({"synth": {"university1652": {"n_train": 5}}})
    assert config["seed"] == 0
    assert config["synth"]["image_size"] == 128
    assert config["synth"]["university1652"] == {**config["synth"]["university1652"], "n_train": 5}
    assert config["synth"]["university1652"]["drone_views"] == 16
    assert config["datasets"]["denseuav"] == {
        "activate": True,
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
        validate_config(config)
    config["datasets"]["denseuav"]["revision"] = "0123456789abcdef0123456789abcdef01234567"
    assert validate_config(config)["datasets"]["denseuav"]["source"] == "huggingface"


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
    good.write_text("seed: 1\n")
    bad.write_text("synth:\n  imge_size: 64\n")
    with pytest.raises(ConfigError) as err:
        load_config(good, bad)
    message = str(err.value)
    assert "'imge_size'" in message and "did you mean 'image_size'" in message
    assert str(bad) in message and str(good) not in message


def test_wrong_type_names_key_value_and_description(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("synth:\n  image_size: large\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    message = str(err.value)
    assert "'synth.image_size'" in message and "'large'" in message and "integer" in message
    assert "Side of every rendered image" in message
    assert "\n" not in message  # one paragraph


def test_enum_and_range_violations():
    with pytest.raises(ConfigError, match="must be one of 'synthetic', 'local'"):
        validate_config({"datasets": {"denseuav": {"source": "ftp"}}})
    with pytest.raises(ConfigError, match="less than the minimum of 32"):
        validate_config({"synth": {"image_size": 8}})


def test_several_problems_are_listed_together():
    with pytest.raises(ConfigError) as err:
        validate_config({"seed": -1, "sed": 2})
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

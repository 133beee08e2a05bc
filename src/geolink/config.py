"""Load, merge, default and validate the pipeline configuration against its JSON schema.

The schema (``geolink/schemas/config.schema.yaml``, linked from ``workflow/schemas/``) is the
single source of truth for keys, types, defaults and descriptions. Snakemake's ``common.smk``,
the ``geolink`` command line and the DVC generator all go through :func:`validate_config`, so
they agree on what a configuration means. Errors are one paragraph naming the key, the value,
the file and the fix, never a schema dump.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from geolink.errors import UserError

#: The base configuration (the paper's), loaded first as the Snakefile's ``configfile:`` does; further files
#: (``--configfile``) are merged on top.
DEFAULT_CONFIG = "config/config.yaml"


class ConfigError(UserError, ValueError):
    """A configuration file or value that the pipeline cannot use; the message says how to fix it."""


def load_schema() -> dict:
    """The configuration schema shipped with the package."""
    text = resources.files("geolink").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def load_yaml(path: str | Path) -> dict:
    """Read one YAML mapping; syntax errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist. Pass an existing file, e.g. config/config.yaml.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"configuration file {path} is not valid YAML{where}: {getattr(err, 'problem', err)}."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"configuration file {path} must hold a mapping of keys to values, not a {type(data).__name__}."
        )
    return data


def merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key, everything else in ``override`` replaces ``base``."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*paths: str | Path, overrides: dict | None = None) -> dict:
    """Merge configuration files left to right (later wins), apply ``overrides``, then validate."""
    config: dict = {}
    for path in paths:
        config = merge(config, load_yaml(path))
    if overrides:
        config = merge(config, overrides)
    return validate_config(
        config, source=" + ".join(str(p) for p in paths) or "the given configuration", files=list(paths)
    )


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        node = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def apply_defaults(config: dict, schema: dict, root: dict | None = None) -> dict:
    """Fill missing keys with the schema's ``default`` values, recursively (returns a new dict)."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    out = copy.deepcopy(config)
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict) and sub.get("type", "object") == "object" and "properties" in sub:
            out[key] = apply_defaults(out[key], sub, root)
    return out


def _schema_at(schema: dict, path: list, root: dict) -> dict:
    node = _resolve(schema, root)
    for part in path:
        if isinstance(part, int):
            node = _resolve(node.get("items", {}), root)
        else:
            props = node.get("properties", {})
            node = _resolve(props.get(part, node.get("additionalProperties", {}) or {}), root)
    return node


def _defining_file(files: list, path: list) -> str | None:
    """The last of ``files`` (later files win when merged) that sets the key at ``path``.

    An entry of ``files`` is a path, or a ``(name, mapping)`` pair for values that came from elsewhere
    (Snakemake's ``--config``), named ``name`` in messages.
    """
    for file in reversed(files):
        if isinstance(file, tuple):
            name, node = file
        else:
            name = str(file)
            try:
                node = load_yaml(file)
            except ConfigError:
                continue
        for part in path:
            if not isinstance(node, Mapping | list) or (isinstance(node, Mapping) and part not in node):
                break
            node = node[part] if isinstance(node, Mapping) else None
        else:
            return name
    return None


def _describe(error: jsonschema.ValidationError, schema: dict, source: str, files: list) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if files:
        unknown_parent = error.validator == "additionalProperties"
        path = list(error.absolute_path)
        if unknown_parent:
            extra = sorted(set(error.instance) - set(_resolve(error.schema, schema).get("properties", {})))
            path = path + extra[:1]
        source = _defining_file(files, path) or source
    node = _schema_at(schema, list(error.absolute_path), schema)
    help_text = f" ({node['description'].strip()})" if node.get("description") else ""
    if error.validator == "additionalProperties":
        known = sorted(_resolve(error.schema, schema).get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        where = f"under '{key}'" if error.absolute_path else "at the top level"
        return (
            f"Unknown configuration key {', '.join(hints)} {where} in {source}. "
            f"Known keys there: {', '.join(known)}. Fix the spelling or remove the key; "
            f"workflow/schemas/config.schema.yaml describes every key."
        )
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        where = f"under '{key}'" if error.absolute_path else "at the top level"
        node = _schema_at(schema, [*error.absolute_path, missing[0]], schema)
        about = f" ({node['description'].strip()})" if node.get("description") else ""
        return f"Configuration key '{missing[0]}' is missing {where} in {source}{about}. Add it to the file."
    value = repr(error.instance)
    if error.validator == "type":
        expected = (
            error.validator_value if isinstance(error.validator_value, str) else " or ".join(error.validator_value)
        )
        problem = f"must be of type {expected}, but is {value} (a {type(error.instance).__name__})"
        if "integer" in expected and isinstance(error.instance, float) and error.instance.is_integer():
            problem += f"; write it without a decimal point, as {int(error.instance)}"
    elif error.validator == "enum":
        problem = f"must be one of {', '.join(map(repr, error.validator_value))}, but is {value}"
    else:
        problem = f"has an invalid value {value}: {error.message}"
    return f"Configuration key '{key}' in {source} {problem}{help_text}. Change it in the configuration file."


def _strict_integer(checker: jsonschema.TypeChecker, instance: Any) -> bool:
    # JSON Schema counts 8.0 as an integer; range(), DataLoader's batch_size and array shapes do not.
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 7 with ``type: integer`` meaning a Python int, so ``epochs: 40.0`` is refused here, not by a traceback later.
Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def _non_finite(node: Any, path: tuple = ()) -> Iterator[tuple[list, float]]:
    """Every NaN or infinite float in the configuration, with its path (YAML ``.nan``/``.inf``, JSON ``NaN``)."""
    if isinstance(node, float) and not math.isfinite(node):
        yield list(path), node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _non_finite(value, (*path, key))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _non_finite(value, (*path, index))


def _describe_non_finite(path: list, value: float, schema: dict, source: str, files: list) -> str:
    key = ".".join(str(p) for p in path)
    source = (_defining_file(files, path) if files else None) or source
    # A variant's override is described by the train key it overrides.
    described = ["train", *path[3:]] if path[:2] == ["train", "variants"] and len(path) > 3 else path
    node = _schema_at(schema, described, schema)
    help_text = f" ({node['description'].strip()})" if node.get("description") else ""
    return (
        f"Configuration key '{key}' in {source} is {value!r}, which is not a finite number{help_text}. Set a "
        f"finite number instead: YAML's .nan and .inf (JSON's NaN and Infinity) are never valid settings, and "
        f"NaN would even slip past range checks, since every comparison with it is false."
    )


def validate_config(config: dict[str, Any], source: str = "the configuration", files: list | None = None) -> dict:
    """Validate against the schema, fill defaults, and return the completed configuration.

    Args:
        config: the merged configuration.
        source: how to name where it came from in messages.
        files: the configuration files it was merged from, in merge order (later wins); messages then name
            the file that sets the offending key. A ``(name, mapping)`` entry stands for values that did not
            come from a file (Snakemake's ``--config``).

    Raises:
        ConfigError: naming the first offending key (all problems are listed when there are several): a NaN
            or infinite number anywhere, or a value the schema refuses.
    """
    schema = load_schema()
    validator = Validator(schema)
    non_finite = list(_non_finite(config))
    messages = [_describe_non_finite(path, value, schema, source, files or []) for path, value in non_finite]
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    # A schema complaint about a value already reported as non-finite (`batch_size: .inf`) would say it twice.
    errors = [e for e in errors if list(e.absolute_path) not in [path for path, _ in non_finite]]
    messages += [_describe(e, schema, source, files or []) for e in errors]
    if messages:
        raise ConfigError(" ".join(messages) if len(messages) == 1 else "\n".join(f"- {m}" for m in messages))
    completed = apply_defaults(config, schema)
    # Defaults themselves must satisfy the schema; a failure here is a bug in the schema file.
    validator.validate(completed)
    _validate_variants(completed, validator, schema, source, files or [])
    if completed["datasets"]["denseuav"]["distractors"]:
        raise ConfigError(
            f"datasets.denseuav.distractors is true in {source}, but distractors are University-160k's, an addition "
            "to University-1652's gallery only: set datasets.university1652.distractors instead."
        )
    return completed


def variant_overrides(variants: Mapping[str, Any], name: str) -> dict:
    """The overrides of ``train`` that variant ``name`` makes, with ``extends`` resolved.

    ``extends: <other variant>`` starts from that variant's (resolved) overrides and merges this one's on top, so an
    ablation states only what it changes (``skylink_no_grem: {extends: skylink, grem: {enabled: false}}``).

    Raises:
        ConfigError: ``extends`` names a variant that does not exist, or the chain comes back to a variant.
    """
    chain: list[str] = []
    resolved: dict = {}
    while True:
        if name in chain:
            raise ConfigError(
                f"Configuration key 'train.variants.{chain[0]}.extends': the chain {' -> '.join([*chain, name])} "
                "comes back to a variant; a variant cannot extend itself."
            )
        chain.append(name)
        overrides = dict(variants[name])
        resolved = merge(overrides, resolved)
        parent = overrides.get("extends")
        if parent is None:
            resolved.pop("extends", None)
            return resolved
        if parent not in variants:
            raise ConfigError(
                f"Configuration key 'train.variants.{name}.extends' names {parent!r}, which train.variants does not "
                f"define (it defines {', '.join(variants)}); name one of those."
            )
        name = parent


def _validate_variants(config: dict, validator: jsonschema.Validator, schema: dict, source: str, files: list):
    """Each ``train.variants.<name>`` (``extends`` resolved) merged into ``train`` must itself be a valid train
    section."""
    variants = config.get("train", {}).get("variants", {})
    for name, written in variants.items():
        if "variants" in written:
            raise ConfigError(
                f"Configuration key 'train.variants.{name}.variants': a variant cannot declare variants of its own; "
                "list every variant under train.variants."
            )
        overrides = variant_overrides(variants, name)
        merged = {**config, "train": merge(config["train"], overrides)}
        for error in validator.iter_errors(merged):
            path = list(error.absolute_path)
            if path[:1] == ["train"] and path[1:2] != ["variants"]:
                error.path.insert(1, name)  # name the key where the user wrote it: train.variants.<name>.<key>
                error.path.insert(1, "variants")
                raise ConfigError(_describe(error, schema, source, files)) from None
        where = ["train", "variants", name] if "batch_size" in overrides else ["train"]
        _check_per_source_batch(merged["train"], where, source, files)
    _check_per_source_batch(config["train"], ["train"], source, files)
    unknown = [v for v in config["train"]["run_variants"] or [] if v not in config["train"]["variants"]]
    if unknown:
        path = ["train", "run_variants"]
        where = (_defining_file(files, path) if files else None) or source
        raise ConfigError(
            f"Configuration key 'train.run_variants' in {where} names {', '.join(map(repr, unknown))}, which "
            f"train.variants does not define (it defines {', '.join(config['train']['variants'])}); define it there "
            "or remove it from the list."
        )


def _check_per_source_batch(train: dict, where: list, source: str, files: list) -> None:
    """A per-source ``batch_size`` mapping must give a size for every source the runs train on."""
    sizes = train["batch_size"]
    missing = [s for s in train["sources"] if isinstance(sizes, dict) and s not in sizes]
    if missing:
        path = [*where, "batch_size"]
        source = (_defining_file(files, path) if files else None) or source
        given = ", ".join(sorted(sizes)) or "no dataset"
        raise ConfigError(
            f"Configuration key '{'.'.join(path)}' in {source} gives batch sizes for {given} but "
            f"train.sources also trains on {', '.join(missing)}; add '{missing[0]}: <size>' to it, or give one "
            f"integer for every source (batch_size: 8)."
        )

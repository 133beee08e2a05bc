"""One configuration, resolved once: which jobs a run has, where their products go, and each job's settings.

:class:`Pipeline` is built from the validated configuration and is the only place that turns configuration
into work. The Snakemake rules (through ``workflow/rules/common.smk``), the ``geolink`` command, the
benchmarks and the DVC generator all ask it, so rule ``train`` and ``geolink train`` train the same model
from the same files, and a stage's DVC ``params`` are the keys its settings read (``geolink.pipeline.reads``).

Each rule ``R`` with settings has a method ``R_settings`` whose arguments are the rule's wildcards;
:meth:`Pipeline.settings` dispatches by rule name. Defaults are the schema's (``geolink.config``), never
restated here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from geolink.config import DEFAULT_CONFIG, ConfigError, load_config, load_schema, merge, variant_overrides
from geolink.data.errors import HOW_TO_OBTAIN, SYNTHETIC_ALTERNATIVE
from geolink.data.manifest import DATASETS, LAYOUT_ROOTS
from geolink.pipeline.layout import Layout, run_name
from geolink.pipeline.reads import ConfigView, outermost, plain

#: Dataset sources the workflow obtains itself (rule ``acquire``).
ACQUIRED_SOURCES = ("archive", "download", "huggingface")
#: Settings a rule gets besides its own (``params:`` entries of the rule other than ``settings``): rule ``train``
#: keeps the device out of its run settings, which identify the run for resuming on any device.
EXTRA_PARAMS = {"train": ("compute",)}
#: Keys of the ``train`` section that enumerate runs rather than configure one.
RUN_ENUMERATION_KEYS = ("sources", "seeds", "variants", "run_variants")


@functools.cache
def _run_keys() -> tuple[str, ...]:
    """The keys of the ``train`` section that configure one run (the schema's, read once): all but the run
    enumeration and ``heights``, which a run sees for its own source only."""
    keys = load_schema()["properties"]["train"]["properties"]
    return tuple(k for k in keys if k not in (*RUN_ENUMERATION_KEYS, "heights"))


class Pipeline:
    """The resolved run of one validated configuration (``geolink.config.validate_config``)."""

    def __init__(self, config: dict) -> None:
        self._config = config
        self._reads: set[str] | None = None
        self.name: str = config["name"]
        self.layout = Layout(self.name)

    @classmethod
    def from_files(cls, configfiles: Sequence[str | Path] = (), repo: str | Path = ".") -> Pipeline:
        """Load ``config/config.yaml`` and then ``configfiles``, as ``snakemake --configfile ...`` does in ``repo``."""
        repo = Path(repo)
        if not (repo / DEFAULT_CONFIG).is_file():
            raise ConfigError(
                f"{DEFAULT_CONFIG} is not in {repo.resolve()}: run from the repository root, where the Snakefile is."
            )
        return cls(load_config(repo / DEFAULT_CONFIG, *(repo / f for f in configfiles)))

    @property
    def config(self) -> dict:
        """The validated configuration with every default filled (a copy)."""
        return ConfigView(self._config).plain()

    @property
    def cfg(self) -> ConfigView:
        """The configuration as read by the methods below (reads are recorded inside :meth:`recording`)."""
        return ConfigView(self._config, "", self._reads)

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        """Collect the dotted keys that the settings computed inside the block read."""
        outer, self._reads = self._reads, set()
        try:
            yield self._reads
        finally:
            self._reads = outer

    # ---- which datasets take part, and which runs
    @property
    def datasets(self) -> list[str]:
        """Active datasets, in the canonical order."""
        return [d for d in DATASETS if self.cfg["datasets"][d]["activate"]]

    def source(self, dataset: str) -> str:
        return self.cfg["datasets"][dataset]["source"]

    def is_synthetic(self, dataset: str) -> bool:
        return self.source(dataset) == "synthetic"

    @property
    def synthetic_datasets(self) -> list[str]:
        return [d for d in self.datasets if self.is_synthetic(d)]

    @property
    def weather_datasets(self) -> list[str]:
        """Active datasets that get frozen weather test sets (none when no condition is configured)."""
        if not self.conditions:
            return []
        return [d for d in self.cfg["weather"]["datasets"] if d in self.datasets]

    @property
    def conditions(self) -> list[str]:
        return self.cfg["weather"]["conditions"]

    @property
    def train_runs(self) -> list[tuple[str, str, int]]:
        """(source, variant, seed) of every training run: each variant's sources x its seeds (a variant may set
        its own ``sources`` and ``seeds``, e.g. an ablation trained only where the paper's table reports it),
        sources that are not active datasets left out."""
        train = self.cfg["train"]
        plan = {}
        for variant in self.run_variants:
            overrides = self.variant(variant)
            plan[variant] = (overrides.get("sources", train["sources"]), overrides.get("seeds", train["seeds"]))
        order = dict.fromkeys([*train["sources"], *(s for sources, _ in plan.values() for s in sources)])
        return [
            (source, variant, seed)
            for source in order
            if source in self.datasets
            for variant, (sources, seeds) in plan.items()
            if source in sources
            for seed in seeds
        ]

    @property
    def run_variants(self) -> list[str]:
        """The variants this configuration trains: ``train.run_variants``, or every one of ``train.variants``."""
        train = self.cfg["train"]
        return list(train["variants"]) if train["run_variants"] is None else list(train["run_variants"])

    def variant(self, variant: str) -> dict:
        """The overrides of ``train`` that ``variant`` makes, its ``extends`` chain resolved
        (``geolink.config.variant_overrides``); reads only the variants of the chain."""
        variants, chain, name = self.cfg["train"]["variants"], {}, variant
        while name is not None and name not in chain:
            chain[name] = plain(variants[name])
            name = chain[name].get("extends")
        return variant_overrides(chain, variant)

    def task(self, variant: str) -> str:
        """``train.task`` of a variant: ``drone_satellite`` (GeoLink) or ``street_satellite`` (SkyLink)."""
        return self.variant(variant).get("task", self.cfg["train"]["task"])

    @property
    def run_names(self) -> list[str]:
        return [run_name(*run) for run in self.train_runs]

    # ---- where each dataset's released tree is, and what a job reading it depends on
    def released_root(self, dataset: str) -> str:
        """The dataset folder in its released layout (for SUES-200: the raw, unsplit tree)."""
        if self.is_synthetic(dataset):
            return f"{self.layout.synthetic_tree(dataset)}/{LAYOUT_ROOTS[dataset]}"
        spec = self.cfg["datasets"][dataset]
        if self.source(dataset) in ACQUIRED_SOURCES:
            return f"{self.layout.acquired(dataset)}/{spec['subdir'] or LAYOUT_ROOTS[dataset]}"
        return spec["root"]

    def released_input(self, dataset: str) -> str:
        """What jobs reading the released tree depend on: the synthesis or acquisition output, or the local folder."""
        if self.is_synthetic(dataset):
            return self.layout.synthetic_tree(dataset)
        if self.source(dataset) in ACQUIRED_SOURCES:
            return self.layout.acquired(dataset)
        return self.released_root(dataset)

    def manifest_root(self, dataset: str) -> str:
        """The tree the manifest indexes: SUES-200's split folders, the released tree otherwise."""
        return self.layout.sues200_split() if dataset == "sues200" else self.released_root(dataset)

    def manifest_input(self, dataset: str) -> str:
        return self.layout.sues200_split() if dataset == "sues200" else self.released_input(dataset)

    def acquire_inputs(self, dataset: str) -> list[str]:
        """The local archive rule ``acquire`` extracts (nothing for downloads)."""
        return [self.cfg["datasets"][dataset]["archive"]] if self.source(dataset) == "archive" else []

    def sues200_split_inputs(self) -> list[str]:
        """The raw SUES-200 tree, and the user's split index when one is configured."""
        user_index = self._user_split_index()
        return [self.released_input("sues200")] + ([user_index] if user_index else [])

    def sues200_split_index(self) -> str | None:
        """The training-ID list of the SUES-200 split (the synthetic tree writes its own; None: the official)."""
        if self.is_synthetic("sues200"):
            return f"{self.layout.synthetic_tree('sues200')}/indexs.yaml"
        return self._user_split_index()

    def _user_split_index(self) -> str | None:
        """``datasets.sues200.split_index`` of a real SUES-200 (a user-supplied file), else None."""
        return None if self.is_synthetic("sues200") else self.cfg["datasets"]["sues200"]["split_index"]

    def external_inputs(self) -> dict[str, str]:
        """Files and folders the user provides, each with the advice to give when it is missing.

        Only inputs of jobs this configuration has: the local dataset roots and archives, a custom SUES-200
        split index, local folders of the authors' released clouds, and the locate stage's map and photos.
        """
        inputs = {}
        for dataset in self.datasets:
            source = self.source(dataset)
            key = {"local": "root", "archive": "archive"}.get(source)  # the other sources are made by rules
            if key:
                path = self.cfg["datasets"][dataset][key]
                if not path:
                    raise ConfigError(
                        f"Dataset '{dataset}' is configured with source: {source} but datasets.{dataset}.{key} is "
                        f"not set. {HOW_TO_OBTAIN[dataset]} Then set datasets.{dataset}.{key}, or set "
                        f"datasets.{dataset}.activate: false."
                    )
                inputs[path] = (
                    f"Dataset '{dataset}' is configured with source: {source}, but datasets.{dataset}.{key} "
                    f"{path!r} does not exist. {HOW_TO_OBTAIN[dataset]} Then set datasets.{dataset}.{key} to it, "
                    f"or set datasets.{dataset}.activate: false. {SYNTHETIC_ALTERNATIVE}"
                )
        split_index = self._user_split_index() if "sues200" in self.datasets else None
        if split_index:
            inputs[split_index] = (
                f"datasets.sues200.split_index names {split_index!r}, which does not exist: point it at a YAML file "
                f"listing the training IDs under the key `index`, or set it to null for the official 120/80 split."
            )
        for dataset in self.datasets:
            if self.cfg["reconstruct"][dataset]["backend"] == "geolink3d" and not self._geolink3d_from_hub():
                root = self.geolink3d_root(dataset)
                inputs[root] = (
                    f"reconstruct.{dataset}.backend is geolink3d, but reconstruct.geolink3d.{dataset} ({root!r}) is "
                    f"not an existing folder. Download the authors' clouds (Hugging Face dataset ZhangHY/GeoLink-3D) "
                    f"and point it at the folder holding <ID>_group0..2, or set reconstruct.geolink3d_hub.revision."
                )
        if self.locate_run and self.cfg["locate"]["map"] is not None:
            for key, path in self.locate_sources().items():
                inputs[path] = (
                    f"locate.{key} {path!r} does not exist: point it at "
                    + ("a GeoTIFF or tile table (.csv)" if key == "map" else "a folder of drone photos")
                    + ", or set locate.map to null (the stage is then off outside the synthetic configuration)."
                )
        if self.locate_run:
            for i, area in enumerate(self.cfg["locate"]["tune"]["areas"]):
                for key in ("map", "photos"):
                    inputs[area[key]] = (
                        f"locate.tune.areas[{i}].{key} {area[key]!r} does not exist: point it at "
                        + ("a GeoTIFF" if key == "map" else "a folder of drone photos with EXIF GPS and heading")
                        + ", or leave the area out."
                    )
        return {path: message for path, message in inputs.items() if path}

    # ---- settings of each stage (plain data: Snakemake params, CLI arguments, DVC params)
    def settings(self, rule: str, **wildcards: str) -> dict:
        """The settings of one job of ``rule``: ``<rule>_settings`` called with the wildcards it takes."""
        method = getattr(self, f"{rule}_settings", None)
        if method is None:
            return {}
        accepted = inspect.signature(method).parameters
        return method(**{k: v for k, v in wildcards.items() if k in accepted})

    def keys_read(self, rule: str, **wildcards: str) -> list[str]:
        """The configuration keys one job's settings depend on (its DVC params), outermost first."""
        with self.recording() as reads:
            self.settings(rule, **wildcards)
            for extra in EXTRA_PARAMS.get(rule, ()):
                self.settings(extra)
        return outermost(reads)

    def synth_settings(self, dataset: str) -> dict:
        synth = self.cfg["synth"]
        return {
            "seed": self.cfg["seed"],
            "image_size": synth["image_size"],
            "geometry_points": synth["geometry_points"],
            **plain(synth[dataset]),
        }

    def acquire_settings(self, dataset: str) -> dict:
        """The source entry ``geolink.data.acquire.acquire`` expects, from the dataset's configuration."""
        spec = self.cfg["datasets"][dataset]
        source = self.source(dataset)
        if source == "huggingface":
            hub = {"repo": spec["repo"], "revision": spec["revision"], "files": spec["files"]}
            return {"dataset": dataset, "huggingface": hub}
        key = {"archive": "archive", "download": "url"}[source]
        return {"dataset": dataset, key: spec[key], "sha256": spec["sha256"]}

    def acquire_geolink3d_settings(self) -> dict:
        return {"dataset": "GeoLink-3D", "huggingface": plain(self.cfg["reconstruct"]["geolink3d_hub"])}

    def weights_settings(self, checkpoint: str) -> dict:
        return plain(self.cfg["weights"][checkpoint])

    def sues200_split_settings(self) -> dict:
        spec = self.cfg["datasets"]["sues200"]
        return {
            "raw_root": self.released_root("sues200"),
            "split_index": self.sues200_split_index(),
            "heights": spec["heights"],
            "link": spec["link"],
        }

    def manifest_settings(self, dataset: str) -> dict:
        options = {"check_images": self.cfg["manifest"]["check_images"]}
        if dataset == "sues200":
            options["heights"] = self.cfg["datasets"]["sues200"]["heights"]
        if dataset == "university1652" and self.cfg["datasets"]["university1652"]["distractors"]:
            options["distractors"] = True  # only when set, so the manifest stage's params are unchanged otherwise
        # Synthetic trees cannot have the published image counts, so they are never checked.
        check_counts = "off" if self.is_synthetic(dataset) else self.cfg["manifest"]["check_counts"]
        return {"root": self.manifest_root(dataset), "options": options, "check_counts": check_counts}

    def weather_settings(self, dataset: str) -> dict:
        weather = self.cfg["weather"]
        return {"root": self.manifest_root(dataset), "split": weather["split"], "base_seed": weather["base_seed"]}

    def weather_contact_sheet_settings(self) -> dict:
        return {"conditions": self.conditions, "split": self.cfg["weather"]["split"]}

    def reconstruct_settings(self, dataset: str, shard: int | str) -> dict:
        """Everything ``geolink.recon.run.reconstruct_shard`` needs besides the manifest and the paths.

        Raises:
            ConfigError: ``shard`` is not one of the ``reconstruct.n_shards`` shards (``geolink reconstruct --shard``).
        """
        recon = self.cfg["reconstruct"]
        if not 0 <= int(shard) < recon["n_shards"]:
            raise ConfigError(
                f"shard {shard} of {dataset} does not exist: reconstruct.n_shards is {recon['n_shards']}, so the "
                f"shards are 0 to {recon['n_shards'] - 1}. Pick one of them (geolink reconstruct --shard), or change "
                f"reconstruct.n_shards in the configuration."
            )
        backend = recon[dataset]["backend"]
        if backend == "geolink3d":
            options = {"geolink3d_root": self.geolink3d_root(dataset)}
        else:
            options = plain(recon[backend]) if backend in recon else {}
        if backend == "vggt":
            options["device"] = self.cfg["compute"]["device"]
            if self.fetched_weights("vggt"):
                options["weights"] = self.fetched_weights("vggt")
        if self.is_synthetic(dataset):
            options["truth_dir"] = f"{self.layout.synthetic_tree(dataset)}/geometry"
        return {
            "shard": int(shard),
            "n_shards": recon["n_shards"],
            "backend": backend,
            "grouping": recon[dataset]["grouping"],
            "groups": recon[dataset]["groups"],
            "heights": recon[dataset]["heights"],
            "on_failure": recon["on_failure"],
            "options": options,
        }

    def points_settings(self) -> dict:
        return {"seed": self.cfg["seed"], **plain(self.cfg["points"])}

    def point_cloud_figure_settings(self) -> dict:
        return {"datasets": self.datasets}

    def train_settings(self, source: str, variant: str, seed: int | str) -> dict:
        """The ``train`` section as one run sees it: the variant's overrides merged in, the source's heights and
        batch size, and the run's seed; a pretrained model without its own file gets the DINOv2 file of rule
        ``weights`` when ``weights.dinov2`` is pinned (otherwise the model reads the local Hugging Face cache)."""
        train = self.cfg["train"]
        overrides = self.variant(variant)
        settings = merge({k: plain(train[k]) for k in _run_keys() if k in train}, overrides)
        heights = overrides.get("heights", {})
        if source not in heights:
            heights = {source: train["heights"][source]} if source in train["heights"] else {}
        settings["heights"] = heights.get(source)
        if isinstance(settings["batch_size"], dict):  # one size per source dataset (validated to cover the sources)
            settings["batch_size"] = settings["batch_size"][source]
        settings["seed"] = int(seed)
        kwargs = settings["model"]["kwargs"]
        weights = self.fetched_weights("dinov2")
        if kwargs.get("pretrained") and not kwargs.get("weights_path") and weights and self._fits_dinov2(kwargs):
            kwargs["weights_path"] = weights
        return settings

    def _fits_dinov2(self, model_kwargs: dict) -> bool:
        """Whether the pinned DINOv2 file (``weights.dinov2.repo``, e.g. ``timm/vit_base_patch14_dinov2.lvd142m``)
        is for the model's backbone (``model.kwargs.backbone``, DINOv2-B when not given): SkyLink's ViT-L reads its
        own weights from the Hugging Face cache."""
        repo = self.cfg["weights"]["dinov2"]["repo"]
        backbone = model_kwargs.get("backbone", "vit_base_patch14_dinov2")
        return repo.rsplit("/", 1)[-1].split(".", 1)[0] == backbone

    def evaluate_settings(self, source: str, variant: str) -> dict:
        """The ``evaluate`` section, plus the targets of a run of ``source`` and the weather conditions each is
        also evaluated under, and the device and precision (``compute``). A SkyLink run (task street_satellite)
        is evaluated in ``skylink.directions``, with ``skylink.tta``, on clean images only (weather corrupts drone
        images); datasets without street photos give it no records."""
        targets = {t: self.weather_conditions(t, source, variant) for t in self.datasets}
        compute = self.cfg["compute"]
        settings = {
            **plain(self.cfg["evaluate"]),
            "targets": targets,
            "device": compute["device"],
            "precision": compute["precision"],
            "feature_cache": self.layout.feature_cache(),
        }
        if self.task(variant) == "street_satellite":
            settings |= {"directions": plain(self.cfg["skylink"]["directions"]), "tta": self.cfg["skylink"]["tta"]}
        return settings

    def paper_table_settings(self, table: str) -> dict:
        """Rule ``paper_table``: which table (``table2`` ... ``table7``, ``skylink``), its rows' variants, the
        interval's settings and whether the numbers come from the synthetic benchmark."""
        tables = self.cfg["tables"]
        return {
            "table": int(table.removeprefix("table")) if table.startswith("table") else table,
            "row_variants": plain(tables["variants"]),
            "run_variants": self.run_variants,
            "synthetic": bool(self.synthetic_datasets),
            "confidence": tables["confidence"],
            "resamples": tables["resamples"],
            "bootstrap_seed": tables["bootstrap_seed"],
        }

    # ---- SkyLink's challenge submission (geolink.challenge)
    @property
    def challenge_run(self) -> str | None:
        """The run whose checkpoint writes the UAVM answer file: the first seed of ``skylink.answer.variant`` on
        University-1652 (None when the configuration does not train it)."""
        runs = self.runs_of(self.cfg["skylink"]["answer"]["variant"], "university1652")
        return runs[0] if runs else None

    def challenge_answer_input(self) -> dict[str, str]:
        return {
            "checkpoint": self.layout.checkpoint(self.challenge_run, self.cfg["evaluate"]["checkpoint"]),
            "manifest": self.layout.manifest("university1652"),  # the test folders are read once it exists
        }

    def challenge_answer_settings(self) -> dict:
        """Rule ``challenge_answer``: University-1652's street queries and satellite gallery (the challenge's
        task on the unmasked test set), ``skylink.answer`` and ``skylink.tta``, and the device."""
        answer, root = self.cfg["skylink"]["answer"], self.released_root("university1652")
        rerank = {key: answer["rerank"][key] for key in ("k1", "k2", "lambda")}
        return {
            "query_dir": f"{root}/test/query_street",
            "gallery_dir": f"{root}/test/gallery_satellite",
            "query_list": answer["query_list"],
            "top_k": answer["top_k"],
            "tta": self.cfg["skylink"]["tta"],
            "rerank": rerank if answer["rerank"]["enabled"] else None,  # k-reciprocal parameters, or None: off
            "device": self.cfg["compute"]["device"],
            "precision": self.cfg["compute"]["precision"],
            "batch_size": self.cfg["evaluate"]["batch_size"],
        }

    # ---- geolink locate as a stage (geolink.locate)
    @property
    def locate_run(self) -> str | None:
        """The run whose checkpoint the locate stage uses: the first seed of ``locate.variant`` on
        ``locate.source``; None when the stage is off (no map and no synthetic dataset, or a synthetic configuration
        that does not train that run).

        Raises:
            ConfigError: ``locate.map`` is set and the configuration does not train that run.
        """
        locate = self.cfg["locate"]
        if locate["map"] is None and not self.synthetic_datasets:
            return None
        runs = self.runs_of(locate["variant"], locate["source"])
        if not runs and locate["map"] is not None:  # asked for by name: say why nothing would happen
            raise ConfigError(
                f"locate.map is set, but the configuration does not train run {locate['source']}/"
                f"{locate['variant']} (locate.source, locate.variant), whose checkpoint would index it. Pick a run "
                f"it trains: {', '.join(self.run_names) or 'none'}."
            )
        return runs[0] if runs else None

    def locate_sources(self) -> dict[str, str]:
        """The map and the photo folder of the locate stage: the configured ones, else the synthetic area's."""
        locate = self.cfg["locate"]
        if locate["map"] is not None:
            if locate["photos"] is None or locate["footprint_m"] is None:
                raise ConfigError(
                    f"locate.map is {locate['map']!r}, so locate.photos (a folder of drone photos with EXIF GPS) and "
                    "locate.footprint_m (metres of ground one satellite image of the run's training data covers) "
                    "must be set too."
                )
            return {"map": locate["map"], "photos": locate["photos"]}
        area = self.layout.locate_area()
        return {"map": f"{area}/map.tif", "photos": f"{area}/photos"}

    def locate_footprint(self) -> float:
        locate = self.cfg["locate"]
        if locate["footprint_m"] is not None:
            return float(locate["footprint_m"])
        from geolink.synth.locate_map import map_footprint

        area = self.cfg["synth"]["locate_map"]
        return map_footprint(area["domain"], list(area["heights"]))

    def locate_map_settings(self) -> dict:
        """Rule ``locate_map``: the synthetic area (``synth.locate_map``), its photos at the benchmark's image size."""
        area = plain(self.cfg["synth"]["locate_map"])
        for key in ("train_areas", "train_photos"):  # the training areas' (locate_train_areas_settings)
            area.pop(key)
        return {"seed": self.cfg["seed"], "image_size": self.cfg["synth"]["image_size"], **area}

    def locate_index_settings(self) -> dict:
        """Rule ``locate_index``: the map, the tile footprint and overlap, and the device the encoder runs on."""
        return {
            "map": self.locate_sources()["map"],
            "footprint_m": self.locate_footprint(),
            "overlap": self.cfg["locate"]["overlap"],
            "device": self.cfg["compute"]["device"],
        }

    def locate_settings(self) -> dict:
        """Rule ``locate``: the photo folder, list length and agreement radius, and the device."""
        locate = self.cfg["locate"]
        return {
            "photos": self.locate_sources()["photos"],
            "top_k": locate["top_k"],
            "radius_m": locate["radius_m"],
            "device": self.cfg["compute"]["device"],
        }

    def locate_trained_checkpoint(self) -> str:
        """The checkpoint of :attr:`locate_run` as training wrote it (``evaluate.checkpoint``: best or last)."""
        return self.layout.checkpoint(self.locate_run, self.cfg["evaluate"]["checkpoint"])

    @property
    def locate_tuned(self) -> bool:
        """Whether the stage tunes the checkpoint first (``locate.tune``): on with tune areas configured, or on a
        synthetic configuration's own area with synthetic training areas (``synth.locate_map.train_areas``)."""
        if not self.locate_run:
            return False
        if self.cfg["locate"]["tune"]["areas"]:
            return True
        return self.cfg["locate"]["map"] is None and self.cfg["synth"]["locate_map"]["train_areas"] > 0

    def locate_tune_areas(self) -> list[dict[str, str]]:
        """The (map, photos) of each area ``geolink tune`` trains on: the configured ones, else the synthetic ones."""
        areas = self.cfg["locate"]["tune"]["areas"]
        if areas:
            return [{"map": a["map"], "photos": a["photos"]} for a in areas]
        from geolink.synth.locate_map import training_area_name

        root = self.layout.locate_train_areas()
        names = (training_area_name(i) for i in range(self.cfg["synth"]["locate_map"]["train_areas"]))
        return [{"map": f"{root}/{name}/map.tif", "photos": f"{root}/{name}/photos"} for name in names]

    def locate_train_areas_settings(self) -> dict:
        """Rule ``locate_train_areas``: the synthetic area's settings, other seeds, ``train_areas`` of them."""
        area = plain(self.cfg["synth"]["locate_map"])
        n_areas, n_photos = area.pop("train_areas"), area.pop("train_photos")
        area.pop("n_photos")
        return {
            "seed": self.cfg["seed"],
            "image_size": self.cfg["synth"]["image_size"],
            "n_areas": n_areas,
            "n_photos": n_photos,
            **area,
        }

    def locate_tune_settings(self) -> dict:
        """Rule ``locate_tune``: the training areas, the footprint, the optimisation (``locate.tune``), the device."""
        tune = plain(self.cfg["locate"]["tune"])
        tune.pop("areas")
        return {
            "areas": self.locate_tune_areas(),
            "footprint_m": self.locate_footprint(),
            **tune,
            "device": self.cfg["compute"]["device"],
        }

    def locate_tune_input(self) -> dict[str, str]:
        """Named inputs of rule ``locate_tune``: the run's checkpoint and the training areas (their folder when
        synthetic, else each map and photo folder)."""
        inputs = {"checkpoint": self.locate_trained_checkpoint()}
        if self.cfg["locate"]["tune"]["areas"]:
            for i, area in enumerate(self.locate_tune_areas()):
                inputs |= {f"map_{i}": area["map"], f"photos_{i}": area["photos"]}
            return inputs
        return inputs | {"areas": self.layout.locate_train_areas()}

    def locate_input(self) -> dict[str, str]:
        """Named inputs of the locate rules (the synthetic area is a folder the map and photos lie in); the
        checkpoint is the tuned one when the stage tunes (:attr:`locate_tuned`), which ``untuned`` then names."""
        trained = self.locate_trained_checkpoint()
        inputs = {"checkpoint": trained}
        if self.locate_tuned:
            inputs = {"checkpoint": self.layout.locate("tuned.pt"), "untuned": trained}
        if self.cfg["locate"]["map"] is None:
            return inputs | {"area": self.layout.locate_area()}
        return inputs | self.locate_sources()

    def compute_settings(self) -> dict:
        """Device and precision of the GPU jobs (rules reconstruct with VGGT, train, evaluate): ``compute``."""
        compute = self.cfg["compute"]
        return {"device": compute["device"], "precision": compute["precision"]}

    def train_gpus(self) -> int:
        """GPUs one training job asks for (``compute.train_gpus``); more than one trains through torchrun."""
        return int(self.cfg["compute"]["train_gpus"])

    def metrics_table_settings(self) -> dict:
        return {"synthetic": bool(self.synthetic_datasets)}

    def complexity_table_settings(self) -> dict:
        """Rule ``complexity_table`` (paper Table 6): the model of each re-run row of Tables 2-4, as its variant
        trains it (the first source and seed of the variant; the model does not depend on them)."""
        runs = {variant: (source, seed) for source, variant, seed in reversed(self.train_runs)}
        row_models = {}
        for label in ("Sample4Geo", "CV-Cities", "GeoLink"):
            variant = self.cfg["tables"]["variants"].get(label)
            if variant in runs:
                settings = self.train_settings(runs[variant][0], variant, runs[variant][1])
                model = settings["model"]
                row_models[label] = {
                    "model": model["name"],
                    "image_size": settings["image_size"],
                    "kwargs": model["kwargs"],
                }
        return {"row_models": row_models, "synthetic": bool(self.synthetic_datasets)}

    # ---- the paper's figures (geolink.plots.paper_figures): each drawn from what runs logged, never a new run
    @property
    def paper_figures(self) -> list[str]:
        """The figures this configuration draws (none without runs)."""
        from geolink.plots.paper_figures import FIGURES

        return list(FIGURES) if self.train_runs else []

    def runs_of(self, variant: str | None, source: str) -> list[str]:
        """Names of the runs of ``variant`` on ``source``, one per seed (empty when the configuration does not
        train it)."""
        return [run_name(*run) for run in self.train_runs if run[1] == variant and run[0] == source]

    def paper_figure_input(self, figure: str) -> dict[str, list[str]]:
        """Named inputs of rule ``paper_figure``: metrics JSON, training logs, or checkpoints and test sets."""
        settings = self.paper_figure_settings(figure)
        if "curves" in settings:
            return {"logs": [path for paths in settings["curves"].values() for path in paths]}
        if "checkpoints" in settings:
            return {
                "checkpoints": list(settings["checkpoints"].values()),
                "manifest": [settings["manifest"]],
                "weather": list(settings["weather"].values()),
            }
        return {"metrics": self.metrics_files()}

    def paper_figure_settings(self, figure: str) -> dict:
        """Rule ``paper_figure``: what one figure draws, from which runs, and its caption."""
        from geolink.plots.paper_figures import FIGURES

        spec = FIGURES[figure]
        settings = {"figure": figure, "caption": spec.caption, "synthetic": bool(self.synthetic_datasets)}
        if spec.draws in ("transfer", "sensitivity"):  # whiskers: the tables' bootstrap interval
            settings |= {"confidence": self.cfg["tables"]["confidence"], "resamples": self.cfg["tables"]["resamples"]}
        if spec.draws == "transfer":
            return settings | self._transfer_figure()
        if spec.draws == "loss_curves":
            return settings | self._loss_curve_figure()
        if spec.draws == "sensitivity":
            return settings | self._sensitivity_figure()
        return settings | self._checkpoint_figure(spec.draws)

    def _transfer_figure(self) -> dict:
        """Fig. 1: the re-run models of Tables 2-4 that this configuration trains."""
        rows = self.cfg["tables"]["variants"]
        models = {label: rows.get(label) for label in ("GeoLink", "CV-Cities", "Sample4Geo")}
        return {"models": {k: v for k, v in models.items() if v in self.run_variants}}

    def _loss_curve_figure(self) -> dict:
        """Fig. 4: the training logs of every seed of GeoLink and of the variant without L_ga, on one source."""
        geolink = self.cfg["tables"]["variants"].get("GeoLink")
        source, without = self.cfg["figures"]["loss_curves"]["source"], self.cfg["figures"]["loss_curves"]["without_ga"]
        curves = {"with L_ga (GeoLink)": geolink, f"without L_ga ({without})": without}
        logs = {label: [self.layout.train_logs(r) for r in self.runs_of(v, source)] for label, v in curves.items()}
        return {"source": source, "curves": logs, "batch_size": self._batch_size(geolink, source)}

    def _sensitivity_figure(self) -> dict:
        """Fig. 7: each sweep's variants with their x value, read from the variant's resolved settings whether or
        not this configuration trains it (the figure names those it does not)."""
        train = self.cfg["train"]
        sweeps = {}
        for sweep, variants in self.cfg["figures"]["sensitivity"].items():
            points = []
            for variant in variants:
                if variant in train["variants"]:
                    base = {"loss": plain(train["loss"]), "vclub": plain(train["vclub"])}
                    resolved = merge(base, self.variant(variant))
                    x = resolved["loss"]["weights"]["sc"] if sweep == "lambda" else resolved["vclub"]["hidden_dim"]
                    points.append({"variant": variant, "x": x})
            sweeps[sweep] = points
        return {"sweeps": sweeps, "default_variant": self.cfg["tables"]["variants"].get("GeoLink")}

    def _checkpoint_figure(self, draws: str) -> dict:
        """Figs. 5, 6 and the retrieval examples: the first seed's checkpoint of each compared model on
        ``figures.robustness.source``, the target's test set (and, for Fig. 5, its weather sets), the counts."""
        rows, figures = self.cfg["tables"]["variants"], self.cfg["figures"]
        where = figures["robustness"]
        source, target = where["source"], where["target"]
        checkpoints = {}
        for label in ("CV-Cities", "GeoLink"):
            runs = self.runs_of(rows.get(label), source)
            if runs:
                checkpoints[label] = self.layout.checkpoint(runs[0], self.cfg["evaluate"]["checkpoint"])
        counts = {  # read only for the figure that uses them (a DVC stage's params are the keys it reads)
            "feature_pca": lambda: {"n_images": figures["pca_images"]},
            "tsne": lambda: {"n_locations": figures["tsne_locations"]},
            "retrieval_examples": lambda: {"n_queries": figures["example_queries"], "top_k": figures["top_k"]},
        }
        weather = {}
        if draws == "feature_pca" and target in self.weather_datasets:
            weather = {c: self.layout.weather_manifest(target, c) for c in self.conditions}
        return {
            "source": source,
            "target": target,
            "height": where["height"] if target == "sues200" else None,
            "checkpoints": checkpoints,
            "manifest": self.layout.manifest(target),
            "weather": weather,
            "feature_cache": self.layout.feature_cache(),
            **counts[draws](),
        }

    def _batch_size(self, variant: str | None, source: str) -> int | None:
        """The batch size a run of ``variant`` on ``source`` trains with (reading only that key, for DVC)."""
        train = self.cfg["train"]
        if variant not in train["variants"]:
            return None
        batch = plain(self.variant(variant).get("batch_size", train["batch_size"]))
        return batch.get(source) if isinstance(batch, dict) else batch

    @property
    def paper_tables(self) -> list[str]:
        """The result tables this configuration builds from evaluations (none without runs): the paper's, and
        SkyLink's when it trains a street run."""
        from geolink.tables import TABLES

        if not self.train_runs:
            return []
        street = any(self.task(variant) == "street_satellite" for _, variant, _ in self.train_runs)
        return [f"table{n}" for n in TABLES] + (["skylink"] if street else [])

    def weather_conditions(self, target: str, source: str, variant: str | None = None) -> list[str]:
        """The weather conditions a run of ``source`` (and ``variant``) is evaluated under on ``target``: none
        unless the target is one of ``weather.datasets`` and the source one of ``weather.sources`` (null: every
        source), and none for a SkyLink run (weather corrupts drone images only)."""
        sources = self.cfg["weather"]["sources"]
        if target not in self.weather_datasets or (sources is not None and source not in sources):
            return []
        if variant is not None and self.task(variant) == "street_satellite":
            return []
        return list(self.conditions)

    def weather_manifests(self, target: str, source: str, variant: str | None = None) -> dict[str, str]:
        """Condition -> manifest of the target's weather test set, for a run of ``source`` (rule evaluate)."""
        return {c: self.layout.weather_manifest(target, c) for c in self.weather_conditions(target, source, variant)}

    # ---- inputs that depend on settings
    def fetched_weights(self, checkpoint: str) -> str | None:
        """The weight file rule ``weights`` downloads for ``checkpoint``, or None when it is not pinned."""
        spec = self.cfg["weights"][checkpoint]
        return f"{self.layout.weights(checkpoint)}/{spec['file']}" if spec["revision"] else None

    def train_weights_input(self, source: str, variant: str, seed: int | str) -> list[str]:
        weights_path = self.train_settings(source, variant, seed)["model"]["kwargs"].get("weights_path")
        fetched = self.fetched_weights("dinov2")
        return [self.layout.weights("dinov2")] if fetched and weights_path == fetched else []

    def selection_manifest(self, source: str, variant: str, seed: int | str) -> str | None:
        """The target manifest, only when checkpoints are chosen on a target test set (labelled option)."""
        settings = self.train_settings(source, variant, seed)
        if settings["selection"] != "target_test":
            return None
        return self.layout.manifest(settings["selection_target"])

    def evaluate_checkpoint(self, source: str, variant: str, seed: int | str) -> str:
        return self.layout.checkpoint(run_name(source, variant, seed), self.cfg["evaluate"]["checkpoint"])

    def _geolink3d_from_hub(self) -> bool:
        return bool(self.cfg["reconstruct"]["geolink3d_hub"]["revision"])

    def geolink3d_root(self, dataset: str) -> str:
        """The folder holding a dataset's released ``<ID>_group<k>`` clouds (backend geolink3d)."""
        folders = self.cfg["reconstruct"]["geolink3d"]
        root = folders[dataset] if dataset in folders else None
        if not self._geolink3d_from_hub():
            return root
        if not root or Path(root).is_absolute():
            raise ConfigError(
                f"reconstruct.geolink3d_hub.revision is set, so reconstruct.geolink3d.{dataset} must name the "
                f"folder inside the downloaded repository that holds <ID>_group0..2 (a relative path), but it "
                f"is {root!r}."
            )
        return f"{self.layout.geolink3d()}/{root}"

    def reconstruct_extra_input(self, dataset: str) -> list[str]:
        """The released clouds, or the synthetic truth (Chamfer QC, groundtruth backend) and the fetched VGGT."""
        backend = self.cfg["reconstruct"][dataset]["backend"]
        if backend == "geolink3d":
            return [self.layout.geolink3d() if self._geolink3d_from_hub() else self.geolink3d_root(dataset)]
        inputs = [self.layout.synthetic_tree(dataset)] if self.is_synthetic(dataset) else []
        if backend == "vggt" and self.fetched_weights("vggt"):
            inputs.append(self.layout.weights("vggt"))
        return inputs

    def reconstruct_needs_gpu(self, dataset: str) -> bool:
        return self.cfg["reconstruct"][dataset]["backend"] == "vggt"

    def recon_shards(self, dataset: str) -> list[str]:
        return [self.layout.recon_shard(dataset, s) for s in range(self.cfg["reconstruct"]["n_shards"])]

    def metrics_files(self) -> list[str]:
        """Every run evaluated on every active dataset."""
        return [self.layout.metrics(run, target) for run in self.run_names for target in self.datasets]

    def aggregates(self) -> dict[str, list[str]]:
        """Products that summarise many jobs (tables), each with the inputs it summarises.

        Snakemake does not rerun a job whose outputs exist because one of its inputs went missing (that is what
        lets temporary files be deleted), so after a failed evaluation the old table would stand as if current;
        ``geolink.pipeline.stale.remove_stale`` deletes such a table instead.
        """
        if not self.train_runs:
            return {}
        metrics = self.metrics_files()
        tables = {self.layout.table("metrics", suffix): metrics for suffix in ("csv", "md", "json", "html")}
        for table in self.paper_tables:
            tables |= {self.layout.table(table, suffix): metrics for suffix in ("csv", "md", "tex", "html")}
        for figure in self.paper_figures:
            if "metrics" in self.paper_figure_input(figure):
                tables[self.layout.figure(figure)] = metrics
        return tables

    # ---- what `snakemake` (rule all) builds
    def final_targets(self) -> list[str]:
        layout = self.layout
        targets = [layout.manifest(d) for d in self.datasets] + [layout.manifest_summary(d) for d in self.datasets]
        if self.synthetic_datasets:
            targets.append(layout.figure("synthetic_contact_sheet"))
        for dataset in self.weather_datasets:
            targets += [layout.weather_manifest(dataset, c) for c in self.conditions]
            targets.append(layout.figure(f"weather_{dataset}"))
        targets += [layout.point_bank(d) for d in self.datasets]
        targets.append(layout.figure("point_clouds"))
        if self.train_runs:
            targets.append(layout.table("metrics", "csv"))
            targets += [layout.table(table, "md") for table in [*self.paper_tables, "table6"]]
            targets += [layout.figure(figure) for figure in self.paper_figures]
        if self.challenge_run:
            targets.append(layout.challenge("answer.zip"))
        if self.locate_run:
            targets += [layout.locate("summary.json"), layout.figure("locate_errors")]
        return targets

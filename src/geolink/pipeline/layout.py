"""Where every product of one configuration lives: one method per product, the only place paths are spelled.

A configuration's derived products go under its own roots, ``results/<name>/`` and ``data/<name>/`` (logs
under ``logs/<name>/``), so the synthetic benchmark and the paper share a checkout without touching each
other's files. Downloads are the same bytes for every configuration and are shared: ``data/raw/`` (datasets,
the authors' released clouds) and ``data/weights/`` (pretrained checkpoints).

Every method takes the values that identify a product as strings, so ``layout.manifest("{dataset}")`` is the
Snakemake pattern of rule ``manifest`` and ``layout.manifest("sues200")`` the file the CLI reads: the rules,
the ``geolink`` command, the benchmarks and the DVC generator spell a path in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How a training run is named in paths: ``<source>__<variant>__s<seed>`` (e.g. ``sues200__geolink__s0``).
RUN_NAME = "{source}__{variant}__s{seed}"


def run_name(source: str, variant: str, seed: int | str) -> str:
    """The name of one training run; with ``"{source}"``-style arguments, its Snakemake pattern."""
    return RUN_NAME.format(source=source, variant=variant, seed=seed)


@dataclass(frozen=True)
class Layout:
    """The output tree of the configuration called ``name`` (paths relative to the repository root)."""

    name: str

    # ---- shared downloads: the same bytes for every configuration
    def acquired(self, dataset: str) -> str:
        """A dataset obtained by rule ``acquire`` (archive, URL or Hugging Face), extracted."""
        return f"data/raw/{dataset}/extracted"

    def geolink3d(self) -> str:
        """The authors' released point clouds (Hugging Face ZhangHY/GeoLink-3D), extracted."""
        return "data/raw/geolink3d/extracted"

    def weights(self, checkpoint: str) -> str:
        """Folder of a pinned pretrained checkpoint (``dinov2`` or ``vggt``) fetched by rule ``weights``."""
        return f"data/weights/{checkpoint}"

    # ---- data derived by this configuration
    @property
    def data_root(self) -> str:
        return f"data/{self.name}"

    def synthetic_tree(self, dataset: str) -> str:
        """A synthetic dataset in its real layout, with its ground truth under geometry/ (rule ``synth``)."""
        return f"{self.data_root}/{dataset}"

    def sues200_split(self) -> str:
        """SUES-200's per-height Training/ and Testing/ folders (rule ``sues200_split``)."""
        return f"{self.data_root}/prepared/sues200"

    def feature_cache(self) -> str:
        """Descriptors kept per checkpoint and extraction setting (``geolink.evaluation.feature_store``): a cache
        that rule ``evaluate`` fills and the checkpoint figures read; never an input or output of a rule, so it
        lives outside the products under ``data/`` and ``results/`` (DVC neither tracks nor restores it)."""
        return f"cache/{self.name}/features"

    def weather_images(self, dataset: str, condition: str) -> str:
        """A frozen weather copy of a dataset's test drone images, with ``hashes.json`` (rule ``weather``)."""
        return f"{self.data_root}/weather/{dataset}/{condition}"

    # ---- results
    @property
    def results_root(self) -> str:
        return f"results/{self.name}"

    def manifest(self, dataset: str) -> str:
        return f"{self.results_root}/manifests/{dataset}.parquet"

    def manifest_summary(self, dataset: str) -> str:
        return f"{self.results_root}/manifests/{dataset}_summary.csv"

    def weather_manifest(self, dataset: str, condition: str) -> str:
        return f"{self.results_root}/manifests/weather/{dataset}/{condition}.parquet"

    def recon_shard(self, dataset: str, shard: int | str) -> str:
        """One reconstruction shard: ``<ID>_group<k>/points3D.txt`` per cloud and ``qc.csv``."""
        return f"{self.results_root}/recon/{dataset}/shard{shard}"

    def point_bank(self, dataset: str) -> str:
        return f"{self.results_root}/points/{dataset}.npz"

    def point_qc(self, dataset: str) -> str:
        return f"{self.results_root}/points/{dataset}_qc.csv"

    def checkpoint(self, run: str, which: str) -> str:
        """``best`` or ``last`` checkpoint of a training run."""
        return f"{self.results_root}/checkpoints/{run}/{which}.pt"

    def checkpoint_dir(self, run: str) -> str:
        return f"{self.results_root}/checkpoints/{run}"

    def train_logs(self, run: str) -> str:
        """The dvclive folder of a training run (metrics per step and epoch, plots)."""
        return f"{self.results_root}/train_logs/{run}"

    def metrics(self, run: str, target: str) -> str:
        """Retrieval metrics of a run on one target dataset, both directions (JSON)."""
        return f"{self.results_root}/metrics/{run}/{target}.json"

    def table(self, name: str, suffix: str) -> str:
        return f"{self.results_root}/tables/{name}.{suffix}"

    def figure(self, name: str) -> str:
        return f"{self.results_root}/figures/{name}.png"

    def challenge(self, file: str) -> str:
        """The UAVM challenge's submission of the SkyLink run (``answer.txt``, ``answer.zip``, ``summary.json``)."""
        return f"{self.results_root}/challenge/{file}"

    def locate_area(self) -> str:
        """The synthetic area of the locate stage: ``map.tif``, ``photos/``, ``truth.csv``."""
        return f"{self.data_root}/locate_map"

    def locate_train_areas(self) -> str:
        """The synthetic areas ``geolink tune`` trains on: ``area_NN/`` each like :meth:`locate_area`."""
        return f"{self.data_root}/locate_train_areas"

    def locate(self, file: str) -> str:
        """Products of the locate stage: ``tuned.pt`` (when tuned), ``index/``, ``encoder.onnx``, ``answers/``,
        ``answers_onnx/``, ``summary.json`` (the error map is a figure)."""
        return f"{self.results_root}/locate/{file}"

    def report(self) -> str:
        """The HTML report of every table and figure (``geolink report``, which runs ``snakemake --report``)."""
        return f"{self.results_root}/report.html"

    # ---- logs
    def log(self, *parts: str) -> str:
        """The log file of one job: ``logs/<name>/<rule>/<wildcard values>.log``."""
        return "/".join(["logs", self.name, *parts]) + ".log"

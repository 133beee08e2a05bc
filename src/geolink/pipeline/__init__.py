"""The resolved run of one configuration: its output layout and the settings of every stage.

``Pipeline(config)`` (or ``Pipeline.from_files(configfiles)``) is what the Snakemake rules, the ``geolink``
command, the benchmarks and the DVC generator read; ``Layout`` spells every product's path once.
"""

from geolink.pipeline.layout import RUN_NAME, Layout, run_name
from geolink.pipeline.pipeline import Pipeline

__all__ = ["RUN_NAME", "Layout", "Pipeline", "run_name"]

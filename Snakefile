# GeoLink: generalizable cross-view geo-localization with 3D priors.
#
# A table of contents: one included file per stage, and the default target `all`.
#   snakemake                                       reproduce the paper (config/config.yaml)
#   snakemake --configfile config/synthetic.yaml    the embedded CPU benchmark
# Each configuration writes under results/<name>/, data/<name>/ and logs/<name>/.
# Defaults (cores, one GPU at a time) come from profiles/default/config.yaml.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d+",
    source="|".join(DATASETS),
    target="|".join(DATASETS),
    variant=r"[A-Za-z0-9_]+",
    seed=r"\d+",
    condition="|".join(CONDITIONS),
    checkpoint="dinov2|vggt",
    table=r"table\d+|skylink",
    figure="|".join(PIPELINE.paper_figures) or "none",


include: "workflow/rules/synth.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/weather.smk"
include: "workflow/rules/reconstruct.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/skylink.smk"
include: "workflow/rules/locate.smk"


rule all:
    default_target: True
    input:
        PIPELINE.final_targets(),

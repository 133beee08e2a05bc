"""Build SUES-200's per-height Training/ and Testing/ folders from the raw tree (rule sues200_split)."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
logging.basicConfig(stream=sys.stderr, level=logging.INFO)

from geolink.data.sues200 import read_sues200_split_index, split_sues200  # noqa: E402

params = snakemake.params  # noqa: F821
train_ids = read_sues200_split_index(params.split_index) if params.split_index else None
counts = split_sues200(params.raw_root, snakemake.output.split, train_ids=train_ids, heights=params.heights, link=params.link)  # noqa: F821
logging.info("SUES-200 split: %s", counts)

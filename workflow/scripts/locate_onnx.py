"""Export the run's 2D encoder to ONNX for locating without torch (rule locate_onnx): `geolink export-onnx`."""

import json
import logging

from geolink.locate.encoders import export_onnx
from geolink.rule_runner import run_logged


def main():
    summary = export_onnx(snakemake.input.checkpoint, snakemake.output.onnx)
    logging.info("exported: %s", json.dumps(summary))


run_logged(snakemake.log[0], main, snakemake.output)

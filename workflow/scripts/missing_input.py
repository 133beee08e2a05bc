"""Stop with the advice for a user-supplied input that is missing (rule missing_input; never runs in practice)."""

from geolink.data.errors import DatasetError
from geolink.rule_runner import run_logged


def main():
    raise DatasetError(snakemake.params.message)


run_logged(snakemake.log[0], main)

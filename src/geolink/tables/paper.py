"""The GeoLink paper's printed numbers, kept as data (``paper_values.csv`` beside this file).

One row per printed number: ``table`` (2-7, or ``skylink`` for SkyLink's one published number), ``method`` (the
row label as printed, e.g. ``GeoLink``, ``CV-Cities``, ``L_ga``, ``experts=3``), ``source``, ``target`` (dataset
names of the configuration, empty for Table 6), ``direction`` (``drone_to_satellite`` / ``satellite_to_drone``),
``condition`` (``clean`` or a weather condition), ``metric`` (``R@1``, ``AP``, ``params_M``, ``GFLOPs``),
``value``, ``note`` (how the row was read where the print is ambiguous) and ``reference`` (where it is printed).
Values are transcribed from arXiv:2604.13183v1; ``tests/test_tables.py`` pins a sample of them against the PDF's
figures.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

PAPER_VALUES = Path(__file__).with_name("paper_values.csv")


@cache
def _read() -> pd.DataFrame:
    table = pd.read_csv(PAPER_VALUES, dtype=str, keep_default_na=False)
    table["table"] = [int(t) if t.isdigit() else t for t in table["table"]]  # 2-7, or "skylink"
    table["value"] = table["value"].astype(float)
    return table


def paper_values(table: int | str | None = None) -> pd.DataFrame:
    """The paper's numbers (of one table when ``table`` is given), a fresh copy the caller may change."""
    values = _read()
    return (values if table is None else values[values["table"] == table]).reset_index(drop=True).copy()

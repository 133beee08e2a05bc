"""Tables from saved metrics: nothing is recomputed here, every number comes from a metrics JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

COLUMNS = ["source", "variant", "seed", "target", "direction", "height", "R@1", "R@5", "R@10", "R@top1%", "AP"]


def load_metrics(paths: list[str | Path]) -> pd.DataFrame:
    """One row per (run, target, direction, height) from ``results/metrics/<run>/<target>.json`` files."""
    rows = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        for record in data["records"]:
            rows.append({**data["run"], **record})
    table = pd.DataFrame(rows)
    table["height"] = table["height"].astype(str).replace({"None": "", "nan": ""})
    return table


def metrics_table(paths: list[str | Path]) -> pd.DataFrame:
    """The compact table people read: the columns of ``COLUMNS`` plus any SDM@K, sorted."""
    table = load_metrics(paths)
    extra = sorted(c for c in table.columns if c.startswith("SDM@"))
    columns = [c for c in COLUMNS if c in table.columns] + extra
    return (
        table[columns]
        .sort_values(["source", "variant", "seed", "target", "direction", "height"])
        .reset_index(drop=True)
    )


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table with metrics rounded to two decimals."""
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"

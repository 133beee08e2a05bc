"""Tables from saved metrics: nothing is recomputed here, every number comes from a metrics JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from geolink.atomic import atomic_output
from geolink.pipeline.layout import run_name

KEYS = ["source", "variant", "seed", "target", "condition", "direction", "height"]
COLUMNS = [*KEYS, "R@1", "R@5", "R@10", "R@top1%", "AP"]


def load_metrics(paths: list[str | Path]) -> pd.DataFrame:
    """One row per (run, target, condition, direction, height) from the metrics JSON files of rule ``evaluate``
    (each query's outcome in column ``per_query`` where the record has it)."""
    rows = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        for record in data["records"]:
            rows.append({"condition": "clean", **data["run"], **record})
    table = pd.DataFrame(rows)
    # "" where a target has no heights: None in the JSON, NaN once pandas mixes it with numbers (and pandas 3's
    # astype(str) keeps NaN missing rather than spelling it "nan").
    table["height"] = [str(h) if isinstance(h, str) or pd.notna(h) else "" for h in table["height"]]
    return table


def metrics_table(paths: list[str | Path]) -> pd.DataFrame:
    """The compact table people read: the columns of ``COLUMNS`` plus any SDM@K, sorted."""
    table = load_metrics(paths)
    extra = sorted(c for c in table.columns if c.startswith("SDM@"))
    columns = [c for c in COLUMNS if c in table.columns] + extra
    return table[columns].sort_values(KEYS).reset_index(drop=True)


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """The table as text, floats with two decimals and empty where missing."""
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return shown


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table with metrics rounded to two decimals."""
    shown = rounded(table)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def metrics_tree(table: pd.DataFrame) -> dict:
    """The table as nested ``{run: {target: {condition: {direction: {[height:] {metric: value}}}}}}``, the shape
    ``dvc metrics show`` and ``dvc metrics diff`` read (NaN metrics are left out)."""
    metrics = [c for c in table.columns if c not in KEYS]
    tree: dict = {}
    for row in table.to_dict("records"):
        node = tree.setdefault(run_name(row["source"], row["variant"], row["seed"]), {})
        node = node.setdefault(row["target"], {}).setdefault(row["condition"], {}).setdefault(row["direction"], {})
        if row["height"]:
            node = node.setdefault(row["height"].removesuffix(".0"), {})
        node.update({m: float(row[m]) for m in metrics if pd.notna(row[m])})
    return tree


def write_metrics_tables(
    paths: list[str | Path],
    *,
    csv: str | Path,
    markdown: str | Path,
    json_path: str | Path,
    html: str | Path | None = None,
    synthetic: bool = False,
):
    """Write the metrics table as CSV, Markdown, the nested JSON of :func:`metrics_tree` and (for the HTML
    report) an HTML page, atomically."""
    from geolink.tables.render import html_page

    table = metrics_table(paths)
    with atomic_output(csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_output(markdown) as tmp:
        tmp.write_text(to_markdown(table))
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(metrics_tree(table), indent=2))
    if html is not None:
        paragraphs = [
            "Every evaluation of every run: one row per (run, target, condition, direction, SUES-200 height or the "
            "mean of its heights), metrics in percent (rule evaluate's JSON, nothing recomputed)."
        ]
        with atomic_output(html) as tmp:
            tmp.write_text(html_page("Retrieval metrics of every run", paragraphs, rounded(table), synthetic=synthetic))

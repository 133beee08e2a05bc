"""One of the paper's result tables, ours beside the paper's: a long frame, one row per (row, setting, metric)."""

from __future__ import annotations

import pandas as pd

from geolink.evaluation.bootstrap import N_RESAMPLES
from geolink.tables.cells import as_float, cell
from geolink.tables.paper import paper_values
from geolink.tables.specs import table_spec

#: Columns of the long table (CSV).
COLUMNS = [
    "table",
    "row",
    "setting",
    "source",
    "target",
    "condition",
    "direction",
    "height",
    "metric",
    "paper",
    "ours_mean",
    "ours_std",
    "ci_low",
    "ci_high",
    "delta",
    "n_seeds",
    "variant",
    "status",
]
RERUN, PUBLISHED, NOT_RUN = "re-run here", "published, not re-run", "not run in this configuration"


def build_table(
    number: int | str,
    records: pd.DataFrame,
    row_variants: dict[str, str],
    run_variants: list[str],
    *,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    bootstrap_seed: int = 0,
) -> pd.DataFrame:
    """The long frame of paper Table ``number`` (2, 3, 4, 5 or 7) or of the ``"skylink"`` table.

    Args:
        records: ``geolink.report.load_metrics`` of every evaluation of the configuration (may be empty).
        row_variants: ``tables.variants``: row label -> training variant that re-runs it.
        run_variants: The variants the configuration trains (``train.variants``); a mapped row whose variant is
            not among them is "not run in this configuration".

    Returns:
        One row per (table row, setting, metric) in the paper's row order, then the rows we add: ``paper`` (the
        printed value or NaN), ``ours_mean``, ``ours_std`` (NaN with one seed), the bootstrap ``ci_low`` /
        ``ci_high``, ``delta`` = ours - paper, ``n_seeds``, the ``variant`` and the row's ``status``.
    """
    spec = table_spec(number)
    paper = paper_values(number)
    labels = list(dict.fromkeys(paper["method"]))
    labels += [label for label in spec.extra_rows if label not in labels]
    printed = {(r.method, r.source, r.target, r.condition, r.direction, r.metric): r.value for r in paper.itertuples()}
    if records is None or records.empty:
        records = pd.DataFrame(columns=["variant", "source", "target", "condition", "direction", "seed", "height"])
    rows = []
    for label in labels:
        variant = row_variants.get(label)
        status = PUBLISHED if variant is None else (RERUN if variant in run_variants else NOT_RUN)
        for setting in spec.settings:
            for metric in spec.metrics:
                key = (label, setting.source, setting.target, setting.condition, setting.direction, metric)
                value = printed.get(key)
                if value is None and status == PUBLISHED:
                    continue  # a published row has cells only where the paper prints them
                ours = (
                    cell(
                        records,
                        variant,
                        setting,
                        metric,
                        confidence=confidence,
                        n_resamples=n_resamples,
                        bootstrap_seed=bootstrap_seed,
                    )
                    if status == RERUN
                    else None
                )
                rows.append(
                    {
                        "table": number,
                        "row": label,
                        "setting": setting.label(),
                        "source": setting.source,
                        "target": setting.target,
                        "condition": setting.condition,
                        "direction": setting.direction,
                        "height": setting.height,
                        "metric": metric,
                        "paper": as_float(value),
                        "ours_mean": as_float(ours and ours.mean),
                        "ours_std": as_float(ours and ours.std),
                        "ci_low": as_float(ours and ours.ci_low),
                        "ci_high": as_float(ours and ours.ci_high),
                        "delta": as_float(ours.mean - value)
                        if ours and value is not None and spec.comparable
                        else float("nan"),
                        "n_seeds": ours.n_seeds if ours else 0,
                        "variant": variant or "",
                        "status": status,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def write_paper_table(
    metrics: list[str],
    *,
    csv: str,
    markdown: str,
    latex: str,
    html: str,
    table: int | str,
    row_variants: dict[str, str],
    run_variants: list[str],
    synthetic: bool,
    confidence: float,
    resamples: int,
    bootstrap_seed: int,
) -> pd.DataFrame:
    """Build paper Table ``table`` from the metrics JSON files and write it as CSV, Markdown, LaTeX and HTML (rule
    ``paper_table``; the keyword arguments after the paths are ``Pipeline.paper_table_settings``)."""
    from geolink.report import load_metrics
    from geolink.tables.render import write_table

    records = load_metrics(metrics) if metrics else None
    built = build_table(
        table,
        records,
        row_variants,
        run_variants,
        confidence=confidence,
        n_resamples=resamples,
        bootstrap_seed=bootstrap_seed,
    )
    write_table(
        built,
        table,
        csv=csv,
        markdown=markdown,
        latex=latex,
        html=html,
        synthetic=synthetic,
        confidence=confidence,
        n_resamples=resamples,
    )
    return built

"""Paper Table 6: parameters and FLOPs of each re-run model's inference path, counted the paper's way and exactly.

The paper's counts are what a hook-based counter reports (docs/method.md, "Complexity"): parameters of the
Linear, Conv and Norm layers ("thop-style"; thop itself matches exact layer types, which is how Sample4Geo's
87.51M comes out) and multiply-accumulates of those layers, which it calls GFLOPs. Ours are counted both
ways, plus the exact totals: every parameter, the trainable ones, and true FLOPs with the attention matmuls.
Counts are deterministic, so a cell has no seeds and no interval.
"""

from __future__ import annotations

import math

import pandas as pd

from geolink.atomic import atomic_output
from geolink.report import to_markdown as pipe_table
from geolink.tables.paper import paper_values
from geolink.tables.render import SYNTHETIC_LABEL, html_page, latex_table

TITLE = "Table 6: model complexity (inference path, one image)"
CAPTION = (
    "Parameters (millions) and operations (billions) of the 2D inference path of each re-run model at its "
    "training image size. Paper: the printed values ('trainable parameters' and 'GFLOPs'). Ours: parameters "
    "counted the paper's way (weights and biases of Linear, Conv and Norm layers; 'thop' matches exact layer "
    "types as the thop counter does), every parameter, the trainable ones (frozen backbone blocks excluded), "
    "multiply-accumulates of the linear and convolution layers (what the paper calls GFLOPs) and true FLOPs "
    "including the attention products."
)
COLUMNS = [
    "row",
    "model",
    "image_size",
    "paper_params_M",
    "paper_GFLOPs",
    "params_thop_style_M",
    "params_thop_M",
    "params_total_M",
    "params_trainable_M",
    "GMACs_no_attention",
    "GFLOPs_with_attention",
    "status",
]


def build_complexity_table(row_models: dict[str, dict | None]) -> pd.DataFrame:
    """One line per row the paper prints (and per re-run row it does not).

    Args:
        row_models: Row label -> ``{"model": registered name, "image_size": int, "kwargs": dict}`` of the variant
            that re-runs it, or None where the configuration does not re-run the row.
    """
    from geolink.complexity import complexity_report

    paper = paper_values(6)
    printed = {(r.method, r.metric): r.value for r in paper.itertuples()}
    labels = list(dict.fromkeys([*paper["method"], *row_models]))
    rows = []
    for label in labels:
        spec = row_models.get(label)
        line = {
            "row": label,
            "model": spec["model"] if spec else "",
            "image_size": spec["image_size"] if spec else math.nan,
            "paper_params_M": printed.get((label, "params_M"), math.nan),
            "paper_GFLOPs": printed.get((label, "GFLOPs"), math.nan),
            "status": "re-run here" if spec else "published, not re-run",
        }
        if spec:
            report = complexity_report(spec["model"], img_size=spec["image_size"], model_kwargs=spec["kwargs"])
            inference = report["inference"]
            line |= {
                "params_thop_style_M": inference["thop_style"] / 1e6,
                "params_thop_M": inference["thop_exact"] / 1e6,
                "params_total_M": inference["total"] / 1e6,
                "params_trainable_M": inference["trainable"] / 1e6,
                "GMACs_no_attention": inference["macs_no_attention"] / 1e9,
                "GFLOPs_with_attention": inference["flops"] / 1e9,
            }
        rows.append(line)
    return pd.DataFrame(rows, columns=COLUMNS)


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if value is None or math.isnan(value):
        return ""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def write_complexity_table(
    table: pd.DataFrame, *, csv: str, markdown: str, latex: str, html: str, synthetic: bool
) -> None:
    """CSV (every column), Markdown, LaTeX and HTML, atomically; synthetic models are labelled as such."""
    with atomic_output(csv) as tmp:
        table.assign(benchmark="synthetic" if synthetic else "real").to_csv(tmp, index=False)
    shown = table.map(_cell)
    text = [f"# {TITLE}", ""] + ([f"**{SYNTHETIC_LABEL}** (the CPU stand-in models)", ""] if synthetic else [])
    with atomic_output(markdown) as tmp:
        tmp.write_text("\n".join([*text, CAPTION, ""]) + "\n" + pipe_table(shown))
    caption = " ".join([SYNTHETIC_LABEL] * synthetic + [CAPTION])
    align = "ll" + "r" * (len(shown.columns) - 3) + "l"
    text = latex_table(TITLE, caption, "tab:geolink-table6", shown, align)
    with atomic_output(latex) as tmp:
        tmp.write_text(text)
    paragraphs = [CAPTION] + ["The counted models are the CPU stand-ins."] * synthetic
    with atomic_output(html) as tmp:
        tmp.write_text(html_page(TITLE, paragraphs, shown, synthetic=synthetic))


def write_paper_complexity_table(
    *, csv: str, markdown: str, latex: str, html: str, row_models: dict[str, dict | None], synthetic: bool
) -> pd.DataFrame:
    """Rule ``complexity_table``: build Table 6 and write its four forms (``Pipeline.complexity_table_settings``)."""
    table = build_complexity_table(row_models)
    write_complexity_table(table, csv=csv, markdown=markdown, latex=latex, html=html, synthetic=synthetic)
    return table

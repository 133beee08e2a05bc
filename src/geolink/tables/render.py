"""A built table (``geolink.tables.build``) as people read it: Markdown and LaTeX, and CSV for programs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from geolink.atomic import atomic_output
from geolink.report import to_markdown as pipe_table  # cells are already text here
from geolink.tables.specs import table_spec

SYNTHETIC_LABEL = "Synthetic benchmark — not comparable with the paper's numbers."


def _number(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.2f}"


def _ours(row) -> str:
    if math.isnan(row.ours_mean):
        return ""
    if math.isnan(row.ours_std):
        return f"{row.ours_mean:.2f} (1 seed)"
    return f"{row.ours_mean:.2f} ± {row.ours_std:.2f}"


def _interval(row) -> str:
    return "" if math.isnan(row.ci_low) else f"[{row.ci_low:.2f}, {row.ci_high:.2f}]"


def _delta(value: float) -> str:
    return "" if math.isnan(value) else f"{value:+.2f}"


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One line per (row, setting), four columns per metric: the paper's value, ours, its interval and Δ."""
    metrics = list(dict.fromkeys(table["metric"]))
    lines: dict[tuple[str, str], dict[str, str]] = {}
    for row in table.itertuples():
        line = lines.setdefault((row.row, row.setting), {"row": row.row, "setting": row.setting, "status": row.status})
        line[f"{row.metric} paper"] = _number(row.paper)
        line[f"{row.metric} ours"] = _ours(row)
        line[f"{row.metric} 95% CI"] = _interval(row)
        line[f"{row.metric} Δ"] = _delta(row.delta)
    columns = ["row", "setting"] + [f"{m} {part}" for m in metrics for part in ("paper", "ours", "95% CI", "Δ")]
    return pd.DataFrame(list(lines.values()), columns=[*columns, "status"]).fillna("")


def notes(table: pd.DataFrame, *, confidence: float, n_resamples: int) -> str:
    """What a reader needs to read the numbers: what 'ours' is and how sure it is."""
    seeds = sorted(set(table.loc[table["n_seeds"] > 0, "n_seeds"]))
    seed_text = (
        "no row has been re-run yet"
        if not seeds
        else f"{'/'.join(str(s) for s in seeds)} seed{'s' if seeds != [1] else ''} per re-run row"
    )
    return (
        f"Ours: mean ± sample standard deviation over training seeds ({seed_text}; a single seed is marked "
        f"'(1 seed)', it has no spread); {round(confidence * 100)}% CI: percentile bootstrap over test queries "
        f"({n_resamples} resamples, the same queries drawn for every seed); Δ = ours − paper. "
        "Rows marked 'published, not re-run' are the paper's numbers only."
    )


def to_markdown(table: pd.DataFrame, number: int | str, *, synthetic: bool, confidence: float, n_resamples: int) -> str:
    spec = table_spec(number)
    text = [f"# {spec.title}", ""]
    if synthetic:
        text += [f"**{SYNTHETIC_LABEL}**", ""]
    text += [spec.caption, "", notes(table, confidence=confidence, n_resamples=n_resamples)]
    return "\n".join([*text, ""]) + "\n" + pipe_table(wide(table))


_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "±": r"$\pm$", "→": r"$\to$", "Δ": r"$\Delta$"}


def latex_escape(text: str) -> str:
    """Text for a LaTeX table cell: special characters escaped, arrows, ± and Δ in math mode."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def latex_table(title: str, caption: str, label: str, shown: pd.DataFrame, align: str) -> str:
    """A ``booktabs`` table environment of ``shown``'s cells (needs ``\\usepackage{booktabs}``)."""
    lines = [
        r"\begin{table}[t]",
        r"\centering\scriptsize",
        rf"\caption{{{latex_escape(title)}. {latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in shown.columns) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(v) for v in line) + r" \\" for line in shown.itertuples(index=False)),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, number: int | str, *, synthetic: bool, confidence: float, n_resamples: int) -> str:
    """Paper Table ``number`` as a LaTeX table: the Markdown's columns, the caption and notes as its caption."""
    spec = table_spec(number)
    shown = wide(table).drop(columns="status")
    caption = " ".join(
        [SYNTHETIC_LABEL] * synthetic + [spec.caption, notes(table, confidence=confidence, n_resamples=n_resamples)]
    )
    align = "ll" + "r" * (len(shown.columns) - 2)
    label = f"tab:geolink-table{number}" if isinstance(number, int) else f"tab:geolink-{number}"
    return latex_table(spec.title, caption, label, shown, align)


_HTML_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 1em; }
h1 { font-size: 16px; } p { max-width: 70em; } .synthetic { color: #b30000; font-weight: bold; }
table { border-collapse: collapse; } th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; } td { text-align: right; }
td:first-child, td:nth-child(2), td:last-child { text-align: left; } tr:hover td { background: #f8f8ff; }
"""


def html_page(title: str, paragraphs: list[str], shown: pd.DataFrame, *, synthetic: bool) -> str:
    """A self-contained HTML page of ``shown``'s cells (text), the title and the paragraphs above it: what the
    HTML report of ``snakemake --report`` shows in place (it offers CSV files only as downloads)."""
    from html import escape

    text = [f"<h1>{escape(title)}</h1>"]
    if synthetic:
        text.append(f'<p class="synthetic">{escape(SYNTHETIC_LABEL)}</p>')
    text += [f"<p>{escape(p)}</p>" for p in paragraphs]
    table = shown.to_html(index=False, escape=True, border=0, na_rep="")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_HTML_STYLE}</style></head>\n<body>\n" + "\n".join(text) + f"\n{table}\n</body></html>\n"
    )


def to_html(table: pd.DataFrame, number: int | str, *, synthetic: bool, confidence: float, n_resamples: int) -> str:
    """Paper Table ``number`` as an HTML page: the Markdown's columns, caption and notes."""
    spec = table_spec(number)
    paragraphs = [spec.caption, notes(table, confidence=confidence, n_resamples=n_resamples)]
    return html_page(spec.title, paragraphs, wide(table), synthetic=synthetic)


def write_table(
    table: pd.DataFrame,
    number: int | str,
    *,
    csv: str | Path,
    markdown: str | Path,
    latex: str | Path,
    html: str | Path,
    synthetic: bool,
    confidence: float,
    n_resamples: int,
) -> None:
    """Write the four forms atomically; the CSV keeps every column (NaN where a value does not exist)."""
    out = table.assign(benchmark="synthetic" if synthetic else "real")
    with atomic_output(csv) as tmp:
        out.to_csv(tmp, index=False)
    options = {"synthetic": synthetic, "confidence": confidence, "n_resamples": n_resamples}
    with atomic_output(markdown) as tmp:
        tmp.write_text(to_markdown(table, number, **options))
    with atomic_output(latex) as tmp:
        tmp.write_text(to_latex(table, number, **options))
    with atomic_output(html) as tmp:
        tmp.write_text(to_html(table, number, **options))

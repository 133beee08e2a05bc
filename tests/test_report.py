"""Metrics tables from saved metrics JSON: rows, the Markdown table and the nested JSON `dvc metrics` reads."""

from __future__ import annotations

import json

import pandas as pd

from geolink.report import metrics_table, metrics_tree, to_markdown, write_metrics_tables


def write_metrics(path, source, target, records):
    run = {"source": source, "variant": "geolink", "seed": 0, "checkpoint": "best", "epoch": 3}
    path.write_text(json.dumps({"run": run, "records": records}))
    return path


def test_tables_keep_heights_and_leave_them_empty_where_there_are_none(tmp_path):
    d2s = {"direction": "drone_to_satellite", "R@1": 50.0, "R@5": 75.0, "R@10": 100.0, "R@top1%": 50.0, "AP": 60.0}
    u1652 = write_metrics(tmp_path / "a.json", "sues200", "university1652", [{**d2s, "target": "university1652"}])
    sues = write_metrics(
        tmp_path / "b.json",
        "university1652",
        "sues200",
        [
            {**d2s, "target": "sues200", "height": 150, "R@1": 10.0},
            {**d2s, "target": "sues200", "height": 300, "R@1": 30.0},
            {**d2s, "target": "sues200", "height": "mean", "R@1": 20.0},
        ],
    )
    table = metrics_table([u1652, sues])
    assert list(table["height"]) == ["", "150", "300", "mean"]
    assert "nan" not in to_markdown(table)
    tree = metrics_tree(table)
    # Records without a condition are from before weather evaluation: the clean test set.
    assert tree["sues200__geolink__s0"]["university1652"]["clean"]["drone_to_satellite"]["R@1"] == 50.0
    assert tree["university1652__geolink__s0"]["sues200"]["clean"]["drone_to_satellite"]["mean"]["R@1"] == 20.0
    assert set(tree["university1652__geolink__s0"]["sues200"]["clean"]["drone_to_satellite"]) == {"150", "300", "mean"}

    out = {"csv": tmp_path / "t.csv", "markdown": tmp_path / "t.md", "json_path": tmp_path / "t.json"}
    write_metrics_tables([u1652, sues], **out)
    assert json.loads(out["json_path"].read_text()) == tree
    assert len(pd.read_csv(out["csv"])) == 4 and out["markdown"].read_text().startswith("| source |")

"""The paper's result tables: the printed values read back, ours with seeds and intervals, the three forms."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from geolink.config import load_schema
from geolink.report import load_metrics
from geolink.tables import TABLES, build_table, paper_values
from geolink.tables.build import write_paper_table

ROW_VARIANTS = load_schema()["properties"]["tables"]["properties"]["variants"]["default"]


def test_the_data_holds_the_numbers_the_paper_prints():
    # A sample read off the paper (arXiv:2604.13183v1) by hand, one or more per table.
    values = paper_values().set_index(["table", "method", "source", "target", "direction", "condition", "metric"])
    printed = {
        (2, "GeoLink", "university1652", "sues200", "drone_to_satellite", "clean", "R@1"): 93.44,
        (2, "GeoLink", "sues200", "denseuav", "drone_to_satellite", "clean", "AP"): 23.12,
        (3, "GeoLink", "denseuav", "university1652", "satellite_to_drone", "clean", "R@1"): 95.00,
        (4, "GeoLink", "university1652", "sues200", "drone_to_satellite", "wind", "R@1"): 88.50,
        (4, "CV-Cities", "university1652", "sues200", "drone_to_satellite", "fog_snow", "AP"): 76.58,
        (5, "L_rd", "university1652", "sues200", "satellite_to_drone", "clean", "R@1"): 90.81,
        (5, "Baseline+MME", "university1652", "sues200", "satellite_to_drone", "clean", "R@1"): 73.55,
        (7, "experts=3", "sues200", "denseuav", "drone_to_satellite", "clean", "R@1"): 33.08,
        (7, "experts=3", "sues200", "university1652", "satellite_to_drone", "clean", "AP"): 65.13,
    }
    for key, value in printed.items():
        assert values.loc[key, "value"] == value, key
    assert values.loc[(6, "GeoLink", "", "", "", "", "params_M"), "value"] == 90.50
    counts = paper_values()["table"].value_counts().to_dict()
    # Every printed cell, R@1 and AP (Table 6: 2 each), and SkyLink's one published number.
    assert counts == {2: 108, 3: 72, 4: 32, 5: 28, 6: 8, 7: 16, "skylink": 1}
    geolink = paper_values()[paper_values()["table"] != "skylink"]
    references = "GeoLink, arXiv:2604.13183v1, Table " + geolink["table"].astype(str)
    assert (geolink["reference"] == references).all()
    skylink = paper_values("skylink").iloc[0]
    assert (skylink.method, skylink.direction, skylink.metric, skylink.value) == (
        "SkyLink",
        "street_to_satellite",
        "R@1",
        25.75,
    )  # the SkyLink abstract (arXiv:2509.24783): its UAVM 2025 challenge result
    assert skylink.reference == "SkyLink, arXiv:2509.24783, abstract"


@pytest.mark.parametrize("number", sorted(TABLES))
def test_every_table_carries_every_printed_value_in_its_paper_column(number):
    built = build_table(number, None, ROW_VARIANTS, ["geolink"])
    got = {
        (r.row, r.source, r.target, r.condition, r.direction, r.metric): r.paper
        for r in built.itertuples()
        if not math.isnan(r.paper)
    }
    expected = {
        (r.method, r.source, r.target, r.condition, r.direction, r.metric): r.value
        for r in paper_values(number).itertuples()
    }
    assert got == expected
    assert built["ours_mean"].isna().all()  # nothing was evaluated
    status = dict(zip(built["row"], built["status"], strict=False))
    if number in (2, 3, 4):
        assert status["GeoLink"] == "re-run here" and status["CV-Cities"] == "not run in this configuration"
        assert status["MMGeo" if number != 4 else "DAC"] == "published, not re-run"


def per_query(ranks: list[int], aps: list[float]) -> dict:
    return {"rank": ranks, "AP": aps}


def sues_records(r1_150: float, r1_300: float, q150: dict, q300: dict, direction="drone_to_satellite") -> list[dict]:
    base = {"target": "sues200", "condition": "clean", "direction": direction, "protocol": "official"}
    return [
        {**base, "height": 150, "R@1": r1_150, "AP": sum(q150["AP"]) / 2, "per_query": q150},
        {**base, "height": 300, "R@1": r1_300, "AP": sum(q300["AP"]) / 2, "per_query": q300},
        {**base, "height": "mean", "R@1": (r1_150 + r1_300) / 2, "AP": (sum(q150["AP"]) + sum(q300["AP"])) / 4},
    ]


def write_run(path, seed: int, records: list[dict], variant="geolink", source="university1652"):
    run = {"source": source, "variant": variant, "seed": seed, "checkpoint": "best", "epoch": 1}
    path.write_text(json.dumps({"run": run, "records": records}))
    return path


def test_ours_is_the_mean_over_seeds_of_the_height_mean_with_its_interval(tmp_path):
    # Seed 0: at 150 m both queries found (R@1 100), at 300 m one of two (50): SUES mean 75.
    # Seed 1: at 150 m one of two (50), at 300 m none (0): SUES mean 25.  Ours = 50 +- 35.36 (sqrt(1250)).
    seed0 = sues_records(100.0, 50.0, per_query([0, 0], [100.0, 100.0]), per_query([0, 2], [100.0, 50.0]))
    seed1 = sues_records(50.0, 0.0, per_query([0, 4], [100.0, 20.0]), per_query([1, -1], [50.0, 0.0]))
    paths = [write_run(tmp_path / "a.json", 0, seed0), write_run(tmp_path / "b.json", 1, seed1)]
    built = build_table(2, load_metrics(paths), ROW_VARIANTS, ["geolink"], n_resamples=4000)
    row = built[(built["row"] == "GeoLink") & (built["setting"] == "U1652→SUES D→S")].set_index("metric")
    assert row.loc["R@1", "ours_mean"] == 50.0
    assert row.loc["R@1", "ours_std"] == pytest.approx(math.sqrt(1250))
    assert row.loc["R@1", "delta"] == pytest.approx(50.0 - 93.44)
    assert row.loc["R@1", "n_seeds"] == 2 and row.loc["R@1", "paper"] == 93.44
    # The interval by hand. Averaged over the seeds, query 0 scores 100 and query 1 50 at 150 m; 50 and 0 at 300 m.
    # Drawing two queries per height, the 150 m mean is 100, 75 or 50 and the 300 m mean 50, 25 or 0, with
    # probabilities 1/4, 1/2, 1/4; their average is 25, 37.5, 50, 62.5 or 75 with probabilities 1, 4, 6, 4, 1 in 16.
    # P(25) = P(75) = 1/16 > 2.5 %, so the 95 % interval is [25, 75].
    assert tuple(row.loc["R@1", ["ci_low", "ci_high"]]) == (25.0, 75.0)
    # AP: seed 0 (100 + 75) / 2 = 87.5, seed 1 (60 + 25) / 2 = 42.5.
    assert row.loc["AP", "ours_mean"] == 65.0


def test_a_single_seed_says_so_and_the_four_forms_are_written(tmp_path):
    seed0 = sues_records(100.0, 50.0, per_query([0, 0], [100.0, 100.0]), per_query([0, 2], [100.0, 50.0]))
    paths = [str(write_run(tmp_path / "a.json", 0, seed0))]
    out = {
        "csv": tmp_path / "t.csv",
        "markdown": tmp_path / "t.md",
        "latex": tmp_path / "t.tex",
        "html": tmp_path / "t.html",
    }
    settings = {"row_variants": ROW_VARIANTS, "run_variants": ["geolink"], "confidence": 0.95, "resamples": 500}
    write_paper_table(paths, **out, table=2, synthetic=True, bootstrap_seed=0, **settings)
    csv = pd.read_csv(out["csv"])
    geolink = csv[(csv["row"] == "GeoLink") & (csv["setting"] == "U1652→SUES D→S") & (csv["metric"] == "R@1")]
    assert geolink["ours_mean"].item() == 75.0 and math.isnan(geolink["ours_std"].item())
    assert (csv["benchmark"] == "synthetic").all()
    markdown = out["markdown"].read_text()
    assert "**Synthetic benchmark — not comparable with the paper's numbers.**" in markdown
    assert "| GeoLink | U1652→SUES D→S | 93.44 | 75.00 (1 seed) |" in markdown
    assert "± 0.00" not in markdown  # one seed has no spread to print
    latex = out["latex"].read_text()
    assert latex.startswith("\\begin{table}") and "Synthetic benchmark" in latex and "75.00 (1 seed)" in latex
    assert "U1652$\\to$SUES D$\\to$S" in latex and "\\_" not in latex.split("\\caption")[0]
    # The report shows the HTML in place: the same cells, the label, no raw markup from the data.
    html = out["html"].read_text()
    assert "<td>GeoLink</td>" in html and "<td>U1652→SUES D→S</td>" in html and "<td>75.00 (1 seed)</td>" in html
    assert "not comparable with the paper&#x27;s numbers." in html and html.count("<tr>") == len(
        csv[["row", "setting"]].drop_duplicates()
    )


def test_table6_counts_the_paper_models_both_ways(tmp_path):
    from geolink.tables.complexity import build_complexity_table, write_complexity_table

    models = {
        "GeoLink": {"model": "geolink_dinov2_base", "image_size": 448, "kwargs": {"pretrained": True}},
        "Sample4Geo": {"model": "sample4geo_convnext_base", "image_size": 384, "kwargs": {"pretrained": True}},
    }
    table = build_complexity_table(models).set_index("row")
    assert list(table.index) == ["Sample4Geo", "DAC", "CV-Cities", "GeoLink"]  # the paper's rows, in its order
    assert table.loc["GeoLink", "paper_params_M"] == 90.50 and table.loc["GeoLink", "paper_GFLOPs"] == 91.72
    assert table.loc["GeoLink", "params_thop_style_M"] == pytest.approx(90.500868)  # the paper's 90.50M
    assert table.loc["GeoLink", "GMACs_no_attention"] == pytest.approx(91.55, abs=0.01)  # its "91.72 GFLOPs"
    assert table.loc["GeoLink", "GFLOPs_with_attention"] == pytest.approx(221.83, abs=0.01)
    assert table.loc["Sample4Geo", "params_thop_M"] == pytest.approx(87.508224)  # the paper's 87.51M
    assert table.loc["DAC", "status"] == "published, not re-run" and math.isnan(table.loc["DAC", "params_total_M"])
    out = {
        "csv": tmp_path / "t.csv",
        "markdown": tmp_path / "t.md",
        "latex": tmp_path / "t.tex",
        "html": tmp_path / "t.html",
    }
    write_complexity_table(table.reset_index(), **out, synthetic=False)
    assert "| GeoLink | geolink_dinov2_base | 448 | 90.50 | 91.72 | 90.50 |" in out["markdown"].read_text()
    assert pd.read_csv(out["csv"])["benchmark"].eq("real").all()
    assert out["latex"].read_text().count("\\\\") == 5  # header + 4 rows
    assert (
        out["html"].read_text().count("<tr>") == 4 and "<td>geolink_dinov2_base</td>" in out["html"].read_text()
    )  # 4 rows


def test_the_skylink_table_shows_the_challenge_figure_without_a_delta(tmp_path):
    # Two seeds of SkyLink on University-1652 street -> satellite: R@1 40 and 20 over five queries each.
    def street(r1: float, outcomes: list[int]) -> list[dict]:
        per_query = {"rank": outcomes, "AP": [100.0 if r == 0 else 0.0 for r in outcomes]}
        record = {"target": "university1652", "condition": "clean", "height": None, "protocol": "official"}
        return [
            {
                **record,
                "direction": "street_to_satellite",
                "R@1": r1,
                "R@5": 60.0,
                "R@10": 80.0,
                "AP": 30.0,
                "per_query": per_query,
            }
        ]

    files = [
        write_run(tmp_path / "s0.json", 0, street(40.0, [0, 0, 3, 7, 12]), "skylink"),
        write_run(tmp_path / "s1.json", 1, street(20.0, [0, 2, 3, 7, 12]), "skylink"),
    ]
    table = build_table("skylink", load_metrics(files), ROW_VARIANTS, ["skylink", "skylink_no_grem"], n_resamples=200)
    r1 = table[(table["row"] == "SkyLink") & (table["metric"] == "R@1") & (table["direction"] == "street_to_satellite")]
    (row,) = r1.itertuples()
    assert (row.paper, row.ours_mean, row.n_seeds, row.status) == (25.75, 30.0, 2, "re-run here")
    assert math.isnan(row.delta)  # another test set: no difference is computed
    assert row.setting == "U1652→U1652 St→S"
    statuses = table.drop_duplicates("row").set_index("row")["status"].to_dict()
    assert statuses == {
        "SkyLink": "re-run here",
        "w/o GREM": "re-run here",
        "w/o PAFA": "not run in this configuration",
        "w/o 3D": "not run in this configuration",
    }

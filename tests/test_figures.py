"""The paper's figures: the numbers each one draws, checked by hand, and what the configuration makes them read."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_tables import per_query, sues_records, write_run

from geolink.pipeline import Pipeline
from geolink.plots.embedding_tsne import false_matches, tsne_2d
from geolink.plots.feature_pca import pca_rgb
from geolink.plots.loss_curves import curve_table, epoch_losses, loss_curve_figure
from geolink.plots.retrieval_examples import top_k_with_rank
from geolink.plots.sensitivity import sensitivity_values
from geolink.plots.transfer import transfer_figure, transfer_values
from geolink.report import load_metrics


def test_pca_colours_follow_the_directions_of_largest_variance():
    # Four positions in 4 channels: channel 2 spreads most (+-3), then channel 0 (+-2), then channel 3 (+-1),
    # channel 1 is constant. The components are those channels in that order, signs fixed positive.
    x = np.array([[2.0, 5, 3, 1], [-2, 5, 3, -1], [2, 5, -3, -1], [-2, 5, -3, 1]])
    maps = x.T.reshape(1, 4, 2, 2)  # [N=1, C=4, h=2, w=2]: position (i, j) is row 2 i + j of x
    rgb = pca_rgb(maps, low=0, high=100).reshape(4, 3)
    # Min-max scaled to [0, 1]: red follows channel 2, green channel 0, blue channel 3.
    expected = [[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    np.testing.assert_allclose(rgb, expected, atol=1e-9)


def test_top_k_and_the_rank_of_the_first_right_item_by_hand():
    gallery = np.eye(4)  # locations 10, 11, 12, 13
    query = np.array([[0.1, 0.9, 0.3, 0.2], [0.5, 0.1, 0.1, 0.8], [0.0, 0.0, 1.0, 0.0]])
    top, rank = top_k_with_rank(query, gallery, [12, 10, 99], [10, 11, 12, 13], k=2)
    # Query 0 scores 0.1, 0.9, 0.3, 0.2: top-2 = 11, 12; its location 12 is second.
    # Query 1 scores 0.5, 0.1, 0.1, 0.8: top-2 = 13, 10; its location 10 is second.
    # Query 2 has no right item in the gallery: rank 0.
    assert top.tolist() == [[1, 2], [3, 0], [2, 0]] and rank.tolist() == [2, 2, 0]
    assert false_matches(query, np.array([12, 10, 12]), gallery, np.array([10, 11, 12, 13])).tolist() == [
        True,
        True,
        False,
    ]


def test_tsne_keeps_small_sets_drawable():
    features = np.random.default_rng(0).normal(size=(7, 5))
    assert tsne_2d(features).shape == (7, 2)
    assert tsne_2d(features[:2]).shape == (2, 2)  # below t-SNE's minimum (perplexity < N): drawn without it


def test_figure1_draws_same_and_cross_area_recall_at_150_m(tmp_path):
    # GeoLink trained on SUES-200 (same area) with two seeds, and on University-1652 (cross area) with one.
    # At 150 m: seed 0 finds both queries (R@1 100), seed 1 one of two (50): mean 75, std sqrt(1250).
    same0 = sues_records(100.0, 0.0, per_query([0, 0], [100.0, 100.0]), per_query([1, 1], [50.0, 50.0]))
    same1 = sues_records(50.0, 0.0, per_query([0, 3], [100.0, 25.0]), per_query([1, 1], [50.0, 50.0]))
    cross = sues_records(0.0, 0.0, per_query([2, 5], [33.3, 16.7]), per_query([1, 1], [50.0, 50.0]))
    paths = [
        write_run(tmp_path / "a.json", 0, same0, source="sues200"),
        write_run(tmp_path / "b.json", 1, same1, source="sues200"),
        write_run(tmp_path / "c.json", 0, cross, source="university1652"),
    ]
    values = transfer_values(load_metrics(paths), {"GeoLink": "geolink", "CV-Cities": "baseline_2d"})
    values = values.set_index("source")
    assert values.loc["sues200", "mean"] == 75.0 and values.loc["sues200", "area"] == "same"
    assert values.loc["sues200", "std"] == pytest.approx(math.sqrt(1250)) and values.loc["sues200", "n_seeds"] == 2
    assert values.loc["university1652", "mean"] == 0.0 and math.isnan(values.loc["university1652", "std"])  # 1 seed
    assert "denseuav" not in values.index and set(values["model"]) == {"GeoLink"}  # nothing else was run
    settings = {"models": {"GeoLink": "geolink"}, "confidence": 0.95, "resamples": 200, "synthetic": True}
    transfer_figure(load_metrics(paths), settings, tmp_path / "figure1.png")
    assert (tmp_path / "figure1.png").stat().st_size > 10_000


def test_figure7_reads_each_sweep_point_in_table7s_settings(tmp_path):
    base = {"condition": "clean", "protocol": "official", "height": None}
    records = lambda r1: [  # noqa: E731
        {**base, "target": "denseuav", "direction": "drone_to_satellite", "R@1": r1, "AP": r1},
        {**base, "target": "university1652", "direction": "satellite_to_drone", "R@1": r1 / 2, "AP": r1},
    ]
    paths = [
        write_run(tmp_path / "a.json", 0, records(40.0), variant="geolink", source="sues200"),
        write_run(tmp_path / "b.json", 0, records(20.0), variant="lambda_double", source="sues200"),
    ]
    sweeps = {"lambda": [{"variant": "lambda_half", "x": 2.0}, {"variant": "geolink", "x": 4.0},
                         {"variant": "lambda_double", "x": 8.0}]}  # fmt: skip
    values = sensitivity_values(load_metrics(paths), sweeps)
    got = {(r.setting, r.x): r.mean for r in values.itertuples()}
    assert got == {("SUES→DUAV D→S", 4.0): 40.0, ("SUES→DUAV D→S", 8.0): 20.0,
                   ("SUES→U1652 S→D", 4.0): 20.0, ("SUES→U1652 S→D", 8.0): 10.0}  # fmt: skip


def test_figure4_reads_the_epoch_losses_training_logs(tmp_path):
    for run, values in (("a", [3.0, 2.0]), ("b", [5.0, 2.5])):
        folder = tmp_path / run / "plots" / "metrics" / "epoch_loss"
        folder.mkdir(parents=True)
        for term in ("cc_dro_pc", "cc_sat_pc"):
            rows = "".join(f"2026-12-01T00:00:0{i}\t{i}\t{v}\n" for i, v in enumerate(values))
            (folder / f"{term}.tsv").write_text(f"timestamp\tstep\t{term}\n" + rows)
    assert epoch_losses(tmp_path / "a", "cc_dro_pc").to_dict() == {1: 3.0, 2: 2.0}  # dvclive's step 0 is epoch 1
    assert epoch_losses(tmp_path / "missing", "cc_dro_pc") is None
    curves = {"with L_ga": [str(tmp_path / "a"), str(tmp_path / "b")], "without L_ga": []}
    table = curve_table(curves)
    assert len(table) == 2 * 2 * 2 and set(table["curve"]) == {"with L_ga"}
    mean = table[table["term"] == "cc_sat_pc"].groupby("epoch")["value"].mean().to_dict()
    assert mean == {1: 4.0, 2: 2.25}
    loss_curve_figure({"curves": curves, "source": "sues200", "synthetic": False}, tmp_path / "f.png")
    assert (tmp_path / "f.png").is_file()


def test_the_paper_configuration_draws_each_figure_from_the_runs_it_names():
    pipeline = Pipeline.from_files([])
    assert pipeline.paper_figures == ["figure1", "figure4", "figure5", "figure6", "figure7", "retrieval_examples"]
    # Fig. 4: every seed of GeoLink and of the same model without L_ga, trained on SUES-200.
    curves = pipeline.paper_figure_settings("figure4")["curves"]
    assert curves == {
        "with L_ga (GeoLink)": [f"results/paper/train_logs/sues200__geolink__s{s}" for s in range(3)],
        "without L_ga (sc_rd)": [f"results/paper/train_logs/sues200__sc_rd__s{s}" for s in range(3)],
    }
    assert pipeline.paper_figure_settings("figure4")["batch_size"] == 4  # SUES-200's official batch: log 4 is drawn
    # Fig. 5: the first seed of CV-Cities and GeoLink trained on University-1652, SUES-200's weather sets.
    fig5 = pipeline.paper_figure_settings("figure5")
    assert fig5["checkpoints"] == {
        "CV-Cities": "results/paper/checkpoints/university1652__baseline_2d__s0/best.pt",
        "GeoLink": "results/paper/checkpoints/university1652__geolink__s0/best.pt",
    }
    assert list(fig5["weather"]) == ["fog_rain", "fog_snow", "rain_snow", "wind"] and fig5["height"] == 150
    assert pipeline.paper_figure_input("figure6")["weather"] == []
    # Fig. 7: the x of each sweep point from its variant's settings (lambda 4 and hidden size 4096 by default).
    sweeps = pipeline.paper_figure_settings("figure7")["sweeps"]
    assert [p["x"] for p in sweeps["lambda"]] == [1.0, 2.0, 4.0, 8.0]
    assert [p["x"] for p in sweeps["vclub_hidden"]] == [1024, 2048, 4096, 8192]
    assert pipeline.paper_figure_input("figure1") == {"metrics": pipeline.metrics_files()}


def test_a_weather_set_of_another_manifest_is_refused_with_the_file_named(tmp_path):
    import pandas as pd

    from geolink.data.errors import DatasetError
    from geolink.plots.feature_pca import weather_paths

    row = {
        "dataset": "sues200",
        "split": "test",
        "role": "query",
        "view": "drone",
        "location": "0001",
        "altitude": 150.0,
        "folder": "query_drone",
        "lon": None,
        "lat": None,
    }
    clean = pd.DataFrame([{**row, "path": "Testing/150/query_drone/0001/0.jpg"}])
    (tmp_path / "ok.parquet").write_bytes(clean.assign(path="w/Testing/150/query_drone/0001/0.jpg").to_parquet())
    assert weather_paths(clean, {"fog": str(tmp_path / "ok.parquet")})["fog"] == [
        "w/Testing/150/query_drone/0001/0.jpg"
    ]
    (tmp_path / "other.parquet").write_bytes(clean.assign(path="w/Testing/150/query_drone/0001/9.jpg").to_parquet())
    with pytest.raises(
        DatasetError, match=r"other\.parquet has no copy of the clean drone image 0\.jpg of location 0001"
    ):
        weather_paths(clean, {"fog": str(tmp_path / "other.parquet")})

"""geolink plan: the jobs of a configuration, their optimiser steps and a stated model of their GPU hours."""

from __future__ import annotations

import pytest
from conftest import REPO

from geolink.config import load_config
from geolink.pipeline import Pipeline
from geolink.plan import evaluation_images, plan_runs, steps_per_epoch, street_evaluation_images, summarise


@pytest.fixture(scope="module")
def paper_plans():
    return plan_runs(Pipeline(load_config(REPO / "config/config.yaml")))


def test_steps_are_the_batches_the_sampler_cuts(paper_plans):
    # The same counts tests/test_batches.py gets from UniqueLocationBatchSampler on the official structures
    # after the 10 % hold-out: 236, 81 and 9,135 steps per epoch, 40 epochs.
    assert steps_per_epoch("university1652", "cloud_groups", 8, 0.1) == 236
    assert steps_per_epoch("sues200", "cloud_groups", 4, 0.1) == 81
    assert steps_per_epoch("denseuav", "cloud_groups", 4, 0.1) == 9135
    assert steps_per_epoch("university1652", "cloud_groups", 8, 0.0) == 262  # the official trainer's count
    geolink = {p.source: p.steps for p in paper_plans if p.variant == "geolink" and p.seed == 0}
    assert geolink == {"university1652": 9440, "sues200": 3240, "denseuav": 365_400}
    # Sample4Geo's one epoch over every drone image: 631 locations x 54 images / 128.
    sample4geo = next(p for p in paper_plans if p.variant == "sample4geo" and p.source == "university1652")
    assert sample4geo.steps == 631 * 54 // 128 and sample4geo.batch_size == 128


def test_gpu_hours_follow_the_stated_model(paper_plans):
    run = next(p for p in paper_plans if (p.source, p.variant, p.seed) == ("university1652", "geolink", 0))
    # 9,440 steps x 3 passes x 2 views x batch 8 x 221.83 GFLOPs (DINOv2-B + MixVPR at 448 px, attention
    # included; tests/test_models.py) at 60 TFLOP/s.
    assert run.train_hours == pytest.approx(9440 * 3 * 2 * 8 * 221.83e9 / 60e12 / 3600, rel=1e-4)
    # Evaluation embeds every test image of the three targets, SUES-200's drone images once per weather too.
    images = (
        (37_855 + 51_355 + 701 + 951) + (4 * (4_000 + 10_000) * 5 + 4 * (80 + 200)) + (2_331 + 9_099 + 4_662 + 18_198)
    )
    assert evaluation_images("sues200", 4) == 4 * (4_000 + 10_000) * 5 + 4 * (80 + 200)
    assert run.eval_hours == pytest.approx(images * 221.83e9 / 60e12 / 3600, rel=1e-4)


def test_the_paper_configuration_runs_every_table_and_figure_variant(paper_plans):
    lines = {line["variant"]: line for line in summarise(paper_plans)}
    assert len(paper_plans) == 108 and all(line["seeds"] == [0, 1, 2] for line in lines.values())
    for variant in ("mme_only", "only_ga", "only_sc", "only_rd", "ga_sc", "ga_rd", "sc_rd"):  # Table 5
        assert lines[variant]["sources"] == ["university1652", "sues200"]
    for variant in ("experts_1", "experts_7", "experts_15", "lambda_half", "vclub_double"):  # Table 7, Fig. 7
        assert lines[variant]["sources"] == ["sues200"]
    assert lines["baseline_2d"]["model"] == "baseline_dinov2_base" and lines["sample4geo"]["runs"] == 9
    for variant in ("skylink", "skylink_no_grem", "skylink_no_pafa", "skylink_no_3d"):  # the SkyLink table
        assert lines[variant]["sources"] == ["university1652"]
    assert lines["skylink_no_3d"]["model"] == "skylink_dinov2_large_2d"


def test_a_skylink_run_counts_street_photos_and_four_views_per_test_image(paper_plans):
    (run,) = [p for p in paper_plans if p.variant == "skylink" and p.seed == 0]
    # query_images: (50,218 - 37,854 - 701) / 701 street and web photos per location, over the 631 locations left
    # after the 10 % validation hold-out, in batches of 4: int(631 * 11,663 / 701) // 4 = 2,624 steps per epoch.
    assert run.steps == 2_624 * 40
    # Evaluation: 2,579 + 2,921 street and 701 + 951 satellite test images, four views each.
    assert street_evaluation_images(True) == 4 * (2_579 + 2_921 + 701 + 951) == 28_608


def test_synthetic_sources_have_no_published_counts():
    plans = plan_runs(Pipeline(load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml")))
    assert plans and all(p.steps is None and p.train_hours is None for p in plans)

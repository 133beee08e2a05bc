"""End to end: the Snakemake workflow on the tiny synthetic configuration, as a user runs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import BIN, REPO, TINY, copy_workflow, snakemake


@pytest.mark.e2e
def test_all_builds_manifests_and_contact_sheet(finished_run):
    work = finished_run
    for dataset in ("university1652", "sues200", "denseuav"):
        assert (work / f"results/tiny/manifests/{dataset}_summary.csv").is_file()
        assert (work / f"logs/tiny/manifest/{dataset}.log").is_file()
    assert (work / "results/tiny/figures/synthetic_contact_sheet.png").stat().st_size > 10_000
    u1652 = pd.read_parquet(work / "results/tiny/manifests/university1652.parquet")
    counts = u1652.groupby("folder").size().to_dict()
    # .test/config.yaml: 3 train, 2 query, 1 distractor location, 3 drone views each.
    assert counts["drone"] == 9 and counts["query_drone"] == 6 and counts["gallery_drone"] == 9
    assert counts["gallery_satellite"] == 3
    sues = pd.read_parquet(work / "results/tiny/manifests/sues200.parquet")
    # 5 locations, round(0.6 * 5) = 3 for training, 4 heights, 1 frame per height.
    assert (sues.folder == "gallery_drone").sum() == 5 * 4
    assert (sues.folder == "query_drone").sum() == 2 * 4
    assert (work / "data/tiny/sues200/geometry/0001.npz").is_file()
    # Every source trained once and evaluated on every dataset in both directions; University-1652's run (Table 4's
    # source, config/synthetic.yaml's weather.sources) also under the four weather conditions of SUES-200.
    metrics = pd.read_csv(work / "results/tiny/tables/metrics.csv")
    assert sorted(metrics.source.unique()) == ["denseuav", "sues200", "university1652"]
    assert len(metrics[(metrics.source == "sues200") & (metrics.target == "university1652")]) == 2
    sues = metrics[
        (metrics.source == "denseuav") & (metrics.target == "sues200") & (metrics.direction == "drone_to_satellite")
    ]
    assert sorted(sues.condition.unique()) == ["clean"]
    weather = metrics[(metrics.source == "university1652") & (metrics.target == "sues200")]
    assert sorted(weather.condition.unique()) == ["clean", "fog_rain", "fog_snow", "rain_snow", "wind"]
    clean = sues[sues.condition == "clean"]
    assert sorted(clean.height.astype(str)) == ["150.0", "200.0", "250.0", "300.0", "mean"]  # per height + the mean
    # The paper's tables: ours beside the printed values, one seed said as such.
    table2 = pd.read_csv(work / "results/tiny/tables/table2.csv")
    geolink = table2[(table2.row == "GeoLink") & (table2.setting == "U1652→SUES D→S") & (table2.metric == "R@1")]
    u1652_to_sues = metrics[(metrics.source == "university1652") & (metrics.target == "sues200")]
    expected = u1652_to_sues[
        (u1652_to_sues.condition == "clean")
        & (u1652_to_sues.direction == "drone_to_satellite")
        & (u1652_to_sues.height.astype(str) == "mean")
    ]["R@1"]
    assert geolink.ours_mean.item() == pytest.approx(expected.item()) and geolink.paper.item() == 93.44
    assert geolink.n_seeds.item() == 1 and geolink.ci_low.item() <= geolink.ours_mean.item() <= geolink.ci_high.item()
    for table in ("table2", "table3", "table4", "table5", "table6", "table7"):
        markdown = (work / f"results/tiny/tables/{table}.md").read_text()
        assert "Synthetic benchmark — not comparable with the paper's numbers." in markdown
        assert (work / f"results/tiny/tables/{table}.tex").is_file()
    assert metrics["R@1"].between(0, 100).all()
    assert (work / "results/tiny/checkpoints/denseuav__geolink__s0/best.pt").is_file()
    # The paper's figures, drawn from the logged metrics, training logs and checkpoints.
    for figure in ("figure1", "figure4", "figure5", "figure6", "figure7", "retrieval_examples"):
        assert (work / f"results/tiny/figures/{figure}.png").stat().st_size > 10_000, figure
    # geolink locate as a stage: DenseUAV's run tuned on synthetic training areas, the synthetic area indexed with it,
    # its photos placed with torch and with the ONNX export (the same answers from both) and with the untuned run.
    locate = json.loads((work / "results/tiny/locate/summary.json").read_text())
    assert locate["torch"]["n_with_gps"] == 3 and locate["agreement"]["same_answers"]
    assert locate["untuned"]["n_with_gps"] == 3 and locate["untuned"]["checkpoint"].endswith(
        "denseuav__geolink__s0/best.pt"
    )
    assert locate["torch"]["median_m"] == pytest.approx(locate["onnx"]["median_m"], abs=0.01)
    assert (work / "results/tiny/figures/locate_errors.png").stat().st_size > 10_000
    epoch_loss = work / "results/tiny/train_logs/sues200__geolink__s0/plots/metrics/epoch_loss/cc_dro_pc.tsv"
    assert len(epoch_loss.read_text().splitlines()) == 1 + 1  # header + one row per epoch (.test: 1 epoch)


@pytest.mark.e2e
def test_the_report_shows_every_table_and_figure(finished_run, tmp_path):
    report = tmp_path / "report.html"
    command = [str(BIN / "geolink"), "report", "--configfile", *TINY[1:], "--output", str(report)]
    first = subprocess.run(command, cwd=finished_run, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    html = report.read_text()
    for item in ("tables/table2.html", "tables/table6.html", "tables/metrics.html", "figures/figure5.png"):
        assert f"results/tiny/{item}" in html, item
    assert "not comparable with the paper" in html
    again = subprocess.run(command, cwd=finished_run, capture_output=True, text=True)
    assert again.returncode == 0 and "is up to date" in again.stdout


@pytest.mark.e2e
def test_second_run_does_nothing(finished_run):
    result = snakemake(finished_run, *TINY)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.e2e
def test_unreadable_image_fails_the_job_with_a_clean_message(finished_run, tmp_path):
    work = copy_workflow(tmp_path / "copy")
    shutil.copytree(finished_run / "data", work / "data")
    bad = next((work / "data/tiny/denseuav/DenseUAV/train/drone").glob("*/H80.JPG"))
    bad.write_bytes(b"not a jpeg")
    result = snakemake(work, *TINY, "--forcerun", "manifest", "--", "results/tiny/manifests/denseuav.parquet")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cannot read image" in output and str(bad.relative_to(work)) in output
    assert "Traceback" not in (work / "logs/tiny/manifest/denseuav.log").read_text()


def test_config_error_is_one_clear_message(tmp_path):
    work = copy_workflow(tmp_path)
    (work / "bad.yaml").write_text("synth:\n  image_size: big\n")
    result = snakemake(work, *TINY, "bad.yaml", "-n")
    assert result.returncode != 0
    assert re.search(
        r"Configuration key 'synth.image_size' in \S*bad.yaml must be of type integer, but is 'big'",
        result.stdout + result.stderr,
    )


def test_missing_local_dataset_stops_a_real_run_before_any_job(tmp_path):
    work = copy_workflow(tmp_path)
    result = snakemake(work)  # the paper configuration, without its data
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "University-1652 is not publicly downloadable" in output
    assert "set datasets.university1652.root" in output and "config/synthetic.yaml" in output
    assert not (work / "results").exists() and not (work / "logs").exists()  # nothing ran


def test_paper_dry_run_lists_every_job_without_the_data(tmp_path):
    work = copy_workflow(tmp_path)
    result = snakemake(work, "-n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.MULTILINE))
    # config/config.yaml: 3 datasets, 4 reconstruction shards each, the paper's matrix of 96 runs (geolink, the
    # 2D baseline and Sample4Geo on each source; Table 5's ablations on two, Table 7's experts and Fig. 7's
    # sensitivity on SUES-200; 3 seeds each: tests/test_plan.py) and SkyLink's 12 (itself and 3 ablations on
    # University-1652), each evaluated by one job on all 3 targets, SUES-200 weather sets for Table 4's four
    # conditions; the missing datasets stand in as jobs.
    assert counts["missing_input"] == "3" and counts["manifest"] == "3" and counts["reconstruct"] == "12"
    assert counts["train"] == "108" and counts["evaluate"] == "108" and counts["weather"] == "4"
    assert counts["paper_table"] == "6" and counts["complexity_table"] == "1"  # Tables 2, 3, 4, 5, 7, SkyLink's; 6
    assert counts["paper_figure"] == "6"  # Figs. 1, 4, 5, 6, 7 and the retrieval examples
    assert counts["challenge_answer"] == "1"  # the UAVM answer file of SkyLink's first seed
    assert int(counts["total"]) == 260
    assert output.count("Missing input (a real run stops here)") == 3
    assert "results/paper/checkpoints/sues200__geolink__s0/best.pt" in output
    assert not (work / "results").exists()


def test_lint_is_clean():
    result = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.e2e
def test_a_dataset_archive_is_acquired_then_indexed(finished_run, tmp_path):
    # The synthetic DenseUAV tree packed as the archive a user would have: the workflow extracts it
    # (rule acquire, nothing downloaded) and indexes the extracted copy like any released tree.
    import tarfile

    work = copy_workflow(tmp_path / "copy")
    archive = tmp_path / "DenseUAV.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(finished_run / "data/tiny/denseuav/DenseUAV", arcname="DenseUAV")
    (work / "archive.yaml").write_text(
        f"datasets:\n  denseuav: {{source: archive, archive: {archive}}}\n"
        "  university1652: {activate: false}\n  sues200: {activate: false}\n"
        "manifest: {check_counts: warn}\n"  # a synthetic tree cannot have the published counts
    )
    result = snakemake(work, *TINY, "archive.yaml", "--", "results/tiny/manifests/denseuav.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "data/raw/denseuav/extracted/DenseUAV/Dense_GPS_ALL.txt").is_file()
    acquired = pd.read_parquet(work / "results/tiny/manifests/denseuav.parquet")
    original = pd.read_parquet(finished_run / "results/tiny/manifests/denseuav.parquet")
    assert len(acquired) == len(original) and acquired.path.str.startswith("data/raw/denseuav/extracted/").all()
    log = (work / "logs/tiny/manifest/denseuav.log").read_text()
    assert re.search(r"WARNING .*differs from the published release: drone: \d+ images, published 6,768", log)


@pytest.mark.e2e
def test_weather_sets_are_hashed_and_frozen_across_worker_counts(finished_run, tmp_path):
    import hashlib
    import json

    work = finished_run
    conditions = ["fog_rain", "fog_snow", "rain_snow", "wind"]  # the default, Table 4's four
    clean = pd.read_parquet(work / "results/tiny/manifests/sues200.parquet")
    test_drone = clean[(clean.split == "test") & (clean.view == "drone")]
    first = {}
    for condition in conditions:
        folder = work / "data/tiny/weather/sues200" / condition
        manifest = json.loads((folder / "hashes.json").read_text())
        assert manifest["imgaug_version"] == "0.4.0" and len(manifest["files"]) == len(test_drone)
        for rel, digest in manifest["files"].items():
            assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
        first[condition] = manifest["files"]
        table = pd.read_parquet(work / f"results/tiny/manifests/weather/sues200/{condition}.parquet")
        drone = table.view == "drone"
        assert table.path[drone].str.startswith(f"data/tiny/weather/sues200/{condition}/").all()
        assert not table.path[~drone].str.startswith("data/tiny/weather").any()  # satellites stay clean
    assert (work / "results/tiny/figures/weather_sues200.png").stat().st_size > 10_000

    # A second copy renders the sets again with one worker instead of two: the same bytes.
    again = copy_workflow(tmp_path / "again")
    shutil.copytree(work / "data", again / "data")
    shutil.copytree(work / "results", again / "results")
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--cores",
            "1",
            *TINY,
            "--forcerun",
            "weather",
            "--",
            "results/tiny/figures/weather_sues200.png",
        ],
        cwd=again,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 workers" in (again / "logs/tiny/weather/sues200/wind.log").read_text()
    for condition in conditions:
        files = json.loads((again / "data/tiny/weather/sues200" / condition / "hashes.json").read_text())["files"]
        assert files == first[condition]


@pytest.mark.e2e
def test_a_dataset_is_acquired_from_a_pinned_hugging_face_repo(finished_run, tmp_path, hub):
    # The synthetic DenseUAV tree packed as a zip in a (fake) Hugging Face dataset repository at a pinned commit.
    import io
    import zipfile

    from conftest import FAKE_HF_REPO, FAKE_HF_REVISION

    buffer = io.BytesIO()
    root = finished_run / "data/tiny/denseuav"
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted((root / "DenseUAV").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())
    hub.files = {"README.md": b"# DenseUAV\n", "DenseUAV.zip": buffer.getvalue()}
    hub.lfs = {"DenseUAV.zip"}
    work = copy_workflow(tmp_path / "copy")
    (work / "hf.yaml").write_text(
        f"datasets:\n  denseuav: {{source: huggingface, repo: {FAKE_HF_REPO}, revision: '{FAKE_HF_REVISION}',"
        " files: ['*.zip']}\n  university1652: {activate: false}\n  sues200: {activate: false}\n"
        "manifest: {check_counts: 'off'}\n"
    )
    result = snakemake(work, *TINY, "hf.yaml", "--", "results/tiny/manifests/denseuav.parquet")  # inherits HF_ENDPOINT
    assert result.returncode == 0, result.stderr[-3000:]
    acquired = pd.read_parquet(work / "results/tiny/manifests/denseuav.parquet")
    original = pd.read_parquet(finished_run / "results/tiny/manifests/denseuav.parquet")
    assert len(acquired) == len(original) and acquired.path.str.startswith("data/raw/denseuav/extracted/").all()
    assert (work / "data/raw/denseuav/hub/DenseUAV.zip").is_file()


def test_pinned_checkpoints_are_fetched_before_their_consumers(tmp_path):
    work = copy_workflow(tmp_path)
    commit = "0123456789abcdef0123456789abcdef01234567"
    (work / "pinned.yaml").write_text(
        f"weights:\n  dinov2: {{revision: '{commit}'}}\n  vggt: {{revision: '{commit}'}}\n"
        "reconstruct:\n  sues200: {backend: vggt}\n"
        "train:\n  model: {name: geolink_tiny, kwargs: {pretrained: true}}\n"
    )
    result = snakemake(
        work, *TINY, "pinned.yaml", "-n", "-p", "--", "results/tiny/checkpoints/sues200__geolink__s0/best.pt"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "output: data/weights/dinov2" in output and "output: data/weights/vggt" in output
    # The train job reads the fetched file, not the Hugging Face cache.
    train_job = output[output.index("rule train:") :]
    assert "data/weights/dinov2" in train_job[: train_job.index("jobid")]


def snapshot(work) -> dict[str, tuple[int, int]]:
    """Size and mtime (ns) of every product file of a checkout."""
    return {
        p.relative_to(work).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for top in ("data", "results", "logs")
        for p in (work / top).rglob("*")
        if p.is_file()
    }


@pytest.mark.e2e
def test_a_finished_run_and_the_paper_live_side_by_side(finished_run):
    before = snapshot(finished_run)
    paper = snakemake(finished_run, "-n")  # the paper's plan, in the checkout of the finished run
    assert paper.returncode == 0 and "results/paper/" in paper.stdout and "results/tiny/" not in paper.stdout
    assert snakemake(finished_run).returncode != 0  # a real paper run without its data stops before any job
    again = snakemake(finished_run, *TINY, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert snapshot(finished_run) == before  # not a file of the finished run changed


def test_a_training_job_asks_for_the_configured_gpus_and_evaluation_for_one(tmp_path):
    # compute.train_gpus: 2 -> rule train's gpu resource is 2 (its script then launches torchrun); the local
    # default profile's `resources: gpu=1` would cap it to 1, so the machine offers 4 here.
    work = copy_workflow(tmp_path)
    (work / "gpus.yaml").write_text("compute:\n  train_gpus: 2\n")
    targets = ["results/tiny/metrics/sues200__geolink__s0/sues200.json"]
    result = snakemake(work, *TINY, "gpus.yaml", "-n", "--resources", "gpu=4", "--", *targets)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    blocks = {block.split(":", 1)[0]: block for block in output.split("rule ")[1:]}
    assert "gpu=2" in blocks["train"] and "gpu=1" in blocks["evaluate"]

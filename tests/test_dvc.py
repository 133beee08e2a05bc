"""The DVC layer: dvc.yaml generated from the Snakemake job graph, and DVC and Snakemake on a copy of the repo.

Fast tests check that both committed dvc.yaml files (synthetic at the root, the paper's in pipelines/paper/)
are current, --check, and that a stage's params are the keys its settings read. The e2e tests run the tiny
synthetic workflow in a temporary git repository: through DVC (repro twice, Snakemake agrees afterwards, a
changed key reruns only the stages that read it, metrics and plots, push/pull and `snakemake --touch`), and
through Snakemake followed by `dvc commit` (DVC agrees afterwards).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's snakemake and dvc live next to its python
TEST_CONFIGS = ["config/synthetic.yaml", ".test/config.yaml"]
TIMEOUT = 300  # seconds per command; the whole e2e test takes about 30 s on 2 cores

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def run(args: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command with the venv's tools first on PATH; stdout and stderr merged into .stdout."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    proc = subprocess.run(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT
    )
    if check and proc.returncode != 0:
        pytest.fail(f"`{' '.join(args)}` exited {proc.returncode} in {cwd}:\n{proc.stdout}")
    return proc


def generator(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return run([str(BIN / "geolink"), "dvc", *args], cwd, check=False)


def copy_repo(dest: Path) -> Path:
    """Copy the checkout's source files (tracked + untracked, not ignored) into ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        check=True,
        timeout=60,
    ).stdout.decode()
    paths = {p for p in listed.split("\0") if p}
    # Explicitly wanted even if someone ignores them; the caches and bytecode are not.
    for extra in [".test", ".dvc", ".dvcignore", "dvc.yaml", "src"]:
        root = REPO / extra
        found = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]
        for path in found:
            rel = path.relative_to(REPO)
            if not {"__pycache__", "cache", "tmp"} & set(rel.parts[:-1]) and not rel.name.endswith(".pyc"):
                paths.add(rel.as_posix())
    paths.discard("dvc.lock")  # the copy records its own runs
    for rel in sorted(paths):
        src = REPO / rel
        if not (src.exists() or src.is_symlink()):
            continue  # deleted in the working tree, still in the index
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    return dest


def stage_names(repo: Path) -> list[str]:
    return sorted(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])


def products(repo: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime (ns) of every file under data/ and results/."""
    found = {}
    for top in ["data", "results"]:
        for path in sorted((repo / top).rglob("*")):
            if path.is_file():
                found[path.relative_to(repo).as_posix()] = (
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    path.stat().st_mtime_ns,
                )
    return found


@pytest.mark.parametrize(
    ("configfiles", "output"), [(["config/synthetic.yaml"], "dvc.yaml"), ([], "pipelines/paper/dvc.yaml")]
)
def test_committed_dvc_yaml_is_current(configfiles, output, tmp_path):
    # The paper's graph is built without its data (none is in a fresh copy), and comes out the same.
    repo = copy_repo(tmp_path / "repo")
    assert not (repo / "data").exists()
    args = ["--check", *(["--configfile", *configfiles] if configfiles else []), "--output", output]
    proc = generator(*args, cwd=repo)
    assert proc.returncode == 0, proc.stdout
    assert "is up to date" in proc.stdout


def test_check_fails_on_modified_copy(tmp_path):
    stale = tmp_path / "dvc.yaml"
    text = (REPO / "dvc.yaml").read_text()
    assert "--cores all" in text
    stale.write_text(text.replace("--cores all", "--cores 1", 1))
    proc = generator("--check", "--configfile", "config/synthetic.yaml", "--output", str(stale))
    assert proc.returncode == 1, proc.stdout
    assert "is stale: run geolink dvc --configfile config/synthetic.yaml" in proc.stdout
    assert "+    cmd:" in proc.stdout  # a diff shows what changed
    assert stale.read_text() != text  # --check never writes


def test_stage_params_are_the_keys_the_stage_reads():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    def params(name: str) -> set[str]:
        return {key for entry in stages[name].get("params", []) for keys in entry.values() for key in keys}

    assert "train.loss" in params("train-sues200-geolink-0")  # config/synthetic.yaml sets train.loss.weights.sc
    assert not any(k.startswith("train") for k in params("reconstruct-sues200-0"))
    # Each key as deep as it is read and as the files define it: synthetic.yaml sets sues200's backend and heights.
    assert params("reconstruct-sues200-0") == {
        "datasets.sues200.source",
        "reconstruct.n_shards",
        "reconstruct.sues200.backend",
        "reconstruct.sues200.heights",
    }
    assert params("points-sues200") == {"points"}  # the whole section goes to collect_point_bank
    assert "metrics" in yaml.safe_load((REPO / "dvc.yaml").read_text())


def git_repo(tmp_path: Path) -> Path:
    repo = copy_repo(tmp_path / "repo")
    run(["git", "init", "-q"], repo)
    run(["geolink", "dvc", "--configfile", *TEST_CONFIGS], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "copy"], repo)
    return repo


@pytest.mark.e2e
def test_dvc_repro_then_snakemake_agrees_push_pull_round_trip(tmp_path):
    repo = git_repo(tmp_path)
    stages = stage_names(repo)
    # synth x3, sues200_split, manifest x3, weather x4 conditions (SUES-200 only), its contact
    # sheet, contact_sheet, reconstruct x3 (one shard each in .test/config.yaml), points x3,
    # point_cloud_figure, train x3 sources, evaluate x3 runs (each on the 3 targets), metrics_table, paper_table x5,
    # complexity_table, paper_figure x6, locate_map, locate_train_areas, locate_tune, locate_index, locate_onnx, locate
    assert len(stages) == 3 + 1 + 3 + 4 + 1 + 1 + 3 + 3 + 1 + 3 + 3 + 1 + 5 + 1 + 6 + 6, stages

    # (a) The first repro runs every stage; the second one runs none and touches nothing.
    first = run(["dvc", "repro"], repo).stdout
    for name in stages:
        assert f"Running stage '{name}'" in first, first
    before = products(repo)
    assert "results/tiny/figures/synthetic_contact_sheet.png" in before
    assert any(p.startswith("data/tiny/sues200/") for p in before)
    # DVC wrote no .gitignore of its own (the top-level one already ignores data/ and results/).
    assert run(["git", "status", "--porcelain"], repo).stdout.splitlines() == ["?? dvc.lock"]

    second = run(["dvc", "repro"], repo).stdout
    assert "Running stage" not in second, second
    assert products(repo) == before  # same bytes, same mtimes
    # Snakemake agrees with what DVC ran, with no step in between.
    configs = ["--configfile", *TEST_CONFIGS]
    assert "Nothing to be done" in run(["snakemake", "-n", *configs], repo).stdout

    # (b) Metrics and plots are declared: DVC reads them.
    shown = run(["dvc", "metrics", "show"], repo).stdout
    assert "results/tiny/tables/metrics.json" in shown
    assert "sues200__geolink__s0.sues200.clean.drone_to_satellite" in shown
    run(["dvc", "metrics", "diff"], repo)
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], repo)
    assert (tmp_path / "plots/index.html").is_file()

    # (c) A key only training reads reruns training and what follows it, not reconstruction.
    tiny = repo / ".test/config.yaml"
    text = tiny.read_text()
    tiny.write_text(text.replace("hidden_dim: 16", "hidden_dim: 8"))
    status = run(["dvc", "status", "dvc.yaml"], repo).stdout  # plain `dvc status` also lists the paper's stages
    assert "train-sues200-geolink-0" in status and "reconstruct" not in status and "manifest" not in status
    tiny.write_text(text)

    # (d) Push to the committed default remote (../geolink-dvc-remote), lose every local copy,
    # pull: byte-identical files and a clean status.
    run(["git", "add", "dvc.lock"], repo)
    run(["git", "commit", "-q", "-m", "lock"], repo)
    run(["dvc", "push"], repo)
    remote = tmp_path / "geolink-dvc-remote"
    assert remote.is_dir() and any(remote.rglob("*")), "dvc push did not fill ../geolink-dvc-remote"
    for gone in ["data", "results", ".dvc/cache", ".snakemake", "logs"]:  # like a fresh clone
        shutil.rmtree(repo / gone, ignore_errors=True)
    assert run(["dvc", "status", "-q", "dvc.yaml"], repo, check=False).returncode == 1
    run(["dvc", "pull", "dvc.yaml"], repo)
    after = products(repo)
    assert {p: sha for p, (sha, _) in after.items()} == {p: sha for p, (sha, _) in before.items()}
    assert "Data and pipelines are up to date" in run(["dvc", "status", "dvc.yaml"], repo).stdout

    # (e) The one documented step after a pull: touch records Snakemake's metadata, then Snakemake agrees.
    run(["snakemake", "--touch", "--forceall", *configs, "--cores", "1"], repo)
    dry = run(["snakemake", "-n", *configs], repo).stdout
    assert "Nothing to be done" in dry, dry
    assert "missing provenance" not in dry, dry
    assert {p: sha for p, (sha, _) in products(repo).items()} == {p: sha for p, (sha, _) in before.items()}
    assert run(["dvc", "status", "-q", "dvc.yaml"], repo, check=False).returncode == 0


@pytest.mark.e2e
def test_snakemake_run_then_dvc_commit_agrees(tmp_path):
    repo = git_repo(tmp_path)
    configs = ["--configfile", *TEST_CONFIGS]
    run(["snakemake", *configs, "--cores", "2"], repo)
    run(["dvc", "commit", "-f", "-q", "--no-relink", "dvc.yaml"], repo)  # the one step, in make synthetic
    assert "Data and pipelines are up to date" in run(["dvc", "status", "dvc.yaml"], repo).stdout
    assert "Nothing to be done" in run(["snakemake", "-n", *configs], repo).stdout
    assert "didn't change, skipping" in run(["dvc", "repro"], repo).stdout

"""The SLURM profile (profiles/slurm) through a test double of sbatch, sacct and srun (tests/slurm_double/).

The double records every submission and runs the job on this machine, so these tests check what a cluster
would be asked for (GPUs, partition, memory, wall time, account) and that the workflow completes through the
Snakemake SLURM executor plugin, without a cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, REPO, TINY, copy_workflow

DOUBLE = REPO / "tests" / "slurm_double"
PROFILE = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
PARTITIONS = yaml.safe_load((REPO / "profiles/slurm" / PROFILE["slurm-partition-config"]).read_text())["partitions"]
ACCOUNT = PROFILE["default-resources"]["slurm_account"]
GPU_PARTITIONS = {name for name, limits in PARTITIONS.items() if limits.get("max_gpu", 0) > 0}
CPU_PARTITIONS = set(PARTITIONS) - GPU_PARTITIONS
#: Rules whose jobs always ask for GPUs: train compute.train_gpus, the others one. reconstruct asks for one with the
#: VGGT backend only.
GPU_RULES = {"train", "evaluate", "challenge_answer", "locate_tune", "locate_index", "locate"}


def workflow_rules() -> dict[str, int]:
    """Every rule of workflow/rules/ with its threads (1 when it sets none)."""
    rules = {}
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for name, body in re.findall(r"^\s*rule (\w+):(.*?)(?=^\s*rule |\Z)", smk.read_text(), re.M | re.S):
            threads = re.search(r"^\s*threads:\s*(\d+)", body, re.M)
            rules[name] = int(threads.group(1)) if threads else 1
    return rules


def double_env(state: Path) -> dict[str, str]:
    """This environment with the double first on PATH, told the profile's account and partitions (as a cluster
    knows its own), and without the SLURM_* variables of a SLURM job the tests may run in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    env["PATH"] = os.pathsep.join([str(DOUBLE), str(BIN), env.get("PATH", "")])
    env["SLURMDOUBLE_DIR"] = str(state)
    env["SLURMDOUBLE_ACCOUNTS"] = ACCOUNT
    env["SLURMDOUBLE_PARTITIONS"] = ",".join(
        f"{name}:{limits.get('max_gpu', 0)}" for name, limits in PARTITIONS.items()
    )
    env["HF_HUB_OFFLINE"] = "1"  # no job of these tests may download anything
    return env


def submissions(state: Path) -> list[dict]:
    """The sbatch calls, each with its rule (from the plugin's --comment rule_<rule>[_wildcards_<...>])."""
    records = [json.loads(line) for line in (state / "sbatch.jsonl").read_text().splitlines()]
    for record in records:
        comment = record["options"].get("comment", [""])[-1]
        record["rule"] = comment.removeprefix("rule_").split("_wildcards_")[0]
    return records


def option(record: dict, *names: str) -> str | None:
    for name in names:
        if name in record["options"]:
            return record["options"][name][-1]
    return None


def run_snakemake(work: Path, state: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    command = [
        str(BIN / "snakemake"),
        "--workflow-profile",
        "profiles/slurm",
        # The plugin waits 40 s before its first status check and after each finished job (a cluster's pace);
        # 1 s keeps the test short.
        "--slurm-init-seconds-before-status-checks",
        "1",
        *args,
    ]
    return subprocess.run(command, cwd=work, env=double_env(state), capture_output=True, text=True, timeout=timeout)


def test_profile_gives_every_rule_memory_and_runtime_and_no_global_gpu_cap():
    # One place for every rule's request: a rule missing here would silently get the defaults, and Snakemake
    # accepts set-resources for a rule that does not exist (a typo) without a word.
    assert set(PROFILE["set-resources"]) == set(workflow_rules())
    for rule, resources in PROFILE["set-resources"].items():
        assert "runtime" in resources and len({"mem_mb", "mem_mb_per_cpu"} & resources.keys()) == 1, rule
        # GPU counts come from the workflow: a `gpu` here would override compute.train_gpus and reconstruct's
        # backend-dependent 0 or 1.
        assert not {"gpu", "gpus", "gres", "slurm_partition"} & resources.keys(), rule
        assert "gpu_model" not in resources or rule in GPU_RULES, rule
        # CPUs per GPU, so that a training job on N GPUs gets N times the data-loading CPUs.
        assert ("cpus_per_gpu" in resources) == (rule in GPU_RULES) and "cpus_per_task" not in resources, rule
    assert not {"gpu", "gpu_model", "gres", "slurm_partition"} & PROFILE["default-resources"].keys()
    assert "resources" not in PROFILE  # a global gpu=1 would let one GPU job run at a time on the whole cluster
    assert GPU_PARTITIONS and CPU_PARTITIONS


def test_the_docs_table_shows_what_the_profile_requests():
    text = (REPO / "docs/workflow.md").read_text()
    section = text.split("## Running on a SLURM cluster", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| `")
    ]
    threads = workflow_rules()
    expected = set()
    for rule, r in PROFILE["set-resources"].items():
        cpus = f"{r['cpus_per_gpu']} per GPU" if "cpus_per_gpu" in r else str(threads[rule])
        memory = f"{r['mem_mb_per_cpu']} per CPU" if "mem_mb_per_cpu" in r else str(r["mem_mb"])
        expected.add((f"`{rule}`", cpus, memory, str(r["runtime"])))
    assert {(rule, cpus, memory, runtime) for rule, _, _, cpus, memory, runtime in rows} == expected
    assert {rule for rule, gpus, *_ in rows if gpus not in ("0", "1 with VGGT, else 0")} == {
        f"`{rule}`" for rule in GPU_RULES
    }


def test_the_double_reports_failed_jobs_and_refuses_what_a_cluster_refuses(tmp_path):
    env = double_env(tmp_path / "state")
    gpu_partition, cpu_partition = sorted(GPU_PARTITIONS)[0], sorted(CPU_PARTITIONS)[0]

    def sbatch(*args: str) -> subprocess.CompletedProcess:
        common = ["--parsable", "--job-name", "run1", "--output", "logs/%j.log", "-A", ACCOUNT]
        return subprocess.run(
            [str(DOUBLE / "sbatch"), *common, *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    ok = sbatch("-p", cpu_partition, "--wrap=echo done")
    bad = sbatch("-p", gpu_partition, "--gpus=1", "--wrap=echo failing; exit 3")
    slow = sbatch("-p", cpu_partition, "-t", "0:01", "--wrap=sleep 60")  # a 1-second limit
    assert ok.returncode == bad.returncode == slow.returncode == 0
    ids = {ok.stdout.strip(): "COMPLETED", bad.stdout.strip(): "FAILED", slow.stdout.strip(): "TIMEOUT"}
    sacct = [str(DOUBLE / "sacct"), "-X", "--parsable2", "--noheader", "--format=JobIdRaw,State", "--name", "run1"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = dict(line.split("|") for line in subprocess.check_output(sacct, env=env, text=True).splitlines())
        if states == ids:
            break
        time.sleep(0.2)
    assert states == ids
    assert (tmp_path / f"logs/{bad.stdout.strip()}.log").read_text() == "failing\n"
    # What sacct says of a failed job's step (the plugin asks, to say why), and nothing for a finished one.
    reason = subprocess.check_output([str(DOUBLE / "sacct"), "-j", f"{bad.stdout.strip()}.0"], env=env, text=True)
    assert "exit status 3" in reason
    done = subprocess.check_output([str(DOUBLE / "sacct"), "-j", f"{ok.stdout.strip()}.0"], env=env, text=True)
    assert done == ""
    # Refused at submission, as SLURM does: GPUs on a partition without any, an account the user does not have.
    gpu_on_cpu = sbatch("-p", cpu_partition, "--gpus=1", "--wrap=true")
    assert gpu_on_cpu.returncode == 1 and "Requested node configuration is not available" in gpu_on_cpu.stderr
    stranger = subprocess.run(
        [str(DOUBLE / "sbatch"), "-A", "someone_else", "-p", cpu_partition, "--wrap=true"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert stranger.returncode == 1 and "Invalid account" in stranger.stderr
    assert len(submissions(tmp_path / "state")) == 5  # every call recorded, refused ones too


@pytest.mark.e2e
def test_gpu_rules_ask_for_gpus_and_the_workflow_completes_through_sbatch(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason='the SLURM plugin: pip install -e ".[test]"')
    work = copy_workflow(tmp_path / "workflow")
    state = tmp_path / "slurm"
    # One training run and its evaluation (feature extraction), with every CPU stage they need. Training asks for
    # 2 GPUs (compute.train_gpus); on this configuration's CPU it trains in one process all the same.
    (work / "gpus.yaml").write_text("compute:\n  train_gpus: 2\n")
    target = "results/tiny/metrics/sues200__geolink__s0/sues200.json"
    # Targets first: --configfile takes every name after it.
    result = run_snakemake(work, state, target, *TINY, "gpus.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    assert (work / target).is_file()
    assert (work / "results/tiny/checkpoints/sues200__geolink__s0/best.pt").is_file()

    records = submissions(state)
    by_rule: dict[str, list[dict]] = {}
    for record in records:
        by_rule.setdefault(record["rule"], []).append(record)
    assert set(by_rule) == {"synth", "sues200_split", "manifest", "reconstruct", "points", "train", "evaluate"}
    assert len(records) == 11  # 3 synth, 1 split, 3 manifest, 1 reconstruct, 1 points, 1 train, 1 evaluate
    gpus_of = {"train": "2", "evaluate": "1"}
    for record in records:
        rule, wanted = record["rule"], PROFILE["set-resources"][record["rule"]]
        assert option(record, "account", "A") == ACCOUNT, rule
        assert option(record, "time", "t") == str(wanted["runtime"]), rule
        if "mem_mb_per_cpu" in wanted:
            assert option(record, "mem-per-cpu") == str(wanted["mem_mb_per_cpu"]) and option(record, "mem") is None
        else:
            assert option(record, "mem") == str(wanted["mem_mb"]), rule
        gpus = option(record, "gpus", "G")
        if rule in GPU_RULES:
            assert gpus == gpus_of[rule] and option(record, "partition", "p") in GPU_PARTITIONS, rule
            assert option(record, "cpus-per-gpu") == str(wanted["cpus_per_gpu"]), rule
        else:  # reconstruct too: the synthetic configuration's groundtruth backend needs no GPU
            assert gpus is None and option(record, "gres") is None, rule
            assert option(record, "partition", "p") in CPU_PARTITIONS, rule
    # Inside each job the slurm-jobstep executor starts the rule with srun, asking for the same GPUs.
    steps = {s["jobid"]: s["argv"] for s in map(json.loads, (state / "srun.jsonl").read_text().splitlines())}
    assert steps.keys() == {r["jobid"] for r in records}
    for record in records:
        gpus = [arg for arg in steps[record["jobid"]] if arg.startswith("--gpus=")]
        assert gpus == ([f"--gpus={gpus_of[record['rule']]}"] if record["rule"] in GPU_RULES else []), record["rule"]

    # With the VGGT backend, reconstruct asks for a GPU on a GPU partition. The weights are an empty folder, so
    # the job fails on the node, and the double's FAILED state makes Snakemake fail and say so.
    (work / "no_weights").mkdir()
    (work / "vggt.yaml").write_text(
        yaml.safe_dump({"reconstruct": {"sues200": {"backend": "vggt"}, "vggt": {"weights": "no_weights"}}})
    )
    failed = run_snakemake(
        work, state, "results/tiny/recon/sues200/shard0", "--retries", "0", *TINY, "vggt.yaml", timeout=180
    )
    assert failed.returncode != 0
    assert "SLURM status is: 'FAILED'" in failed.stderr, failed.stderr[-4000:]
    (vggt,) = submissions(state)[len(records) :]
    assert vggt["rule"] == "reconstruct" and option(vggt, "gpus", "G") == "1"
    assert option(vggt, "partition", "p") in GPU_PARTITIONS

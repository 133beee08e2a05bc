"""Benchmark: ``retrieval_metrics`` at University-1652 size, wall time and peak memory, one process per case.

Cases (random L2-normalised 4096-d float32 features, clustered by label so the metrics are not trivial):

* ``d2s``: drone -> satellite, 37,855 queries (701 labels) x 951 gallery (701 + 250 distractor labels),
  one positive per query.
* ``s2d``: satellite -> drone, 701 queries x 51,355 gallery (951 labels x 54 images, plus one), ~54 positives
  per query.

* ``u160k``: University-160k, drone -> satellite: the 37,855 queries x 168,437 gallery items (the 951 of
  University-1652 plus 167,486 distractors, each a label no query has, as the official loader's file-stem
  labels). Not run by default (about 25 minutes on 2 cores): four subprocesses on the same features, timed and
  measured apart: ``retrieval_metrics`` (official protocol, every query's rank and AP), a bare faiss exact
  top-10 search (``faiss.knn``, inner product), and the implementation that preceded counting ranks (commit
  ``PREVIOUS``, loaded from git history) twice: as it was, scoring with NumPy's matmul, and with its score
  product done by ``torch.mm`` as ours is. The metrics must be identical; per query, ranks and APs must be
  identical given the same scores (NumPy's and torch's BLAS round some dot products differently in the last
  bit, which can swap two near-equal scores: those queries are counted). Targets: peak RSS under 4 GiB and
  time within 1.5 x faiss's.

Each case runs in its own subprocess with 2 BLAS threads, so ``ru_maxrss`` is that case's peak alone. The
report gives the peak of the whole process (features included) and the RSS just before the call, whose
difference bounds what the metric itself needed. Both protocols are timed, then ``ranked_indices`` with
k = 100 (DenseUAV's SDM lists). As a check at full dimension, the first ``--check-queries`` queries are also
scored by the reference per-query loop (argsort of the score vector, junk removed, CMC and trapezoid AP) and
the results compared; its time, extrapolated to all queries, is reported for scale.
Target: <= 10 s and <= 2 GB per case. Appends one JSON line (what="retrieval") to benchmarks/results.jsonl.

    python benchmarks/bench_retrieval.py
    python benchmarks/bench_retrieval.py --cases s2d --no-record
    python benchmarks/bench_retrieval.py --cases u160k
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DIM = 4096
THREADS = 2
CASES = {
    # name: (n_queries, query labels, gallery labels)
    "d2s": (37_855, lambda: np.arange(37_855) % 701, lambda: np.arange(951)),
    "s2d": (701, lambda: np.arange(701), lambda: np.append(np.repeat(np.arange(951), 54), 0)),
}
#: University-160k: the 951 University-1652 satellites plus this many distractors (docs/datasets.md §1.1).
DISTRACTORS = 167_486
#: The retrieval_metrics that sorted every score row, before ranks were counted (5d4d5b1).
PREVIOUS = "c6d5a20"
#: Stages of the u160k case, each in its own process: ours, the faiss baseline, the previous implementation as it
#: was (NumPy scores) and with torch.mm scores.
U160K_STAGES = ("ours", "faiss", "previous", "previous_torch_scores")


def unit_features(labels: np.ndarray, centres: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """``[N, DIM]`` float32 unit rows near their label's centre (pure noise for labels beyond the centres: the
    distractors), built in blocks so no float64 copy exists."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(labels), DIM), dtype=np.float32)
    for start in range(0, len(labels), 4096):
        block = out[start : start + 4096]
        rng.standard_normal(block.shape, dtype=np.float32, out=block)
        block *= noise
        block_labels = labels[start : start + 4096]
        near = block_labels < len(centres)
        block[near] += centres[block_labels[near]]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def u160k_features(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The u160k case's queries, query labels, gallery and gallery labels (the same in every stage's process)."""
    q_labels = np.arange(37_855) % 701
    g_labels = np.arange(951 + DISTRACTORS)  # distractor i: label 951 + i, which no query has
    centres = np.random.default_rng(seed).standard_normal((951, DIM), dtype=np.float32) / np.sqrt(DIM)
    queries = unit_features(q_labels, centres, noise=0.1, seed=seed + 1)
    gallery = unit_features(g_labels, centres, noise=0.1, seed=seed + 2)
    return queries, q_labels, gallery, g_labels


#: The score product in the previous implementation's source, replaced for its torch.mm stage.
PREVIOUS_PRODUCT = "queries[start:stop] @ gallery.T"


def previous_implementation(torch_scores: bool = False):
    """``geolink.evaluation.retrieval`` as of commit ``PREVIOUS``, loaded from git history as a module; with
    ``torch_scores``, its score product computed by ``torch.mm`` (as the current code computes it)."""
    source = subprocess.run(
        ["git", "show", f"{PREVIOUS}:src/geolink/evaluation/retrieval.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("previous_retrieval", loader=None)
    module = importlib.util.module_from_spec(spec)
    if torch_scores:
        if source.count(PREVIOUS_PRODUCT) != 1:
            raise RuntimeError(f"{PREVIOUS}'s retrieval.py no longer holds {PREVIOUS_PRODUCT!r} once")
        source = source.replace(PREVIOUS_PRODUCT, "_torch_product(queries[start:stop], gallery)")
        module.__dict__["_torch_product"] = _torch_product
    exec(compile(source, f"{PREVIOUS}:retrieval.py", "exec"), module.__dict__)
    return module


def _torch_product(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    import torch

    return torch.mm(torch.from_numpy(queries), torch.from_numpy(gallery).T).numpy()


def run_u160k_stage(stage: str, seed: int, out_dir: str) -> dict:
    """One stage of the u160k case in this process: its seconds and peak RSS; ranks and APs go to out_dir."""
    queries, q_labels, gallery, g_labels = u160k_features(seed)
    result: dict = {"rss_before_mb": round(rss_mb())}
    if stage == "faiss":  # the bare search: numpy and faiss only, as a user would call it
        import faiss

        t0 = time.perf_counter()
        faiss.knn(queries, gallery, 10, metric=faiss.METRIC_INNER_PRODUCT)
        result["seconds"] = round(time.perf_counter() - t0, 2)
    else:
        import torch  # noqa: F401  (loaded in every pipeline job that computes metrics)

        from geolink.evaluation.retrieval import METRIC_BYTES_PER_SCORE, _chunk_rows

        if stage == "ours":
            from geolink.evaluation.retrieval import retrieval_metrics
        else:
            retrieval_metrics = previous_implementation(stage == "previous_torch_scores").retrieval_metrics
        # The chunk ours picks by default, for every implementation: the same queries go through each product.
        chunk = _chunk_rows(None, len(gallery), METRIC_BYTES_PER_SCORE)
        t0 = time.perf_counter()
        metrics = retrieval_metrics(
            queries, q_labels, gallery, g_labels, protocol="official", per_query=True, chunk_size=chunk
        )
        result["seconds"] = round(time.perf_counter() - t0, 2)
        per_query = metrics.pop("per_query")
        np.savez(Path(out_dir) / f"{stage}.npz", rank=per_query["rank"], ap=per_query["AP"])
        result["metrics"] = metrics
    result["peak_rss_mb"] = round(peak_mb())
    result["features_mb"] = round((queries.nbytes + gallery.nbytes) / 2**20)
    return result


def run_u160k(seed: int, env: dict, run_stages: list[str]) -> dict:
    """The u160k case: each stage in its own process, then the ranks compared and the targets checked."""
    stages = {}
    with TemporaryDirectory() as out_dir:
        for stage in run_stages:
            command = [sys.executable, __file__, "--child", f"u160k:{stage}", "--seed", str(seed), "--out", out_dir]
            completed = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            stages[stage] = json.loads(completed.stdout.strip().splitlines()[-1])
            print(f"    u160k {stage}: {stages[stage]['seconds']} s, peak RSS {stages[stage]['peak_rss_mb']} MB")
        ours = np.load(Path(out_dir) / "ours.npz")
        comparison = {}
        for stage in [s for s in ("previous", "previous_torch_scores") if s in stages]:
            other = np.load(Path(out_dir) / f"{stage}.npz")
            moved = ours["rank"] != other["rank"]
            comparison[stage] = {
                "metrics_identical": stages["ours"]["metrics"] == stages[stage]["metrics"],
                "per_query_identical": bool(not moved.any() and np.array_equal(ours["ap"], other["ap"])),
                "queries_ranked_otherwise": int(moved.sum()),
                "max_rank_difference": int(np.abs(ours["rank"] - other["rank"]).max()),
                "max_ap_difference": float(np.abs(ours["ap"] - other["ap"]).max()),
            }
    ratio = stages["ours"]["seconds"] / stages["faiss"]["seconds"]
    peak_bytes = stages["ours"]["peak_rss_mb"] * 2**20
    return {
        "n_queries": 37_855,
        "n_gallery": 951 + DISTRACTORS,
        "dim": DIM,
        "stages": stages,
        "previous_commit": PREVIOUS,
        "compared_with_previous": comparison,
        "seconds_over_faiss_top10": round(ratio, 3),
        "peak_rss_bytes": peak_bytes,
        "targets_met": {"peak_rss_under_4gib": peak_bytes < 4 * 2**30, "within_1.5x_faiss": ratio <= 1.5},
    }


def reference_metrics(qf, ql, gf, gl) -> tuple[float, float]:
    """R@1 and AP (fractions summed over the given queries) by the reference per-query loop (docs/datasets.md §4.2)."""
    r1 = ap = 0.0
    junk = np.flatnonzero(gl == -1)
    for i in range(len(ql)):
        index = np.argsort(gf @ qf[i])[::-1]
        good = np.flatnonzero(gl == ql[i])
        if good.size == 0:
            continue
        index = index[~np.isin(index, junk)]
        hits = np.flatnonzero(np.isin(index, good))
        r1 += hits[0] == 0
        for j, row in enumerate(hits):
            ap += ((j / row if row else 1.0) + (j + 1) / (row + 1)) / 2 / len(good)
    return r1, ap


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_case(name: str, check_queries: int, seed: int) -> dict:
    """One case in this process; returns its timings and memory."""
    import torch  # noqa: F401  (scores are torch.mm products; every caller in the pipeline has torch loaded)

    from geolink.evaluation import effective_gallery_mask, ranked_indices, retrieval_metrics

    n_queries, make_q_labels, make_g_labels = CASES[name]
    q_labels, g_labels = make_q_labels(), make_g_labels()
    centres = np.random.default_rng(seed).standard_normal((951, DIM), dtype=np.float32) / np.sqrt(DIM)
    queries = unit_features(q_labels, centres, noise=0.1, seed=seed + 1)
    gallery = unit_features(g_labels, centres, noise=0.1, seed=seed + 2)
    rss_before, peak_before = rss_mb(), peak_mb()

    result: dict = {"n_queries": n_queries, "n_gallery": len(gallery), "dim": DIM}
    for protocol in ("official", "sample4geo"):
        t0 = time.perf_counter()
        metrics = retrieval_metrics(queries, q_labels, gallery, g_labels, protocol=protocol)
        result[protocol] = {
            "seconds": round(time.perf_counter() - t0, 2),
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items() if k != "protocol"},
        }
    t0 = time.perf_counter()
    ranked_indices(queries, gallery, k=100, gallery_mask=effective_gallery_mask(q_labels, g_labels, "official"))
    result["ranked_indices_k100_seconds"] = round(time.perf_counter() - t0, 2)
    result["peak_rss_mb"] = round(peak_mb())
    result["rss_before_mb"] = round(rss_before)
    result["peak_before_mb"] = round(peak_before)
    result["features_mb"] = round((queries.nbytes + gallery.nbytes) / 2**20)

    # Reference loop on the first queries: R@1 and AP against ours, and its time scaled up to all queries.
    # Exact float32 ties between a positive and another item are ordered arbitrarily by the reference's
    # unstable argsort and by index here, so AP may differ slightly where such ties exist; they are counted.
    n = min(check_queries, n_queries)
    if n:
        t0 = time.perf_counter()
        ref_r1, ref_ap = reference_metrics(queries[:n], q_labels[:n], gallery, g_labels)
        seconds = time.perf_counter() - t0
        ours = retrieval_metrics(queries[:n], q_labels[:n], gallery, g_labels)
        scores = queries[:n] @ gallery.T
        tied = 0
        for i in range(n):
            positive = g_labels == q_labels[i]
            tied += int(np.isin(scores[i, positive], scores[i, ~positive]).sum())
        result["reference_check"] = {
            "queries": n,
            "r1_abs_diff": abs(ours["R@1"] - 100 * ref_r1 / n),
            "ap_abs_diff": abs(ours["AP"] - 100 * ref_ap / n),
            "positives_tied_with_a_negative": tied,
            "reference_seconds_extrapolated": round(seconds / n * n_queries, 1),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES) + ["u160k"], default=["d2s", "s2d"])
    parser.add_argument("--check-queries", type=int, default=200, help="queries also run through the reference loop")
    parser.add_argument(
        "--u160k-stages",
        nargs="+",
        choices=U160K_STAGES,
        default=list(U160K_STAGES),
        help="stages of the u160k case (ours and faiss always run; each previous one takes about 8 minutes)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    parser.add_argument("--out", help=argparse.SUPPRESS)  # internal: where a u160k stage leaves its ranks
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results.jsonl")
    args = parser.parse_args()

    if args.child:
        if args.child.startswith("u160k:"):
            print(json.dumps(run_u160k_stage(args.child.split(":", 1)[1], args.seed, args.out)))
        else:
            print(json.dumps(run_case(args.child, args.check_queries, args.seed)))
        return

    # BLAS thread counts must be set before numpy loads, hence a fresh process per case (OPENBLAS_CORETYPE is
    # left as the machine has it).
    env = os.environ | {name: str(THREADS) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    cases = {}
    for name in args.cases:
        if name == "u160k":
            stages = ["ours", "faiss"] + [s for s in args.u160k_stages if s.startswith("previous")]
            cases[name] = row = run_u160k(args.seed, env, stages)
            print(
                f"u160k: {row['n_queries']} x {row['n_gallery']} x {DIM}: ours {row['stages']['ours']['seconds']} s "
                f"= {row['seconds_over_faiss_top10']} x faiss top-10 ({row['stages']['faiss']['seconds']} s), peak "
                f"RSS {row['stages']['ours']['peak_rss_mb']} MiB; targets {row['targets_met']}"
            )
            for stage, check in row["compared_with_previous"].items():
                print(f"    against {PREVIOUS} ({stage}): {check}")
            continue
        command = [sys.executable, __file__, "--child", name, "--check-queries", str(args.check_queries)]
        command += ["--seed", str(args.seed)]
        completed = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        cases[name] = json.loads(completed.stdout.strip().splitlines()[-1])
        row = cases[name]
        print(
            f"{name}: {row['n_queries']} x {row['n_gallery']} x {DIM}: official {row['official']['seconds']} s, "
            f"sample4geo {row['sample4geo']['seconds']} s, "
            f"ranked_indices(k=100) {row['ranked_indices_k100_seconds']} s; "
            f"peak RSS {row['peak_rss_mb']} MB (features {row['features_mb']} MB, RSS before the call "
            f"{row['rss_before_mb']} MB)"
        )
        for protocol in ("official", "sample4geo"):
            m = row[protocol]
            print(
                f"    {protocol:<10} R@1 {m['R@1']:.2f}  R@5 {m['R@5']:.2f}  R@10 {m['R@10']:.2f}  "
                f"R@top1% {m['R@top1%']:.2f} (K={m['top1%_k']})  legacy {m['R@top1%_legacy']:.2f} "
                f"(K={m['top1%_legacy_k']})  AP {m['AP']:.2f}  gallery {m['n_gallery_effective']}"
            )
        if "reference_check" in row:
            check = row["reference_check"]
            print(
                f"    reference loop on {check['queries']} queries: |R@1 diff| {check['r1_abs_diff']:.2g}, "
                f"|AP diff| {check['ap_abs_diff']:.2g} (points; {check['positives_tied_with_a_negative']} positives "
                f"tie a negative exactly); extrapolated to all queries {check['reference_seconds_extrapolated']} s"
            )

    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "what": "retrieval",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "blas_threads": THREADS,
        "cases": cases,
    }
    if not args.no_record:
        with open(REPO / "benchmarks" / "results.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()

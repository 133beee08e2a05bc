"""The UAVM 2025 challenge's submission: ``answer.txt`` (in ``answer.zip``) from a street -> satellite checkpoint.

The ACM MM 2025 UAVM workshop challenge (github.com/spyflying/ACMMM2025Workshop-UAV, README "Challenge") asks, for
each of University-1652's 2,579 street queries, the names of the 10 most similar of its 951 satellite images, on a
name-masked copy of the test set (flat folders ``workshop_query_street/`` and ``workshop_gallery_satellite/``).
The file format, as the organisers' example ``answer.zip`` and SkyLink's release write it (docs/method.md):

- one line per query, in the order of the challenge's query list ``query_street_name.txt`` (one query file name per
  line), no header and no query name on the line;
- the top-k satellite names of the query, best first, separated by one TAB; a name is the satellite file's name
  without its extension (``ptHYAN3piG3YwOft``, or ``0839`` for University-1652's ``gallery_satellite/0839/0839.jpg``);
- LF line ends, a newline after the last line too;
- submitted as ``answer.zip`` holding ``answer.txt`` at its root ("otherwise the evaluation will fail").

Descriptors come from the 2D inference path, with the release's flip x rot90 test-time augmentation
(``geolink.evaluation.tta``) and optionally k-reciprocal re-ranking (``geolink.evaluation.rerank``).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geolink.atomic import atomic_output
from geolink.data.errors import DatasetError
from geolink.data.manifest import IMAGE_EXTENSIONS, is_image_name
from geolink.errors import UserError

__all__ = [
    "answer_recall",
    "answer_rows",
    "answer_text",
    "find_images",
    "order_queries",
    "read_query_list",
    "write_answer",
    "write_challenge_answer",
]


def read_query_list(path: str | Path) -> list[str]:
    """The query file names of a challenge query list, in file order (blank lines skipped, whitespace stripped).

    Raises:
        UserError: the file is missing or empty, or names a query twice.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"query list {path} does not exist; give the challenge's query_street_name.txt (one query file name per "
            "line), or leave skylink.answer.query_list null to list the query folder's images in name order."
        )
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise UserError(f"query list {path} names no query; it should hold one query file name per line.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"query list {path} names {repeated[0]!r} more than once; each query must have one line.")
    return names


def find_images(folder: str | Path) -> list[Path]:
    """Every image under ``folder`` (flat, as the challenge's folders, or in ``<ID>/`` sub-folders, as University-
    1652's), sorted by path.

    Raises:
        DatasetError: the folder is missing or holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist; point the command at the extracted test folder.")
    images = sorted(p for p in folder.rglob("*") if is_image_name(p.name) and p.is_file())
    if not images:
        raise DatasetError(f"image folder {folder} holds no image ({', '.join(sorted(IMAGE_EXTENSIONS))}).")
    return images


def order_queries(images: Sequence[Path], query_list: Sequence[str] | None) -> list[Path]:
    """The query images in the query list's order (each list entry matched by file name), or all of them in name
    order without a list.

    Raises:
        UserError: a listed name has no image, or two images share a listed name.
    """
    if query_list is None:
        return sorted(images, key=lambda p: (p.name, str(p)))
    by_name: dict[str, list[Path]] = {}
    for image in images:
        by_name.setdefault(image.name, []).append(image)
    ordered = []
    for name in query_list:
        matches = by_name.get(name, [])
        if len(matches) != 1:
            problem = "no image" if not matches else f"{len(matches)} images ({matches[0]}, {matches[1]})"
            raise UserError(
                f"the query list names {name!r}, but the query folder has {problem} of that name; give the query "
                "folder that goes with this list."
            )
        ordered.append(matches[0])
    return ordered


def answer_rows(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    gallery_names: Sequence[str],
    top_k: int = 10,
    rerank: dict | None = None,
) -> list[list[str]]:
    """The top-``top_k`` gallery names of each query, best first.

    Args:
        query_features: ``[Q, D]`` L2-normalised descriptors, in answer order.
        gallery_features: ``[G, D]`` L2-normalised descriptors.
        gallery_names: ``[G]`` names written to the file (file stems).
        top_k: names per line (at most G).
        rerank: ``{"k1", "k2", "lambda"}`` for k-reciprocal re-ranking, or None for the plain dot-product ranking
            (faiss exact search, ``geolink.evaluation.search.top_k``; ties broken by the lower gallery index).
    """
    if rerank is not None:
        from geolink.evaluation.rerank import rerank_top_k

        top = rerank_top_k(
            query_features, gallery_features, top_k, k1=rerank["k1"], k2=rerank["k2"], lambda_value=rerank["lambda"]
        )
    else:
        from geolink.evaluation.search import top_k as search_top_k

        _, top = search_top_k(query_features, gallery_features, top_k)
    return [[gallery_names[g] for g in row] for row in top]


def answer_text(rows: Sequence[Sequence[str]]) -> str:
    """The content of ``answer.txt``: one TAB-separated line per query, LF after every line."""
    return "".join("\t".join(row) + "\n" for row in rows)


def write_answer(out_dir: str | Path, rows: Sequence[Sequence[str]]) -> tuple[Path, Path]:
    """Write ``answer.txt`` and ``answer.zip`` (``answer.txt`` at its root) into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    text = answer_text(rows)
    with atomic_output(out_dir / "answer.txt") as tmp:
        tmp.write_text(text, newline="\n")
    with atomic_output(out_dir / "answer.zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("answer.txt", text)
    return out_dir / "answer.txt", out_dir / "answer.zip"


def answer_recall(rows: Sequence[Sequence[str]], true_names: Sequence[str], ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Recall@K (%) of an answer: the share of lines whose first K names hold the query's true satellite name
    (what the challenge scores where the truth is known, e.g. University-1652's unmasked test set)."""
    hits = [
        next((rank for rank, name in enumerate(row) if name == truth), None)
        for row, truth in zip(rows, true_names, strict=True)
    ]
    return {f"R@{k}": 100.0 * sum(h is not None and h < k for h in hits) / max(1, len(hits)) for k in ks}


def write_challenge_answer(
    checkpoint: str | Path,
    query_dir: str | Path,
    gallery_dir: str | Path,
    out_dir: str | Path,
    *,
    query_list: str | Path | None = None,
    top_k: int = 10,
    tta: bool = True,
    rerank: dict | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 64,
) -> dict:
    """Embed the challenge's queries and gallery with a checkpoint's 2D encoder and write ``answer.txt`` and
    ``answer.zip`` into ``out_dir``, with ``summary.json``: the settings, the counts and, where the query folders are
    University-1652's ``<ID>/`` sub-folders and the gallery names are IDs, the answer's Recall@1/5/10.

    Args:
        rerank: ``{"k1", "k2", "lambda"}`` of k-reciprocal re-ranking (``skylink.answer.rerank``), or None for none.

    Raises:
        UserError: a bad query list, folder or checkpoint (the message names it and says what to do).
    """
    from geolink.device import resolve_precision, select_device
    from geolink.evaluation.run import extract_features, load_checkpoint

    queries = order_queries(find_images(query_dir), read_query_list(query_list) if query_list else None)
    gallery = find_images(gallery_dir)
    names = [p.stem for p in gallery]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})[0]
        raise DatasetError(f"gallery folder {gallery_dir} has two images named {repeated!r} (extensions aside).")
    dev = select_device(device, job="the challenge answer")
    precision = resolve_precision(dev, precision)
    model, state = load_checkpoint(str(checkpoint), dev)
    size = state["settings"]["image_size"]

    def embed(paths: list[Path]) -> np.ndarray:
        return extract_features(model, [str(p) for p in paths], size, batch_size, dev, precision=precision, tta=tta)

    rows = answer_rows(embed(queries), embed(gallery), names, min(top_k, len(gallery)), rerank)
    write_answer(out_dir, rows)
    summary = {
        "checkpoint": str(checkpoint),
        "queries": len(queries),
        "gallery": len(gallery),
        "top_k": top_k,
        "tta": tta,
        "rerank": rerank,
        "query_order": str(query_list) if query_list else "query images in name order",
    }
    labelled = all(p.parent != Path(query_dir) for p in queries) and all(n.isdigit() for n in names)
    if labelled:  # University-1652's own layout: the query's folder is its location, a satellite's name too
        summary["recall"] = answer_recall(rows, [p.parent.name for p in queries])
    with atomic_output(Path(out_dir) / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return summary

"""Localising photos against a tile index, and writing the answers (JSON, CSV) and their error statistics.

Photos are read, embedded and searched a batch at a time, so any number of them runs in bounded memory. For each
photo the answer holds its top-k tiles (score, tile id, centre in WGS 84 and in the map's CRS), the position
estimate (:mod:`geolink.locate.estimate`) and, when the photo's EXIF records where it was taken, the truth and the
estimate's error in metres (great-circle distance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from geolink.atomic import atomic_output
from geolink.locate.errors import LocateError
from geolink.locate.estimate import estimate_position
from geolink.locate.exif import read_gps, read_heading
from geolink.locate.geo import haversine_m
from geolink.locate.maps import north_up, read_photo

#: File suffixes taken from a folder of photos.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
#: Photos read, embedded and searched at once.
PHOTO_BATCH = 64
#: The shares of photos within these distances are reported.
WITHIN_M = (25, 50)


def collect_photos(inputs: list[str | Path]) -> list[Path]:
    """The photos named: files as given, folders searched recursively for :data:`PHOTO_SUFFIXES`, sorted.

    Every photo's header is read here, before any is embedded, so a file that is not an image stops a long batch
    at once rather than after the photos before it (a file cut short is still found when its pixels are read).
    """
    photos: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                raise LocateError(
                    f"folder {item.absolute()} holds no photos (looked for {', '.join(PHOTO_SUFFIXES)}, also in "
                    "sub-folders); give the folder the drone photos are in, or the files themselves."
                )
            photos += found
        elif item.is_file():
            photos.append(item)
        else:
            raise LocateError(f"photo {item.absolute()} does not exist.")
    for photo in photos:
        try:
            with Image.open(photo):
                pass
        except Exception as err:  # PIL reports foreign files through several exception types
            raise LocateError(
                f"photo {photo.absolute()} is not an image that can be read ({type(err).__name__}: {err}). Give "
                "JPEG, PNG or TIFF files, or leave this one out."
            ) from None
    return photos


def default_radius(index_meta: dict) -> float:
    """Agreement radius when none is given: 3/4 of a tile, which at the default overlap of 0.5 reaches the best
    tile's eight neighbours (1 and 1.41 strides away) and no tile beyond them."""
    return 0.75 * float(index_meta["map"]["footprint_m"])


def locate_photos(photos: list[Path], index, encoder, k: int = 5, radius_m: float | None = None, progress=True):
    """Answers for ``photos`` (see the module docstring), in their order; ``index`` is a :class:`TileIndex`."""
    index.check_encoder(encoder)
    radius_m = default_radius(index.meta) if radius_m is None else radius_m
    tiles = index.tiles
    answers = []
    with tqdm(total=len(photos), unit="photo", disable=not progress) as bar:
        for start in range(0, len(photos), PHOTO_BATCH):
            batch = photos[start : start + PHOTO_BATCH]
            headings = [read_heading(p) for p in batch]
            images = [read_photo(p) for p in batch]
            if encoder.identity.north_up:  # the encoder was tuned on north-up photos: turn those with a heading
                images = [north_up(im, h) if h is not None else im for im, h in zip(images, headings, strict=True)]
            scores, ids = index.search(encoder(images), k)
            for photo, heading, row_scores, row_ids in zip(batch, headings, scores, ids, strict=True):
                top = tiles.iloc[row_ids]
                estimate = estimate_position(top["lat"].to_numpy(), top["lon"].to_numpy(), row_scores, radius_m)
                answer = {"image": str(photo), **estimate, "truth_lat": None, "truth_lon": None, "error_m": None}
                answer["heading"] = heading
                answer["north_up"] = bool(encoder.identity.north_up and heading is not None)
                truth = read_gps(photo)
                if truth is not None:
                    answer["truth_lat"], answer["truth_lon"] = truth
                    answer["error_m"] = float(haversine_m(truth[0], truth[1], estimate["lat"], estimate["lon"]))
                answer["matches"] = [
                    {
                        "rank": rank,
                        "tile": int(t.tile),
                        "score": float(score),
                        "lat": float(t.lat),
                        "lon": float(t.lon),
                        "x": float(t.x),
                        "y": float(t.y),
                    }
                    for rank, (score, t) in enumerate(zip(row_scores, top.itertuples(), strict=True), start=1)
                ]
                answers.append(answer)
            bar.update(len(batch))
    return answers


def error_summary(answers: list[dict]) -> dict:
    """Median, 90th percentile and shares within :data:`WITHIN_M` of the errors of the photos with a GPS truth."""
    errors = np.array([a["error_m"] for a in answers if a["error_m"] is not None], dtype=float)
    summary = {"n_photos": len(answers), "n_with_gps": int(errors.size)}
    if errors.size:
        summary.update({"median_m": float(np.median(errors)), "p90_m": float(np.percentile(errors, 90))})
        summary.update({f"within_{m}m": float((errors <= m).mean()) for m in WITHIN_M})
    return summary


def csv_rows(answers: list[dict]) -> list[dict]:
    """One row per photo: the estimate, the truth and error, then rank-numbered columns for each top-k tile."""
    rows = []
    for a in answers:
        keys = ("image", "lat", "lon", "method", "n_agree", "heading", "north_up", "truth_lat", "truth_lon", "error_m")
        row = {key: a[key] for key in keys}
        for m in a["matches"]:
            row.update({f"top{m['rank']}_{key}": m[key] for key in ("tile", "score", "lat", "lon")})
        rows.append(row)
    return rows


def write_answers(answers: list[dict], out: str | Path, context: dict) -> dict[str, Path]:
    """Write ``answers.json`` (answers, error summary, ``context``) and ``answers.csv`` into the folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "answers.json", "csv": out / "answers.csv"}
    with atomic_output(paths["json"]) as tmp:
        tmp.write_text(json.dumps({**context, "summary": error_summary(answers), "answers": answers}, indent=1))
    with atomic_output(paths["csv"]) as tmp:
        pd.DataFrame(csv_rows(answers)).to_csv(tmp, index=False)
    return paths


def format_answer(answer: dict) -> str:
    """One line for the terminal."""
    best = answer["matches"][0]
    line = (
        f"{answer['image']}: {answer['lat']:.6f}, {answer['lon']:.6f} ({answer['method']}, {answer['n_agree']} "
        f"tile(s)); best tile {best['tile']} score {best['score']:.3f}"
    )
    if answer["error_m"] is not None:
        line += f"; EXIF GPS error {answer['error_m']:.1f} m"
    return line

"""The HTML page of ``geolink locate``: each photo beside its best tiles, and the answer drawn on the map.

One self-contained file (images inlined as base64): per photo, the photo, its top-k tiles with their scores, and
the map with the outlines of those tiles (the best in red), the estimate (a cross) and the EXIF position when the
photo has one (a ring). The map picture is the index's overview (GeoTIFF maps); a tile table's map is drawn as its
tiles' outlines on a blank plane (equirectangular, fine at a map's scale).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from geolink.atomic import atomic_output
from geolink.locate.geo import to_local
from geolink.locate.maps import GeoTiffMap, read_photo

THUMB = 160
MAP_SIDE = 520
BLANK_SIDE = 800


def _data_uri(image: Image.Image, side: int = THUMB) -> str:
    image = image.copy()
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


class MapCanvas:
    """Where things go on the page's map picture: tile outlines and lat/lon points in picture pixels."""

    def __init__(self, index):
        self.index = index
        self._map = None  # the GeoTIFF, opened for the first tile thumbnail (it may have moved since indexing)
        meta, tiles = index.meta, index.tiles
        overview = index.folder / "overview.jpg"
        if overview.is_file() and "col" in tiles:
            self.picture = Image.open(overview).convert("RGB")
            self.scale = float(meta["overview_scale"])
            from rasterio.transform import Affine

            self._to_pixels = ~Affine(*meta["map"]["transform"])  # map CRS -> map pixel (col, row)
            self.crs = meta["map"]["crs"]
            self.geotiff = True
        else:  # a tile table: an equirectangular plane around the tiles
            self.geotiff = False
            self.lat0, self.lon0 = float(tiles["lat"].mean()), float(tiles["lon"].mean())
            local = to_local(tiles["lat"], tiles["lon"], self.lat0, self.lon0)
            half = float(meta["map"]["footprint_m"] or 0) / 2
            lo, hi = local.min(axis=0) - half, local.max(axis=0) + half
            self.metres = float((hi - lo).max()) or 1.0
            self.origin = (lo[0], hi[1])
            self.picture = Image.new("RGB", (BLANK_SIDE, BLANK_SIDE), (236, 236, 230))
            self.scale = BLANK_SIDE / self.metres

    def points(self, lat, lon) -> np.ndarray:
        """``[N, 2]`` picture pixels (u right, v down) of WGS 84 points."""
        lat, lon = np.atleast_1d(lat).astype(float), np.atleast_1d(lon).astype(float)
        if self.geotiff:
            from rasterio.warp import transform

            xs, ys = transform("EPSG:4326", self.crs, list(lon), list(lat))
            cols, rows = self._to_pixels @ (np.asarray(xs), np.asarray(ys))
            return np.stack([cols, rows], axis=1) * self.scale
        local = to_local(lat, lon, self.lat0, self.lon0)
        return np.stack([local[:, 0] - self.origin[0], self.origin[1] - local[:, 1]], axis=1) * self.scale

    def outline(self, tile) -> tuple[float, float, float, float]:
        """(u, v, width, height) of a tile's outline in picture pixels."""
        if self.geotiff:
            return tuple(float(v) * self.scale for v in (tile.col, tile.row, tile.width, tile.height))
        (u, v), side = self.points(tile.lat, tile.lon)[0], float(self.index.meta["map"]["footprint_m"]) * self.scale
        return u - side / 2, v - side / 2, side, side

    def thumbnail(self, tile) -> Image.Image:
        """The tile's picture: its file (tile tables), else its window of the map (or of the overview)."""
        if not self.geotiff:
            return Image.fromarray(read_photo(tile.path, "tile"))
        described = self.index.meta["map"]
        if self._map is None and Path(described["path"]).is_file():  # once: a page may show thousands of tiles
            self._map = GeoTiffMap(described["path"], described["footprint_m"], described["overlap"])
        if self._map is not None:
            return Image.fromarray(self._map.read(tile.to_frame().T)[0])
        u, v, w, h = self.outline(tile)
        return self.picture.crop((int(u), int(v), int(u + w) + 1, int(v + h) + 1))


def _svg(canvas: MapCanvas, answer: dict) -> str:
    tiles = canvas.index.tiles
    width, height = canvas.picture.size
    marks = []
    for m in reversed(answer["matches"]):  # the best drawn last, on top
        u, v, w, h = canvas.outline(tiles.iloc[m["tile"]])
        colour = "#e0182d" if m["rank"] == 1 else "#ffd400"
        marks.append(
            f'<rect x="{u:.1f}" y="{v:.1f}" width="{w:.1f}" height="{h:.1f}" fill="none" stroke="{colour}" '
            f'stroke-width="{3 if m["rank"] == 1 else 2}"><title>#{m["rank"]} tile {m["tile"]} score '
            f"{m['score']:.3f}</title></rect>"
        )
    (eu, ev) = canvas.points(answer["lat"], answer["lon"])[0]
    r = max(width, height) / 60
    marks.append(
        f'<path d="M{eu - r:.1f},{ev - r:.1f}L{eu + r:.1f},{ev + r:.1f}M{eu - r:.1f},{ev + r:.1f}L{eu + r:.1f},'
        f'{ev - r:.1f}" stroke="#00e5ff" stroke-width="4"><title>estimate</title></path>'
    )
    if answer["truth_lat"] is not None:
        (tu, tv) = canvas.points(answer["truth_lat"], answer["truth_lon"])[0]
        marks.append(
            f'<circle cx="{tu:.1f}" cy="{tv:.1f}" r="{r:.1f}" fill="none" stroke="#ffffff" stroke-width="4">'
            "<title>EXIF GPS position</title></circle>"
        )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{MAP_SIDE}" height="{MAP_SIDE * height / width:.0f}">'
        f'<use href="#map"/>{"".join(marks)}</svg>'
    )


def write_page(answers: list[dict], index, out: str | Path, title: str = "geolink locate") -> Path:
    """Write the page to ``out`` (an ``.html`` file) and return its path."""
    canvas = MapCanvas(index)
    width, height = canvas.picture.size
    tiles = index.tiles
    sections = []
    for a in answers:
        truth = f"EXIF GPS error <b>{a['error_m']:.1f} m</b>" if a["error_m"] is not None else "no EXIF GPS"
        thumbs = "".join(
            f'<figure><img src="{_data_uri(canvas.thumbnail(tiles.iloc[m["tile"]]))}"><figcaption>#{m["rank"]} '
            f"tile {m['tile']}<br>score {m['score']:.3f}</figcaption></figure>"
            for m in a["matches"]
        )
        with Image.open(a["image"]) as image:
            photo = _data_uri(image)
        sections.append(
            f"<section><h2>{html.escape(Path(a['image']).name)}</h2><p>estimate {a['lat']:.6f}, {a['lon']:.6f} "
            f"({a['method']}, {a['n_agree']} tile(s)) &middot; {truth}</p><div class=row><figure><img src="
            f'"{photo}"><figcaption>photo</figcaption></figure>{thumbs}</div>{_svg(canvas, a)}</section>'
        )
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body{{font-family:sans-serif;margin:1.5em;max-width:1200px}} .row{{display:flex;flex-wrap:wrap;gap:6px}}
figure{{margin:0;text-align:center;font-size:12px}} img{{width:{THUMB}px}} section{{border-top:1px solid #ccc}}
</style></head><body><h1>{html.escape(title)}</h1><p>{len(answers)} photo(s). On each map: the top tiles (best in
red, others yellow), the estimate (cyan cross) and the EXIF GPS position (white ring) when the photo has one.</p>
<svg width="0" height="0" style="position:absolute"><defs><image id="map" width="{width}" height="{height}"
href="{_data_uri(canvas.picture, max(width, height))}"/></defs></svg>{"".join(sections)}</body></html>"""
    with atomic_output(out) as tmp:
        Path(tmp).write_text(page)
    return Path(out)

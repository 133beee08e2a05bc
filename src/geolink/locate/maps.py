"""Maps to search: a georeferenced GeoTIFF cut into overlapping tiles, or a folder of tiles with coordinates.

A tile must show the ground the model saw in one satellite image while it trained (``footprint_m`` metres on a
side): a retrieval model compares layouts at one scale, and a tile of twice the ground is another picture. Tiles
overlap (``overlap``, 0.5 by default: a stride of half a tile), so that any point of the map lies within a quarter
tile of some tile's centre in each direction; the last row and column are placed flush with the map's edges, so the
whole map is covered.

Both kinds of map describe their tiles as one table, a row per tile: ``tile`` (its number, the faiss id), ``x``,
``y`` (centre in the map's CRS), ``lat``, ``lon`` (centre in WGS 84) and either the pixel window in the GeoTIFF
(``col``, ``row``, ``width``, ``height``) or the tile's file (``path``).

GeoTIFFs are read with rasterio (GDAL), so any CRS GDAL knows works: a projected one (UTM, a national grid,
Web Mercator) or a geographic one (degrees). The tile's pixel size follows from the ground size of one map pixel,
measured at the map's centre by transforming neighbouring pixels to WGS 84 and measuring on the ellipsoid
(:func:`geolink.locate.geo.to_local`), so a CRS whose units are not ground metres (Web Mercator away from the
equator, degrees) still gives tiles of the right ground size. Rotated
(sheared) geotransforms are refused: warp the map north-up first (``gdalwarp``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from geolink.data.images import decode_rgb
from geolink.locate.errors import LocateError
from geolink.locate.geo import to_local

#: Smallest tile side in map pixels: below it the map is too coarse for the footprint.
MIN_TILE_PIXELS = 8
#: Longest side of the overview picture the index keeps for the HTML page.
OVERVIEW_SIDE = 1600
#: GDAL's block cache, MB, unless the environment sets ``GDAL_CACHEMAX``: GDAL's default, 5 % of the machine's
#: memory (1.2 GB on 24 GB), keeps a large map's decoded blocks until it is full; a row of tiles shares blocks only
#: with the next row, and those of a 50,000 pixel wide map fit in this (benchmarks/bench_locate.py measures the peak).
GDAL_CACHE_MB = 128
#: Overview rows made per read.
OVERVIEW_STRIP = 64


def grid_positions(length: int, tile: int, stride: int) -> list[int]:
    """Offsets of tiles of ``tile`` pixels every ``stride`` pixels along ``length``, the last flush with the end.

    >>> grid_positions(10, 4, 2)
    [0, 2, 4, 6]
    >>> grid_positions(11, 4, 3)
    [0, 3, 6, 7]
    """
    positions = list(range(0, length - tile + 1, stride))
    if positions[-1] != length - tile:
        positions.append(length - tile)
    return positions


class GeoTiffMap:
    """A georeferenced raster (GeoTIFF or any GDAL format with a CRS and a geotransform), read window by window.

    Args:
        path: The raster: RGB (bands 1-3) or one grey band, 8 bits.
        footprint_m: Ground side of a tile, metres.
        overlap: Fraction of a tile shared with its neighbour, in [0, 0.9].
    """

    kind = "geotiff"

    def __init__(self, path: str | Path, footprint_m: float, overlap: float = 0.5):
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        self.path = Path(path)
        self.footprint_m = float(footprint_m)
        self.overlap = float(overlap)
        # GDAL reads the variable when it first caches a block, so this holds for a process that opens its first
        # raster here (the geolink command, the workflow's jobs); setting it later would not resize the cache.
        os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))
        if not self.path.is_file():
            raise LocateError(f"map {self.path.absolute()} does not exist; give a GeoTIFF or a tile table (.csv).")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)  # reported below, in our words
                self._dataset = rasterio.open(self.path)
        except RasterioIOError as err:
            raise LocateError(
                f"map {self.path.absolute()} is not a raster GDAL can read ({err}). Give a GeoTIFF, or a tile "
                "table (.csv with columns path, lat, lon)."
            ) from None
        ds = self._dataset
        if ds.crs is None or ds.transform.is_identity:
            raise LocateError(
                f"map {self.path.absolute()} has no georeferencing (no CRS or no geotransform), so its pixels "
                "cannot be given coordinates. Georeference it first (e.g. `gdal_translate -a_srs EPSG:32651 "
                "-a_ullr <west> <north> <east> <south> in.tif out.tif`, or with control points in QGIS's "
                "Georeferencer)."
            )
        if ds.transform.b != 0 or ds.transform.d != 0:
            raise LocateError(
                f"map {self.path.absolute()} has a rotated geotransform; tiles are cut north-up. Warp it first: "
                "`gdalwarp in.tif out.tif`."
            )
        if ds.count not in (1, 3, 4) or ds.dtypes[0] != "uint8":
            raise LocateError(
                f"map {self.path.absolute()} has {ds.count} band(s) of {ds.dtypes[0]}; an RGB (or grey) 8-bit "
                "image is needed. Convert it, e.g. `gdal_translate -ot Byte -scale -b 1 -b 2 -b 3 in.tif out.tif`."
            )
        if not 0 <= self.overlap <= 0.9:
            raise LocateError(f"overlap {self.overlap} is outside [0, 0.9] (0.5: half a tile shared).")
        self.bands = [1, 2, 3] if ds.count >= 3 else [1, 1, 1]
        self.pixel_m = self._ground_pixel_size()
        self.tile_px = (round(self.footprint_m / self.pixel_m[0]), round(self.footprint_m / self.pixel_m[1]))
        if min(self.tile_px) < MIN_TILE_PIXELS:
            raise LocateError(
                f"a {self.footprint_m:g} m tile is only {self.tile_px[0]} x {self.tile_px[1]} pixels of map "
                f"{self.path.absolute()} ({self.pixel_m[0]:.2f} m per pixel); use a finer map or check --footprint."
            )
        if self.tile_px[0] > ds.width or self.tile_px[1] > ds.height:
            raise LocateError(
                f"map {self.path.absolute()} ({ds.width} x {ds.height} pixels, {ds.width * self.pixel_m[0]:.0f} x "
                f"{ds.height * self.pixel_m[1]:.0f} m) is smaller than one {self.footprint_m:g} m tile; check "
                "--footprint (metres) or give a larger map."
            )

    def _ground_pixel_size(self) -> tuple[float, float]:
        """Ground metres of one pixel east-west and north-south, measured at the map's centre."""
        ds = self._dataset
        step = max(1, min(ds.width, ds.height) // 4)
        col, row = ds.width / 2, ds.height / 2
        lat, lon = self._lat_lon(
            *zip(*(ds.transform @ (c, r) for c, r in [(col, row), (col + step, row), (col, row + step)]), strict=True)
        )
        offsets = to_local(lat[1:], lon[1:], lat[0], lon[0])  # metres east/north of the centre pixel
        return float(np.linalg.norm(offsets[0])) / step, float(np.linalg.norm(offsets[1])) / step

    def _lat_lon(self, xs, ys) -> tuple[np.ndarray, np.ndarray]:
        from rasterio.warp import transform

        lon, lat = transform(self._dataset.crs, "EPSG:4326", list(xs), list(ys))
        return np.asarray(lat), np.asarray(lon)

    @property
    def crs(self) -> str:
        return self._dataset.crs.to_string()

    def tiles(self) -> pd.DataFrame:
        """One row per tile, row-major from the north-west corner (see the module docstring for the columns)."""
        ds = self._dataset
        width, height = self.tile_px
        stride = (max(1, round(width * (1 - self.overlap))), max(1, round(height * (1 - self.overlap))))
        rows = grid_positions(ds.height, height, stride[1])
        cols = grid_positions(ds.width, width, stride[0])
        row, col = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
        x, y = ds.transform @ (col + width / 2, row + height / 2)
        lat, lon = self._lat_lon(x, y)
        return pd.DataFrame(
            {
                "tile": np.arange(len(row)),
                "x": x,
                "y": y,
                "lat": lat,
                "lon": lon,
                "col": col,
                "row": row,
                "width": width,
                "height": height,
            }
        )

    def read(self, tiles: pd.DataFrame) -> list[np.ndarray]:
        """The tiles' pixels, ``[height, width, 3]`` uint8 each (GDAL caches the blocks overlapping tiles share)."""
        from rasterio.windows import Window

        out = []
        for t in tiles.itertuples():
            window = Window(int(t.col), int(t.row), int(t.width), int(t.height))
            out.append(np.moveaxis(self._dataset.read(self.bands, window=window), 0, -1))
        return out

    def read_around(self, lat: float, lon: float, side_m: float, out_px: int) -> np.ndarray | None:
        """The square of ``side_m`` metres of ground centred on (lat, lon), north-up, resized (bicubic, as tiles
        are for the encoder) to ``out_px`` pixels: ``[out_px, out_px, 3]`` uint8, black beyond the map's edge; None
        when the centre is off the map."""
        from rasterio.warp import transform
        from rasterio.windows import Window

        ds = self._dataset
        (x,), (y,) = transform("EPSG:4326", ds.crs, [lon], [lat])
        col, row = ~ds.transform @ (x, y)
        if not (0 <= col < ds.width and 0 <= row < ds.height):
            return None
        width, height = round(side_m / self.pixel_m[0]), round(side_m / self.pixel_m[1])
        window = Window(round(col - width / 2), round(row - height / 2), width, height)
        pixels = np.moveaxis(self._dataset.read(self.bands, window=window, boundless=True, fill_value=0), 0, -1)
        # The same bicubic resize as the encoder's own preprocessing gives the index's tiles.
        return np.asarray(Image.fromarray(pixels).resize((out_px, out_px), Image.BICUBIC))

    def describe(self) -> dict:
        """What the index records about the map (index.json)."""
        ds = self._dataset
        return {
            "kind": self.kind,
            "path": str(self.path.absolute()),
            "crs": self.crs,
            "size_px": [ds.width, ds.height],
            "pixel_m": [round(v, 4) for v in self.pixel_m],
            "footprint_m": self.footprint_m,
            "overlap": self.overlap,
            "tile_px": list(self.tile_px),
            "transform": list(ds.transform)[:6],
        }

    def overview(self) -> tuple[np.ndarray, float]:
        """The whole map shrunk to at most :data:`OVERVIEW_SIDE` pixels a side, and its scale (overview / map)."""
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        ds = self._dataset
        scale = min(1.0, OVERVIEW_SIDE / max(ds.width, ds.height))
        height, width = max(1, round(ds.height * scale)), max(1, round(ds.width * scale))
        # In strips of OVERVIEW_STRIP output rows: GDAL's averaging read of the whole map at once holds the map's
        # full-resolution pixels (300 MB for a 10,000 pixel square map, benchmarks/bench_locate.py).
        strips = []
        for top in range(0, height, OVERVIEW_STRIP):
            rows = min(OVERVIEW_STRIP, height - top)
            first, last = round(top / scale), min(ds.height, round((top + rows) / scale))
            window = Window(0, first, ds.width, last - first)
            strip = ds.read(self.bands, window=window, out_shape=(3, rows, width), resampling=Resampling.average)
            strips.append(np.moveaxis(strip, 0, -1))
        return np.concatenate(strips), scale


class TileTableMap:
    """Tiles cut beforehand: a CSV table with columns ``path`` (relative to the table's folder), ``lat``, ``lon``.

    Each tile must already show ``footprint_m`` metres of ground (it is resized to the model's input, not cut).
    """

    kind = "tile_table"

    def __init__(self, table: str | Path, footprint_m: float | None = None):
        self.path = Path(table)
        self.footprint_m = footprint_m
        if not self.path.is_file():
            raise LocateError(f"tile table {self.path.absolute()} does not exist.")
        try:
            frame = pd.read_csv(self.path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise LocateError(f"tile table {self.path.absolute()} is not a CSV table ({err}).") from None
        missing = [c for c in ("path", "lat", "lon") if c not in frame.columns]
        if missing:
            raise LocateError(
                f"tile table {self.path.absolute()} lacks column(s) {', '.join(missing)}; it needs path (relative "
                "to the table's folder), lat and lon (WGS 84 degrees of the tile's centre)."
            )
        if frame.empty:
            raise LocateError(f"tile table {self.path.absolute()} has no rows.")
        lat = pd.to_numeric(frame["lat"], errors="coerce")
        lon = pd.to_numeric(frame["lon"], errors="coerce")
        bad = ~(lat.between(-90, 90) & lon.between(-180, 180))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise LocateError(
                f"tile table {self.path.absolute()}, row {i + 2}: lat {frame['lat'][i]!r}, lon {frame['lon'][i]!r} "
                "are not WGS 84 degrees (lat in [-90, 90], lon in [-180, 180])."
            )
        files = [self.path.parent / p for p in frame["path"].astype(str)]
        absent = [f for f in files if not f.is_file()]
        if absent:
            raise LocateError(
                f"tile table {self.path.absolute()} lists {len(absent)} missing file(s), e.g. {absent[0].absolute()}; "
                "paths are relative to the table's folder."
            )
        self._frame = pd.DataFrame(
            {
                "tile": np.arange(len(frame)),
                "x": lon.to_numpy(),
                "y": lat.to_numpy(),
                "lat": lat.to_numpy(),
                "lon": lon.to_numpy(),
                "path": [str(f.absolute()) for f in files],
            }
        )

    crs = "EPSG:4326"

    def tiles(self) -> pd.DataFrame:
        return self._frame.copy()

    def read(self, tiles: pd.DataFrame) -> list[np.ndarray]:
        return [read_photo(p, "tile") for p in tiles["path"]]

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path.absolute()), "crs": self.crs, "footprint_m": self.footprint_m}

    def overview(self) -> None:
        return None


def open_map(path: str | Path, footprint_m: float, overlap: float = 0.5) -> GeoTiffMap | TileTableMap:
    """A ``.csv`` is a tile table, anything else a raster."""
    if footprint_m is None or not footprint_m > 0:
        raise LocateError(f"--footprint must be a positive number of metres, not {footprint_m!r}.")
    if Path(path).suffix.lower() == ".csv":
        return TileTableMap(path, footprint_m)
    return GeoTiffMap(path, footprint_m, overlap)


def read_photo(path: str | Path, what: str = "photo") -> np.ndarray:
    """An image file as ``[H, W, 3]`` uint8; anything unreadable is a :class:`LocateError` naming the file."""
    try:
        return np.asarray(decode_rgb(path))
    except Exception as err:  # PIL reports foreign or corrupt files through many exception types
        raise LocateError(
            f"{what} {Path(path).absolute()} is not an image that can be read ({type(err).__name__}: {err}). "
            "Give JPEG, PNG or TIFF files; a file cut short by a copy must be copied again."
        ) from None


def north_up(photo: np.ndarray, heading_deg: float) -> np.ndarray:
    """``photo`` turned so that north is up, given the heading its top faces (degrees clockwise from north).

    The turn is about the centre, at the photo's size: the corners it brings in from outside the picture are black
    (and the photo's own corners are cut), the same for every photo and at training (``geolink tune``).
    """
    # PIL turns counter-clockwise by a positive angle; a top facing east (90) must turn 90 degrees clockwise.
    return np.asarray(Image.fromarray(photo).rotate(-float(heading_deg), resample=Image.BILINEAR))

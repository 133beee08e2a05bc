"""The tile index: every tile's descriptor in a faiss index, with the table of tile centres.

An index folder holds

* ``index.faiss``: a ``faiss.IndexFlatIP`` of the L2-normalised tile descriptors (exact cosine search; faiss id =
  the tile's row in ``tiles.csv``);
* ``tiles.csv``: one row per tile (``geolink.locate.maps``: centre in the map's CRS and in WGS 84, pixel window or
  file);
* ``index.json``: the encoder's identity, the descriptor size, the map (path, CRS, footprint, overlap, pixel size)
  and the overview picture's scale;
* ``overview.jpg``: the map shrunk for the HTML page (GeoTIFF maps only).

Building streams: tiles are read and embedded ``chunk`` at a time, and each finished chunk's descriptors are
saved in ``OUT.partial/parts/`` before the next is read, so memory holds one chunk of pixels and an interrupted
build, started again with the same settings, continues after its last saved chunk. The finished folder appears
under its name only when complete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from geolink import __version__
from geolink.atomic import atomic_output
from geolink.locate.encoders import EncoderIdentity
from geolink.locate.errors import LocateError

FORMAT = 1
#: Tiles read and embedded between two saves of a build.
CHUNK = 256
FILES = ("index.json", "tiles.csv", "index.faiss")


def _write_json(path: Path, data: dict) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def build_index(map_source, encoder, out: str | Path, chunk: int = CHUNK, progress: bool = True) -> dict:
    """Cut, embed and index every tile of ``map_source`` with ``encoder`` into the folder ``out``.

    Args:
        map_source: A :class:`geolink.locate.maps.GeoTiffMap` or :class:`~geolink.locate.maps.TileTableMap`.
        encoder: A :class:`geolink.locate.encoders.TorchEncoder` or :class:`~geolink.locate.encoders.OnnxEncoder`.
        out: The index folder to create (must not exist; ``OUT.partial`` is resumed).
        chunk: Tiles per saved step.

    Returns:
        ``index.json``'s content.
    """
    import faiss

    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    tiles = map_source.tiles()
    settings = {
        "format": FORMAT,
        "encoder": encoder.identity.as_dict(),
        "map": map_source.describe(),
        "n_tiles": len(tiles),
        "chunk": chunk,
    }
    parts = partial / "parts"
    if partial.exists():
        started = json.loads((partial / "settings.json").read_text()) if (partial / "settings.json").is_file() else {}
        if started != settings:
            raise LocateError(
                f"{partial.absolute()} holds an unfinished index of other settings (encoder, map, footprint or "
                "overlap); delete it to start this one, or rerun the command that started it to finish that one."
            )
    else:
        parts.mkdir(parents=True)
        _write_json(partial / "settings.json", settings)

    starts = range(0, len(tiles), chunk)
    done = sum((parts / f"{i:06d}.npy").is_file() for i in range(len(starts)))
    with tqdm(total=len(tiles), initial=min(done * chunk, len(tiles)), unit="tile", disable=not progress) as bar:
        for i, start in enumerate(starts):
            part = parts / f"{i:06d}.npy"
            if part.is_file():
                continue
            rows = tiles.iloc[start : start + chunk]
            descriptors = encoder(map_source.read(rows))
            with atomic_output(part) as tmp:
                np.save(tmp, descriptors)
            bar.update(len(rows))

    descriptors = np.concatenate([np.load(parts / f"{i:06d}.npy") for i in range(len(starts))])
    index = faiss.IndexFlatIP(descriptors.shape[1])
    index.add(descriptors)
    faiss.write_index(index, str(partial / "index.faiss"))
    tiles.to_csv(partial / "tiles.csv", index=False)
    meta = {**settings, "dim": int(descriptors.shape[1]), "geolink": __version__, "encoder_used": encoder.description}
    del meta["chunk"]
    overview = map_source.overview()
    if overview is not None:
        from PIL import Image

        image, scale = overview
        Image.fromarray(image).save(partial / "overview.jpg", quality=88)
        meta["overview_scale"] = scale
    _write_json(partial / "index.json", meta)
    shutil.rmtree(parts)
    (partial / "settings.json").unlink()
    partial.rename(out)
    return meta


class TileIndex:
    """A finished index folder, opened for searching."""

    def __init__(self, folder: str | Path):
        import faiss

        self.folder = Path(folder)
        missing = [f for f in FILES if not (self.folder / f).is_file()]
        if missing:
            partial = self.folder.with_name(self.folder.name + ".partial")
            hint = (
                f" An unfinished build is in {partial}: rerun the `geolink index` command that started it."
                if partial.exists()
                else " Build one with `geolink index MAP --checkpoint CKPT --footprint METRES --out DIR`."
            )
            raise LocateError(f"{self.folder.absolute()} is not a tile index (no {', '.join(missing)}).{hint}")
        self.meta = json.loads((self.folder / "index.json").read_text())
        if self.meta.get("format") != FORMAT:
            raise LocateError(
                f"index {self.folder.absolute()} has format {self.meta.get('format')}, this geolink reads format "
                f"{FORMAT}; rebuild it with `geolink index`."
            )
        self.identity = EncoderIdentity.from_dict(self.meta["encoder"])
        self.tiles = pd.read_csv(self.folder / "tiles.csv")
        self.faiss = faiss.read_index(str(self.folder / "index.faiss"))
        if self.faiss.ntotal != len(self.tiles):
            raise LocateError(
                f"index {self.folder.absolute()} is inconsistent ({self.faiss.ntotal} descriptors, {len(self.tiles)} "
                "tiles); rebuild it with `geolink index`."
            )

    def check_encoder(self, encoder) -> None:
        """Refuse an encoder other than the one that built the index: its scores would mean nothing."""
        difference = self.identity.difference(encoder.identity)
        if difference:
            raise LocateError(
                f"index {self.folder.absolute()} was built by {self.meta['encoder']['model_name']} at "
                f"{self.identity.image_size} px from checkpoint sha256 {self.identity.checkpoint_sha256[:12]}..., "
                f"but the encoder given ({encoder.description}) is {difference}. Pass the checkpoint (or its ONNX "
                "export) that built the index, or rebuild the index with this one (`geolink index`)."
            )

    def search(self, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``[Q, k]`` cosine scores and tile ids, best first (``k`` at most the number of tiles)."""
        return self.faiss.search(np.ascontiguousarray(descriptors, dtype=np.float32), min(k, self.faiss.ntotal))

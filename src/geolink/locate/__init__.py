"""``geolink locate``: where on a georeferenced satellite map was a drone photo taken?

The pipeline's product, a checkpoint, used as the tool the benchmarks stand for (a UAV without GNSS matching its
camera image against satellite imagery, docs/locate.md):

1. :mod:`geolink.locate.maps` cuts a map (a GeoTIFF in any CRS, or a folder of tiles with a coordinates table)
   into overlapping tiles of the ground footprint the model was trained for;
2. :mod:`geolink.locate.encoders` embeds images with the checkpoint's 2D encoder, through torch or through an
   ONNX export and onnxruntime (no torch needed), both behind one identity so an index knows what built it;
3. :mod:`geolink.locate.index` writes the tile descriptors as a faiss index with a table of tile centres,
   streaming and resumable;
4. :mod:`geolink.locate.search` ranks the tiles for each photo and estimates its position
   (:mod:`geolink.locate.estimate`), comparing with the photo's EXIF GPS (:mod:`geolink.locate.exif`) when it has
   one; :mod:`geolink.locate.page` draws the answers on the map as an HTML page.

Nothing here imports torch at module level: ``geolink locate --onnx`` runs where torch is not installed.
"""

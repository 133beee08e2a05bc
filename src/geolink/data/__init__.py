"""Real-dataset adapters: University-1652, SUES-200 and DenseUAV as one image manifest table.

``read_manifest(dataset, root)`` is the entry point; see ``geolink.data.manifest`` for the table contract.
"""

from geolink.data.denseuav import read_denseuav, read_denseuav_gps
from geolink.data.errors import HOW_TO_OBTAIN, SYNTHETIC_ALTERNATIVE, DatasetError
from geolink.data.manifest import (
    DATASETS,
    IMAGE_EXTENSIONS,
    MANIFEST_COLUMNS,
    adapters,
    check_manifest_images,
    load_manifest,
    normalize_manifest,
    read_manifest,
    summarize_manifest,
    write_manifest,
)
from geolink.data.sues200 import (
    HEIGHTS,
    OFFICIAL_TEST_IDS,
    read_sues200,
    read_sues200_split_index,
    split_sues200,
)
from geolink.data.university1652 import read_university1652

__all__ = [
    "DATASETS",
    "HEIGHTS",
    "HOW_TO_OBTAIN",
    "IMAGE_EXTENSIONS",
    "MANIFEST_COLUMNS",
    "OFFICIAL_TEST_IDS",
    "SYNTHETIC_ALTERNATIVE",
    "DatasetError",
    "adapters",
    "check_manifest_images",
    "load_manifest",
    "normalize_manifest",
    "read_denseuav",
    "read_denseuav_gps",
    "read_manifest",
    "read_sues200",
    "read_sues200_split_index",
    "read_university1652",
    "split_sues200",
    "summarize_manifest",
    "write_manifest",
]

"""The one exception the dataset adapters raise, and the advice its messages carry.

A user who hits a dataset problem is usually setting the pipeline up for the first time, so every
message says which dataset is affected, which file or folder is at fault (as a full path), and what to
do next: fix the path, re-extract the archive, or obtain the dataset in the first place.
"""

from __future__ import annotations

import os
from pathlib import Path

from geolink.errors import UserError

#: Human-readable dataset names, keyed by the names the manifest and the configuration use.
DISPLAY_NAMES: dict[str, str] = {
    "university1652": "University-1652",
    "sues200": "SUES-200",
    "denseuav": "DenseUAV",
}

#: Where each dataset comes from (docs/datasets.md §1.1, §2.1, §3.1). None of them may be redistributed.
HOW_TO_OBTAIN: dict[str, str] = {
    "university1652": (
        "University-1652 is not publicly downloadable: request it by e-mail from the maintainers from an "
        "academic address, using the template in layumi/University1652-Baseline (Request.md); extract "
        "University-Release.zip and point the configuration at the University-Release folder that holds "
        "train/ and test/."
    ),
    "sues200": (
        "SUES-200 is a public archive for academic use only, linked from the Reza-Zhu/SUES-200-Benchmark "
        "README (Google Drive, Baidu and Tianyi mirrors); extract it to the SUES-200-512x512 folder that holds "
        "drone_view_512/ and satellite-view/; the workflow builds the official 120/80 split from it "
        "(rule sues200_split)."
    ),
    "denseuav": (
        "DenseUAV is distributed as the Hugging Face dataset Dmmm997/DenseUAV "
        "(https://huggingface.co/datasets/Dmmm997/DenseUAV); download it and point the configuration at the "
        "DenseUAV folder that holds Dense_GPS_ALL.txt, train/ and test/."
    ),
}

#: The way to exercise the whole pipeline without any of the real datasets.
SYNTHETIC_ALTERNATIVE = (
    "To run the pipeline without the real data, use the synthetic benchmark instead "
    "(snakemake --configfile config/synthetic.yaml)."
)


class DatasetError(UserError):
    """A dataset on disk is missing, incomplete, malformed or unreadable.

    The message is a single human-readable paragraph; ``dataset`` and ``path`` are kept as attributes so
    callers (the workflow, tests) can react without parsing the text.

    Attributes:
        dataset: Manifest name of the dataset concerned (e.g. ``"sues200"``), or None.
        path: Full path of the offending file or folder, or None.
    """

    def __init__(self, message: str, *, dataset: str | None = None, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.path = None if path is None else full_path(path)

    @classmethod
    def at(
        cls,
        dataset: str,
        problem: str,
        path: str | Path,
        fix: str,
        *,
        obtain: bool = False,
    ) -> DatasetError:
        """Build the standard message: dataset, problem, full path, fix, and optionally where to get the data.

        Args:
            dataset: Manifest name of the dataset (a key of ``DISPLAY_NAMES``).
            problem: What is wrong, phrased to be followed by the path (e.g. "required folder not found").
            path: The offending file or folder; shown as a full path.
            fix: One or two sentences telling the user what to do.
            obtain: Also say how to obtain the dataset and mention the synthetic benchmark. Use it when the
                data may simply never have been downloaded.

        Returns:
            The error, ready to raise.
        """
        name = DISPLAY_NAMES.get(dataset, dataset)
        parts = [f"{name}: {problem}: {full_path(path)}.", fix.strip()]
        if obtain:
            parts.append(HOW_TO_OBTAIN.get(dataset, ""))
            parts.append(SYNTHETIC_ALTERNATIVE)
        return cls(" ".join(p for p in parts if p), dataset=dataset, path=path)


def full_path(path: str | Path) -> str:
    """Return ``path`` as an absolute path without resolving symbolic links.

    Absolute paths make messages actionable when the pipeline runs from another working directory, and
    not resolving links keeps the path the user configured recognisable.
    """
    return os.path.abspath(os.fspath(path))

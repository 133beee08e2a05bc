"""The synthetic cross-view benchmark: procedural towns rendered on CPU into the real datasets' layouts.

``generate(dataset, out_dir, ...)`` writes one dataset tree; see ``docs/synthetic.md`` for how
each tree maps onto its real counterpart and what it cannot represent.
"""

from __future__ import annotations

from geolink.synth.denseuav import write_denseuav
from geolink.synth.domains import DOMAINS, Domain, get_domain
from geolink.synth.sues200 import write_sues200
from geolink.synth.university1652 import write_university1652

SYNTHESIZERS = {
    "university1652": write_university1652,
    "sues200": write_sues200,
    "denseuav": write_denseuav,
}


def generate(
    dataset: str, out_dir, *, seed: int, image_size: int, geometry_points: int, workers: int = 1, **cfg
) -> dict:
    """Write the synthetic tree of ``dataset`` into ``out_dir``; returns one record per location."""
    if dataset not in SYNTHESIZERS:
        raise KeyError(f"no synthetic generator for dataset {dataset!r}; known: {', '.join(SYNTHESIZERS)}")
    return SYNTHESIZERS[dataset](
        out_dir, seed=seed, image_size=image_size, geometry_points=geometry_points, workers=workers, **cfg
    )


__all__ = ["DOMAINS", "Domain", "SYNTHESIZERS", "generate", "get_domain"]

#!/usr/bin/env bash
# Install VGGT (pinned commit, without its numpy<2 pin: see vggt.yaml) and make the geolink package importable
# inside this conda env (run from the workflow root). Needs git and access to GitHub.
set -euo pipefail
pip install --no-deps "vggt @ git+https://github.com/facebookresearch/vggt@44b3afbd1869d8bde4894dd8ea1e293112dd5eba"
pip install --no-deps --no-build-isolation -e .

#!/usr/bin/env bash
# Make the geolink package importable inside this conda env (run from the workflow root).
set -euo pipefail
pip install --no-deps --no-build-isolation -e .

"""Worker of benchmarks/weather_equivalence.py: corrupt fixed images in whatever interpreter runs it.

Runs in the project env and in a reference env (imgaug 0.4.0 on NumPy 1.23) where geolink is not installed, so it
loads the modules ``geolink.data.weather`` needs (:data:`MODULES`) by path from the checkout's ``src`` folder,
registering bare parent packages so that ``geolink/__init__.py`` and ``geolink/data/__init__.py`` (every adapter) are
never imported. The reference env needs NumPy, imgaug, Pillow, pandas and tqdm.

    python weather_worker.py SRC_DIR SPEC_JSON

SPEC_JSON holds ``in_dir``, ``images`` (names in it), ``conditions`` and ``out_dir``; each output is saved as
``<condition>__<image stem>.npy``. The last stdout line is JSON with the imgaug and NumPy versions.
"""

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image

#: What geolink.data.weather imports from geolink, in dependency order, and weather itself.
MODULES = ("geolink.atomic", "geolink.data.errors", "geolink.data.imgaug_compat", "geolink.data.weather")


def load(name: str, path: str) -> types.ModuleType:
    """Import the module file at ``path`` under ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    """Corrupt every image of the spec under every condition and save the arrays."""
    src_dir, spec_path = sys.argv[1:3]
    for name in ("geolink", "geolink.data"):
        package = types.ModuleType(name)
        package.__path__ = []
        sys.modules[name] = package
    for module in MODULES:
        load(module, str(Path(src_dir, *module.split(".")).with_suffix(".py")))
    weather = sys.modules["geolink.data.weather"]
    spec = json.loads(Path(spec_path).read_text())
    for rel in spec["images"]:
        image = np.asarray(Image.open(Path(spec["in_dir"]) / rel).convert("RGB"))
        for condition in spec["conditions"]:
            out = weather.apply_weather(image, condition, weather.image_seed(rel, condition))
            np.save(Path(spec["out_dir"]) / f"{condition}__{Path(rel).stem}.npy", out)
    print(json.dumps({"imgaug": sys.modules["imgaug"].__version__, "numpy": np.__version__}))


if __name__ == "__main__":
    main()

"""Run imgaug 0.4.0, the library of the MuSe-Net weather recipe, on NumPy 2.

imgaug 0.4.0 (2020, unmaintained) was written for NumPy 1. Two things break or drift on NumPy 2:

1. **Removed names.** It reads ``np.sctypes`` at import time and uses ``np.complex`` as a dtype; both were removed in
   NumPy 2 (``np.bool``, which it also uses, exists again). :func:`import_augmenters` puts back the NumPy 1.23 values
   before importing imgaug: ``sctypes`` with the same lists, ``complex`` as the builtin it aliased.
2. **Scalar promotion (NEP 50).** On NumPy 1 a sampled parameter (an ``np.float64`` scalar from
   ``StochasticParameter.draw_sample``) times a ``float32`` image stays ``float32``; on NumPy 2 it becomes ``float64``,
   and the rounding then shifts single pixels by one grey level (rain and its mixtures). Making ``draw_sample`` return
   the Python scalar restores the NumPy 1 result, because NumPy 2 treats Python scalars as "weak", exactly as NumPy 1
   treated in-range scalars.

3. **Vector kernels.** On AVX-512 CPUs NumPy 2 computes ``float32`` ``power`` with a vector kernel whose last bit
   differs from NumPy 1.23's scalar code in about a fifth of results; imgaug's gamma lookup tables (snow) and cloud
   masks (fog) reach the pixels through it. That cannot be patched after NumPy is imported, so
   :func:`geolink.data.weather.write_weather_set` renders in fresh processes with those kernels switched off
   (:func:`geolink.data.weather.render_environment`); a bare :func:`geolink.data.weather.apply_weather` call does not.

What remains is NumPy 2's FFT (pocketfft's C++ port), which rounds differently in the last bit and feeds
``CloudLayer``'s noise: measured at one grey level in 0.5 pixels per million under fog-snow and nothing elsewhere
(``benchmarks/weather_equivalence.py``, against a real imgaug 0.4.0 on NumPy 1.23.5; 6,720 synthetic SUES-200 weather
images were all byte-identical). ``envs/weather.yaml`` is that reference environment; running the weather rule in it
(``--sdm conda``) gives imgaug 0.4.0's pixels by construction. On NumPy 1 this module changes nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_PATCH_MARK = "_geolink_python_scalar_samples"

INSTALL_HINT = (
    "The weather corruptions need imgaug 0.4.0 (the MuSe-Net recipe's library): `pip install imgaug==0.4.0`, "
    "or reinstall geolink (`make install`), which pins it."
)


def _restore_numpy1_names() -> None:
    """Add back the NumPy 1.23 names imgaug 0.4.0 uses, only where NumPy lacks them."""
    if "sctypes" not in np.__dict__:
        np.sctypes = {  # the NumPy 1.23 table (x86-64: longdouble is float128)
            "int": [np.int8, np.int16, np.int32, np.int64],
            "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
            "float": [np.float16, np.float32, np.float64, np.longdouble],
            "complex": [np.complex64, np.complex128, np.clongdouble],
            "others": [bool, object, bytes, str, np.void],
        }
    if "complex" not in np.__dict__:
        np.complex = complex  # NumPy 1 deprecated this alias of the builtin, NumPy 1.24 removed it


def _python_scalar_samples(parameters_module: Any) -> None:
    """Make ``StochasticParameter.draw_sample`` return Python scalars, so NumPy 2 promotes as NumPy 1 did."""
    cls = parameters_module.StochasticParameter
    if getattr(cls.draw_sample, _PATCH_MARK, False):
        return
    original = cls.draw_sample

    def draw_sample(self: Any, random_state: Any = None) -> Any:
        sample = original(self, random_state)
        return sample.item() if isinstance(sample, np.generic) else sample

    setattr(draw_sample, _PATCH_MARK, True)
    draw_sample.__doc__ = original.__doc__
    cls.draw_sample = draw_sample


def import_augmenters() -> Any:
    """Import ``imgaug.augmenters`` with NumPy 1 behaviour restored where needed.

    Returns:
        The ``imgaug.augmenters`` module.

    Raises:
        ImportError: If imgaug is missing or does not import (the message says what to install).
    """
    numpy2 = int(np.__version__.split(".")[0]) >= 2
    if numpy2:
        _restore_numpy1_names()
    try:
        import imgaug
        import imgaug.augmenters as iaa
        import imgaug.parameters as iap
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} (importing imgaug failed: {exc})") from exc
    except AttributeError as exc:  # another NumPy name imgaug needs and this module does not restore
        raise ImportError(f"{INSTALL_HINT} (importing imgaug failed: {exc})") from exc
    if getattr(imgaug, "__version__", None) != "0.4.0":
        raise ImportError(
            f"found imgaug {getattr(imgaug, '__version__', 'of unknown version')}, but the weather recipe is "
            f"pinned to imgaug 0.4.0 (forks sample differently). {INSTALL_HINT}"
        )
    if numpy2:
        _python_scalar_samples(iap)
    return iaa

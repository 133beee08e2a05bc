"""Build models by exact name: a small timm-style registry (timm ``models/_registry.py``, ``_factory.py``).

An entrypoint is a function decorated with ``@register_model`` (or a component registry's ``register``); it is
recorded under its ``__name__`` and builds the model from keyword arguments. ``create_model(name, **kwargs)``
looks the name up, drops ``None`` kwargs (so an unset config or CLI default never overrides the entrypoint's
default, as timm does) and records the name and the kwargs on the model, so a checkpoint can rebuild it::

    model = create_model("geolink_tiny", n_experts=3)
    rebuilt = create_model(model.model_name, **model.model_kwargs)

Three namespaces share the machinery: ``MODELS`` (complete GeoLink / baseline models, what ``list_models``
lists), ``BACKBONES`` (2D encoders) and ``POINT_ENCODERS`` (3D encoders). Names are matched exactly; there is
no substring dispatch (as in timm, docs/components.md §3.3).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from geolink.errors import UserError

__all__ = [
    "BACKBONES",
    "MODELS",
    "POINT_ENCODERS",
    "Registry",
    "UnknownNameError",
    "create_model",
    "list_models",
    "register_model",
]

F = TypeVar("F", bound=Callable[..., nn.Module])

#: Keyword arguments that choose weights, not architecture; they are not recorded in ``model_kwargs`` because a
#: checkpoint carries its own weights and rebuilding must not need the original weight file or cache.
WEIGHT_KWARGS = ("pretrained", "weights_path")


class UnknownNameError(UserError, KeyError):
    """A name nothing is registered under (a typo in ``train.model.name`` or ``--model``); lists the known names.

    Also a ``KeyError``, as a failed lookup, for callers that catch that.
    """

    def __str__(self) -> str:
        return str(self.args[0])  # KeyError's own __str__ would print the message as a quoted repr


class Registry:
    """Name -> entrypoint table for one family of modules."""

    def __init__(self, family: str) -> None:
        self.family = family  # used in error messages ("model", "backbone", ...)
        self._entrypoints: dict[str, Callable[..., nn.Module]] = {}

    def register(self, fn: F) -> F:
        """Decorator: record ``fn`` under ``fn.__name__``; a second entrypoint with the same name is an error."""
        name = fn.__name__
        if name in self._entrypoints:
            raise ValueError(f"{self.family} {name!r} is already registered")
        self._entrypoints[name] = fn
        return fn

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style ``pattern`` (``fnmatch``, e.g. ``"geolink_*"``)."""
        return sorted(n for n in self._entrypoints if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entrypoints

    def create(self, name: str, **kwargs: Any) -> nn.Module:
        """Build ``name`` with ``kwargs`` (``None`` values dropped) and record ``model_name`` / ``model_kwargs``.

        Raises:
            UnknownNameError: ``name`` is not registered (a ``KeyError``); the message lists the known names.
        """
        if name not in self._entrypoints:
            known = ", ".join(self.list()) or "(none)"
            close = difflib.get_close_matches(name, self.list(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownNameError(
                f"unknown {self.family} {name!r}{hint}; known {self.family}s: {known}. Correct the name where it "
                f"was given: train.model.name (or a model's kwargs) in the configuration, or the --model option."
            )
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        module = self._entrypoints[name](**kwargs)
        module.model_name = name
        module.model_kwargs = {k: v for k, v in kwargs.items() if k not in WEIGHT_KWARGS}
        return module


MODELS = Registry("model")
BACKBONES = Registry("backbone")
POINT_ENCODERS = Registry("point encoder")


def register_model(fn: F) -> F:
    """Decorator registering a complete-model entrypoint in ``MODELS`` under its function name."""
    return MODELS.register(fn)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by exact name; ``None`` kwargs are dropped (see module docstring).

    Examples:
        >>> model = create_model("geolink_tiny")  # CPU-sized GeoLink, random init
        >>> model = create_model("geolink_dinov2_base", weights_path="dinov2_vitb14_pretrain.pth")
        >>> model = create_model("baseline_dinov2_base", pretrained=True)  # local Hugging Face cache only
    """
    return MODELS.create(name, **kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of the registered complete models matching ``pattern`` (shell-style)."""
    return MODELS.list(pattern)

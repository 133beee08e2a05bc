"""Record which configuration keys a computation reads, so each stage depends on exactly those keys.

The settings of every stage are computed from a :class:`ConfigView` of the validated configuration. A view
navigates like the nested dict it wraps; reading a leaf (a number, a string, a list) records its dotted key,
and taking a whole section (iterating it, ``dict(view)``, :meth:`ConfigView.plain`) records the section. The
DVC generator computes each job's settings once under recording and lists the recorded keys as the stage's
``params``: a change of ``train.loss.weights.sc`` reruns training and what follows, not reconstruction, and
nobody keeps a second list of "keys this stage reads" that could drift from the code that reads them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any


class ConfigView(Mapping):
    """A read-only view of a nested configuration dict that records the dotted keys read into ``reads``."""

    __slots__ = ("_data", "_prefix", "_reads")

    def __init__(self, data: Mapping, prefix: str = "", reads: set[str] | None = None) -> None:
        self._data = data
        self._prefix = prefix
        self._reads = reads

    def _key(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else str(key)

    def _note(self, key: str) -> None:
        if self._reads is not None:
            self._reads.add(key)

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if isinstance(value, Mapping):
            return ConfigView(value, self._key(key), self._reads)  # navigating: the leaves read are recorded
        self._note(self._key(key))
        return copy.deepcopy(value)  # callers may change the lists they get; the configuration stays as it is

    def __contains__(self, key: object) -> bool:
        self._note(self._key(str(key)))
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        self._note(self._prefix)  # the set of keys is read: the section as a whole
        return iter(self._data)

    def __len__(self) -> int:
        self._note(self._prefix)
        return len(self._data)

    def plain(self) -> dict:
        """The section as a plain dict (a copy); records the whole section."""
        self._note(self._prefix)
        return copy.deepcopy(dict(self._data))


def plain(value: Any) -> Any:
    """A value read from a view as plain data: sections become dicts (recorded whole), leaves pass through."""
    return value.plain() if isinstance(value, ConfigView) else value


def outermost(keys: set[str]) -> list[str]:
    """The recorded keys without those inside another recorded key (``train`` covers ``train.lr``), sorted."""
    ordered = sorted(k for k in keys if k)
    kept: list[str] = []
    for key in ordered:
        if not any(key == k or key.startswith(k + ".") for k in kept):
            kept.append(key)
    return kept

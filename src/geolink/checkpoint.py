"""Reading and writing torch checkpoints: every unusable file is a :class:`CheckpointError`, every write atomic.

A checkpoint the user hands us (``geolink evaluate --checkpoint``, a ``weights_path``, a VGGT ``model.pt``) may be
missing, empty, cut short by a killed job or an interrupted copy, some other file, or a crafted pickle. All of
them end in one paragraph naming the full path and the fix, never in torch's internals: in particular torch's
own refusal of a pickle that ``weights_only`` loading does not allow advises ``weights_only=False``, which would
run whatever code the file carries, so that advice is never passed on.

:func:`save_checkpoint` writes through an open file, not a path: ``torch.save`` to a path names the records inside
its zip archive after the file (here the random temporary name of :func:`geolink.atomic.atomic_output`), so two
saves of the same state would differ; through a file object the archive is always called ``archive`` and
identical states give identical bytes (stable DVC hashes, comparable runs).
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from geolink.atomic import atomic_output
from geolink.errors import UserError

__all__ = ["CheckpointError", "CheckpointNotFoundError", "load_checkpoint", "save_checkpoint"]

#: How to get a usable file back, appended to every message.
_FIX = (
    "Delete it and rerun the step that wrote it (for a workflow product, rerun snakemake with the same "
    "--configfile: it rebuilds the missing file), or download or copy it again if it came from elsewhere."
)


class CheckpointError(UserError):
    """A checkpoint file that cannot be used (missing, empty, truncated, foreign, unsafe or incomplete)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist (also a ``FileNotFoundError``, for callers that test for that)."""


def _gist(err: BaseException) -> str:
    """The gist of a library error: its first line up to the first full stop (torch appends long advice)."""
    text = str(err).strip()
    if not text:
        return type(err).__name__
    return text.splitlines()[0].partition(". ")[0].rstrip(".")


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu", required: tuple[str, ...] = ()) -> dict:
    """Load a checkpoint saved by ``torch.save`` with ``weights_only=True`` (tensors and plain data, no code).

    Args:
        path: the checkpoint file.
        map_location: where tensors go (``torch.load``'s ``map_location``).
        required: keys the loaded dictionary must have (e.g. ``("model", "model_name")``).

    Returns:
        The loaded dictionary.

    Raises:
        CheckpointError: the file is missing, empty, truncated or corrupt, not a torch checkpoint, holds objects
            that weights-only loading refuses (it could run code), is not a dictionary, or lacks a required key.
            The message names the full path and how to fix it.
    """
    full = Path(path).absolute()
    if not full.exists():
        raise CheckpointNotFoundError(
            f"checkpoint {full} does not exist. Check the path; a workflow product is rebuilt by rerunning "
            f"snakemake with the same --configfile."
        )
    if not full.is_file():
        raise CheckpointError(f"checkpoint {full} is not a file. Pass the path of a .pt file.")
    if full.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {full} is empty (0 bytes): the job writing it was probably killed, or a copy failed. {_FIX}"
        )
    try:
        with warnings.catch_warnings():
            # Foreign pickles make torch warn about their protocol before failing; the error below says it all.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            state = torch.load(full, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" in str(err).lower():
            # Never repeat torch's advice (weights_only=False): that would execute what the file carries.
            raise CheckpointError(
                f"checkpoint {full} holds Python objects that safe (weights-only) loading refuses: it is not a "
                f"checkpoint this project wrote, or it was tampered with, and loading it fully could run arbitrary "
                f"code, so it is not loaded. Retrain the model that should be there (delete the file and rerun "
                f"snakemake) or download the checkpoint again from a source you trust."
            ) from None
        raise CheckpointError(f"checkpoint {full} is not a readable torch checkpoint ({_gist(err)}). {_FIX}") from None
    except (RuntimeError, EOFError) as err:
        # torch's zip reader: "failed finding central directory" (cut short), EOF inside a legacy pickle, ...
        raise CheckpointError(
            f"checkpoint {full} is truncated or corrupt ({_gist(err)}); a killed job or an interrupted "
            f"copy leaves such files. {_FIX}"
        ) from None
    except OSError as err:
        raise CheckpointError(f"checkpoint {full} cannot be read: {err.strerror or err}. {_FIX}") from None
    except Exception as err:  # a foreign file trips the unpickler in arbitrary ways
        raise CheckpointError(
            f"checkpoint {full} is not a torch checkpoint (reading it failed with {type(err).__name__}: "
            f"{_gist(err)}). {_FIX}"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"checkpoint {full} holds a {type(state).__name__}, not the dictionary this project saves: it is not "
            f"one of its checkpoints. {_FIX}"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {full} lacks {', '.join(map(repr, missing))} (it has "
            f"{', '.join(map(repr, state)) or 'no keys'}): it was written by another program or another version of "
            f"this one. {_FIX}"
        )
    return state


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` with ``torch.save`` atomically; identical states give byte-identical files.

    The file appears complete or not at all (a killed job leaves the previous file), and is written through
    an open file object so that the zip archive's internal name does not depend on the temporary file name.
    """
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        torch.save(_canonical(state), handle)


def _canonical(tree: Any) -> Any:
    """A copy of a state tree in which equal strings are one object and no container is shared.

    Pickle writes a back-reference instead of a second copy of an object it has seen, judged by identity: the
    key ``"step"`` of an optimizer state loaded from a checkpoint is a different object from the literal
    ``"step"`` of a fresh one, so equal states would pickle to different bytes after a resume. Interning
    every string and rebuilding every container makes the bytes depend on the values alone.
    """
    if type(tree) is str:
        return sys.intern(tree)
    if type(tree) in (dict, OrderedDict):  # state_dict() is an OrderedDict whose _metadata load_state_dict reads
        copy = type(tree)((_canonical(key), _canonical(value)) for key, value in tree.items())
        if hasattr(tree, "_metadata"):
            copy._metadata = _canonical(tree._metadata)
        return copy
    if type(tree) in (list, tuple):  # exact types: torch.Size and named tuples stay as they are
        return type(tree)(_canonical(item) for item in tree)
    return tree

"""Safe outputs: atomic files, no overwriting of what the project did not make, modes a team can share.

* :func:`atomic_output`: a killed job leaves the old file or the new one, never a truncated file a later step
  trusts.
* :func:`refuse_existing` and :class:`OutputExistsError`: a command never overwrites or deletes an existing
  output it cannot prove is its own unfinished work. (Snakemake removes a job's old outputs itself before it
  reruns the job, so the workflow never meets this refusal.)
* :func:`check_writable` and :class:`OutputNotWritableError`: an unwritable output folder is reported before any
  computation, naming the folder, not a hidden temporary file hours later.
* :func:`shared_mode`: files and folders are published with the modes ``open`` and ``mkdir`` would give them
  (``0o666`` / ``0o777`` less the umask), not the private ``0o600`` / ``0o700`` of ``tempfile``, so a team
  sharing a results tree can read each other's products.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from geolink.errors import UserError

#: What to do instead of overwriting, said once for every refusal.
_SNAKEMAKE_REMAKES = (
    "If it is a product of the workflow, let snakemake remake it instead: Snakemake removes a job's old outputs "
    "itself before it reruns the job."
)


class OutputExistsError(UserError):
    """An output path already exists and the command will not overwrite or delete it.

    Attributes:
        path: Absolute path of the existing file or folder.
    """

    def __init__(self, message: str, *, path: str | os.PathLike) -> None:
        super().__init__(message)
        self.path = os.path.abspath(path)

    @classmethod
    def at(cls, path: str | os.PathLike, option: str | None = None, extra: str = "") -> OutputExistsError:
        """The standard refusal for ``path``; ``option`` names the command-line option that picks another path."""
        elsewhere = f"pass another {option}" if option else "write to another path"
        return cls(
            f"{os.path.abspath(path)} already exists, and geolink never overwrites or deletes an output it cannot "
            f"prove is its own unfinished work. Delete or move it if it is to be made again, or {elsewhere}"
            f"{extra}. {_SNAKEMAKE_REMAKES}",
            path=path,
        )


class OutputNotWritableError(UserError):
    """An output cannot be written where it is meant to go (permissions, a read-only or full file system).

    Attributes:
        path: Absolute path of the output concerned.
    """

    def __init__(self, message: str, *, path: str | os.PathLike) -> None:
        super().__init__(message)
        self.path = os.path.abspath(path)

    @classmethod
    def from_os_error(cls, path: str | os.PathLike, action: str, error: OSError) -> OutputNotWritableError:
        """The message for an OSError met while ``action`` (e.g. "creating a temporary file beside it")."""
        path = Path(os.path.abspath(path))
        reason = error.strerror or str(error)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            fix = f"Free some space on the disk holding {path.parent} (or raise your quota), then run again."
        elif error.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.ENOTDIR):
            fix = f"Something else is in the way at {path}: move it away, or write the output elsewhere."
        else:
            fix = (
                f"Make the folder {path.parent} writable (chmod u+w, or ask its owner), or write the output elsewhere."
            )
        return cls(f"Cannot write {path}: {reason} (while {action}). {fix}", path=path)


def refuse_existing(paths: Iterable[str | os.PathLike], option: str | None = None, extra: str = "") -> None:
    """Raise :class:`OutputExistsError` for the first of ``paths`` that exists (a dangling link counts).

    Args:
        paths: Outputs about to be created.
        option: The command-line option that picks another path (``--out``), named in the message.
        extra: More ways to proceed, appended to the message (starting with ", or ...").
    """
    for path in paths:
        if os.path.lexists(path):
            raise OutputExistsError.at(path, option, extra)


def check_writable(paths: Iterable[str | os.PathLike]) -> None:
    """Check, before any computation, that every output in ``paths`` can be created where it is meant to go.

    Each output's folder must exist or be creatable, and be writable: the nearest existing ancestor of the
    folder must be a folder this user may write into (``os.access``, which also reports a read-only file
    system). Nothing is created. Ownership and modes can still change before the output is written, so this is
    a courtesy that turns the common case into an early, clear message; :func:`atomic_output` reports the rest.

    Raises:
        OutputNotWritableError: naming the output and the folder at fault.
    """
    for path in paths:
        path = Path(os.path.abspath(path))
        folder = ancestor = path.parent
        while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        where = "" if ancestor == folder else f", so the folder {folder} cannot be created in it"
        if not ancestor.is_dir():
            raise OutputNotWritableError(
                f"Cannot write {path}: {ancestor} is not a folder{where}. Move it away, or write the output elsewhere.",
                path=path,
            )
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise OutputNotWritableError(
                f"Cannot write {path}: the folder {ancestor} is not writable by this user (its permissions, or a "
                f"read-only file system){where}. Make it writable (chmod u+w {ancestor}, or ask its owner), or "
                "write the output elsewhere.",
                path=path,
            )


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status`` (since 4.7), which is read-only and so free of races. Elsewhere
    the only interface is ``os.umask``, which sets a new mask while returning the old one; the mask belongs to
    the whole process, so a file another thread creates between the set and the restore gets the temporary
    mask. That temporary mask is therefore ``0o077``, the most private: the worst the race can do is make one
    file private, never expose a file the user's mask keeps private. The lock stops two of our own threads from
    interleaving their set and restore, which could leave ``0o077`` in place for good.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def shared_mode(full: int) -> int:
    """``full`` (``0o666`` for files, ``0o777`` for folders) less the umask: what ``open``/``mkdir`` would give.

    ``tempfile.mkstemp`` and ``mkdtemp`` create ``0o600`` / ``0o700`` entries whatever the umask, which is right
    while they are private scratch space but wrong once they are renamed into place as products; the user's
    umask (``022``, ``002`` for a group, ``077`` for privacy) is the user's choice of who may read them.
    """
    return full & ~current_umask()


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on failure delete it.

    The temporary file sits in the destination's folder because ``os.replace`` is atomic only within
    one file system, and keeps the destination's suffix so writers that choose a format by extension
    (matplotlib) or append one when it is missing (``np.savez``) behave as for the real name.
    Missing parent folders are created. The published file gets the mode a plain ``open`` would give it
    (:func:`shared_mode`), not ``mkstemp``'s private ``0o600``.

    Raises:
        OutputNotWritableError: the folder cannot be created or written, the disk is full, or something is in
            the way of the rename; the message names ``path``, never the hidden temporary file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as error:
        raise OutputNotWritableError.from_os_error(path, "creating a temporary file beside it", error) from error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        # A writer that fails on the temporary file itself (a full disk) names only that hidden file; say which
        # output it was. Other errors (reading an input inside the block) pass unchanged.
        if isinstance(error, OSError) and tmp_name in (_fspath(error.filename), _fspath(error.filename2)):
            raise OutputNotWritableError.from_os_error(path, "writing its temporary file", error) from error
        raise
    try:
        # After writing, so a writer that recreates the file cannot undo it.
        os.chmod(tmp, shared_mode(0o666))
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        action = "renaming the finished temporary file onto it"
        raise OutputNotWritableError.from_os_error(path, action, error) from error


def _fspath(name: object) -> str | None:
    return os.fspath(name) if isinstance(name, str | os.PathLike) else None

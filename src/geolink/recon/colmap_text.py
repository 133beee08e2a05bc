"""COLMAP text models: read ``points3D.txt``, write ``cameras.txt``, ``images.txt`` and ``points3D.txt``.

The GeoLink-3D release and the official loader use COLMAP's text format (docs/official_code.md §1.3, §7), and
every reconstruction backend writes one so the same reader serves released and home-made clouds. Format, as
COLMAP writes it (one line per point, whitespace-separated)::

    # 3D point list with one line of data per point:
    #   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)
    # Number of points: 2, mean track length: 2.5
    1 0.5 -1.25 3 255 0 12 0.41 1 7 2 19
    2 1.5 2.5 -3 10 20 30 0.8 1 8 3 4 5 6

The TRACK list has a different length on every line, which is why the official
``np.loadtxt(..., usecols=range(1, 7))`` is replaced by a reader that checks every line and reports the
first bad one by file and line number. ERROR is COLMAP's mean reprojection error in pixels; COLMAP itself
uses ``-1`` for "not computed" (``pycolmap.Point3D().error == -1``), and so does this writer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geolink.atomic import atomic_output
from geolink.recon.result import ReconstructionResult

#: COLMAP's value for a reprojection error that was never computed.
UNKNOWN_ERROR = -1.0

#: Advice appended to every parse error: the file cannot be repaired by hand in any useful way.
_FIX = (
    "Re-export the model as text (colmap model_converter --output_type TXT) or re-run the reconstruction "
    "for this location; if the file came from a download, download it again."
)

_DECLARED_COUNT = re.compile(r"Number of points:\s*(\d+)")
_POINTS_HEADER = (
    "# 3D point list with one line of data per point:\n"
    "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
    "# Number of points: {n}, mean track length: {mean:g}\n"
)
_CAMERAS_HEADER = (
    "# Camera list with one line of data per camera:\n"
    "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
    "# Number of cameras: {n}\n"
)
_IMAGES_HEADER = (
    "# Image list with two lines of data per image:\n"
    "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
    "#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
    "# Number of images: {n}, mean observations per image: 0\n"
)


class ColmapTextError(ValueError):
    """A COLMAP text file is missing, unreadable or malformed.

    Attributes:
        path: Absolute path of the file.
        line: 1-based line number of the first bad line, or None when the problem is the whole file.
    """

    def __init__(self, path: str | os.PathLike, problem: str, *, line: int | None = None, fix: str = _FIX) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.line = line
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {problem}. {fix}")


@dataclass
class Points3D:
    """The points of a COLMAP ``points3D.txt``, in file order.

    Attributes:
        ids: ``[N]`` int64 POINT3D_ID.
        xyz: ``[N, 3]`` float64 coordinates in the model's frame.
        rgb: ``[N, 3]`` uint8 colours.
        error: ``[N]`` float64 mean reprojection error in pixels as written (``-1`` = not computed).
        track_length: ``[N]`` int64 number of (IMAGE_ID, POINT2D_IDX) observations of each point.
    """

    ids: np.ndarray
    xyz: np.ndarray
    rgb: np.ndarray
    error: np.ndarray
    track_length: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def known_error(self) -> np.ndarray:
        """``[N]`` float64 errors with COLMAP's "not computed" (negative) values as NaN, as ReconstructionResult."""
        return np.where(self.error < 0, np.nan, self.error)

    @classmethod
    def empty(cls) -> Points3D:
        """A model with no points (N = 0), with the documented dtypes and shapes."""
        return cls(
            ids=np.zeros(0, np.int64),
            xyz=np.zeros((0, 3), np.float64),
            rgb=np.zeros((0, 3), np.uint8),
            error=np.zeros(0, np.float64),
            track_length=np.zeros(0, np.int64),
        )


def read_points3d_text(path: str | os.PathLike) -> Points3D:
    """Read a COLMAP ``points3D.txt``, checking every line.

    Lines are split in Python (the TRACK list varies in length, so no fixed-width parser applies), but the
    numbers are converted in bulk by numpy; a 100k-point file (16 MB) takes about 0.25 s. When the bulk conversion
    fails, the lines are re-examined one by one to name the first bad one.

    Args:
        path: The ``points3D.txt`` file.

    Returns:
        The points in file order. An empty file, or one holding only comments, gives an empty Points3D
        (N = 0): whether that is an error is the caller's decision.

    Raises:
        ColmapTextError: The file is missing or unreadable, or a line has fewer than 8 fields, a non-numeric
            field, an odd number of TRACK fields, an RGB value outside 0-255, non-finite coordinates or a
            POINT3D_ID seen before, or COLMAP's "# Number of points: N" header disagrees with the number of
            point lines (a file cut at a line break). The message names the file and the 1-based line number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ColmapTextError(path, "file not found", fix="Check the path, or run the reconstruction first.") from None
    except UnicodeDecodeError:
        raise ColmapTextError(
            path, "not a text file (is it a binary model, points3D.bin, under a .txt name?)"
        ) from None
    except OSError as exc:
        raise ColmapTextError(path, f"cannot be read ({exc.strerror or exc})", fix="Check the file.") from None

    lines = text.splitlines()
    # A cut-off download or a killed writer leaves a last line without its newline; say so when it is bad.
    truncated_line = len(lines) if text and not text.endswith(("\n", "\r")) else None

    def fail(line: int, problem: str) -> ColmapTextError:
        if line == truncated_line:
            problem += " (the file ends in the middle of this line: it looks truncated)"
        return ColmapTextError(path, problem, line=line)

    heads: list[str] = []  # the 8 leading fields of every point line, flattened
    n_fields: list[int] = []
    line_numbers: list[int] = []
    bad_track: int | None = None
    declared: tuple[int, int] | None = None  # (line, count) of COLMAP's "# Number of points: N" header
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if parts[0].startswith("#"):
            found = _DECLARED_COUNT.search(line)
            if found and declared is None:
                declared = (number, int(found.group(1)))
            continue
        n = len(parts)
        if n < 8:
            raise fail(number, f"expected at least 8 fields (POINT3D_ID X Y Z R G B ERROR), found {n}")
        if n % 2:
            raise fail(number, f"odd number of TRACK fields ({n - 8}); TRACK must be (IMAGE_ID, POINT2D_IDX) pairs")
        if bad_track is None and n > 8:
            # Joining and testing the track in one call is far cheaper than converting every integer.
            track = "".join(parts[8:])
            if not (track.isdecimal() and track.isascii()):
                bad_track = number
        heads.extend(parts[:8])
        n_fields.append(n)
        line_numbers.append(number)

    if declared is not None and declared[1] != len(n_fields):
        # The only sign of a file cut exactly at a line break: COLMAP writes the true count in the header.
        last = line_numbers[-1] if line_numbers else declared[0]
        raise fail(
            last,
            f"the header (line {declared[0]}) declares {declared[1]} points but the file holds {len(n_fields)}"
            + (", so the file looks truncated" if len(n_fields) < declared[1] else ""),
        )
    if not n_fields:
        return Points3D.empty()
    try:
        values = np.array(heads, dtype=np.float64).reshape(-1, 8)
        ids = np.array(heads[0::8], dtype=np.int64)
        bad_head = None
    except (ValueError, OverflowError):
        bad_head = _first_non_numeric(heads, line_numbers, fail)
    # Report whichever non-numeric field comes first in the file.
    if bad_track is not None and (bad_head is None or bad_track < bad_head.line):
        track_fields = lines[bad_track - 1].split()[8:]
        bad = next(f for f in track_fields if not (f.isdecimal() and f.isascii()))
        raise fail(bad_track, f"TRACK field {bad!r} is not a non-negative integer")
    if bad_head is not None:
        raise bad_head

    def fields(row: int, first: int, last: int) -> tuple[str, ...]:
        return tuple(heads[8 * row + first : 8 * row + last])

    rows = np.asarray(line_numbers)
    if (ids < 0).any():
        raise fail(int(rows[np.argmax(ids < 0)]), "POINT3D_ID must be a non-negative integer")
    xyz = values[:, 1:4]
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise fail(int(rows[row]), f"non-finite coordinates {fields(row, 1, 4)}")
    rgb = values[:, 4:7]
    rgb_ok = ((rgb >= 0) & (rgb <= 255) & (rgb == np.round(rgb))).all(axis=1)
    if not rgb_ok.all():
        row = int(np.argmin(rgb_ok))
        raise fail(int(rows[row]), f"RGB {fields(row, 4, 7)} outside the integers 0-255")

    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if len(repeated):
        # Report the later of the two lines, pointing back at the first, so the user finds both.
        first, second = sorted((int(rows[order[repeated[0]]]), int(rows[order[repeated[0] + 1]])))
        raise fail(second, f"duplicate POINT3D_ID {ids[order[repeated[0]]]} (first seen on line {first})")

    return Points3D(
        ids=ids,
        xyz=np.ascontiguousarray(xyz),
        rgb=rgb.astype(np.uint8),
        error=np.ascontiguousarray(values[:, 7]),
        track_length=(np.asarray(n_fields, dtype=np.int64) - 8) // 2,
    )


def _first_non_numeric(
    heads: list[str], line_numbers: list[int], fail: Callable[[int, str], ColmapTextError]
) -> ColmapTextError:
    """Find the first field the bulk conversion rejected, and build its error (slow path, errors only)."""
    names = ("POINT3D_ID", "X", "Y", "Z", "R", "G", "B", "ERROR")
    for row, number in enumerate(line_numbers):
        for name, field in zip(names, heads[8 * row : 8 * row + 8], strict=True):
            try:
                int(field) if name == "POINT3D_ID" else float(field)
            except ValueError:
                kind = "an integer" if name == "POINT3D_ID" else "a number"
                return fail(number, f"{name} field {field!r} is not {kind}")
    return fail(line_numbers[0], "unparseable numbers")  # unreachable unless numpy and Python disagree


def write_points3d_text(
    path: str | os.PathLike,
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    error: np.ndarray | None = None,
    track: Sequence[np.ndarray] | None = None,
) -> Path:
    """Write a COLMAP ``points3D.txt`` atomically, with POINT3D_IDs 1..N.

    Coordinates and errors are written with Python's shortest round-trip ``repr``, so reading the file back
    gives the same float64 values bit for bit (COLMAP itself writes 17 significant digits).

    Args:
        path: Destination file; missing parent folders are created.
        xyz: ``[N, 3]`` coordinates; must be finite.
        rgb: ``[N, 3]`` colours 0-255; None writes mid-grey (128, 128, 128).
        error: ``[N]`` reprojection errors in pixels; None, and NaN entries, are written as ``-1``, COLMAP's
            own "not computed" value (0 would claim a perfect fit, and "nan" is not valid for every reader).
        track: N arrays of (IMAGE_ID, POINT2D_IDX) pairs, each ``[L_i, 2]`` (or flat, even length) non-negative
            integers; None writes no TRACK fields. Only pass tracks that match an images.txt with 2D points.

    Returns:
        ``path`` as a Path.

    Raises:
        ValueError: Inconsistent shapes, non-finite coordinates, colours outside 0-255 or bad tracks.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"xyz must be [N, 3], got shape {xyz.shape}")
    n = len(xyz)
    if not np.isfinite(xyz).all():
        raise ValueError("xyz has non-finite coordinates; drop those points before writing")
    if rgb is None:
        rgb_int = np.full((n, 3), 128, dtype=np.int64)
    else:
        rgb_int = np.asarray(rgb)
        if rgb_int.shape != (n, 3):
            raise ValueError(f"rgb must be [{n}, 3], got shape {rgb_int.shape}")
        if rgb_int.size and not (np.isfinite(rgb_int).all() and rgb_int.min() >= 0 and rgb_int.max() <= 255):
            raise ValueError("rgb values must lie in 0-255")
        rgb_int = np.rint(rgb_int).astype(np.int64)
    if error is None:
        err = np.full(n, UNKNOWN_ERROR)
    else:
        err = np.asarray(error, dtype=np.float64)
        if err.shape != (n,):
            raise ValueError(f"error must be [{n}], got shape {err.shape}")
        err = np.where(np.isfinite(err), err, UNKNOWN_ERROR)

    if track is None:
        tracks = [""] * n
        mean_track = 0.0
    else:
        if len(track) != n:
            raise ValueError(f"track must hold one array per point ({n}), got {len(track)}")
        tracks, total = [], 0
        for i, pairs in enumerate(track):
            flat = np.asarray(pairs).reshape(-1)
            if flat.size % 2 or (flat.size and (flat.min() < 0 or not np.issubdtype(flat.dtype, np.integer))):
                raise ValueError(f"track of point {i} must be non-negative integer (IMAGE_ID, POINT2D_IDX) pairs")
            tracks.append(" " + " ".join(map(str, flat.tolist())) if flat.size else "")
            total += flat.size // 2
        mean_track = total / n if n else 0.0

    # One f-string per point over Python lists: converting with tolist() first avoids numpy scalar overhead.
    body = "".join(
        f"{i} {x!r} {y!r} {z!r} {r} {g} {b} {e!r}{t}\n"
        for i, (x, y, z), (r, g, b), e, t in zip(
            range(1, n + 1), xyz.tolist(), rgb_int.tolist(), err.tolist(), tracks, strict=True
        )
    )
    return _atomic_write_text(path, _POINTS_HEADER.format(n=n, mean=mean_track) + body)


def rotation_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Convert rotation matrices to unit quaternions ``(qw, qx, qy, qz)``, COLMAP's order, with ``qw >= 0``.

    Shepperd's method: the branch is chosen from the largest of the trace and the diagonal, so the square root
    is never taken of a small number and accuracy holds near 180-degree rotations.

    Args:
        rotation: ``[..., 3, 3]`` rotation matrices.

    Returns:
        ``[..., 4]`` float64 unit quaternions.
    """
    r = np.asarray(rotation, dtype=np.float64)
    m = r.reshape(-1, 3, 3)
    q = np.empty((len(m), 4))
    trace = np.trace(m, axis1=1, axis2=2)
    diag = np.diagonal(m, axis1=1, axis2=2)
    case = np.argmax(np.concatenate([trace[:, None], diag], axis=1), axis=1)
    for k in range(4):
        sel = case == k
        if not sel.any():
            continue
        s = m[sel]
        if k == 0:
            w = np.sqrt(1.0 + trace[sel]) * 2  # w = 4 qw
            q[sel] = np.stack(
                [w / 4, (s[:, 2, 1] - s[:, 1, 2]) / w, (s[:, 0, 2] - s[:, 2, 0]) / w, (s[:, 1, 0] - s[:, 0, 1]) / w],
                axis=1,
            )
        else:
            i = k - 1
            j, m2 = (i + 1) % 3, (i + 2) % 3
            w = np.sqrt(1.0 + s[:, i, i] - s[:, j, j] - s[:, m2, m2]) * 2  # w = 4 q_i
            q[sel, 0] = (s[:, m2, j] - s[:, j, m2]) / w
            q[sel, 1 + i] = w / 4
            q[sel, 1 + j] = (s[:, j, i] + s[:, i, j]) / w
            q[sel, 1 + m2] = (s[:, m2, i] + s[:, i, m2]) / w
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)  # q and -q are the same rotation; fix the sign for stable output
    return q.reshape(*r.shape[:-2], 4)


def quaternion_to_rotation(quaternion: np.ndarray) -> np.ndarray:
    """Convert quaternions ``(qw, qx, qy, qz)`` (normalised here) to rotation matrices.

    Args:
        quaternion: ``[..., 4]`` quaternions in COLMAP's order.

    Returns:
        ``[..., 3, 3]`` float64 rotation matrices.
    """
    q = np.asarray(quaternion, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def write_cameras_text(
    path: str | os.PathLike, intrinsics: np.ndarray, widths: int | Sequence[int], heights: int | Sequence[int]
) -> Path:
    """Write a COLMAP ``cameras.txt`` with one PINHOLE camera per image (CAMERA_ID = image index + 1).

    Args:
        path: Destination file, written atomically.
        intrinsics: ``[V, 3, 3]`` pinhole matrices ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels.
        widths: Image width in pixels, one per image ``[V]`` or one for all.
        heights: Image height in pixels, one per image ``[V]`` or one for all.

    Returns:
        ``path`` as a Path.

    Raises:
        ValueError: Wrong shapes, or a matrix with skew, which PINHOLE cannot represent.
    """
    k = np.asarray(intrinsics, dtype=np.float64).reshape(-1, 3, 3) if np.size(intrinsics) else np.zeros((0, 3, 3))
    v = len(k)
    w = np.broadcast_to(np.asarray(widths, dtype=np.int64), (v,))
    h = np.broadcast_to(np.asarray(heights, dtype=np.int64), (v,))
    if v and np.abs(k[:, 0, 1]).max() > 1e-9 * np.abs(k[:, 0, 0]).max():
        raise ValueError("intrinsics have non-zero skew K[0, 1], which the PINHOLE model cannot represent")
    lines = [
        f"{i} PINHOLE {int(w[i - 1])} {int(h[i - 1])} {fx!r} {fy!r} {cx!r} {cy!r}\n"
        for i, (fx, fy, cx, cy) in enumerate(
            zip(k[:, 0, 0].tolist(), k[:, 1, 1].tolist(), k[:, 0, 2].tolist(), k[:, 1, 2].tolist(), strict=True),
            start=1,
        )
    ]
    return _atomic_write_text(path, _CAMERAS_HEADER.format(n=v) + "".join(lines))


def write_images_text(path: str | os.PathLike, names: Sequence[str], poses: np.ndarray) -> Path:
    """Write a COLMAP ``images.txt``: IMAGE_ID = CAMERA_ID = index + 1, and no 2D points.

    Each image takes two lines; the second (POINTS2D) is left empty because the backends keep no 2D
    observations, and COLMAP's reader still expects it.

    Args:
        path: Destination file, written atomically.
        names: ``[V]`` image names (relative paths, no whitespace).
        poses: ``[V, 3, 4]`` world-to-camera ``[R | t]`` (COLMAP/OpenCV convention).

    Returns:
        ``path`` as a Path.

    Raises:
        ValueError: Shapes disagree, a name is empty or contains whitespace, or R is not a rotation.
    """
    p = np.asarray(poses, dtype=np.float64).reshape(-1, 3, 4) if np.size(poses) else np.zeros((0, 3, 4))
    if len(names) != len(p):
        raise ValueError(f"{len(names)} names but {len(p)} poses")
    for name in names:
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"image name {name!r} is empty or contains whitespace, which COLMAP's format forbids")
    r = p[:, :, :3]
    if len(p):
        off = np.abs(r @ np.swapaxes(r, 1, 2) - np.eye(3)).max(axis=(1, 2))
        det = np.linalg.det(r)
        bad = np.flatnonzero((off > 1e-6) | (det <= 0))
        if len(bad):
            raise ValueError(f"pose {bad[0]} ({names[bad[0]]}) does not hold a rotation matrix")
    q = rotation_to_quaternion(r)
    lines = [
        f"{i} {qw!r} {qx!r} {qy!r} {qz!r} {tx!r} {ty!r} {tz!r} {i} {name}\n\n"
        for i, ((qw, qx, qy, qz), (tx, ty, tz), name) in enumerate(
            zip(q.tolist(), p[:, :, 3].tolist(), names, strict=True), start=1
        )
    ]
    return _atomic_write_text(path, _IMAGES_HEADER.format(n=len(p)) + "".join(lines))


def write_colmap_model(
    folder: str | os.PathLike,
    result: ReconstructionResult,
    widths: int | Sequence[int],
    heights: int | Sequence[int],
) -> Path:
    """Write a reconstruction as a COLMAP text model: ``cameras.txt``, ``images.txt``, ``points3D.txt``.

    Points get no TRACK fields: the result holds no 2D observations, and a track pointing at a POINT2D_IDX
    absent from images.txt would make COLMAP reject the model. NaN errors are written as ``-1``; ``rgb`` or
    ``error`` arrays that do not have one row per point (a backend without colours) are written as defaults.

    Args:
        folder: Output folder, created if missing.
        result: The reconstruction; uses ``image_names``, ``poses``, ``intrinsics``, ``xyz``, ``rgb``, ``error``.
        widths: Width of each registered image ``[V]`` in pixels, or one for all.
        heights: Height of each registered image ``[V]`` in pixels, or one for all.

    Returns:
        ``folder`` as a Path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (len(result.image_names) == len(result.poses) == len(result.intrinsics)):
        raise ValueError(
            f"result has {len(result.image_names)} image names, {len(result.poses)} poses and "
            f"{len(result.intrinsics)} intrinsics; they must match"
        )
    write_cameras_text(folder / "cameras.txt", result.intrinsics, widths, heights)
    write_images_text(folder / "images.txt", result.image_names, result.poses)
    rgb = result.rgb if len(result.rgb) == result.n_points else None
    error = result.error if len(result.error) == result.n_points else None
    write_points3d_text(folder / "points3D.txt", result.xyz, rgb=rgb, error=error)
    return folder


def _atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    A killed job then leaves either the old file or the new one, never a truncated file a later step would
    trust; the temporary file sits in the same folder because os.replace is atomic only within one file system.
    """
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path

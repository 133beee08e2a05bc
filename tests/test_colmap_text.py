"""COLMAP text I/O: hand-written points3D.txt files, every malformed case, round trips, and pycolmap as a referee."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from geolink.recon.colmap_text import (
    ColmapTextError,
    Points3D,
    quaternion_to_rotation,
    read_points3d_text,
    rotation_to_quaternion,
    write_cameras_text,
    write_colmap_model,
    write_images_text,
    write_points3d_text,
)
from geolink.recon.result import ReconstructionResult

HEADER = (
    "# 3D point list with one line of data per point:\n"
    "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
)

# Three points with track lengths 2, 0 and 4; a blank line, a trailing space, tabs and a mid-file comment,
# all of which a tolerant reader must accept.
HAND_WRITTEN = (
    HEADER + "# Number of points: 3, mean track length: 2\n"
    "7 0.5 -1.25 3 255 0 12 0.41 1 7 2 19\n"
    "\n"
    "3 1.5e2 2.5 -3.0 10 20 30 -1 \n"
    "# a comment between points\n"
    "12\t-0.001 0 1e-3 0 0 0 1.5 1 8 3 4 5 6 9 9\n"
)


def write(tmp_path: Path, text: str, name: str = "points3D.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_every_field_of_a_hand_written_file(tmp_path: Path) -> None:
    points = read_points3d_text(write(tmp_path, HAND_WRITTEN))

    assert len(points) == 3
    np.testing.assert_array_equal(points.ids, [7, 3, 12])
    np.testing.assert_array_equal(points.xyz, [[0.5, -1.25, 3.0], [150.0, 2.5, -3.0], [-0.001, 0.0, 0.001]])
    np.testing.assert_array_equal(points.rgb, [[255, 0, 12], [10, 20, 30], [0, 0, 0]])
    np.testing.assert_array_equal(points.error, [0.41, -1.0, 1.5])
    np.testing.assert_array_equal(points.track_length, [2, 0, 4])
    assert points.ids.dtype == np.int64 and points.track_length.dtype == np.int64
    assert points.xyz.dtype == np.float64 and points.error.dtype == np.float64
    assert points.rgb.dtype == np.uint8
    assert points.xyz.shape == (3, 3) and points.rgb.shape == (3, 3)
    # COLMAP's -1 ("not computed") becomes NaN in the ReconstructionResult convention.
    np.testing.assert_array_equal(points.known_error, [0.41, np.nan, 1.5])


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("1 0 0 0 1 2 3\n", 4, "at least 8 fields"),
        ("1 0 abc 0 1 2 3 0.5 1 2\n", 4, "'abc' is not a number"),
        ("1.5 0 0 0 1 2 3 0.5\n", 4, "POINT3D_ID field '1.5' is not an integer"),
        ("1 0 0 0 1 2 3 0.5 1 2\n2 0 0 0 1 2 3 0.5 1 x\n", 5, "TRACK field 'x'"),
        ("1 0 0 0 1 2 3 0.5 1 -2\n", 4, "TRACK field '-2'"),
        ("1 0 0 0 1 2 3 0.5 1 2\n2 0 0 0 1 2 3 0.5 1 2 3\n", 5, "odd number of TRACK fields (3)"),
        ("1 0 0 0 256 2 3 0.5\n", 4, "RGB ('256', '2', '3') outside"),
        ("1 0 0 0 1 -1 3 0.5\n", 4, "RGB ('1', '-1', '3') outside"),
        ("1 0 0 0 1 2 3.5 0.5\n", 4, "outside the integers 0-255"),
        ("1 0 0 0 1 2 3 0.5\n2 nan 0 0 1 2 3 0.5\n", 5, "non-finite coordinates ('nan', '0', '0')"),
        ("1 0 0 inf 1 2 3 0.5\n", 4, "non-finite coordinates"),
        (
            "1 0 0 0 1 2 3 0.5\n2 0 0 0 1 2 3 0.5\n1 1 1 1 1 2 3 0.5\n",
            6,
            "duplicate POINT3D_ID 1 (first seen on line 4)",
        ),
        ("-4 0 0 0 1 2 3 0.5\n", 4, "non-negative"),
        # Two problems: the one earlier in the file is reported, whichever check finds it.
        ("1 0 0 0 1 2 3 0.5 1 y\n2 0 q 0 1 2 3 0.5\n", 4, "TRACK field 'y'"),
        ("1 0 q 0 1 2 3 0.5\n2 0 0 0 1 2 3 0.5 1 y\n", 4, "'q' is not a number"),
    ],
)
def test_malformed_lines_name_file_line_problem_and_fix(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = write(tmp_path, HEADER + "# 3rd comment line\n" + body)
    with pytest.raises(ColmapTextError) as info:
        read_points3d_text(path)
    message = str(info.value)
    assert str(path.resolve()) in message
    assert f"line {line}:" in message
    assert words in message
    assert "re-run the reconstruction" in message
    assert info.value.line == line and info.value.path == str(path.resolve())
    assert isinstance(info.value, ValueError)


def test_empty_and_header_only_files_give_no_points(tmp_path: Path) -> None:
    for text in ("", HEADER, HEADER + "# Number of points: 0, mean track length: 0\n", "\n\n"):
        points = read_points3d_text(write(tmp_path, text))
        assert len(points) == 0
        assert points.xyz.shape == (0, 3) and points.xyz.dtype == np.float64
        assert points.rgb.shape == (0, 3) and points.rgb.dtype == np.uint8
        assert points.ids.shape == points.error.shape == points.track_length.shape == (0,)


def test_truncated_in_the_middle_of_a_line(tmp_path: Path) -> None:
    good = write_points3d_text(tmp_path / "good.txt", np.arange(30.0).reshape(10, 3) + 0.125)
    text = good.read_text()
    cut = text[: text.rindex("\n", 0, len(text) - 1) + 12]  # last line keeps its ID and part of X
    with pytest.raises(ColmapTextError, match=r"line 13: expected at least 8 fields .* looks truncated"):
        read_points3d_text(write(tmp_path, cut))


def test_truncated_at_a_line_break_is_caught_by_the_header_count(tmp_path: Path) -> None:
    good = write_points3d_text(tmp_path / "good.txt", np.arange(30.0).reshape(10, 3))
    lines = good.read_text().splitlines(keepends=True)
    path = write(tmp_path, "".join(lines[:-2]))  # 8 of the 10 declared points
    declared = r"line 11: the header \(line 3\) declares 10 points but the file holds 8, so the file looks truncated"
    with pytest.raises(ColmapTextError, match=declared):
        read_points3d_text(path)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "points3D.txt"
    with pytest.raises(ColmapTextError, match="file not found") as info:
        read_points3d_text(missing)
    assert str(missing) in str(info.value)
    binary = tmp_path / "points3D.bin.txt"
    binary.write_bytes(b"\x80\x81\xfe\xff" * 8)
    with pytest.raises(ColmapTextError, match="not a text file"):
        read_points3d_text(binary)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 500
    # Magnitudes from 1e-9 to 1e6: %.6f would lose the small ones, repr keeps every bit.
    xyz = rng.normal(size=(n, 3)) * 10.0 ** rng.integers(-9, 7, size=(n, 1))
    rgb = rng.integers(0, 256, size=(n, 3)).astype(np.uint8)
    error = rng.random(n)
    error[::7] = np.nan
    track = [rng.integers(0, 5000, size=(k, 2)) for k in rng.integers(0, 12, size=n)]

    path = write_points3d_text(tmp_path / "sub" / "points3D.txt", xyz, rgb, error, track)
    points = read_points3d_text(path)

    np.testing.assert_array_equal(points.ids, np.arange(1, n + 1))
    np.testing.assert_array_equal(points.xyz, xyz)
    np.testing.assert_array_equal(points.rgb, rgb)
    np.testing.assert_array_equal(points.error, np.where(np.isnan(error), -1.0, error))
    np.testing.assert_array_equal(points.track_length, [len(t) for t in track])
    # The official loader reads the same file (columns 1-6) to the same values.
    official = np.loadtxt(path, delimiter=" ", skiprows=3, usecols=range(1, 7))
    np.testing.assert_array_equal(official[:, :3], xyz)
    np.testing.assert_array_equal(official[:, 3:], rgb)
    mean_track = sum(len(t) for t in track) / n
    assert path.read_text().splitlines()[2] == f"# Number of points: {n}, mean track length: {mean_track:g}"
    assert [p.name for p in path.parent.iterdir()] == ["points3D.txt"]  # no temporary file left behind


def test_writer_defaults_and_header(tmp_path: Path) -> None:
    path = write_points3d_text(tmp_path / "p.txt", [[1.0, 2.0, 3.0], [0.1, -0.2, 1e-7]])
    assert path.read_text() == (
        HEADER + "# Number of points: 2, mean track length: 0\n"
        "1 1.0 2.0 3.0 128 128 128 -1.0\n"
        "2 0.1 -0.2 1e-07 128 128 128 -1.0\n"
    )
    write_points3d_text(path, np.zeros((0, 3)))  # replaces the old file
    assert len(read_points3d_text(path)) == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"xyz": np.zeros((2, 2))}, "xyz must be"),
        ({"xyz": [[0, 0, np.nan]]}, "non-finite"),
        ({"xyz": np.zeros((1, 3)), "rgb": [[0, 0, 300]]}, "0-255"),
        ({"xyz": np.zeros((1, 3)), "error": [1.0, 2.0]}, "error must be"),
        ({"xyz": np.zeros((1, 3)), "track": [np.array([1, 2, 3])]}, "pairs"),
        ({"xyz": np.zeros((1, 3)), "track": []}, "one array per point"),
    ],
)
def test_writer_rejects_bad_input_and_keeps_the_old_file(tmp_path: Path, kwargs: dict, words: str) -> None:
    path = write(tmp_path, "old")
    with pytest.raises(ValueError, match=words):
        write_points3d_text(path, **kwargs)
    assert path.read_text() == "old"


def test_quaternions_of_hand_computed_rotations() -> None:
    s = math.sqrt(0.5)
    cases = {
        (1.0, 0.0, 0.0, 0.0): np.eye(3),
        (s, 0.0, 0.0, s): [[0, -1, 0], [1, 0, 0], [0, 0, 1]],  # +90 degrees about z
        (s, s, 0.0, 0.0): [[1, 0, 0], [0, 0, -1], [0, 1, 0]],  # +90 degrees about x
        (0.0, 1.0, 0.0, 0.0): np.diag([1.0, -1.0, -1.0]),  # 180 degrees about x
        (0.0, 0.0, 1.0, 0.0): np.diag([-1.0, 1.0, -1.0]),  # 180 degrees about y
        (0.0, 0.0, 0.0, 1.0): np.diag([-1.0, -1.0, 1.0]),  # 180 degrees about z
        (0.5, 0.5, 0.5, 0.5): [[0, 0, 1], [1, 0, 0], [0, 1, 0]],  # 120 degrees about (1, 1, 1)
    }
    for quaternion, rotation in cases.items():
        np.testing.assert_allclose(rotation_to_quaternion(np.array(rotation, float)), quaternion, atol=1e-15)
        np.testing.assert_allclose(quaternion_to_rotation(quaternion), rotation, atol=1e-15)


def test_rotation_quaternion_rotation_round_trip_and_scipy_agreement() -> None:
    from scipy.spatial.transform import Rotation

    rotations = Rotation.random(2000, random_state=0).as_matrix()
    # Angles near 180 degrees exercise the non-trace branches of Shepperd's method.
    axes = np.random.default_rng(2).normal(size=(200, 3))
    near_pi = Rotation.from_rotvec(axes / np.linalg.norm(axes, axis=1, keepdims=True) * (np.pi - 1e-9)).as_matrix()
    rotations = np.concatenate([rotations, near_pi, np.eye(3)[None]])

    q = rotation_to_quaternion(rotations)
    assert q.shape == (len(rotations), 4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-15)
    assert (q[:, 0] >= 0).all()
    np.testing.assert_allclose(quaternion_to_rotation(q), rotations, atol=1e-12)
    reference = Rotation.from_matrix(rotations).as_quat(scalar_first=True)
    reference *= np.where(reference[:, :1] < 0, -1.0, 1.0)
    # Same rotation and same sign convention, except exactly at qw = 0 where both signs are valid.
    np.testing.assert_allclose(np.abs((q * reference).sum(axis=1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(q[q[:, 0] > 1e-6], reference[q[:, 0] > 1e-6], atol=1e-12)


def make_result(n_views: int = 3, n_points: int = 6) -> ReconstructionResult:
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(5)
    rotation = Rotation.random(n_views, random_state=6).as_matrix()
    poses = np.concatenate([rotation, rng.normal(size=(n_views, 3, 1))], axis=2)
    intrinsics = np.tile([[500.0, 0.0, 320.0], [0.0, 510.0, 240.5], [0.0, 0.0, 1.0]], (n_views, 1, 1))
    intrinsics[:, 0, 0] += np.arange(n_views)
    error = rng.random(n_points)
    error[1] = np.nan
    return ReconstructionResult(
        xyz=rng.normal(size=(n_points, 3)),
        rgb=rng.integers(0, 256, size=(n_points, 3)).astype(np.uint8),
        error=error,
        n_images=n_views + 1,
        n_registered=n_views,
        image_names=[f"views/image-{k:02d}.jpeg" for k in range(1, n_views + 1)],
        poses=poses,
        intrinsics=intrinsics,
        backend="test",
    )


def test_cameras_and_images_text(tmp_path: Path) -> None:
    result = make_result(n_views=2)
    cameras = write_cameras_text(tmp_path / "cameras.txt", result.intrinsics, [640, 800], 480).read_text()
    assert cameras.splitlines() == [
        "# Camera list with one line of data per camera:",
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
        "# Number of cameras: 2",
        "1 PINHOLE 640 480 500.0 510.0 320.0 240.5",
        "2 PINHOLE 800 480 501.0 510.0 320.0 240.5",
    ]
    lines = write_images_text(tmp_path / "images.txt", result.image_names, result.poses).read_text().split("\n")
    assert lines[3] == "# Number of images: 2, mean observations per image: 0"
    assert lines[5] == lines[7] == ""  # the POINTS2D line of each image is present and empty
    for k, line in enumerate((lines[4], lines[6])):
        fields = line.split()
        assert fields[0] == fields[8] == str(k + 1) and fields[9] == result.image_names[k]
        q, t = np.array(fields[1:5], float), np.array(fields[5:8], float)
        np.testing.assert_allclose(quaternion_to_rotation(q), result.poses[k, :, :3], atol=1e-14)
        np.testing.assert_array_equal(t, result.poses[k, :, 3])


def test_camera_and_image_writers_reject_what_colmap_cannot_hold(tmp_path: Path) -> None:
    skewed = np.array([[[500.0, 3.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]])
    with pytest.raises(ValueError, match="skew"):
        write_cameras_text(tmp_path / "c.txt", skewed, 640, 480)
    pose = np.hstack([np.eye(3), np.zeros((3, 1))])[None]
    with pytest.raises(ValueError, match="whitespace"):
        write_images_text(tmp_path / "i.txt", ["my image.jpg"], pose)
    with pytest.raises(ValueError, match="rotation"):
        write_images_text(tmp_path / "i.txt", ["a.jpg"], pose * 2)
    with pytest.raises(ValueError, match="1 names but 2 poses"):
        write_images_text(tmp_path / "i.txt", ["a.jpg"], np.repeat(pose, 2, axis=0))


def test_full_model_reads_back_with_our_reader_and_pycolmap(tmp_path: Path) -> None:
    result = make_result()
    folder = write_colmap_model(tmp_path / "model", result, 640, 480)
    assert sorted(p.name for p in folder.iterdir()) == ["cameras.txt", "images.txt", "points3D.txt"]
    points = read_points3d_text(folder / "points3D.txt")
    np.testing.assert_array_equal(points.xyz, result.xyz)
    np.testing.assert_array_equal(points.known_error, result.error)

    pycolmap = pytest.importorskip("pycolmap")
    model = pycolmap.Reconstruction(str(folder))
    assert model.num_images() == 3 and model.num_points3D() == 6
    for image_id, image in model.images.items():
        k = image_id - 1
        assert image.name == result.image_names[k]
        np.testing.assert_allclose(image.cam_from_world().matrix(), result.poses[k], atol=1e-12)
        np.testing.assert_allclose(model.cameras[image.camera_id].calibration_matrix(), result.intrinsics[k])
    for point_id, point in model.points3D.items():
        np.testing.assert_array_equal(point.xyz, result.xyz[point_id - 1])
        np.testing.assert_array_equal(point.color, result.rgb[point_id - 1])
    assert model.points3D[2].error == -1.0  # NaN written as COLMAP's "not computed"


def test_points3d_empty_has_documented_dtypes() -> None:
    empty = Points3D.empty()
    assert len(empty) == 0 and empty.xyz.shape == (0, 3) and empty.rgb.dtype == np.uint8

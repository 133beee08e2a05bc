"""Fault injection on outputs: nothing a user made is overwritten or deleted, an unwritable output folder is
reported before any work and by its own name, and published files and folders follow the user's umask.

Every test provokes the fault itself (an existing output, a foreign ``.partial`` folder, a read-only folder, a
full disk, a umask) and checks both the message and that nothing was lost. Tests that rely on file permissions
are skipped as root, whom permissions do not stop.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, TINY

from geolink.atomic import (
    OutputExistsError,
    OutputNotWritableError,
    atomic_output,
    check_writable,
    current_umask,
    shared_mode,
)
from geolink.cli import main
from geolink.data.acquire import safe_extract
from geolink.data.sues200 import split_sues200
from geolink.errors import UserError
from geolink.resumable import build_tree
from geolink.rule_runner import run_logged

as_root = hasattr(os, "geteuid") and os.geteuid() == 0
needs_permissions = pytest.mark.skipif(as_root, reason="root ignores file permissions")


def _location(partial: Path, key: str) -> dict:
    (partial / f"{key}.txt").write_text(key)
    return {"key": key}


def _refuse_work(partial: Path, key: str) -> dict:
    raise AssertionError("a location was computed although the output should have been refused first")


def _no_finalize(partial: Path, records: dict) -> None:
    pass


JOBS = [("a", ("a",)), ("b", ("b",))]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test (``umask(0o022)``) and restore the previous one afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


@pytest.fixture
def read_only_dir(tmp_path):
    """An existing folder with mode 0o555 (made writable again afterwards so tmp_path can be cleaned)."""
    if as_root:
        pytest.skip("root ignores file permissions")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def geolink(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``geolink`` command from the repository root (refusals happen before anything is read)."""
    monkeypatch.chdir(REPO)
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# --------------------------------------------------------------------------------------------
# 1. Never delete what the project did not make
# --------------------------------------------------------------------------------------------


def test_build_tree_refuses_an_existing_output_before_any_work(tmp_path):
    out = tmp_path / "tree"
    out.mkdir()
    (out / "precious.txt").write_text("the only copy")
    with pytest.raises(OutputExistsError) as caught:
        build_tree(out, {"p": 1}, JOBS, _refuse_work, _no_finalize)
    message = str(caught.value)
    assert str(out) in message and "already exists" in message and "never overwrites" in message
    assert "Delete or move it" in message and "another path" in message
    assert (out / "precious.txt").read_text() == "the only copy"
    assert not (tmp_path / "tree.partial").exists()  # refused before anything was started


def test_build_tree_refuses_an_existing_file_or_link_at_the_output(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")  # dangling: exists() says no, but it is something
    for name in ("file", "link"):
        with pytest.raises(OutputExistsError):
            build_tree(tmp_path / name, {"p": 1}, JOBS, _refuse_work, _no_finalize)
    assert (tmp_path / "file").read_text() == "x" and (tmp_path / "link").is_symlink()


def test_a_partial_folder_without_fingerprint_is_refused_not_deleted(tmp_path):
    out = tmp_path / "tree"
    foreign = tmp_path / "tree.partial"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("someone's work")
    with pytest.raises(OutputExistsError) as caught:
        build_tree(out, {"p": 1}, JOBS, _refuse_work, _no_finalize)
    message = str(caught.value)
    assert str(foreign) in message and "no .fingerprint" in message and "left alone" in message
    assert (foreign / "notes.txt").read_text() == "someone's work"
    assert not out.exists()


def test_an_empty_unmarked_partial_folder_is_reused(tmp_path):
    # What a run killed between creating its work folder and marking it leaves: empty, so nothing to lose.
    (tmp_path / "tree.partial").mkdir()
    build_tree(tmp_path / "tree", {"p": 1}, JOBS, _location, _no_finalize)
    assert (tmp_path / "tree" / "b.txt").read_text() == "b"


def test_a_partial_of_other_parameters_is_discarded_with_a_warning(tmp_path, caplog):
    out = tmp_path / "tree"
    with pytest.raises(AssertionError):
        build_tree(out, {"p": 1}, JOBS, _refuse_work, _no_finalize)  # leaves a marked partial of p=1
    (tmp_path / "tree.partial" / "a.txt").write_text("stale")
    with caplog.at_level(logging.WARNING, logger="geolink.resumable"):
        build_tree(out, {"p": 2}, JOBS, _location, _no_finalize)
    assert (out / "a.txt").read_text() == "a"
    (record,) = [r for r in caplog.records if r.name == "geolink.resumable"]
    assert record.levelno == logging.WARNING
    assert "Discarding" in record.getMessage() and str(tmp_path / "tree.partial") in record.getMessage()


def test_a_partial_of_the_same_parameters_is_resumed_silently(tmp_path, caplog):
    out = tmp_path / "tree"
    with pytest.raises(AssertionError):
        build_tree(out, {"p": 1}, JOBS, _refuse_work, _no_finalize)
    (tmp_path / "tree.partial" / "kept.txt").write_text("kept")
    with caplog.at_level(logging.WARNING, logger="geolink.resumable"):
        build_tree(out, {"p": 1}, JOBS, _location, _no_finalize)
    assert (out / "kept.txt").read_text() == "kept" and not caplog.records


def test_split_sues200_leaves_a_folder_with_its_old_temporary_name_alone(tmp_path, make_sues200_raw_tree):
    # The split used to build in <out>.tmp-<pid> and delete whatever had that name first.
    raw = make_sues200_raw_tree(tmp_path, heights=(150,), frames=1)
    bystander = tmp_path / f"split.tmp-{os.getpid()}"
    bystander.mkdir()
    (bystander / "mine.txt").write_text("keep")
    split_sues200(raw, tmp_path / "split", heights=(150,))
    assert (bystander / "mine.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SUES-200-512x512", "split", bystander.name]


def test_split_sues200_refuses_an_existing_output(tmp_path, make_sues200_raw_tree):
    raw = make_sues200_raw_tree(tmp_path, heights=(150,), frames=1)
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "old.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists") as caught:
        split_sues200(raw, tmp_path / "split", heights=(150,))
    assert str(tmp_path / "split") in str(caught.value) and "overwrite=True" in str(caught.value)
    assert (tmp_path / "split" / "old.txt").read_text() == "mine"


def test_cli_synth_refuses_an_existing_dataset_folder(monkeypatch, capsys, tmp_path):
    (tmp_path / "denseuav").mkdir()
    (tmp_path / "denseuav" / "precious.txt").write_text("x")
    code, out, err = geolink(monkeypatch, capsys, "synth", *TINY, "--out-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert f"geolink synth: error: {tmp_path / 'denseuav'} already exists" in err
    assert "pass another --out-dir" in err and "--dataset" in err
    # Checked before the first dataset was rendered: nothing else was written.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["denseuav"]
    assert (tmp_path / "denseuav" / "precious.txt").read_text() == "x"


@pytest.mark.parametrize(
    ("command", "make", "option"),
    [
        (["split-sues200", "--out", "{x}"], "dir", "--out"),
        (["manifest", "--dataset", "sues200", "--out", "{x}"], "file", "--out"),
        (["reconstruct", "--dataset", "sues200", "--out", "{x}"], "dir", "--out"),
        (["points", "--dataset", "sues200", "--shards", "{tmp}", "--bank", "{x}"], "file", "--bank"),
        (["evaluate", "--source", "sues200", "--target", "sues200", "--out", "{x}"], "file", "--out"),
    ],
    ids=["split-sues200", "manifest", "reconstruct", "points", "evaluate"],
)
def test_cli_commands_refuse_an_existing_output(monkeypatch, capsys, tmp_path, command, make, option):
    target = tmp_path / "existing"
    if make == "dir":
        target.mkdir()
        (target / "precious.txt").write_text("x")
    else:
        target.write_text("x")
    args = [a.format(x=target, tmp=tmp_path) for a in command]
    code, _, err = geolink(monkeypatch, capsys, args[0], *TINY, *args[1:])
    assert code == 2
    assert f"error: {target} already exists" in err and f"pass another {option}" in err
    assert (target / "precious.txt" if make == "dir" else target).read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_cli_manifest_refuses_an_existing_summary_beside_the_output(monkeypatch, capsys, tmp_path):
    (tmp_path / "m_summary.csv").write_text("x")
    code, _, err = geolink(
        monkeypatch, capsys, "manifest", *TINY, "--dataset", "sues200", "--out", str(tmp_path / "m.parquet")
    )
    assert code == 2 and f"{tmp_path / 'm_summary.csv'} already exists" in err
    assert not (tmp_path / "m.parquet").exists()


def test_cli_dvc_still_regenerates_its_file(monkeypatch, capsys, tmp_path):
    # Regenerating dvc.yaml is the command's purpose; it is a generated file, not someone's data.
    output = tmp_path / "dvc.yaml"
    output.write_text("stale: true\n")
    code, out, _ = geolink(monkeypatch, capsys, "dvc", *TINY, "--output", str(output))
    assert code == 0 and f"Wrote {output}" in out and "stages:" in output.read_text()


# --------------------------------------------------------------------------------------------
# 2. An output folder that cannot be written
# --------------------------------------------------------------------------------------------


@needs_permissions
def test_atomic_output_into_a_read_only_folder_names_the_destination(read_only_dir):
    dest = read_only_dir / "table.csv"
    with pytest.raises(OutputNotWritableError) as caught, atomic_output(dest) as tmp:
        tmp.write_text("never")
    message = str(caught.value)
    assert f"Cannot write {dest}" in message and ".tmp" not in message
    assert "Make the folder" in message and str(read_only_dir) in message
    assert list(read_only_dir.iterdir()) == []


@needs_permissions
def test_check_writable_names_the_read_only_folder(read_only_dir):
    with pytest.raises(OutputNotWritableError) as caught:
        check_writable([read_only_dir / "a.csv"])
    assert f"the folder {read_only_dir} is not writable" in str(caught.value)
    with pytest.raises(OutputNotWritableError) as caught:
        check_writable([read_only_dir / "sub" / "deeper" / "a.csv"])  # folders that would have to be created
    message = str(caught.value)
    assert f"the folder {read_only_dir} is not writable" in message
    assert f"so the folder {read_only_dir / 'sub' / 'deeper'} cannot be created" in message
    assert not (read_only_dir / "sub").exists()  # a check creates nothing


@needs_permissions
def test_cli_synth_into_a_read_only_folder_stops_before_rendering(monkeypatch, capsys, read_only_dir):
    code, _, err = geolink(monkeypatch, capsys, "synth", *TINY, "--dataset", "sues200", "--out-dir", str(read_only_dir))
    assert code == 2 and f"the folder {read_only_dir} is not writable" in err and ".partial" not in err


@needs_permissions
def test_run_logged_checks_the_outputs_before_the_job_runs(read_only_dir, tmp_path, monkeypatch):
    called = []
    log = tmp_path / "job.log"
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # run_logged redirects it to the log
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # and points logging there (force=True)
    with pytest.raises(SystemExit) as caught:
        run_logged(str(log), lambda: called.append(1), outputs=[str(read_only_dir / "out.parquet")])
    sys.stderr.close()
    assert caught.value.code == 1 and called == []
    assert f"error: Cannot write {read_only_dir / 'out.parquet'}: the folder {read_only_dir}" in log.read_text()


def test_run_logged_runs_the_job_when_its_outputs_can_be_written(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    run_logged(str(tmp_path / "job.log"), lambda: called.append(1), outputs=[str(tmp_path / "new" / "out.csv")])
    sys.stderr.close()
    assert called == [1] and not (tmp_path / "new").exists()


def test_check_writable_refuses_a_file_where_a_folder_must_be(tmp_path):
    (tmp_path / "results").write_text("a file, not a folder")
    with pytest.raises(OutputNotWritableError, match="is not a folder"):
        check_writable([tmp_path / "results" / "tiny" / "metrics.csv"])


def test_atomic_output_that_cannot_create_its_folder_names_the_destination(tmp_path):
    (tmp_path / "results").write_text("a file, not a folder")
    dest = tmp_path / "results" / "table.csv"
    with pytest.raises(OutputNotWritableError) as caught, atomic_output(dest) as tmp:
        tmp.write_text("never")
    assert f"Cannot write {dest}" in str(caught.value) and "creating a temporary file" in str(caught.value)


def test_atomic_output_that_cannot_rename_names_the_destination(tmp_path):
    dest = tmp_path / "table.csv"
    (dest / "inside").mkdir(parents=True)  # a folder in the way of the rename
    with pytest.raises(OutputNotWritableError) as caught, atomic_output(dest) as tmp:
        tmp.write_text("new")
    message = str(caught.value)
    assert f"Cannot write {dest}" in message and "renaming" in message and ".tmp" not in message
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"] and (dest / "inside").is_dir()  # no leftover


def test_a_full_disk_while_writing_names_the_destination_not_the_temporary_file(tmp_path):
    dest = tmp_path / "bank.npz"
    with pytest.raises(OutputNotWritableError) as caught, atomic_output(dest) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    message = str(caught.value)
    assert f"Cannot write {dest}: No space left on device" in message and "Free some space" in message
    assert list(tmp_path.iterdir()) == []


def test_other_errors_inside_atomic_output_pass_unchanged(tmp_path):
    # A failure to read an input inside the block is not an output problem.
    with pytest.raises(FileNotFoundError), atomic_output(tmp_path / "x.csv"):
        (tmp_path / "missing-input.csv").read_text()
    assert list(tmp_path.iterdir()) == []


def test_output_errors_are_user_errors():
    assert issubclass(OutputExistsError, UserError) and issubclass(OutputNotWritableError, UserError)


# --------------------------------------------------------------------------------------------
# 3. Files a team can share: the umask decides, not tempfile
# --------------------------------------------------------------------------------------------


def test_current_umask_reads_without_changing_it(umask):
    umask(0o027)
    assert current_umask() == 0o027 and current_umask() == 0o027
    assert shared_mode(0o666) == 0o640 and shared_mode(0o777) == 0o750


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_output_publishes_with_the_umask(umask, tmp_path, mask, expected):
    umask(mask)
    with atomic_output(tmp_path / "metrics.json") as tmp:
        tmp.write_text("{}")
    assert _mode(tmp_path / "metrics.json") == expected


def test_a_built_tree_is_readable_by_the_team(umask, tmp_path):
    umask(0o022)
    build_tree(tmp_path / "tree", {"p": 1}, JOBS, _location, _no_finalize)
    assert _mode(tmp_path / "tree") == 0o755 and _mode(tmp_path / "tree" / "a.txt") == 0o644


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Data/a.txt", "alpha")
    return path


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o755), (0o077, 0o700)])
def test_an_extracted_dataset_folder_follows_the_umask(umask, tmp_path, mask, expected):
    umask(mask)
    target = safe_extract(_zip(tmp_path / "d.zip"), tmp_path / "extracted")
    assert _mode(target) == expected


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o755), (0o077, 0o700)])
def test_a_sues200_split_folder_follows_the_umask(umask, tmp_path, make_sues200_raw_tree, mask, expected):
    raw = make_sues200_raw_tree(tmp_path, heights=(150,), frames=1)
    umask(mask)
    split_sues200(raw, tmp_path / "split", heights=(150,))
    assert _mode(tmp_path / "split") == expected


def test_a_finished_workflow_run_is_readable_as_the_umask_allows(finished_run):
    """`find results data -type f -perm 0600` finds nothing under umask 022: every product of the whole tiny
    workflow (tables, metrics, checkpoints, figures, point banks, weather images) is as readable as the
    umask of the run permits."""
    readable = 0o444 & ~current_umask()
    assert readable, "a umask that forbids reading to everyone cannot test this"
    files = [p for root in ("results", "data") for p in (finished_run / root).rglob("*") if p.is_file()]
    assert len(files) > 100 and any(p.suffix == ".pt" for p in files)
    too_private = [str(p.relative_to(finished_run)) for p in files if _mode(p) & 0o444 != readable]
    assert too_private == []


def test_sigterm_handling_leaves_forked_workers_with_the_default_action(tmp_path):
    """Rule scripts and the CLI turn SIGTERM into SystemExit; forked workers (multiprocessing pools, DataLoader
    workers) must keep the default action, since a pool ends its workers with SIGTERM and one that unwound
    instead could hang Pool.terminate() (rule synth hung after its last location before this)."""
    script = tmp_path / "fork.py"
    script.write_text(
        "import os, signal\n"
        "from geolink.rule_runner import exit_on_sigterm\n"
        "exit_on_sigterm()\n"
        "assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else 3)\n"
        "print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "0", result.stdout + result.stderr[-2000:]

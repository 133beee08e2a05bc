"""Acquire a dataset archive: resumable verified download, safe extraction, or an existing local copy.

The benchmarks are multi-gigabyte archives that may not be redistributed (docs/datasets.md §1.1, §2.1, §3.1),
so the pipeline must cope with flaky networks (resume instead of restarting), with machines that have no
network at all (a local archive or folder instead), and with archives it cannot fully trust (checksums and
member-path checks before anything lands in the results tree). ``acquire`` is the one entry point rules call.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import shutil
import socket
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml
from tqdm import tqdm

from geolink.atomic import atomic_output, shared_mode
from geolink.data.errors import DISPLAY_NAMES, HOW_TO_OBTAIN, SYNTHETIC_ALTERNATIVE, DatasetError, full_path

#: Datasets that cannot be downloaded without the maintainers' consent, with how to request them.
REQUEST_ONLY: dict[str, str] = {"university1652": HOW_TO_OBTAIN["university1652"]}

#: How a message names the configuration that uses a local copy instead of a download (the schema's
#: ``datasets.<name>`` keys; ``source`` takes ``archive`` or ``local``).
_USE_LOCAL_ARCHIVE = "`datasets.<name>.source: archive` with `datasets.<name>.archive: /path/to/file.zip`"

_CHUNK = 1 << 20
#: Room kept free beyond the transfer itself, so a download never fills the disk to the last byte.
_DISK_MARGIN = 64 << 20
#: Client errors worth retrying: request timeout and rate limiting are transient, unlike 403/404.
_RETRYABLE_STATUS = {408, 429}


class _TransferError(Exception):
    """One failed attempt that may succeed when tried again; ``offline`` marks no-route-to-server failures."""

    def __init__(self, reason: str, *, offline: bool = False) -> None:
        super().__init__(reason)
        self.offline = offline


def sha256_file(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks so multi-gigabyte archives fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    expected_size: int | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30,
    progress: bool = True,
    checksum_record: str | os.PathLike | None = None,
    headers: dict[str, str] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming, retrying and verifying the result.

    An existing ``dest`` that passes the available checksum is reused; one that fails it is downloaded again.
    A leftover ``dest.part`` is resumed with ``Range: bytes=<size>-`` (appended to on 206, restarted on 200).
    Only a complete, verified transfer is renamed to ``dest``, so ``dest`` is never a partial file.

    Args:
        url: HTTP(S) address of the file.
        dest: Final path of the file; missing parent folders are created.
        sha256: Expected SHA-256 hex digest. A mismatch deletes the download and raises.
        expected_size: Expected size in bytes, checked after the transfer when given.
        retries: Attempts in all (at least one); connection errors, timeouts, cut transfers and 5xx answers
            are retried, other HTTP errors are not.
        backoff: Seconds to wait after the first failed attempt; doubled after each further one.
        timeout: Socket timeout in seconds for connecting and for each read.
        progress: Show a tqdm progress bar.
        checksum_record: YAML file mapping URL (or file name) to SHA-256, used when ``sha256`` is None: the
            digest is recorded there at the first download and later downloads must match it.
        headers: Extra request headers (an access token for gated hosts).

    Returns:
        ``dest`` as a Path.

    Raises:
        DatasetError: The machine seems offline, the server refused the file, the disk is too full, or the
            checksum or size does not match.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    record_path = None if checksum_record is None else Path(checksum_record)
    expected = sha256.lower() if sha256 else _recorded_checksum(record_path, url, dest.name)

    if dest.is_file():
        if expected is None or sha256_file(dest) == expected:
            return dest
        # A stale or corrupt earlier result: fetch it again rather than trust it.
        dest.unlink()

    _transfer(url, part, retries=max(1, retries), backoff=backoff, timeout=timeout, progress=progress, headers=headers)

    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise DatasetError(
            f"The download of {url} to {full_path(dest)} has {size} bytes, but {expected_size} bytes were expected; "
            "the partial file was deleted. Run again to download it afresh, or correct the expected size in the "
            "configuration if the file legitimately changed upstream.",
            path=dest,
        )
    actual = sha256_file(part)
    if expected is not None and actual != expected:
        part.unlink(missing_ok=True)
        origin = "the configuration" if sha256 else f"the checksum record {full_path(record_path)}"
        raise DatasetError(
            f"Checksum mismatch for {url} (downloaded to {full_path(dest)}): expected SHA-256 {expected} from "
            f"{origin}, got {actual}; the download was deleted. The transfer was corrupted or the file changed "
            "upstream: run again to download it afresh, and if the file legitimately changed, update the "
            f"checksum in {origin} after checking the new file.",
            path=dest,
        )
    if expected is None and record_path is not None:
        _record_checksum(record_path, url, actual)
    os.replace(part, dest)
    return dest


def _transfer(
    url: str,
    part: Path,
    *,
    retries: int,
    backoff: float,
    timeout: float,
    progress: bool,
    headers: dict[str, str] | None = None,
) -> None:
    """Fetch ``url`` into ``part`` until complete, resuming between attempts; raise DatasetError if it never is."""
    failures: list[_TransferError] = []
    for attempt in range(retries):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _attempt(url, part, timeout=timeout, progress=progress, headers=headers)
            return
        except _TransferError as failure:
            failures.append(failure)
    if all(failure.offline for failure in failures):
        raise DatasetError(
            f"Could not download {url}: the machine seems offline ({failures[-1]} on all {retries} attempt(s)). "
            "Connect to the network and run again, or download the file on another machine and configure it as "
            f"a local archive instead ({_USE_LOCAL_ARCHIVE}, or `source: local` with `datasets.<name>.root` for "
            "an already-extracted copy), which downloads nothing.",
            path=part.with_suffix(""),
        )
    kept = f" The partial file {full_path(part)} was kept and will be resumed." if part.exists() else ""
    raise DatasetError(
        f"Could not download {url} after {retries} attempt(s); the last one failed with: {failures[-1]}.{kept} "
        "Run again later, or download the file yourself and configure it as a local archive instead "
        f"({_USE_LOCAL_ARCHIVE}).",
        path=part.with_suffix(""),
    )


def _attempt(url: str, part: Path, *, timeout: float, progress: bool, headers: dict[str, str] | None = None) -> None:
    """Make one request, appending to ``part``; raise _TransferError for anything worth retrying."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "geolink-acquire", **(headers or {})})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # The range starts at or past the end. A .part exactly as long as the file (a run killed between
            # transfer and rename) is complete, which the server states as "bytes */<size>"; otherwise it is
            # stale, so restart cleanly next attempt.
            if error.headers.get("Content-Range", "").strip() == f"bytes */{offset}":
                return
            part.unlink(missing_ok=True)
            raise _TransferError("HTTP 416 for the resumed range; restarting from zero") from error
        if error.code >= 500 or error.code in _RETRYABLE_STATUS:
            raise _TransferError(f"HTTP {error.code} {error.reason}") from error
        raise DatasetError(
            f"The server refused {url} with HTTP {error.code} {error.reason}. Check that the URL in the "
            "configuration is correct and still published (links to these datasets expire), or obtain the "
            f"file another way and configure it as a local archive ({_USE_LOCAL_ARCHIVE}).",
            path=part.with_suffix(""),
        ) from error
    except urllib.error.URLError as error:
        raise _TransferError(f"{error.reason}", offline=is_offline(error.reason)) from error
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
        raise _TransferError(f"{type(error).__name__}: {error}", offline=is_offline(error)) from error

    with response:
        if response.status == 206 and offset:
            mode = "ab"
        else:
            # A server without Range support answers 200 with the whole file: start over.
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        if remaining is not None:
            _check_free_space(part, remaining, url)
        received = 0
        bar = tqdm(
            total=None if remaining is None else offset + remaining,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name[: -len(".part")],
            disable=not progress,
            leave=False,
        )
        try:
            with bar, open(part, mode) as out:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise DatasetError(
                    f"The disk filled up while downloading {url} to {full_path(part)}. Free some space on "
                    f"{full_path(part.parent)} and run again; the partial file will be resumed.",
                    path=part,
                ) from error
            raise _TransferError(f"{type(error).__name__}: {error}") from error
        except http.client.HTTPException as error:
            raise _TransferError(f"{type(error).__name__}: {error}") from error
    if remaining is not None and received < remaining:
        # http.client returns a short body silently when the connection drops; the .part keeps what arrived.
        raise _TransferError(f"connection closed after {received} of {remaining} bytes")


def is_offline(reason: object) -> bool:
    """True for failures that mean no server could be reached at all: name resolution or refused connection."""
    return isinstance(reason, socket.gaierror | ConnectionRefusedError) or (
        isinstance(reason, OSError) and reason.errno in {errno.ENETUNREACH, errno.EHOSTUNREACH}
    )


def _check_free_space(part: Path, needed: int, url: str) -> None:
    """Refuse to start a transfer that cannot fit, instead of failing hours later with a full disk."""
    free = shutil.disk_usage(part.parent).free
    if free < needed + _DISK_MARGIN:
        raise DatasetError(
            f"Not enough free disk space to download {url}: it needs {needed / 1e9:.2f} GB (plus "
            f"{_DISK_MARGIN >> 20} MiB headroom) but only {free / 1e9:.2f} GB is free in {full_path(part.parent)}. "
            "Free some space there or point the output folder at a larger disk, then run again.",
            path=part.parent,
        )


def _load_record(record_path: Path) -> dict[str, str]:
    """Read the checksum record, an empty mapping if it does not exist yet."""
    if not record_path.is_file():
        return {}
    try:
        data = yaml.safe_load(record_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise DatasetError(
            f"The checksum record {full_path(record_path)} is not valid YAML ({error}). Fix it so that it maps "
            "each URL or file name to a SHA-256 hex digest, or delete it to record the checksums afresh.",
            path=record_path,
        ) from error
    if not isinstance(data, dict):
        raise DatasetError(
            f"The checksum record {full_path(record_path)} must be a YAML mapping from URL or file name to "
            "SHA-256 hex digest. Fix it, or delete it to record the checksums afresh.",
            path=record_path,
        )
    return {str(key): str(value).lower() for key, value in data.items()}


def _recorded_checksum(record_path: Path | None, url: str, name: str) -> str | None:
    """The digest recorded for ``url`` (or, failing that, for the file name), if any."""
    if record_path is None:
        return None
    record = _load_record(record_path)
    return record.get(url) or record.get(name)


def _record_checksum(record_path: Path, url: str, digest: str) -> None:
    """Add ``url: digest`` to the record atomically, so an interrupted write never corrupts earlier entries."""
    record = _load_record(record_path)
    record[url] = digest
    with atomic_output(record_path) as tmp:
        tmp.write_text(yaml.safe_dump(record, sort_keys=True), encoding="utf-8")


def safe_extract(archive: str | os.PathLike, target_dir: str | os.PathLike) -> Path:
    """Extract a zip or tar archive (optionally gzip/bzip2/xz) into ``target_dir``, all or nothing.

    Every member is checked before anything is written: absolute paths, ``..`` components, links and device
    files are refused, as is anything that would land outside the folder. Extraction happens in a temporary
    sibling folder renamed into place at the end, so ``target_dir`` exists only when it is complete.

    Args:
        archive: The archive; its format is detected from its content, not its name.
        target_dir: Folder to create; it must not exist yet.

    Returns:
        ``target_dir`` as a Path.

    Raises:
        DatasetError: The target exists, the archive is unreadable, or a member is unsafe.
    """
    archive, target = Path(archive), Path(target_dir)
    if target.exists():
        raise DatasetError(
            f"Cannot extract {full_path(archive)}: the target folder {full_path(target)} already exists. Delete it "
            "to extract again, or use it as it is.",
            path=target,
        )
    if not archive.is_file():
        raise DatasetError(
            f"Archive not found: {full_path(archive)}. Check the path in the configuration.", path=archive
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    try:
        # mkdtemp makes the folder private (0o700); renamed into place it is the dataset the team reads, so it
        # gets the mode mkdir would give it.
        os.chmod(tmp, shared_mode(0o777))
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, tmp)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, tmp)
        else:
            raise DatasetError(
                f"{full_path(archive)} is neither a zip nor a tar archive. It may be truncated or an HTML error "
                "page saved in place of the file: delete it and download it again.",
                path=archive,
            )
        os.replace(tmp, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(
            f"Could not extract {full_path(archive)} ({type(error).__name__}: {error}). The archive is probably "
            "corrupt or truncated: delete it and download it again, and check there is enough free disk space.",
            path=archive,
        ) from error
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _check_member_name(archive: Path, name: str, root: Path) -> None:
    """Refuse a member name that is absolute, climbs with ``..``, or resolves outside ``root``."""
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    # Archives made on Windows may use backslashes or drive letters, which other tools honour on extraction.
    unsafe = (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or ".." in posix.parts
        or ".." in windows.parts
        or not (root / name).resolve().is_relative_to(root.resolve())
    )
    if unsafe:
        raise DatasetError(
            f"Refusing to extract {full_path(archive)}: member {name!r} would be written outside the target "
            "folder (absolute path or '..' component). The archive is corrupt or malicious; obtain it again "
            "from the official source.",
            path=archive,
        )


def _refuse_member(archive: Path, name: str, kind: str) -> DatasetError:
    """The error for a member whose type is not a plain file or folder."""
    return DatasetError(
        f"Refusing to extract {full_path(archive)}: member {name!r} is a {kind}, and links or special files "
        "could point outside the target folder. The dataset archives contain only files and folders; obtain the "
        "archive again from the official source.",
        path=archive,
    )


def _extract_zip(archive: Path, root: Path) -> None:
    """Validate every zip member, then extract them all."""
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            _check_member_name(archive, info.filename, root)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse_member(archive, info.filename, "symbolic link")
        zf.extractall(root, members)


def _extract_tar(archive: Path, root: Path) -> None:
    """Validate every tar member, then extract them all with the stdlib's own "data" filter as a second guard."""
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        for member in members:
            _check_member_name(archive, member.name, root)
            if member.issym():
                raise _refuse_member(archive, member.name, "symbolic link")
            if member.islnk():
                raise _refuse_member(archive, member.name, "hard link")
            if not (member.isfile() or member.isdir()):
                raise _refuse_member(archive, member.name, "special file (device or FIFO)")
        tf.extractall(root, members, filter="data")


def _config_key(dataset: str | None, key: str) -> str:
    """The configuration key ``datasets.<dataset>.<key>`` a message names (``<name>`` for an unknown dataset)."""
    return f"datasets.{dataset if dataset in DISPLAY_NAMES else '<name>'}.{key}"


def acquire(source: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Make a dataset available on disk from its configured source and return the folder holding it.

    ``source`` names exactly one of:

    * ``folder``: an already-extracted local folder, returned as is (nothing is copied or downloaded);
    * ``archive``: a local archive, checked against ``sha256`` or, without one, the optional ``checksum_record``
      YAML (keyed by the archive's file name; recorded at first use), and extracted into ``out_dir/extracted``
      (nothing is downloaded);
    * ``url``: downloaded into ``out_dir/downloads/`` (file name from ``filename`` or the URL), checked against
      ``sha256`` or the optional ``checksum_record`` YAML, then extracted into ``out_dir/extracted``.
    * ``huggingface``: ``{"repo": "owner/name", "revision": <commit id>, "files": [patterns] or None}``, a Hugging
      Face dataset repository downloaded into ``out_dir/hub/`` file by file against the checksums the Hub
      publishes (:mod:`geolink.data.huggingface`). Its archives are extracted together into ``out_dir/extracted``;
      a repository without archives is moved there as it is.

    ``dataset`` (a manifest name such as ``"sues200"``) is optional and makes messages more helpful; ``size``
    gives the expected byte count of a download. An ``out_dir/extracted`` folder left by an earlier run is
    reused, since extraction only ever creates it complete.

    Args:
        source: The dataset's source entry from the configuration.
        out_dir: Folder for downloads and the extracted copy.

    Returns:
        The folder holding the dataset (``folder`` itself, or ``out_dir/extracted``).

    Raises:
        DatasetError: No or several sources are given, a local path is missing, or the download or extraction
            fails.
    """
    out_dir = Path(out_dir)
    dataset = source.get("dataset") or source.get("name")
    label = DISPLAY_NAMES.get(dataset, dataset) if dataset else "Dataset"
    given = [key for key in ("url", "archive", "folder", "huggingface") if source.get(key)]
    if len(given) > 1:
        raise DatasetError(
            f"{label}: the source gives {', '.join(given)}, but exactly one of url, archive, folder or huggingface "
            "may be set. "
            "Keep the one you want the pipeline to use and remove the others.",
            dataset=dataset,
        )
    if not given:
        if dataset in REQUEST_ONLY:
            raise DatasetError(
                f"{label}: no url or archive is configured, and it cannot be downloaded automatically. "
                f"{REQUEST_ONLY[dataset]} Then set `{_config_key(dataset, 'url')}` to the link you were sent "
                f"(`source: download`), `{_config_key(dataset, 'archive')}` to the downloaded archive "
                f"(`source: archive`), or `{_config_key(dataset, 'root')}` to the extracted folder "
                f"(`source: local`). {SYNTHETIC_ALTERNATIVE}",
                dataset=dataset,
            )
        obtain = HOW_TO_OBTAIN.get(dataset, "") if dataset else ""
        raise DatasetError(
            f"{label}: no source is configured; set `{_config_key(dataset, 'url')}` (`source: download`), "
            f"`{_config_key(dataset, 'archive')}` (`source: archive`) or `{_config_key(dataset, 'root')}` "
            f"(`source: local`). {obtain} {SYNTHETIC_ALTERNATIVE}",
            dataset=dataset,
        )

    extracted = out_dir / "extracted"
    if "folder" in given:
        folder = Path(source["folder"]).expanduser()
        if not folder.is_dir():
            raise DatasetError(
                f"{label}: the configured dataset folder does not exist: {full_path(folder)}. Fix "
                f"`{_config_key(dataset, 'root')}` (`source: local`) in the configuration, or extract the archive "
                f"there. {HOW_TO_OBTAIN.get(dataset, '')}".strip(),
                dataset=dataset,
                path=folder,
            )
        return folder

    if "archive" in given:
        archive = Path(source["archive"]).expanduser()
        if not archive.is_file():
            raise DatasetError(
                f"{label}: the configured local archive does not exist: {full_path(archive)}. Fix "
                f"`{_config_key(dataset, 'archive')}` in the configuration. {HOW_TO_OBTAIN.get(dataset, '')}".strip(),
                dataset=dataset,
                path=archive,
            )
        if extracted.is_dir():
            return extracted
        record_path = None if source.get("checksum_record") is None else Path(source["checksum_record"])
        to_record = _check_local_archive(archive, source.get("sha256"), record_path, label, dataset)
        folder = safe_extract(archive, extracted)
        if to_record is not None:
            # Recorded only once the archive extracted cleanly: the digest of a truncated copy would make the
            # good copy obtained next fail the check.
            _record_checksum(record_path, archive.name, to_record)
        return folder

    if extracted.is_dir():
        return extracted
    if "huggingface" in given:
        return _acquire_huggingface(source["huggingface"], out_dir, label)

    url = str(source["url"])
    filename = source.get("filename") or Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    dest = download(
        url,
        out_dir / "downloads" / (filename or "download"),
        sha256=source.get("sha256"),
        expected_size=source.get("size"),
        checksum_record=source.get("checksum_record"),
    )
    return safe_extract(dest, extracted)


def _check_local_archive(
    archive: Path, sha256: str | None, record_path: Path | None, label: str, dataset: str | None
) -> str | None:
    """Verify a local archive like a download: against ``sha256``, else against the checksum record.

    The record keys a local archive by its file name, not its path: ``config/checksums.yaml`` is shared by
    every machine of a checkout, where the archive lies in different folders, and the name is also what a
    download's digest is looked up by when its URL has none (``_recorded_checksum``).

    Args:
        archive: The local archive (it exists).
        sha256: The configured digest, or None.
        record_path: The checksum record YAML, or None to skip the record.
        label: The dataset's display name, for messages.
        dataset: The dataset's manifest name, or None.

    Returns:
        The archive's digest when it should be recorded (no configured digest and none recorded yet), else None.

    Raises:
        DatasetError: The archive's SHA-256 differs from the configured or recorded one.
    """
    if sha256:
        actual = sha256_file(archive)
        if actual != str(sha256).lower():
            raise DatasetError(
                f"{label}: checksum mismatch for the local archive {full_path(archive)}: expected SHA-256 "
                f"{sha256}, got {actual}. The copy is corrupt or a different version: obtain it again, or "
                f"correct `{_config_key(dataset, 'sha256')}` in the configuration if you have checked the file.",
                dataset=dataset,
                path=archive,
            )
        return None
    if record_path is None:
        return None
    recorded = _load_record(record_path).get(archive.name)
    actual = sha256_file(archive)
    if recorded is None:
        return actual
    if actual != recorded:
        raise DatasetError(
            f"{label}: checksum mismatch for the local archive {full_path(archive)}: its SHA-256 is {actual}, but "
            f"the checksum record {full_path(record_path)} holds {recorded} for {archive.name!r}, the archive first "
            "used under that name. The copy is corrupt (an interrupted copy or download) or a different version: "
            "obtain it again. If you have checked that this file is the right one, set "
            f"`{_config_key(dataset, 'sha256')}` to its digest, or delete the {archive.name!r} entry from the record "
            "to record this archive afresh.",
            dataset=dataset,
            path=archive,
        )
    return None


def _acquire_huggingface(spec: dict[str, Any], out_dir: Path, label: str) -> Path:
    """Download a pinned Hugging Face dataset repository and make ``out_dir/extracted`` from it."""
    from geolink.data.huggingface import download_repo  # imports this module; imported late to avoid a cycle

    hub = out_dir / "hub"
    files = download_repo(spec["repo"], spec.get("revision"), hub, patterns=spec.get("files"))
    archives = [path for path in files if is_archive(path)]
    extracted = out_dir / "extracted"
    if not archives:
        os.replace(hub, extracted)  # the repository is the dataset tree itself
        return extracted
    if len(archives) == 1:
        return safe_extract(archives[0], extracted)
    # Several archives (e.g. train and test parts): extract each, merge, and rename the merged tree into place.
    staging = Path(tempfile.mkdtemp(prefix=".extracted-", dir=out_dir))
    try:
        # staging is private scratch (mkdtemp: 0o700) and is deleted; merged, which is published, is made by mkdir
        # and so gets the umask's mode.
        merged = staging / "merged"
        merged.mkdir()
        for index, archive in enumerate(archives):
            part = safe_extract(archive, staging / f"part{index}")
            for child in sorted(part.iterdir()):
                _merge_tree(child, merged / child.name, label)
        os.replace(merged, extracted)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return extracted


def is_archive(path: str | os.PathLike) -> bool:
    """Whether :func:`safe_extract` can unpack ``path`` (judged by its name)."""
    name = Path(path).name.lower()
    return name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def _merge_tree(src: Path, dst: Path, label: str) -> None:
    """Move ``src`` to ``dst``, merging folders; two archives holding the same file is an error."""
    if not dst.exists():
        os.replace(src, dst)
        return
    if src.is_dir() and dst.is_dir():
        for child in sorted(src.iterdir()):
            _merge_tree(child, dst / child.name, label)
        return
    raise DatasetError(f"{label}: two archives both contain {dst.name} ({full_path(src)}); refusing to overwrite.")

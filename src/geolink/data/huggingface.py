"""Download a Hugging Face repository at a pinned commit, every file verified.

DenseUAV and the authors' GeoLink-3D point clouds are Hugging Face dataset repositories; the DINOv2 and VGGT
weights are model repositories. A branch name such as ``main`` can move, so the pipeline only accepts a full commit
id and builds every address from it. It talks to the Hub's public HTTP API directly instead of through
``huggingface_hub`` (``{kind}`` is ``datasets`` or ``models``; a model's files live at ``/{repo}/resolve/...``):

* ``GET {endpoint}/api/{kind}/{repo}/tree/{revision}?recursive=true`` lists the files (paginated with a
  ``Link: <...>; rel="next"`` header). Each entry gives the size and, for files stored with Git LFS (every large
  file: archives, images, point clouds, weights), ``lfs.oid``, the SHA-256 of the content; small files give
  ``oid``, their git blob id (SHA-1 over ``"blob <size>\\0"`` and the content).
* ``GET {endpoint}/datasets/{repo}/resolve/{revision}/{path}`` serves one file (range requests supported).

So every file is fetched by :func:`geolink.data.acquire.download` (resume, retries with backoff, free-disk check,
progress bar, a clear offline message) and checked against the checksum the Hub itself publishes. ``HF_ENDPOINT``
overrides the endpoint as it does for ``huggingface_hub`` (the tests point it at a loopback server), and
``HF_TOKEN`` is sent for gated repositories.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from geolink.data.acquire import download, is_offline
from geolink.data.errors import DatasetError, full_path

DEFAULT_ENDPOINT = "https://huggingface.co"
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
REPO_TYPES = ("dataset", "model")
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class RepoFile:
    """One file of a repository listing: its path in the repository, size and published checksum."""

    path: str
    size: int
    sha256: str | None  # Git LFS files
    git_oid: str | None  # the git blob id of files stored in git itself


def endpoint_url(endpoint: str | None = None) -> str:
    """The Hub address: ``endpoint``, else ``$HF_ENDPOINT``, else huggingface.co (no trailing slash)."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _headers() -> dict[str, str]:
    headers = {"User-Agent": "geolink-acquire"}
    if token := os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _page(repo: str, repo_type: str) -> str:
    """The repository's page on huggingface.co (models have no prefix)."""
    return f"https://huggingface.co/{'datasets/' if repo_type == 'dataset' else ''}{repo}"


def check_revision(repo: str, revision: str | None, repo_type: str = "dataset") -> str:
    """Return ``revision`` if it is a full 40-hex commit id, else raise DatasetError saying how to find one."""
    if revision and COMMIT_ID.match(str(revision)):
        return str(revision)
    raise DatasetError(
        f"The Hugging Face {repo_type} {repo} must be pinned to a commit, but its revision is {revision!r}. Open "
        f"{_page(repo, repo_type)}/commits/main, copy the full 40-character id of the commit you "
        "want and set it as `revision:`; a branch such as main can change under you and would silently change "
        "the data."
    )


def list_repo_files(
    repo: str, revision: str, *, repo_type: str = "dataset", endpoint: str | None = None, timeout: float = 30
) -> list[RepoFile]:
    """List every file of repository ``repo`` (a ``repo_type``, see :data:`REPO_TYPES`) at commit ``revision``.

    Raises:
        DatasetError: The machine is offline, the repository or revision does not exist, access is refused
            (gated repository without an accepted licence or token), or the answer is not a listing.
    """
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")
    revision = check_revision(repo, revision, repo_type)
    base = endpoint_url(endpoint)
    url = f"{base}/api/{repo_type}s/{repo}/tree/{revision}?recursive=true"
    files: list[RepoFile] = []
    while url:
        request = urllib.request.Request(url, headers=_headers())
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                entries = json.loads(response.read())
                links = response.headers.get("Link", "")
        except urllib.error.HTTPError as error:
            raise _listing_error(repo, revision, repo_type, error) from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if is_offline(reason):
                raise DatasetError(
                    f"Could not list the Hugging Face {repo_type} {repo}: the machine seems offline ({reason}). "
                    "Connect to the network and run again, or download the repository on another machine and configure "
                    "the copy as a local archive or folder instead, which downloads nothing."
                ) from error
            raise DatasetError(f"Could not list the Hugging Face {repo_type} {repo} at {base}: {reason}.") from error
        except json.JSONDecodeError as error:
            raise DatasetError(f"The Hub at {base} did not answer the file listing of {repo} with JSON.") from error
        for entry in entries:
            if entry.get("type") != "file":
                continue
            lfs = entry.get("lfs") or {}
            files.append(
                RepoFile(
                    path=entry["path"],
                    size=int(entry.get("size", lfs.get("size", 0))),
                    sha256=lfs.get("oid"),
                    git_oid=None if lfs else entry.get("oid"),
                )
            )
        match = _NEXT_LINK.search(links)
        url = urllib.parse.urljoin(url, match.group(1)) if match else ""
    return files


def _listing_error(repo: str, revision: str, repo_type: str, error: urllib.error.HTTPError) -> DatasetError:
    what = f"The Hugging Face {repo_type} {repo}"
    if error.code in (401, 403):
        return DatasetError(
            f"{what} refused access (HTTP {error.code}). If it is gated, accept its terms on {_page(repo, repo_type)} "
            "while logged in, create an access token and export it as HF_TOKEN before running again."
        )
    if error.code == 404:
        return DatasetError(
            f"{what} has no commit {revision} (HTTP 404). Check the `repo:` and `revision:` in the configuration "
            f"against {_page(repo, repo_type)}/commits/main."
        )
    return DatasetError(f"Listing {what} failed with HTTP {error.code} {error.reason}.")


def git_blob_id(path: str | os.PathLike) -> str:
    """The git blob id of a file (SHA-1 over ``b"blob <size>\\0"`` and the content), as the Hub lists small files."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's own id, not security


def download_repo(
    repo: str,
    revision: str,
    dest: str | os.PathLike,
    *,
    patterns: list[str] | None = None,
    repo_type: str = "dataset",
    endpoint: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download the files of ``repo`` at ``revision`` that match ``patterns`` into ``dest``, verified.

    Files already in ``dest`` with the published checksum are kept; partial ones are resumed.

    Args:
        repo: ``owner/name`` of the repository.
        revision: Full commit id.
        dest: Folder the repository's files are placed in under their own paths.
        patterns: ``fnmatch`` patterns on repository paths (e.g. ``["*.zip"]``); None takes every file.
        repo_type: ``"dataset"`` or ``"model"``.
        endpoint: Hub address; see :func:`endpoint_url`.
        progress: Show a progress bar per file.

    Returns:
        The downloaded files, in listing order.

    Raises:
        DatasetError: As for :func:`list_repo_files`, when nothing matches ``patterns``, or when a transfer
            fails or does not match its published checksum.
    """
    base = endpoint_url(endpoint)
    listing = list_repo_files(repo, revision, repo_type=repo_type, endpoint=base)
    prefix = f"{base}/datasets" if repo_type == "dataset" else base
    chosen = [f for f in listing if not patterns or any(fnmatch.fnmatch(f.path, p) for p in patterns)]
    if not chosen:
        # Model repositories come from weights.<name> (one `file`), dataset repositories from datasets.<name>
        # or reconstruct.geolink3d_hub (a `files` pattern list).
        key = (
            "`weights.<name>.file`"
            if repo_type == "model"
            else "`datasets.<name>.files` (or `reconstruct.geolink3d_hub.files` for the GeoLink-3D clouds)"
        )
        raise DatasetError(
            f"No file of the Hugging Face {repo_type} {repo}@{revision[:12]} matches {patterns}; it holds "
            f"{', '.join(f.path for f in listing[:10]) or 'no files'}{' ...' if len(listing) > 10 else ''}. "
            f"Fix {key} in the configuration."
        )
    dest = Path(dest)
    paths = []
    for item in chosen:
        target = dest / item.path
        if ".." in Path(item.path).parts or Path(item.path).is_absolute():
            raise DatasetError(f"The Hugging Face {repo_type} {repo} lists an unsafe file path {item.path!r}; refused.")
        url = f"{prefix}/{repo}/resolve/{revision}/{urllib.parse.quote(item.path)}"
        download(url, target, sha256=item.sha256, expected_size=item.size, progress=progress, headers=_headers())
        if item.git_oid and git_blob_id(target) != item.git_oid:
            target.unlink()
            raise DatasetError(
                f"{full_path(target)} from {url} does not match the git blob id {item.git_oid} the Hub lists; it "
                "was deleted. Run again to download it afresh."
            )
        paths.append(target)
    return paths

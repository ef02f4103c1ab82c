"""``python -m bot --check``: every setting validated, the library built, the models loaded — before any user.

The same checks run at every normal start, before the bot connects: an operator's mistake is one line at
start, not "Something went wrong" for the first user. What still works in a degraded way (no object
detector offline, no backgrounds for ``swap``) is a warning, not a failure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.blobs import Blobs
from bot.corpus import Corpus
from bot.engine import LamuseEngine
from bot.retention import disk_use
from bot.settings import Settings
from bot.store import Store, StoreCorrupt
from lamuse.errors import LamuseError
from lamuse.io import list_images

log = logging.getLogger(__name__)

Level = Literal["ok", "warning", "error"]
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, and how it went."""

    level: Level
    setting: str
    text: str

    def line(self) -> str:
        return f"{self.level}: {self.setting}: {self.text}"


@dataclass
class Report:
    """Every finding, in the order checked."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, level: Level, setting: str, text: str) -> None:
        self.findings.append(Finding(level, setting, text))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]


def log_level_problem(level: str) -> str | None:
    """Why ``LAMUSE_LOG_LEVEL`` is unusable, or None."""
    if level.upper() not in LOG_LEVELS:
        return f"{level!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"
    return None


def run_checks(settings: Settings, engine: LamuseEngine | None, *, with_models: bool = True) -> Report:
    """Check every setting; with ``engine``, build the library if missing and load the models."""
    report = Report()
    if problem := log_level_problem(settings.log_level):
        report.add("error", "LAMUSE_LOG_LEVEL", problem)
    _check_corpus(settings, report)
    _check_file(settings.annotations, "LAMUSE_ANNOTATIONS", report, _coco_problem)
    _check_file(settings.photo_annotations, "LAMUSE_PHOTO_ANNOTATIONS", report, _coco_problem)
    _check_file(settings.photo_classes, "LAMUSE_PHOTO_CLASSES", report, _classes_problem)
    _check_backgrounds(settings, report)
    _check_store(settings, report)
    _check_data_dir(settings, report)
    _check_device(settings, report)
    library_ready = _check_library(settings, report)
    if engine is not None and with_models and library_ready and not report.errors:
        _fetch_detector(report)
        try:
            summary = engine.warm()
        except (LamuseError, OSError, ValueError) as error:
            report.add("error", "models", f"could not load the pipeline ({error})")
        else:
            for line in summary:
                report.add("ok", "models", line)
            if "segmenter maskrcnn" not in summary:
                report.add(
                    "warning",
                    "models",
                    "no Mask R-CNN weights available (LAMUSE_OFFLINE or a failed download): paintings "
                    "without curated masks are cut into shapes, and replies say so",
                )
    return report


def _fetch_detector(report: Report) -> None:
    """Fetch Mask R-CNN's weights now, the torchvision way, so no user waits for them (unless offline)."""
    from lamuse.errors import ChecksumMismatch, WeightsUnavailable
    from lamuse.segment.maskrcnn import MaskRCNNSegmenter, fetch_weights
    from lamuse.weights import offline_requested

    if MaskRCNNSegmenter.is_available("v2") or offline_requested():
        return
    log.info("fetching the Mask R-CNN v2 weights (about 180 MB) before taking requests")
    try:
        path = fetch_weights("v2")
    except (WeightsUnavailable, ChecksumMismatch) as error:
        report.add("warning", "models", f"Mask R-CNN weights could not be fetched ({error})")
    else:
        report.add("ok", "models", f"Mask R-CNN weights fetched to {path}")


def _check_corpus(settings: Settings, report: Report) -> None:
    if not settings.corpus.is_dir():
        report.add("warning", "LAMUSE_CORPUS", f"{settings.corpus} is not a folder: only uploads will work")
        return
    count = len(Corpus(settings.corpus))
    if count == 0:
        report.add("warning", "LAMUSE_CORPUS", f"{settings.corpus} has no paintings: only uploads will work")
    else:
        report.add("ok", "LAMUSE_CORPUS", f"{count} paintings in {settings.corpus}")


def _check_file(
    path: Path | None, setting: str, report: Report, problem_of: Callable[[Path], str | None]
) -> None:
    if path is None:
        return
    if not path.is_file():
        report.add("error", setting, f"{path} does not exist")
        return
    problem = problem_of(path)
    if problem is not None:
        report.add("error", setting, problem)
    else:
        report.add("ok", setting, str(path))


def _coco_problem(path: Path) -> str | None:
    from lamuse.segment.annotations import CocoAnnotations

    try:
        CocoAnnotations(path)
    except LamuseError as error:
        return str(error)
    return None


def _classes_problem(path: Path) -> str | None:
    from lamuse.library import read_classes

    try:
        read_classes(path)
    except LamuseError as error:
        return str(error)
    return None


def _check_backgrounds(settings: Settings, report: Report) -> None:
    if settings.backgrounds is None:
        report.add("warning", "LAMUSE_BACKGROUNDS", "not set: background:swap will be refused")
    elif not settings.backgrounds.is_dir():
        report.add("error", "LAMUSE_BACKGROUNDS", f"{settings.backgrounds} is not a folder")
    elif not (found := list_images(settings.backgrounds)):
        report.add("error", "LAMUSE_BACKGROUNDS", f"{settings.backgrounds} has no images")
    else:
        report.add("ok", "LAMUSE_BACKGROUNDS", f"{len(found)} backgrounds")


def _check_store(settings: Settings, report: Report) -> None:
    try:
        store = Store(settings.db)
    except (OSError, StoreCorrupt) as error:
        report.add("error", "LAMUSE_DB", str(error))
        return
    version = store.version
    store.close()
    report.add("ok", "LAMUSE_DB", f"{settings.db} (schema {version}, integrity ok)")


def _check_data_dir(settings: Settings, report: Report) -> None:
    try:
        blobs = Blobs(settings.data_dir)
    except OSError as error:
        report.add("error", "LAMUSE_DATA_DIR", f"cannot create {settings.data_dir} ({error.strerror})")
        return
    if not os.access(settings.data_dir, os.W_OK):
        report.add("error", "LAMUSE_DATA_DIR", f"{settings.data_dir} is not writable")
        return
    use = disk_use(blobs)
    report.add(
        "ok",
        "LAMUSE_DATA_DIR",
        f"{use.files} stored files, {use.bytes_used / 1e6:.1f} MB; {use.bytes_free / 1e9:.1f} GB free",
    )


def _check_device(settings: Settings, report: Report) -> None:
    from lamuse.devices import torch_device

    try:
        device = torch_device(settings.device)
    except LamuseError as error:
        report.add("error", "LAMUSE_DEVICE", str(error))
        return
    report.add("ok", "LAMUSE_DEVICE", str(device))


def _check_library(settings: Settings, report: Report) -> bool:
    """True when a non-empty library exists or can be built from ``LAMUSE_PHOTOS``."""
    from lamuse.library import CutoutLibrary

    library = CutoutLibrary(settings.library)
    if not library.is_complete:
        if settings.photos is None:
            problem = f"no library at {settings.library} and LAMUSE_PHOTOS is not set"
            report.add("error", "LAMUSE_LIBRARY", problem)
            return False
        if not settings.photos.is_dir() or not list_images(settings.photos, recursive=True):
            problem = f"{settings.photos} has no photos to build the library from"
            report.add("error", "LAMUSE_PHOTOS", problem)
            return False
        state = "half-built: the build resumes" if library.exists else "missing: will be built"
        report.add("ok", "LAMUSE_LIBRARY", f"{state} from {settings.photos}")
        return True
    try:
        counts = library.class_counts()
    except LamuseError as error:
        report.add("error", "LAMUSE_LIBRARY", str(error))
        return False
    report.add("ok", "LAMUSE_LIBRARY", f"{sum(counts.values())} cut-outs in {len(counts)} classes")
    return True

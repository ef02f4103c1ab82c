"""Retention: stored uploads and pictures are removed after a while; voted pictures are kept longer.

Rows stay (votes, statistics and the buttons' "no longer available" answer need them); only files go.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.blobs import Blobs
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiskUse:
    """Space the bot's files take, and what is left on their disk."""

    files: int
    bytes_used: int
    bytes_free: int


def expire_outputs(store: Store, now: datetime, *, days: float, voted_days: float) -> int:
    """Mark outputs past retention expired (unvoted after ``days``, voted after ``voted_days``)."""
    expired = 0
    while batch := store.expired_candidates(now - timedelta(days=days), now - timedelta(days=voted_days)):
        for output in batch:
            store.mark_expired(output["id"], now)
            expired += 1
    return expired


ORPHAN_GRACE_S = 3600.0
"""A stored file no row names yet may belong to a request being prepared (its upload is written before its
job row); such files are only removed after this much real time."""


def remove_unused_files(
    blobs: Blobs, in_use: set[str], expired: set[str], *, grace_s: float = ORPHAN_GRACE_S
) -> tuple[int, int]:
    """Delete stored files nothing still needs: those of expired outputs at once, those no row names after
    ``grace_s``. Returns ``(files, bytes)`` removed."""
    cutoff = time.time() - grace_s
    removed = freed = 0
    for path in blobs.files():
        name = str(path)
        if name in in_use:
            continue
        stat = path.stat()
        if name not in expired and stat.st_mtime >= cutoff:
            continue
        path.unlink(missing_ok=True)
        removed += 1
        freed += stat.st_size
    return removed, freed


def disk_use(blobs: Blobs) -> DiskUse:
    files = list(blobs.files())
    used = sum(p.stat().st_size for p in files)
    return DiskUse(files=len(files), bytes_used=used, bytes_free=shutil.disk_usage(Path(blobs.root)).free)

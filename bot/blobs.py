"""Input and output image files on disk, written atomically; rows store the path and sha256, not the blob."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from lamuse.io import write_atomic

log = logging.getLogger(__name__)


class Blobs:
    """A folder of files named by id; ``put`` is atomic (temp file then ``os.replace``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.removed_partials = self._remove_partials()

    def _remove_partials(self) -> int:
        """Delete half-written ``.part`` files a killed process left behind (they are never referenced)."""
        removed = 0
        for partial in self.root.glob("*/.*.part"):
            partial.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("removed %d half-written files under %s", removed, self.root)
        return removed

    def path(self, kind: str, name: str) -> Path:
        """Where ``name`` of ``kind`` ("inputs", "outputs") lives; names are ids we made, never user text."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"bad blob name {name!r}")
        return self.root / kind / name

    def files(self) -> list[Path]:
        """Every finished file (inputs and outputs), never a half-written ``.part``."""
        return [p for p in self.root.glob("*/*") if p.is_file() and not p.name.startswith(".")]

    def put(self, kind: str, name: str, data: bytes) -> tuple[Path, str]:
        """Write ``data`` atomically (``lamuse.io.write_atomic``) and return its path and sha256."""
        dest = self.path(kind, name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(dest, data)
        return dest, hashlib.sha256(data).hexdigest()

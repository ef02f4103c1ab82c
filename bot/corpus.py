"""The corpus: a folder of known paintings, with titles and painters from a ``SOURCES.md`` table."""

from __future__ import annotations

import difflib
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


@dataclass(frozen=True)
class CorpusPainting:
    """One painting of the corpus; ``name`` is the file stem users pick by."""

    name: str
    path: Path
    title: str | None = None
    painter: str | None = None
    year: str | None = None

    @property
    def label(self) -> str:
        """``Title — Painter`` when known, else the file name; what autocomplete shows."""
        if self.title and self.painter:
            return f"{self.title} — {self.painter}"
        return self.title or self.name


def _fold(text: str) -> str:
    """Lower-case and strip accents so "velazquez" finds "Velázquez"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def read_sources_table(sources: Path, section: str) -> dict[str, dict[str, str]]:
    """Parse the markdown table under ``## <section>`` of ``sources`` into ``{file: {column: value}}``."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    in_section = False
    for line in sources.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_section = line[3:].strip().split()[0].rstrip("/") == section.rstrip("/")
            header = None
            continue
        if not in_section or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.casefold() for c in cells]
        elif set(line.replace("|", "").strip()) <= set("-: "):
            continue
        elif "file" in header and len(cells) == len(header):
            row = dict(zip(header, cells, strict=True))
            rows[row["file"]] = row
    return rows


class Corpus:
    """Lists the paintings of a folder; metadata comes from ``SOURCES.md`` in the folder or its parent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        meta: dict[str, dict[str, str]] = {}
        for candidate in (folder / "SOURCES.md", folder.parent / "SOURCES.md"):
            if candidate.is_file():
                meta = read_sources_table(candidate, folder.name)
                break
        paintings = []
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        for path in files:
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            row = meta.get(path.name, {})
            paintings.append(
                CorpusPainting(
                    name=path.stem,
                    path=path,
                    title=row.get("title") or None,
                    painter=row.get("painter") or None,
                    year=row.get("year") or None,
                )
            )
        self._paintings = paintings
        log.info("corpus %s: %d paintings, %d with metadata", folder, len(paintings), len(meta))

    def all(self) -> list[CorpusPainting]:
        """Every painting, sorted by file name."""
        return list(self._paintings)


def find_painting(paintings: Sequence[CorpusPainting], name: str) -> CorpusPainting | None:
    """The painting by file stem (or file name, or title, accents and case ignored), else None."""
    by_name = {p.name: p for p in paintings}
    stem = Path(name).stem
    if name in by_name or stem in by_name:
        return by_name.get(name) or by_name[stem]
    folded = _fold(name.strip())
    for painting in paintings:
        if (painting.title and _fold(painting.title) == folded) or _fold(painting.label) == folded:
            return painting
    return None


def search_paintings(
    paintings: Sequence[CorpusPainting], query: str, limit: int = 25
) -> list[CorpusPainting]:
    """Fuzzy match on name, title and painter: substring hits first, then close word matches."""
    if not query.strip():
        return list(paintings[:limit])
    folded = _fold(query.strip())
    scored: list[tuple[float, str, CorpusPainting]] = []
    for painting in paintings:
        haystack = _fold(f"{painting.name} {painting.label}")
        if folded in haystack:
            score = 2.0 - haystack.index(folded) / max(len(haystack), 1)
        else:
            words = haystack.replace("_", " ").split()
            score = max((difflib.SequenceMatcher(None, folded, w).ratio() for w in words), default=0.0)
            if score < 0.75:
                continue
        scored.append((score, painting.name, painting))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [p for _, _, p in scored[:limit]]

"""The corpus: a folder of known paintings, with titles and painters from a ``SOURCES.md`` table."""

from __future__ import annotations

import difflib
import hashlib
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from lamuse.io import list_images
from lamuse.recipe import painting_id
from lamuse.sources import read_sources_table

log = logging.getLogger(__name__)



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


QUERY_MAX_CHARS = 100
"""Longest autocomplete / name query looked at (Discord sends up to 6000 characters)."""
CHOICE_MAX_CHARS = 100
"""Discord's limit on a choice's name and value."""


def choice_key(name: str) -> str:
    """A painting's id as an autocomplete value: its name, or for names over Discord's 100 characters a
    cut name plus a digest, so the value the user picks always finds the painting again."""
    if len(name) <= CHOICE_MAX_CHARS:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{name[: CHOICE_MAX_CHARS - 9]}~{digest}"


class Corpus:
    """The paintings of a folder, indexed once; metadata from ``SOURCES.md`` in the folder or its parent.

    Lookups are dictionary reads and searches scan a precomputed folded index, so nothing here grows with
    the length of what a user types.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        meta: dict[str, dict[str, str]] = {}
        for candidate in (folder / "SOURCES.md", folder.parent / "SOURCES.md"):
            if candidate.is_file():
                meta = read_sources_table(candidate, folder.name)
                break
        paintings = []
        for path in list_images(folder):
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
        self._by_key: dict[str, CorpusPainting] = {}
        for painting in paintings:
            self._by_key.setdefault(painting.name, painting)
            self._by_key.setdefault(choice_key(painting.name), painting)
            self._by_key.setdefault(painting_id(painting.name), painting)
        self._by_folded: dict[str, CorpusPainting] = {}
        for painting in paintings:
            for text in (painting.title, painting.label):
                if text:
                    self._by_folded.setdefault(_fold(text), painting)
        self._index = [(_fold(f"{p.name} {p.label}"), p) for p in paintings]
        log.info("corpus %s: %d paintings, %d with metadata", folder, len(paintings), len(meta))

    def all(self) -> list[CorpusPainting]:
        """Every painting, sorted by file name."""
        return list(self._paintings)

    def __len__(self) -> int:
        return len(self._paintings)

    def get(self, name: str) -> CorpusPainting | None:
        """The painting with this id (file stem, the autocomplete key or the recipe id of a long one)."""
        return self._by_key.get(name)

    def find(self, query: str) -> CorpusPainting | None:
        """The painting by id, file name, title or label (accents and case ignored), else None."""
        query = query[: QUERY_MAX_CHARS * 3]
        found = self.get(query) or self.get(Path(query).stem)
        return found or self._by_folded.get(_fold(query.strip()))

    def search(self, query: str, limit: int = 25) -> list[CorpusPainting]:
        """Fuzzy match on name, title and painter: substring hits first, then close word matches.

        The query is cut to ``QUERY_MAX_CHARS``; word matching compares against precomputed folded words.
        """
        query = query[:QUERY_MAX_CHARS].strip()
        if not query:
            return self._paintings[:limit]
        folded = _fold(query)
        scored: list[tuple[float, str, CorpusPainting]] = []
        for haystack, painting in self._index:
            if folded in haystack:
                score = 2.0 - haystack.index(folded) / max(len(haystack), 1)
            else:
                words = haystack.replace("_", " ").split()
                score = max(
                    (difflib.SequenceMatcher(None, folded, w).quick_ratio() for w in words), default=0.0
                )
                if score < 0.75:
                    continue
                score = max(difflib.SequenceMatcher(None, folded, w).ratio() for w in words)
                if score < 0.75:
                    continue
            scored.append((score, painting.name, painting))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [p for _, _, p in scored[:limit]]

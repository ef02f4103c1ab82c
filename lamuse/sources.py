"""``SOURCES.md`` tables: one parser for every markdown table that lists files with their provenance.

The library reads photo credits from them and the bot's corpus reads painting titles; both go through
``read_sources_table`` so a table that one of them understands, the other does too.
"""

from __future__ import annotations

import re
from pathlib import Path


def read_sources_table(sources: Path, section: str | None = None) -> dict[str, dict[str, str]]:
    """Rows of the markdown tables with a ``file`` column, as ``{file: {column: value}}``.

    ``section`` keeps only the table under ``## <section>`` (its first word, trailing ``/`` ignored);
    None reads every table. Column names are case-folded and lose a parenthesised note
    (``subject (COCO classes)`` → ``subject``); rows whose cell count differs from the header's are
    skipped (a stray ``|`` inside a cell would shift every column).
    """
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    in_section = section is None
    for line in sources.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            if section is not None:
                words = line[3:].strip().split()
                in_section = bool(words) and words[0].rstrip("/") == section.rstrip("/")
            header = None
            continue
        if not line.startswith("|"):
            header = None
            continue
        if not in_section:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [re.sub(r"\s*\(.*\)", "", c).casefold() for c in cells]
        elif set(line.replace("|", "").strip()) <= set("-: "):
            continue
        elif "file" in header and len(cells) == len(header):
            row = dict(zip(header, cells, strict=True))
            rows[row["file"]] = row
    return rows

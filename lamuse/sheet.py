"""The case-study sheet: one portrait PNG a painter can read on a phone (``lamuse reinterpret --sheet``).

Top to bottom: the original and the reinterpretation side by side; a composition overlay (rule of
thirds, each element's outline and principal axis, old in cyan and new in orange, numbered); the
five-colour palette with names; what each element became (fit, era, credit); the three pertinence scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from lamuse.explain import _short_credit
from lamuse.fonts import Font, load_font
from lamuse.io import fit_long_side
from lamuse.shapes import centroid, orientation
from lamuse.types import Placed, Reinterpretation

WIDTH = 1080
"""Pixels across: a phone shows the sheet at full width, so body text stays about 3 mm high."""
MARGIN = 36
TITLE_SIZE = 48
BODY_SIZE = 34
SMALL_SIZE = 28
LINE_GAP = 10
MAX_TABLE_ROWS = 10
OLD_COLOUR = (0, 220, 255)
NEW_COLOUR = (255, 140, 0)
INK = (30, 30, 30)
MUTED = (100, 100, 100)
PAPER = (250, 248, 243)


def case_study_sheet(
    painting: Image.Image, result: Reinterpretation, *, font: Path | None = None
) -> Image.Image:
    """The sheet for one result (its trace and pasted silhouettes) of ``painting``."""
    trace = result.trace
    width, height = (int(v) for v in trace.get("size", result.collage.size))
    original = fit_long_side(painting.convert("RGB"), max(width, height)).resize((width, height))
    output = result.image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    fonts = {
        "title": load_font(TITLE_SIZE, bold=True, font=font),
        "body": load_font(BODY_SIZE, font=font),
        "bold": load_font(BODY_SIZE, bold=True, font=font),
        "small": load_font(SMALL_SIZE, font=font),
    }
    blocks = [
        _title(trace, fonts),
        _side_by_side(original, output, fonts),
        _overlay(output, result.placed, fonts),
        _palette(trace.get("palette", []), fonts),
        _swaps(trace.get("swaps", []), fonts),
        _scores(trace.get("pertinence"), fonts),
    ]
    sheet = Image.new("RGB", (WIDTH, sum(b.height for b in blocks) + MARGIN), PAPER)
    top = 0
    for block in blocks:
        sheet.paste(block, (0, top))
        top += block.height
    return sheet


def _block(height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (WIDTH, height), PAPER)
    return image, ImageDraw.Draw(image)


def _wrap(text: str, font: Font, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + ([current] if current else [])


def _line_height(font: Font) -> int:
    left, top, right, bottom = font.getbbox("Ágy")
    return int(bottom - top) + LINE_GAP


def _text_block(lines: Sequence[tuple[str, Font, tuple[int, int, int]]], indent: int = 0) -> Image.Image:
    """Lines of (text, font, colour), each wrapped to the sheet's width."""
    wrapped = [
        (piece, font, colour)
        for text, font, colour in lines
        for piece in _wrap(text, font, WIDTH - 2 * MARGIN - indent)
    ]
    image, draw = _block(sum(_line_height(f) for _, f, _ in wrapped) + LINE_GAP)
    y = LINE_GAP
    for text, font, colour in wrapped:
        draw.text((MARGIN + indent, y), text, font=font, fill=colour)
        y += _line_height(font)
    return image


def _title(trace: Mapping[str, Any], fonts: Mapping[str, Font]) -> Image.Image:
    options = trace.get("options", {})
    name = Path(str(trace.get("painting", "painting"))).stem.replace("_", " ")
    year = options.get("year")
    details = [f"variation {trace.get('variation', 0)}", f"theme: {options.get('theme', 'free')}"]
    if year is not None:
        details.insert(0, f"painted {year}")
    image = _text_block(
        [
            ("Case study", fonts["small"], MUTED),
            (name, fonts["title"], INK),
            (" · ".join(details), fonts["small"], MUTED),
        ]
    )
    return image


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    scale = min(width / image.width, height / image.height)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def _side_by_side(original: Image.Image, output: Image.Image, fonts: Mapping[str, Font]) -> Image.Image:
    column = (WIDTH - 3 * MARGIN) // 2
    limit = round(column * 1.6)
    left, right = _fit(original, column, limit), _fit(output, column, limit)
    label = _line_height(fonts["body"])
    image, draw = _block(label + max(left.height, right.height) + MARGIN // 2)
    for index, (picture, caption) in enumerate(((left, "original"), (right, "reinterpretation"))):
        x = MARGIN + index * (column + MARGIN)
        draw.text((x, 0), caption, font=fonts["body"], fill=INK)
        image.paste(picture, (x + (column - picture.width) // 2, label))
    return image


def _axis(mask: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Ends of a segment along the mask's principal axis through its centroid (None when empty)."""
    if not mask.any():
        return None
    cx, cy = centroid(mask)
    angle, _ = orientation(mask)
    half = 0.9 * math.sqrt(float(mask.sum()))
    # ``orientation`` gives the lean from vertical, counter-clockwise positive on screen.
    dx, dy = -math.sin(math.radians(angle)) * half, -math.cos(math.radians(angle)) * half
    return (cx - dx, cy - dy), (cx + dx, cy + dy)


def _overlay(output: Image.Image, placed: Sequence[Placed], fonts: Mapping[str, Font]) -> Image.Image:
    """The result, faded, with the thirds, and each element's outline and axis before and after."""
    usable = WIDTH - 2 * MARGIN
    scale = usable / output.width
    size = (usable, max(1, round(output.height * scale)))
    base = np.asarray(output.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    canvas = (0.45 * base + 0.55 * 255).astype(np.uint8)
    thickness = 3
    for third in (1, 2):
        x, y = round(size[0] * third / 3), round(size[1] * third / 3)
        cv2.line(canvas, (x, 0), (x, size[1]), (150, 150, 150), 2, cv2.LINE_AA)
        cv2.line(canvas, (0, y), (size[0], y), (150, 150, 150), 2, cv2.LINE_AA)
    labels: list[tuple[int, tuple[float, float]]] = []
    for number, item in enumerate(placed, 1):
        for mask, colour, width in ((item.instance.mask, OLD_COLOUR, 2), (item.mask, NEW_COLOUR, thickness)):
            small = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(canvas, contours, -1, colour, width, cv2.LINE_AA)
            ends = _axis(small.astype(bool))
            if ends is not None:
                (x0, y0), (x1, y1) = ends
                cv2.line(canvas, (round(x0), round(y0)), (round(x1), round(y1)), colour, width, cv2.LINE_AA)
        if item.mask.any():
            cx, cy = centroid(item.mask)
            labels.append((number, (cx * scale, cy * scale)))
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    for number, (label_x, label_y) in labels:
        draw.text(
            (label_x, label_y),
            str(number),
            font=fonts["bold"],
            fill=INK,
            anchor="mm",
            stroke_width=4,
            stroke_fill=PAPER,
        )
    header = _text_block([("Composition", fonts["bold"], INK)])
    legend = _text_block(
        [
            (
                "cyan: the painter's element · orange: what replaced it · lines: principal axes and thirds",
                fonts["small"],
                MUTED,
            )
        ]
    )
    image, _ = _block(header.height + picture.height + legend.height)
    image.paste(header, (0, 0))
    image.paste(picture, (MARGIN, header.height))
    image.paste(legend, (0, header.height + picture.height))
    return image


def _palette(palette: Sequence[Mapping[str, Any]], fonts: Mapping[str, Font]) -> Image.Image:
    header = _text_block([("Palette", fonts["bold"], INK)])
    if not palette:
        return header
    count = len(palette)
    swatch = (WIDTH - 2 * MARGIN - (count - 1) * 12) // count
    text_height = 2 * _line_height(fonts["small"])
    image, draw = _block(header.height + swatch // 2 + text_height + LINE_GAP)
    image.paste(header, (0, 0))
    for index, colour in enumerate(palette):
        x = MARGIN + index * (swatch + 12)
        y = header.height
        draw.rectangle((x, y, x + swatch, y + swatch // 2), fill=str(colour["hex"]), outline=MUTED)
        name = str(colour["name"])
        while fonts["small"].getlength(name) > swatch and len(name) > 4:
            name = name[:-2] + "…"
        draw.text((x, y + swatch // 2 + 6), name, font=fonts["small"], fill=INK)
        share = f"{100 * float(colour.get('share', 0)):.0f}%"
        draw.text(
            (x, y + swatch // 2 + 6 + _line_height(fonts["small"])), share, font=fonts["small"], fill=MUTED
        )
    return image


def _era_words(era: object) -> str:
    return "era: always" if era in (None, "always") else f"era: since {era}"


def _swaps(swaps: Sequence[Mapping[str, Any]], fonts: Mapping[str, Font]) -> Image.Image:
    lines: list[tuple[str, Font, tuple[int, int, int]]] = [("What became what", fonts["bold"], INK)]
    for number, swap in enumerate(swaps[:MAX_TABLE_ROWS], 1):
        new = str(swap.get("new_class", swap.get("cutout_class", "?")))
        lines.append((f"{number}. {swap.get('class', '?')} → {new}", fonts["body"], INK))
        details = f"fit {float(swap.get('mask_iou', 0)):.2f} · {_era_words(swap.get('era'))}"
        if swap.get("theme_reason"):
            details += f" · {swap['theme_reason']}"
        lines.append((details, fonts["small"], MUTED))
        lines.append((f"photo: {_short_credit(str(swap.get('credit') or ''))}", fonts["small"], MUTED))
    if len(swaps) > MAX_TABLE_ROWS:
        lines.append((f"… and {len(swaps) - MAX_TABLE_ROWS} more (see the JSON)", fonts["small"], MUTED))
    if not swaps:
        lines.append(("No element was swapped.", fonts["body"], INK))
    return _text_block(lines)


def _scores(pertinence: Mapping[str, Any] | None, fonts: Mapping[str, Font]) -> Image.Image:
    header = _text_block([("Pertinence", fonts["bold"], INK)])
    if not pertinence:
        return _text_block([("Pertinence", fonts["bold"], INK), ("not scored", fonts["body"], MUTED)])
    rows = [("composition", "composition"), ("style", "style"), ("theme", "theme, era"), ("total", "total")]
    row_height = _line_height(fonts["body"]) + 14
    candidates = pertinence.get("candidates", [])
    footer = (
        _text_block(
            [
                (
                    f"best of {len(candidates)} candidates (number {int(pertinence.get('chosen', 0)) + 1})",
                    fonts["small"],
                    MUTED,
                )
            ]
        )
        if len(candidates) > 1
        else None
    )
    image, draw = _block(header.height + len(rows) * row_height + (footer.height if footer else 0))
    image.paste(header, (0, 0))
    label_width = 260
    bar_width = WIDTH - 2 * MARGIN - label_width - 120
    for index, (key, label) in enumerate(rows):
        y = header.height + index * row_height
        value = float(pertinence.get(key, 0.0))
        font = fonts["bold"] if key == "total" else fonts["body"]
        draw.text((MARGIN, y), label, font=font, fill=INK)
        x = MARGIN + label_width
        draw.rectangle((x, y + 6, x + bar_width, y + row_height - 14), outline=MUTED, width=2)
        draw.rectangle((x, y + 6, x + round(bar_width * value), y + row_height - 14), fill=NEW_COLOUR)
        draw.text((x + bar_width + 16, y), f"{value:.2f}", font=font, fill=INK)
    if footer is not None:
        image.paste(footer, (0, header.height + len(rows) * row_height))
    return image

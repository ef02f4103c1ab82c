"""One Unicode font for everything La Muse draws (sheet, watermark, labels): accents, dashes, arrows."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageFont

FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
    "C:/Windows/Fonts/DejaVuSans.ttf",
)
"""DejaVu Sans (Bitstream Vera licence with DejaVu's public-domain changes: free to use and embed), where
operating systems put it; it covers Latin, Greek, Cyrillic and the arrows and quotes the sheet uses."""

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_font(size: int, *, bold: bool = False, font: Path | None = None) -> Font:
    """``font`` if given, else DejaVu Sans from the usual places, else Pillow's bundled font (Latin only)."""
    candidates = [str(font)] if font is not None else []
    candidates += [f.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf") for f in FONT_FILES] if bold else []
    candidates += list(FONT_FILES)
    for candidate in candidates:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)

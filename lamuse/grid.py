"""A grid of variations: the picture a /muse answer and ``lamuse bench``'s ``grid_512`` make."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def compose_grid(images: Sequence[Image.Image], *, gap: int = 6) -> Image.Image:
    """Four variations in a 2×2 grid, numbered 1-4 as their buttons are; each tile keeps its aspect."""
    width = max(image.width for image in images)
    height = max(image.height for image in images)
    grid = Image.new("RGB", (2 * width + gap, 2 * height + gap), (24, 24, 24))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=max(14, height // 12))
    for index, image in enumerate(images):
        x, y = (index % 2) * (width + gap), (index // 2) * (height + gap)
        grid.paste(image.convert("RGB"), (x + (width - image.width) // 2, y + (height - image.height) // 2))
        label = str(index + 1)
        box = draw.textbbox((0, 0), label, font=font)
        pad = max(4, height // 60)
        draw.rectangle((x, y, x + box[2] + 3 * pad, y + box[3] + 2 * pad), fill=(0, 0, 0))
        draw.text((x + pad, y + pad // 2), label, font=font, fill=(255, 255, 255))
    return grid

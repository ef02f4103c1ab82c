"""Dominant colours of an image, named from the CSS3 colour list maintained by ``webcolors``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import webcolors
from PIL import Image

from lamuse.types import PaletteRecord

SAMPLE_PIXELS = 6000
KMEANS_ITERATIONS = 12


@dataclass(frozen=True)
class PaletteColour:
    """One dominant colour: its RGB, share of the image, and nearest CSS3 name."""

    rgb: tuple[int, int, int]
    share: float
    name: str

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)

    def as_record(self) -> PaletteRecord:
        return {"hex": self.hex, "name": self.name, "share": round(self.share, 4)}


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB → (N, 3) float CIE Lab (L in 0..100, a/b around 0)."""
    lab = cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab.reshape(-1, 3).astype(np.float64)


@cache
def _css3_table() -> tuple[tuple[str, ...], np.ndarray]:
    names = tuple(sorted(webcolors.names("css3")))
    rgb = np.array([tuple(webcolors.name_to_rgb(n, spec="css3")) for n in names], dtype=np.uint8)
    return names, to_lab(rgb)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """Nearest CSS3 colour name in Lab space."""
    names, table = _css3_table()
    lab = to_lab(np.array([rgb], dtype=np.uint8))[0]
    return names[int(np.argmin(((table - lab) ** 2).sum(axis=1)))]


def dominant_colours(image: Image.Image, k: int = 5, *, seed: int = 0) -> list[PaletteColour]:
    """The ``k`` dominant colours (k-means in Lab on a fixed pixel sample), largest share first."""
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    sample = pixels[rng.choice(len(pixels), size=min(SAMPLE_PIXELS, len(pixels)), replace=False)]
    lab = to_lab(sample)
    k = min(k, len(np.unique(sample, axis=0)))
    centres = lab[_kmeans_pp_init(lab, k, rng)]
    for _ in range(KMEANS_ITERATIONS):
        labels = np.argmin(((lab[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        for j in range(k):
            members = lab[labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    labels = np.argmin(((lab[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    colours = []
    for j in range(k):
        members = sample[labels == j]
        if not len(members):
            continue
        rgb = tuple(int(v) for v in np.median(members, axis=0))
        colours.append(
            PaletteColour(
                rgb=(rgb[0], rgb[1], rgb[2]),
                share=len(members) / len(sample),
                name=colour_name((rgb[0], rgb[1], rgb[2])),
            )
        )
    return sorted(colours, key=lambda c: -c.share)


def _kmeans_pp_init(points: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    chosen = [int(rng.integers(len(points)))]
    distances = ((points - points[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = distances.sum()
        index = (
            int(rng.choice(len(points), p=distances / total)) if total > 0 else int(rng.integers(len(points)))
        )
        chosen.append(index)
        distances = np.minimum(distances, ((points - points[index]) ** 2).sum(axis=1))
    return chosen

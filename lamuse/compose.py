"""Build the collage: clear the original elements, then lay each chosen cut-out over its element.

Everything here works on numpy arrays at the pipeline's working resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from lamuse.shapes import mask_box, rotate_expand
from lamuse.substitute import Choice, Placement
from lamuse.types import Placed

INPAINT_LONG_SIDE = 320
COLOUR_MATCH_STRENGTH = 0.75
TEXTURE_SIGMA = 6.0
"""Detail finer than this (px) is borrowed from beside a hole; measured: at 2 px the re-painted fill
still glows, at 6 px it takes the field's strokes."""


REMOVAL_METHOD = "telea-inpaint+borrowed-texture"
"""How ``remove_elements`` fills, as traces record it."""


def remove_elements(painting: np.ndarray, masks: Sequence[np.ndarray]) -> np.ndarray:
    """Inpaint (Telea) the union of the elements' masks so what the new cut-outs leave uncovered is
    background, not the ghost of the old element. The smooth fill runs at ≤320 px; the painting's own
    fine texture from beside each hole is added back; only pixels in and just around the masks change."""
    if not masks:
        return painting.copy()
    height, width = painting.shape[:2]
    union = np.logical_or.reduce(list(masks)).astype(np.uint8)
    grow = max(3, round(0.006 * math.hypot(height, width)))
    union = cv2.dilate(union, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    scale = min(1.0, INPAINT_LONG_SIDE / max(height, width))
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(painting, small_size, interpolation=cv2.INTER_AREA)
    small_mask = (cv2.resize(union, small_size, interpolation=cv2.INTER_NEAREST) > 0).astype(np.uint8)
    filled = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    filled += _borrowed_texture(painting.astype(np.float32), union.astype(bool))
    # A slightly blurred blend edge avoids a hard ring where the fill meets the kept painting.
    blend = cv2.GaussianBlur(union.astype(np.float32), (0, 0), sigmaX=max(1.0, grow / 2))[..., None]
    blend = np.clip(blend * 1.5, 0, 1)
    out = painting.astype(np.float32) * (1 - blend) + filled * blend
    result: np.ndarray = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return result


def _borrowed_texture(painting: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fine texture (brush strokes, grain) for a hole, copied from beside it.

    A smooth fill reads as a glowing patch once re-painted; adding the painting's own high frequencies,
    taken one hole-width to the side (or above/below) where the painting is intact, keeps the surface.
    """
    residual = painting - cv2.GaussianBlur(painting, (0, 0), sigmaX=TEXTURE_SIGMA)
    texture = np.zeros_like(painting)
    height, width = hole.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        todo = labels[y : y + h, x : x + w] == label
        for dy, dx in ((0, w), (0, -w), (h, 0), (-h, 0)):
            ys, xs = np.nonzero(todo)
            if ys.size == 0:
                break
            src_y, src_x = ys + y + dy, xs + x + dx
            usable = (src_y >= 0) & (src_y < height) & (src_x >= 0) & (src_x < width)
            usable[usable] &= ~hole[src_y[usable], src_x[usable]]
            texture[ys[usable] + y, xs[usable] + x] = residual[src_y[usable], src_x[usable]]
            todo[ys[usable], xs[usable]] = False
    return texture


def cover(background: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Resize and centre-crop ``background`` to fill ``size`` (width, height) without distortion."""
    width, height = size
    scale = max(width / background.width, height / background.height)
    resized = background.convert("RGB").resize(
        (max(width, round(background.width * scale)), max(height, round(background.height * scale))),
        Image.Resampling.LANCZOS,
    )
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return np.array(resized.crop((left, top, left + width, top + height)))


def plain_canvas(painting: np.ndarray) -> np.ndarray:
    """A flat canvas in the painting's median colour (the ``none`` background)."""
    colour = np.median(painting.reshape(-1, 3), axis=0).astype(np.uint8)
    return np.broadcast_to(colour, painting.shape).copy()


def oriented_rgba(rgba: np.ndarray, placement: Placement) -> np.ndarray:
    """The cut-out flipped and rotated as placed, cropped tight to its (opaque) silhouette."""
    if placement.flip:
        rgba = rgba[:, ::-1]
    if abs(placement.rotation) >= 0.5:
        rgba = rotate_expand(rgba, placement.rotation)
    box = mask_box(rgba[..., 3] >= 128)
    if box is None:
        return np.ascontiguousarray(rgba)
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(rgba[y0:y1, x0:x1])


def match_colours(
    pixels: np.ndarray, reference: np.ndarray, strength: float = COLOUR_MATCH_STRENGTH
) -> np.ndarray:
    """Move ``pixels``' Lab mean and spread toward ``reference``'s (Reinhard transfer, partial).

    Both are (N, 3) uint8 RGB. The cut-out keeps its own light and shading, only shifted into the
    painting's palette; the ratio of spreads is bounded so a flat region does not wash a photo out.
    """
    if len(pixels) == 0 or len(reference) == 0:
        return pixels
    src = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    ref = cv2.cvtColor(reference.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    src_mean, src_std = src.mean(axis=0), src.std(axis=0) + 1e-3
    ref_mean, ref_std = ref.mean(axis=0), ref.std(axis=0) + 1e-3
    ratio = np.clip(ref_std / src_std, 0.5, 2.0)
    matched = (src - src_mean) * ratio + ref_mean
    out = src + strength * (matched - src)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    rgb: np.ndarray = cv2.cvtColor(out.reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(-1, 3)
    return rgb


def paste(canvas: np.ndarray, painting: np.ndarray, choice: Choice, *, colour_match: bool = True) -> Placed:
    """Lay ``choice``'s cut-out on ``canvas`` (in place) and say where its silhouette landed.

    The cut-out is flipped/rotated/resized per its placement, its mask centroid put on the element's
    centroid, its colours matched to the element's region of the original ``painting``, and its edge
    feathered so the style pass does not have to hide a hard seam.
    """
    rgba = oriented_rgba(np.asarray(choice.cutout.load_rgba()), choice.placement)
    native_size = (rgba.shape[1], rgba.shape[0])
    width, height = choice.placement.width, choice.placement.height
    rgba = cv2.resize(
        rgba, (width, height), interpolation=cv2.INTER_AREA if width < rgba.shape[1] else cv2.INTER_CUBIC
    )
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    hard = alpha >= 0.5
    placed = np.zeros(canvas.shape[:2], dtype=bool)

    def result() -> Placed:
        return Placed(
            instance=choice.instance,
            cutout_id=choice.cutout.id,
            same_class=choice.same_class,
            mask=placed,
            native_size=native_size,
            placed_size=(width, height),
        )

    if not hard.any():
        return result()
    ys, xs = np.nonzero(hard)
    # Both centroids are means of pixel indices, so they align without a half-pixel shift.
    left = round(choice.placement.center[0] - xs.mean())
    top = round(choice.placement.center[1] - ys.mean())
    rgb = rgba[..., :3].copy()
    if colour_match:
        region = painting[choice.instance.mask]
        rgb[hard] = match_colours(rgb[hard], region)
    feather = max(0.8, 0.004 * math.sqrt(width * height))
    soft = cv2.GaussianBlur(cv2.erode(hard.astype(np.float32), np.ones((3, 3), np.uint8)), (0, 0), feather)
    soft = np.maximum(soft, 0.0)

    canvas_h, canvas_w = canvas.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(canvas_w, left + width), min(canvas_h, top + height)
    if x1 <= x0 or y1 <= y0:
        return result()
    sx, sy = x0 - left, y0 - top
    a = soft[sy : sy + y1 - y0, sx : sx + x1 - x0, None]
    region_rgb = rgb[sy : sy + y1 - y0, sx : sx + x1 - x0].astype(np.float32)
    target = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.clip(target * (1 - a) + region_rgb * a + 0.5, 0, 255).astype(np.uint8)
    placed[y0:y1, x0:x1] = hard[sy : sy + y1 - y0, sx : sx + x1 - x0]
    return result()

"""Build the collage: clear the original elements, then lay each chosen cut-out over its element.

Everything here works on numpy arrays at the pipeline's working resolution.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lamuse.io import list_images, load_image
from lamuse.shapes import head_size, mask_box, rotate_expand
from lamuse.substitute import Choice, Placement
from lamuse.types import FramedSaliency, Instance, Placed, RemovalMode

log = logging.getLogger(__name__)

INPAINT_LONG_SIDE = 320
COLOUR_MATCH_STRENGTH = 0.75
TEXTURE_SIGMA = 6.0
"""Detail finer than this (px) is borrowed from beside a hole; measured: at 2 px the re-painted fill
still glows, at 6 px it takes the field's strokes."""
BORROWED_TEXTURE_SPREAD = 2.0
"""Detail is borrowed only from where it is at most this many times the median detail round the hole."""

REMOVAL_METHOD = "telea-inpaint+borrowed-texture"
"""How ``remove_elements`` fills, as traces record it."""

ACCESSORY_CLASSES = frozenset(
    {"umbrella", "handbag", "tie", "backpack", "suitcase", "tennis racket", "baseball bat", "baseball glove"}
)
"""Things a figure carries: cleared with the figure they touch, whether or not they are swapped."""
GROW_FRACTION = 0.05
"""``grow`` dilates each element by this share of the square root of its area (never less than
``tight``): curated masks are GrabCut-tight and leave a rim of the old element; a 300×150 px figure
gets 11 px."""
ATTACH_ZONE = (0.08, 0.2, 0.4)
"""Where an element's attached parts are looked for: its box widened by 8% of its width each side,
from 20% of its height above its top down to 40% of its height below it. Hats, caps, raised parasols
and their handles stick out of the upper part of a figure; a neighbour touching its lower half is a
neighbour."""
ATTACH_REACH = 0.25
"""...and no farther from the element than this share of √(its area) (a top hat's height for a figure)."""
ATTACH_THRESHOLD = 0.2
"""Saliency above which a pixel near an element may belong to it: thin attached parts (a parasol's
handle, a cane) score only 0.2-0.4 once U²-Net-p's 320 px map is upsampled."""
SALIENT_THRESHOLD = 0.5
"""Saliency above which a region is a salient object (the salient segmenter's threshold)."""
ENCLOSED_RING = 0.03
"""A missed piece lying mostly within this share of the diagonal round an element (or its attach
reach, if larger) is the element's, on any side: the surroundings ``lamuse.metrics`` reads."""
ATTACH_MAX_SHARE = 0.15
"""An attached part is at most this share of its element's area: a top hat is ~5% of a standing
figure, the neighbour whose body enters the figure's box is far more."""


Window = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` of an image crop, x1/y1 exclusive."""


def grow_radius(element: Instance) -> int:
    """``grow``'s dilation of one element: ``GROW_FRACTION`` × √area, never less than ``tight``'s."""
    return max(tight_radius(element.mask.shape), round(GROW_FRACTION * math.sqrt(element.area)))


def _disc(radius: int) -> np.ndarray:
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))


def _dilated(mask: np.ndarray, radius: int, window: Window) -> np.ndarray:
    """``mask`` dilated by ``radius``, computed and returned inside ``window`` only (masks are full-size;
    dilating each one over the whole image for every element made removal quadratic)."""
    x0, y0, x1, y1 = window
    height, width = mask.shape
    px0, py0 = max(0, x0 - radius), max(0, y0 - radius)
    px1, py1 = min(width, x1 + radius), min(height, y1 + radius)
    grown = cv2.dilate(mask[py0:py1, px0:px1].astype(np.uint8), _disc(radius)).astype(bool)
    return np.asarray(grown[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0])


def _overlaps(box: tuple[int, int, int, int], window: Window, pad: int) -> bool:
    return (
        box[0] - pad < window[2]
        and window[0] < box[2] + pad
        and box[1] - pad < window[3]
        and (window[1] < box[3] + pad)
    )


def _others_near(element: Instance, instances: Sequence[Instance], radius: int, window: Window) -> np.ndarray:
    """The other instances inside ``window``, each dilated by ``radius``: what an element's extra parts must
    leave to them, so their rims do not join its pieces to theirs."""
    x0, y0, x1, y1 = window
    near = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for other in instances:
        if other is not element and _overlaps(other.box, window, radius):
            near |= _dilated(other.mask, radius, window)
    return near


def grown_region(
    element: Instance,
    saliency: np.ndarray | None,
    instances: Sequence[Instance] = (),
    framed: FramedSaliency | None = None,
    head: FramedSaliency | None = None,
) -> np.ndarray:
    """What belongs to ``element``: its mask dilated by ``grow_radius``, plus the accessories
    (``ACCESSORY_CLASSES`` among ``instances``) it touches, plus the salient parts attached to it
    (``_attached_parts``), plus what a crop framed on it shows on its head (``_framed_parts``), plus what
    its head wears by the person map of a crop framed on it (``_worn_parts``). Full-size bool mask."""
    mask = element.mask
    shape = (mask.shape[0], mask.shape[1])
    radius = grow_radius(element)
    side, above, down_to = ATTACH_ZONE
    reach = max(3, round(ATTACH_REACH * math.sqrt(element.area)))
    accessories = [
        a
        for a in instances
        if a is not element
        and a.class_name in ACCESSORY_CLASSES
        and _overlaps(a.box, element.box, 2 * radius)
    ]
    # One window holds the element, its grown rim, its attach zone and any accessory it touches.
    boxes = [element.box, *(a.box for a in accessories)]
    window = (
        max(0, min(b[0] for b in boxes) - 2 * radius - reach),
        max(
            0,
            min(b[1] for b in boxes) - 2 * radius - reach - round(above * (element.box[3] - element.box[1])),
        ),
        min(shape[1], max(b[2] for b in boxes) + 2 * radius + reach),
        min(shape[0], max(b[3] for b in boxes) + 2 * radius + reach),
    )
    wx0, wy0, wx1, wy1 = window
    region = _dilated(mask, radius, window)
    touching = region.copy()
    for accessory in accessories:
        if (accessory.mask[wy0:wy1, wx0:wx1] & touching).any():
            region |= _dilated(accessory.mask, radius, window)
    if saliency is not None:
        region |= _attached_parts(element, region, window, saliency, instances, radius, reach)
    full = np.zeros(shape, dtype=bool)
    full[wy0:wy1, wx0:wx1] = region
    if framed is not None:
        full |= _framed_parts(element, framed, instances, radius)
    if head is not None:
        full |= _worn_parts(element, head, instances, radius)
    return full


FRAMED_CROWN = 0.25
"""``_framed_parts`` looks no lower than this share of the element's height below its top: hats and
heads, not a neighbour's hat beside its waist."""
FRAMED_MAX_SHARE = 0.6
"""...and takes at most this share of the element's area: a head and a wide hat its mask left out (the
elder of Renoir's *Two Sisters*: 0.5); more means the framed map found a neighbour."""


def _framed_parts(
    element: Instance, framed: FramedSaliency, instances: Sequence[Instance], radius: int
) -> np.ndarray:
    """What the salient object of a crop framed on ``element`` adds on its top: the salient regions
    (> ``SALIENT_THRESHOLD``) that are mostly the element, less its mask and other instances (with
    ``radius``), no lower than ``FRAMED_CROWN``, in pieces touching the mask. A top hat, a bonnet, or a
    head the curated mask leaves out."""
    x0, y0, x1, y1 = framed.window
    shape = element.mask.shape
    full = np.zeros(shape, dtype=bool)
    if x1 <= x0 or y1 <= y0:
        return full
    own = element.mask[y0:y1, x0:x1]
    salient = (framed.saliency > SALIENT_THRESHOLD).astype(np.uint8)  # the window's size
    count, labels = cv2.connectedComponents(salient, connectivity=8)
    if count <= 1:
        return full
    inside = np.bincount(labels[own], minlength=count)
    sizes = np.bincount(labels.ravel(), minlength=count)
    mostly_own = [t for t in range(1, count) if inside[t] >= 0.3 * sizes[t]]
    extra = np.isin(labels, mostly_own) & ~own
    window = (x0, y0, x1, y1)
    extra &= ~_others_near(element, instances, radius, window)
    crown = round(element.box[1] + FRAMED_CROWN * (element.box[3] - element.box[1])) - y0
    extra[max(0, crown) :] = False
    pieces, piece_labels = cv2.connectedComponents(extra.astype(np.uint8), connectivity=8)
    rim = _dilated(element.mask, radius + 1, window)
    touching = [int(t) for t in np.unique(piece_labels[rim & extra]) if t > 0]
    kept = np.isin(piece_labels, touching)
    if not kept.any() or kept.sum() > FRAMED_MAX_SHARE * element.area:
        return full
    full[y0:y1, x0:x1] = cv2.dilate(kept.astype(np.uint8), _disc(radius)).astype(bool)
    return full


WORN_THRESHOLD = 0.8
"""Person probability above which a pixel of a head's crop is the figure's (``lamuse.segment.selfie``)."""
WORN_EDGE = (0.3, 0.15)
"""A worn piece then takes its soft edge: pixels above the first probability within the second share of
a head width of it. The network's map fades over a hat's rim; a rim left behind is old colour that the
fill spreads into a hat-shaped patch."""
WORN_DEPTH = 1.0
"""``_worn_parts`` looks no lower than this many head widths below the mask's top: a boater tilted over
one ear comes down to 0.66 head widths on that side; lower lie the shoulders of the figure beside."""


def _worn_parts(
    element: Instance, head: FramedSaliency, instances: Sequence[Instance], radius: int
) -> np.ndarray:
    """What a crop framed on ``element``'s head shows as the person's (> ``WORN_THRESHOLD``) beyond its mask
    and other instances (with ``radius``), above ``WORN_DEPTH`` head widths under the mask's top, in
    pieces that touch the mask and end there: a hat, a cap, a bonnet. A piece cut by that depth goes on
    down (the face and shoulders of the figure beside); one cut by the crop's top goes on up (a figure
    standing behind)."""
    shape = element.mask.shape
    full = np.zeros(shape, dtype=bool)
    x0, y0, x1, y1 = head.window
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(shape[1], x1), min(shape[0], y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return full
    window = (cx0, cy0, cx1, cy1)
    person = head.saliency[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    worn = (person > WORN_THRESHOLD) & ~element.mask[cy0:cy1, cx0:cx1]
    worn &= ~_others_near(element, instances, radius, window)
    _, head_width = head_size(element)
    lowest = round(element.box[1] + WORN_DEPTH * head_width) - cy0
    if lowest < 1:
        return full
    worn[lowest:] = False
    count, labels = cv2.connectedComponents(worn.astype(np.uint8), connectivity=8)
    if count <= 1:
        return full
    rim = _dilated(element.mask, radius + 1, window)
    touching = {int(t) for t in np.unique(labels[rim & worn])}
    going_on = {int(t) for t in np.unique(labels[min(lowest, labels.shape[0]) - 1])}
    if y0 >= 0:
        going_on |= {int(t) for t in np.unique(labels[0])}
    kept = np.isin(labels, sorted(touching - going_on - {0}))
    if kept.any():
        edge, reach = WORN_EDGE
        near = _dilated(kept, max(1, round(reach * head_width)), (0, 0, cx1 - cx0, cy1 - cy0))
        kept |= (person > edge) & near
        full[cy0:cy1, cx0:cx1] = cv2.dilate(kept.astype(np.uint8), _disc(radius)).astype(bool)
    return full


def _attached_parts(
    element: Instance,
    region: np.ndarray,
    window: Window,
    saliency: np.ndarray,
    instances: Sequence[Instance],
    radius: int,
    reach: int,
) -> np.ndarray:
    """Salient pieces just outside ``region`` (a crop at ``window``), in ``element``'s upper zone and
    reach, that touch it and are small beside it (≤ ``ATTACH_MAX_SHARE`` of its area): a hat, a handle
    — not a neighbour's body. Other instances (with the same margin) are left to themselves, so their
    rims do not join pieces into one."""
    wx0, wy0, wx1, wy1 = window
    x0, y0, x1, y1 = element.box
    side, above, down_to = ATTACH_ZONE
    bw, bh = x1 - x0, y1 - y0
    left, right = max(wx0, round(x0 - side * bw)), min(wx1, round(x1 + side * bw))
    top, bottom = max(wy0, round(y0 - above * bh)), min(wy1, round(y0 + down_to * bh))
    candidates = np.zeros(region.shape, dtype=bool)
    if right <= left or bottom <= top:
        return candidates
    candidates[top - wy0 : bottom - wy0, left - wx0 : right - wx0] = (
        saliency[top:bottom, left:right] > ATTACH_THRESHOLD
    )
    candidates &= _dilated(element.mask, reach, window) & ~region
    candidates &= ~_others_near(element, instances, radius, window)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.astype(np.uint8), connectivity=8)
    rim = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    touching = np.unique(labels[rim & (labels > 0)])
    small = [int(t) for t in touching if stats[t, cv2.CC_STAT_AREA] <= ATTACH_MAX_SHARE * element.area]
    if not small:
        return candidates & False
    return np.asarray(cv2.dilate(np.isin(labels, small).astype(np.uint8), _disc(radius)).astype(bool))


def tight_radius(shape: tuple[int, ...]) -> int:
    """The first version's dilation: 0.6% of the image diagonal, at least 3 px."""
    return max(3, round(0.006 * math.hypot(shape[0], shape[1])))


def tight_region(shape: tuple[int, ...], masks: Sequence[np.ndarray]) -> np.ndarray:
    """The first version's removal: every mask dilated by 0.6% of the image diagonal (at least 3 px)."""
    height, width = shape[:2]
    if not masks:
        return np.zeros((height, width), dtype=bool)
    union = np.logical_or.reduce(list(masks)).astype(np.uint8)
    grow = tight_radius(shape)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return np.asarray(cv2.dilate(union, kernel).astype(bool))


def removal_region(
    shape: tuple[int, ...],
    elements: Sequence[Instance],
    *,
    removal: RemovalMode = "grow",
    saliency: np.ndarray | None = None,
    others: Sequence[Instance] = (),
    framed: Mapping[int, FramedSaliency] | None = None,
    heads: Mapping[int, FramedSaliency] | None = None,
) -> np.ndarray:
    """The pixels to clear: each element's ``grown_region`` (``grow``) or ``tight_region`` (``tight``).

    ``others`` are all the painting's instances (accessories among them go with the figure they touch);
    ``saliency`` is resized to ``shape`` when it was computed at another size; ``framed`` holds maps of
    crops framed on some of ``others`` (by index, in ``shape``'s coordinates), see ``_framed_parts``;
    ``heads`` person maps of crops framed on the heads of some of ``others``, see ``_worn_parts``.
    """
    height, width = shape[:2]
    if removal == "tight":
        return tight_region(shape, [e.mask for e in elements])
    union = np.zeros((height, width), dtype=bool)
    if saliency is not None and saliency.shape != (height, width):
        saliency = cv2.resize(saliency, (width, height), interpolation=cv2.INTER_LINEAR)
    pieces = _salient_pieces(saliency, [*elements, *others]) if saliency is not None else None
    framed_by_element = {id(others[i]): f for i, f in (framed or {}).items() if i < len(others)}
    head_by_element = {id(others[i]): h for i, h in (heads or {}).items() if i < len(others)}
    for element in elements:
        union |= grown_region(
            element, saliency, others, framed_by_element.get(id(element)), head_by_element.get(id(element))
        )
        if pieces is not None:
            union |= _enclosed_pieces(element, *pieces)
    return union


def _salient_pieces(saliency: np.ndarray, instances: Sequence[Instance]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and areas of the salient regions (> ``SALIENT_THRESHOLD``) outside every instance."""
    outside = saliency > SALIENT_THRESHOLD
    for instance in instances:
        outside &= ~instance.mask
    _, labels, stats, _ = cv2.connectedComponentsWithStats(outside.astype(np.uint8), connectivity=8)
    return labels, stats[:, cv2.CC_STAT_AREA]


def _enclosed_pieces(element: Instance, labels: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """The salient pieces that touch ``element`` and lie mostly (≥ half) within its reach (the larger of
    ``ATTACH_REACH`` × √area and ``ENCLOSED_RING`` of the diagonal): a cap, a sleeve, a bouquet its mask
    missed on any side. A neighbour continues beyond the reach and stays."""
    shape = element.mask.shape
    radius = grow_radius(element)
    reach = max(
        round(ATTACH_REACH * math.sqrt(element.area)), round(ENCLOSED_RING * math.hypot(shape[0], shape[1]))
    )
    x0, y0, x1, y1 = element.box
    window = (
        max(0, x0 - reach - radius),
        max(0, y0 - reach - radius),
        min(shape[1], x1 + reach + radius),
        min(shape[0], y1 + reach + radius),
    )
    wx0, wy0, wx1, wy1 = window
    crop = labels[wy0:wy1, wx0:wx1]
    rim = _dilated(element.mask, 2, window)
    touching = np.unique(crop[rim & (crop > 0)])
    full = np.zeros(shape, dtype=bool)
    if touching.size == 0:
        return full
    inside = np.bincount(crop[_dilated(element.mask, reach, window)], minlength=len(areas))
    kept = [int(t) for t in touching if inside[t] >= 0.5 * areas[t]]
    if kept:
        full[wy0:wy1, wx0:wx1] = cv2.dilate(np.isin(crop, kept).astype(np.uint8), _disc(radius)).astype(bool)
    return full


def clear_elements(
    painting: np.ndarray,
    elements: Sequence[Instance],
    *,
    removal: RemovalMode = "grow",
    saliency: np.ndarray | None = None,
    others: Sequence[Instance] = (),
    framed: Mapping[int, FramedSaliency] | None = None,
    heads: Mapping[int, FramedSaliency] | None = None,
) -> np.ndarray:
    """Fill what ``removal_region`` clears; with ``grow`` the fill takes its colours from beyond the
    region (its low-resolution hole is grown by one pixel so the hole's rim is not old colour)."""
    region = removal_region(
        painting.shape,
        elements,
        removal=removal,
        saliency=saliency,
        others=others,
        framed=framed,
        heads=heads,
    )
    return fill_region(painting, region, rim=1 if removal == "grow" else 0)


def remove_elements(painting: np.ndarray, masks: Sequence[np.ndarray]) -> np.ndarray:
    """The first version's removal (``tight``) of the union of ``masks``."""
    return fill_region(painting, tight_region(painting.shape, masks))


def fill_region(painting: np.ndarray, region: np.ndarray, *, rim: int = 0) -> np.ndarray:
    """Inpaint (Telea) ``region`` so what the new cut-outs leave uncovered is background, not the ghost
    of the old element. The smooth fill runs at ≤320 px (its hole grown by ``rim`` px there); the
    painting's own fine texture from beside each hole is added back; only pixels in and just around
    ``region`` change."""
    if not region.any():
        return painting.copy()
    height, width = painting.shape[:2]
    union = region.astype(np.uint8)
    edge = max(3, round(0.006 * math.hypot(height, width)))
    scale = min(1.0, INPAINT_LONG_SIDE / max(height, width))
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(painting, small_size, interpolation=cv2.INTER_AREA)
    small_mask = (cv2.resize(union, small_size, interpolation=cv2.INTER_NEAREST) > 0).astype(np.uint8)
    if rim > 0:
        small_mask = np.asarray(cv2.dilate(small_mask, np.ones((2 * rim + 1, 2 * rim + 1), np.uint8)))
    filled = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    filled += _borrowed_texture(painting.astype(np.float32), union.astype(bool))
    # A slightly blurred blend edge avoids a hard ring where the fill meets the kept painting.
    blend = cv2.GaussianBlur(union.astype(np.float32), (0, 0), sigmaX=max(1.0, edge / 2))[..., None]
    blend = np.clip(blend * 1.5, 0, 1)
    out = painting.astype(np.float32) * (1 - blend) + filled * blend
    return np.asarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def _borrowed_texture(painting: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fine texture (brush strokes, grain) for a hole, copied from beside it.

    A smooth fill reads as a glowing patch once re-painted; adding the painting's own high frequencies,
    taken one hole-width to the side (or above/below) where the painting is intact, keeps the surface.
    Only texture is borrowed, not structure: a source pixel whose local detail is stronger than
    ``BORROWED_TEXTURE_SPREAD`` times the typical detail round the hole (a window's mullions, a table's
    edge one hole-width away) is not copied, so it cannot reappear as a ghost inside the hole.
    """
    residual = painting - cv2.GaussianBlur(painting, (0, 0), sigmaX=TEXTURE_SIGMA)
    energy = residual**2 if residual.ndim == 2 else (residual**2).mean(axis=2)
    detail = np.sqrt(cv2.GaussianBlur(energy, (0, 0), sigmaX=TEXTURE_SIGMA))
    texture = np.zeros_like(painting)
    height, width = hole.shape
    ring_width = max(3, round(0.01 * math.hypot(height, width)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        wx0, wy0 = max(0, x - ring_width), max(0, y - ring_width)
        wx1, wy1 = min(width, x + w + ring_width), min(height, y + h + ring_width)
        component = labels[wy0:wy1, wx0:wx1] == label
        ring = _dilated(component, ring_width, (0, 0, wx1 - wx0, wy1 - wy0)) & ~hole[wy0:wy1, wx0:wx1]
        around = detail[wy0:wy1, wx0:wx1][ring]
        limit = BORROWED_TEXTURE_SPREAD * float(np.median(around)) if around.size else 0.0
        todo = labels[y : y + h, x : x + w] == label
        for dy, dx in _texture_shifts(w, h):
            ys, xs = np.nonzero(todo)
            if ys.size == 0:
                break
            src_y, src_x = ys + y + dy, xs + x + dx
            usable = (src_y >= 0) & (src_y < height) & (src_x >= 0) & (src_x < width)
            sy, sx = src_y[usable], src_x[usable]
            usable[usable] = ~hole[sy, sx] & (detail[sy, sx] <= limit)
            texture[ys[usable] + y, xs[usable] + x] = residual[src_y[usable], src_x[usable]]
            todo[ys[usable], xs[usable]] = False
    return texture


def _texture_shifts(width: int, height: int) -> list[tuple[int, int]]:
    """Where ``_borrowed_texture`` looks, as (dy, dx): one hole-width to either side or one hole-height
    above or below, then half and a quarter of that. A hole as wide as the painting (both of Renoir's
    *Two Sisters*) has no intact pixels a whole width away, and its middle was left a smooth patch."""
    return [
        (dy, dx)
        for share in (1.0, 0.5, 0.25)
        for dy, dx in (
            (0, round(share * width)),
            (0, -round(share * width)),
            (round(share * height), 0),
            (-round(share * height), 0),
        )
        if (dy, dx) != (0, 0)
    ]


EXCLUDED_LIST = "excluded.txt"
"""In a backgrounds folder: file names (one a line, ``#`` comments) the operator has marked unusable."""
STRIP_MAX_HEIGHT = 0.15
"""A data strip or text band spans at most this share of the frame's height, along its top or bottom."""
STRIP_MIN_GLYPHS = 12
"""Small high-contrast marks a flat band must hold to count as text (a camera-trap strip has ~30)."""


def background_candidates(folder: Path | None) -> list[Path]:
    """The images of a backgrounds folder minus those listed in its ``EXCLUDED_LIST``."""
    if folder is None:
        return []
    listed = folder / EXCLUDED_LIST
    excluded: set[str] = set()
    if listed.is_file():
        lines = listed.read_text(encoding="utf-8", errors="replace").splitlines()
        excluded = {line.split("#", 1)[0].strip() for line in lines} - {""}
    return [path for path in list_images(folder) if path.name not in excluded]


def has_data_strip(image: Image.Image) -> bool:
    """Whether a frame has a data strip or text band along its top or bottom (camera-trap date and
    temperature, a caption bar): a run of flat, neutral rows from the edge, ≤15% of the height, holding
    at least ``STRIP_MIN_GLYPHS`` small high-contrast marks. A uniform sky has no marks; a dark object in
    a white ceiling is one mark, not text."""
    width = 800
    height = max(1, round(width * image.height / image.width))
    small = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BOX))
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    chroma = small.max(axis=2).astype(np.int16) - small.min(axis=2).astype(np.int16)
    deviation = np.abs(grey - np.median(grey, axis=1, keepdims=True))
    plain = ((deviation < 8).mean(axis=1) >= 0.6) & (np.median(chroma, axis=1) < 20)
    for rows in (np.arange(height), np.arange(height)[::-1]):
        run = height if plain[rows].all() else int(np.argmin(plain[rows]))
        if not 0.01 * height <= run <= STRIP_MAX_HEIGHT * height:
            continue
        marks = (deviation[rows[:run]] > 80).astype(np.uint8)
        _, _, stats, _ = cv2.connectedComponentsWithStats(marks, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        if int(((areas >= 3) & (areas < 0.02 * marks.size)).sum()) >= STRIP_MIN_GLYPHS:
            return True
    return False


def pick_background(
    files: Sequence[Path], rng: np.random.Generator, weights: Mapping[str, float] | None = None
) -> tuple[Path, Image.Image] | None:
    """A weighted random background among ``files``, skipping (and logging) frames with a data strip;
    None when none is usable. Only drawn frames are opened, so a big folder costs one load per pick."""
    remaining = list(files)
    while remaining:
        p = np.array([(weights or {}).get(f.name, 1.0) for f in remaining], dtype=np.float64)
        path = remaining.pop(int(rng.choice(len(remaining), p=p / p.sum())))
        image = load_image(path).image
        if not has_data_strip(image):
            return path, image
        log.warning("background %s has a data strip or text band; skipped", path.name)
    return None


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
    return np.asarray(cv2.cvtColor(out.reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(-1, 3))


EDGE_FEATHER = 0.005
"""Blur of a pasted cut-out's edge, as a share of √(its area): 1.2 px for a 200×300 px figure. At
0.004 (the first version's), with the fill textured right up to the new outlines, the seams were 0.891
of the painter's own contour energy; at 0.005, 0.878."""
EDGE_DEPTH_PX = 2
"""How deep (px at the placed size) the photo's background bleeds into a cut-out's edge: these pixels
take the colour of the cut-out's sure interior instead (``foreground_colours``)."""


EDGE_SCALES = (1.0, 2.0, 4.0, 8.0)
"""Blur scales (px) the sure colours are spread at; a soft pixel farther than ~3×8 px from any sure
pixel (a stray speck of alpha) keeps its own colour."""


def foreground_colours(rgb: np.ndarray, alpha: np.ndarray, depth: int = EDGE_DEPTH_PX) -> np.ndarray:
    """The cut-out's own colour at its soft edge, so no photo background shows round it.

    The outer pixels of a cut-out (alpha < 1, and the first ``depth`` px inside its outline) mix the
    subject with the photo's background. Each takes the colour of the nearest sure pixels (alpha ≥ 0.98,
    ``depth`` px deep), spread outward by normalised convolution at ``EDGE_SCALES``; sure pixels keep
    their own. An erosion plus decontamination, the cheap form of a matting foreground estimate.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * depth + 1, 2 * depth + 1))
    sure = cv2.erode((alpha >= 0.98).astype(np.uint8), kernel).astype(np.float32)
    if not sure.any():
        return rgb
    source = rgb.astype(np.float32) * sure[..., None]
    result = rgb.astype(np.float32)
    todo = (sure == 0) & (alpha > 0)
    for sigma in EDGE_SCALES:
        if not todo.any():
            break
        weight = cv2.GaussianBlur(sure, (0, 0), sigma)
        spread = cv2.GaussianBlur(source, (0, 0), sigma)
        ready = todo & (weight > 1e-3)
        result[ready] = spread[ready] / weight[ready][:, None]
        todo &= ~ready
    return np.asarray(np.clip(result + 0.5, 0, 255).astype(np.uint8))


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
    rgb = foreground_colours(rgba[..., :3], alpha)
    if colour_match:
        region = painting[choice.instance.mask]
        rgb[hard] = match_colours(rgb[hard], region)
    feather = max(0.8, EDGE_FEATHER * math.sqrt(width * height))
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

"""Metrics on synthetic cases whose answer is known by construction, and CIEDE2000 on published pairs."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from lamuse import metrics
from lamuse.palette import to_lab
from lamuse.segment.annotations import CocoAnnotations
from lamuse.shapes import frame_cut_share, stands_whole, straight_base

from .conftest import PAINTING_ANNOTATIONS

# Sharma, Wu & Dalal (2005), Table 1: (Lab 1, Lab 2, ΔE00). Chosen to cover the chroma, hue-wrap and
# achromatic branches where plausible implementations go wrong.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_ciede2000_matches_sharma_reference_pairs(
    lab1: tuple[float, ...], lab2: tuple[float, ...], expected: float
) -> None:
    """Both orders give the published value to 4 decimals (the formula is symmetric)."""
    assert float(metrics.ciede2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)
    assert float(metrics.ciede2000(np.array(lab2), np.array(lab1))) == pytest.approx(expected, abs=1e-4)


def test_ciede2000_broadcasts_and_is_zero_on_identity() -> None:
    labs = np.array([p[0] for p in SHARMA_PAIRS])
    table = metrics.ciede2000(labs[:, None, :], labs[None, :, :])
    assert table.shape == (len(labs), len(labs))
    assert np.allclose(np.diag(table), 0.0)


def _square(shape: tuple[int, int], x0: int, y0: int, side: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def test_shifted_square_gives_known_iou_and_centroid_shift() -> None:
    """A 40x40 square moved 10 px right: overlap 30x40, union 50x40 → IoU 0.6; shift 10 px."""
    original = _square((100, 100), 20, 20, 40)
    placed = _square((100, 100), 30, 20, 40)
    assert metrics.mask_iou(placed, original) == pytest.approx(0.6)
    shift = metrics.centroid_shift(placed, original)
    assert shift == pytest.approx(10 / math.hypot(100, 100))  # 7.1% of the diagonal: moved
    assert metrics.centroid_kept([shift]) == 0.0


def test_centroid_kept_threshold_is_five_percent_of_the_diagonal() -> None:
    original = _square((200, 200), 50, 50, 60)
    near = _square((200, 200), 55, 50, 60)  # 5 px of a 283 px diagonal: 1.8%
    far = _square((200, 200), 70, 50, 60)  # 20 px: 7.1%
    shifts = [metrics.centroid_shift(m, original) for m in (original, near, far)]
    assert shifts[0] == 0.0
    assert metrics.centroid_kept(shifts) == pytest.approx(2 / 3)
    assert metrics.centroid_shift(np.zeros_like(original), original) == 1.0


def test_aspect_distortion() -> None:
    assert metrics.aspect_distortion((100, 200), (50, 100)) == pytest.approx(0.0)
    assert metrics.aspect_distortion((100, 200), (100, 100)) == pytest.approx(math.log(2))
    assert metrics.aspect_distortion((100, 100), (100, 120)) == pytest.approx(math.log(1.2))


def test_coverage() -> None:
    assert metrics.coverage(4, 3, 2) == (0.75, 0.5)
    assert metrics.coverage(0, 0, 0) == (1.0, 1.0)


def test_cosine() -> None:
    v = np.arange(1.0, 101.0)
    assert metrics.cosine(v, 3 * v) == pytest.approx(1.0)
    assert metrics.cosine(v, -v) == pytest.approx(-1.0)
    assert metrics.cosine(np.array([1.0, 0.0]), np.array([0.0, 2.0])) == pytest.approx(0.0)


def test_palette_distance_identity_permutation_and_known_value() -> None:
    """Same palette in another order → 0; one colour moved by a Sharma pair → that pair's ΔE / 5."""
    palette = np.array([[50.0, 2.6772, -79.7751], [20, 5, 5], [70, -20, 30], [90, 0, 0], [40, 40, 10]])
    assert metrics.palette_distance(palette, palette[::-1]) == pytest.approx(0.0, abs=1e-9)
    moved = palette.copy()
    moved[0] = [50.0, 0.0, -82.7485]
    assert metrics.palette_distance(palette, moved[[3, 1, 0, 4, 2]]) == pytest.approx(2.0425 / 5, abs=1e-4)


def test_palette_distance_picks_the_best_matching() -> None:
    """Greedy nearest-first would pair badly here; the optimum pairs each colour with its twin."""
    a = np.array([[50.0, 0, 0], [60.0, 0, 0]])
    b = np.array([[61.0, 0, 0], [49.0, 0, 0]])
    expected = (metrics.ciede2000(a[0], b[1]) + metrics.ciede2000(a[1], b[0])) / 2
    assert metrics.palette_distance(a, b) == pytest.approx(float(expected))


def _textured(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, size=(*shape, 3), dtype=np.uint8)


def test_identical_images_give_zero_gap_and_unit_ratios() -> None:
    """A flat image: a region does not stand out (gap 0); the same picture and masks → ratio 1."""
    flat = np.full((80, 80, 3), 128, dtype=np.uint8)
    mask = _square((80, 80), 20, 20, 30)
    lab, gradient = metrics.lab_image(flat), metrics.gradient_magnitude(flat)
    assert metrics.region_gap(lab, gradient, mask, metrics.ring(mask)) == pytest.approx(0.0, abs=1e-3)
    image = _textured((80, 80), 0)
    image[mask] = [200, 40, 40]
    assert metrics.harmony_gap(image, [mask], image, [mask]) == pytest.approx(1.0)
    assert metrics.seam_energy(image, [mask], image, [mask]) == pytest.approx(1.0)


def test_region_gap_measures_a_known_colour_step() -> None:
    """Two flat colours: the gap is the Euclidean Lab distance between them (no texture anywhere)."""
    image = np.full((80, 80, 3), 100, dtype=np.uint8)
    mask = _square((80, 80), 20, 20, 30)
    image[mask] = [180, 60, 60]
    expected = float(np.linalg.norm(np.diff(to_lab(np.array([[100, 100, 100], [180, 60, 60]])), axis=0)))
    lab, gradient = metrics.lab_image(image), metrics.gradient_magnitude(image)
    assert metrics.region_gap(lab, gradient, mask, metrics.ring(mask)) == pytest.approx(expected, rel=1e-3)


def test_harmony_ratio_rises_when_a_pasted_region_stands_out() -> None:
    """The painting's element blends in (same texture), the pasted one is a flat red patch → ratio ≫ 1."""
    mask = _square((96, 96), 30, 30, 36)
    painting = _textured((96, 96), 1)
    painting[mask] = np.clip(painting[mask].astype(int) + 10, 0, 255).astype(np.uint8)
    output = _textured((96, 96), 2)
    output[mask] = [230, 20, 20]
    assert metrics.harmony_gap(output, [mask], painting, [mask]) > 5


def test_seam_energy_sees_a_hard_edge() -> None:
    """A high-contrast pasted patch vs a painting whose element barely differs from its scene."""
    mask = _square((96, 96), 30, 30, 36)
    soft = np.full((96, 96, 3), 120, dtype=np.uint8)
    soft[mask] = [125, 120, 120]
    hard = np.full((96, 96, 3), 120, dtype=np.uint8)
    hard[mask] = [250, 250, 250]
    assert metrics.seam_energy(hard, [mask], soft, [mask]) > 10
    assert math.isnan(metrics.edge_energy(soft, []))  # no outline at all: undefined, not zero


def test_boundary_ignores_the_frame() -> None:
    """A mask touching the frame has an outline only where it meets the rest of the picture."""
    mask = np.zeros((50, 50), dtype=bool)
    mask[:, :20] = True
    band = metrics.boundary(mask)
    assert band.any()
    cols = np.flatnonzero(band.any(axis=0))
    assert cols.min() >= 20 - metrics.SEAM_HALF_WIDTH and cols.max() <= 20 + metrics.SEAM_HALF_WIDTH


def test_harmony_reference_gap_is_floored() -> None:
    """A painted element that barely differs from its scene does not turn a small gap into a huge ratio."""
    mask = _square((96, 96), 30, 30, 36)
    painting = np.full((96, 96, 3), 120, dtype=np.uint8)
    painting[mask] = [121, 120, 120]  # gap ≈ 0.4 Lab units
    output = np.full((96, 96, 3), 120, dtype=np.uint8)
    output[mask] = [135, 120, 120]
    lab, gradient = metrics.lab_image(output), metrics.gradient_magnitude(output)
    gap = metrics.region_gap(lab, gradient, mask, metrics.ring(mask))
    expected = gap / metrics.MIN_REFERENCE_GAP
    assert metrics.harmony_gap(output, [mask], painting, [mask]) == pytest.approx(expected, rel=1e-6)


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grey field; a red figure (the annotated element), its black hat above (missed by the mask), a
    big blue neighbour touching its side that continues far beyond its surroundings."""
    painting = np.full((200, 300, 3), 128, np.uint8)
    figure = np.zeros((200, 300), bool)
    figure[60:180, 120:160] = True
    hat = np.zeros_like(figure)
    hat[48:60, 125:155] = True
    neighbour = np.zeros_like(figure)
    neighbour[40:190, 160:290] = True
    painting[figure], painting[hat], painting[neighbour] = (200, 40, 40), (20, 20, 20), (40, 40, 200)
    return painting, figure, hat, neighbour


def test_remnant_area_counts_the_surviving_hat_only() -> None:
    painting, figure, hat, neighbour = _scene()
    salient = figure | hat | neighbour
    pasted = np.zeros_like(figure)
    pasted[70:180, 125:155] = True  # the new cut-out, a little smaller than the old figure
    collage = painting.copy()
    collage[figure] = 128  # the figure cleared (its mask only): the hat survives
    collage[pasted] = (30, 200, 30)
    value = metrics.remnant_area(collage, painting, figure, pasted, salient, figure)
    zone = metrics.surroundings(figure) & ~pasted
    assert value == pytest.approx((hat & zone).sum() / zone.sum())
    cleared = collage.copy()
    cleared[hat] = 128
    assert metrics.remnant_area(cleared, painting, figure, pasted, salient, figure) == 0.0
    untouched = painting.copy()
    untouched[pasted] = (30, 200, 30)  # nothing cleared: the rim of the old figure counts too
    assert metrics.remnant_area(untouched, painting, figure, pasted, salient, figure) > value
    assert math.isnan(metrics.remnant_area(collage, painting, figure, np.ones_like(figure), salient, figure))


def test_touching_the_frame_and_the_misuse_rate() -> None:
    inside = np.zeros((50, 50), bool)
    inside[10:40, 10:40] = True
    bust = np.zeros_like(inside)
    bust[20:50, 10:40] = True  # cut right across by the bottom edge
    feet_off = inside.copy()
    feet_off[40:50, 18:22] = feet_off[40:50, 28:32] = True  # two legs run off the bottom edge
    assert frame_cut_share(inside) == 0.0 and frame_cut_share(bust) == 1.0
    assert frame_cut_share(feet_off) == pytest.approx(8 / 30)
    # one rule for selection and the metric
    assert stands_whole(inside) and stands_whole(feet_off) and not stands_whole(bust)
    assert metrics.truncated_misuse_rate([True, False, False, False]) == 0.25
    assert math.isnan(metrics.truncated_misuse_rate([]))


@pytest.mark.parametrize(
    ("painting", "index", "whole"),
    [("vermeer_milkmaid.jpg", 0, False), ("caillebotte_paris_street_rainy_day.jpg", 1, True)],
)
def test_the_frame_rule_does_not_change_with_the_working_size(
    shared_data: Path, painting: str, index: int, whole: bool
) -> None:
    # The Milkmaid's skirt runs off the bottom edge; Caillebotte's man loses only his feet. Her curated
    # mask stops 2 px short of the frame at 1200 px, which a margin fixed in pixels read as "whole".
    coco = CocoAnnotations(PAINTING_ANNOTATIONS)
    entry = coco.by_name[painting]
    verdicts = set()
    for long_side in (512, 768, 1200):
        scale = long_side / max(entry.width, entry.height)
        size = (round(entry.width * scale), round(entry.height * scale))
        figure = coco.instances(entry, size)[index]  # Caillebotte's: the man under the umbrella
        verdicts.add(stands_whole(figure.mask))
    assert verdicts == {whole}


def test_a_straight_base_tells_a_figure_cut_along_an_edge() -> None:
    """A torso ending on a level line (a reflection cut by its mirror's frame) has a straight base across
    its width; a figure on two legs, or tilted 20°, has none."""
    torso = np.zeros((120, 80), bool)
    torso[10:100, 10:70] = True
    standing = np.zeros((120, 80), bool)
    standing[10:70, 20:60] = True
    standing[70:110, 22:34] = standing[70:110, 46:58] = True
    tilted = cv2.warpAffine(
        torso.astype(np.uint8), cv2.getRotationMatrix2D((40, 55), 20, 1.0), (80, 120)
    ).astype(bool)
    assert straight_base(torso) > 0.9
    assert straight_base(standing) < 0.4 and straight_base(tilted) < 0.4

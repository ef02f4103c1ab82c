"""Substitution geometry: silhouettes are fitted by placed IoU, with flips, rotation and bounded aspect."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lamuse import substitute
from lamuse.library import Cutout, silhouette_of
from lamuse.shapes import cut_sides, hu_moments, iou, mask_box, orientation
from lamuse.substitute import Placement, _target_of, assignment_of, best_placement, choose_cutouts
from lamuse.types import Instance


def _cutout(
    mask: np.ndarray, cutout_id: str, class_id: int = 1, source: str | None = None, truncated: bool = False
) -> Cutout:
    box = mask_box(mask)
    assert box is not None
    x0, y0, x1, y1 = box
    crop = mask[y0:y1, x0:x1]
    angle, elongation = orientation(crop)
    return Cutout(
        id=cutout_id,
        class_id=class_id,
        class_name="person" if class_id == 1 else "dog",
        source=source or f"{cutout_id}.jpg",
        subject="test shape",
        credit="test",
        source_url="",
        licence="",
        licence_url="",
        file=Path("/nonexistent.png"),
        orientation=angle,
        elongation=elongation,
        hu=hu_moments(crop),
        whole=not truncated,
        silhouette=silhouette_of(crop),
        cut_sides=cut_sides(silhouette_of(crop)) if truncated else 0,
    )


def _instance(mask: np.ndarray, class_id: int = 1) -> Instance:
    box = mask_box(mask)
    assert box is not None
    return Instance(class_id=class_id, class_name="person", score=1.0, mask=mask, box=box)


def _ellipse(
    size: tuple[int, int], center: tuple[int, int], axes: tuple[int, int], angle: float
) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    cv2.ellipse(mask, center, axes, angle, 0, 360, 1, -1)
    return mask.astype(bool)


def _right_triangle(size: int, mirrored: bool) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    points = np.array([[10, 10], [10, size - 10], [size // 2, size - 10]], np.int32)
    cv2.fillPoly(mask, [points], 1)
    return mask[:, ::-1].astype(bool) if mirrored else mask.astype(bool)


def test_rotation_follows_the_element() -> None:
    """An upright ellipse chosen for a tilted one is rotated to the tilt and fits it closely."""
    target = _instance(_ellipse((300, 300), (150, 150), (25, 90), 20))
    upright = _cutout(_ellipse((200, 100), (50, 100), (22, 80), 0), "upright")
    [choice] = choose_cutouts([target], [upright], rng=np.random.default_rng(0), chaos=0.0)
    # cv2.ellipse's angle turns clockwise on screen, i.e. -20 in cv2.getRotationMatrix2D's convention.
    assert choice.placement.rotation == pytest.approx(-20, abs=3)
    assert choice.predicted_iou > 0.85


def test_flip_is_chosen_for_a_mirrored_shape() -> None:
    """A right triangle is flipped to fit its mirror image."""
    target = _instance(_right_triangle(200, mirrored=True))
    candidate = _cutout(_right_triangle(120, mirrored=False), "triangle")
    [choice] = choose_cutouts([target], [candidate], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.placement.flip
    assert choice.predicted_iou > 0.8


def test_aspect_change_is_bounded() -> None:
    """A round cut-out for a tall element is stretched by at most 20%, never to the box."""
    target = _instance(_ellipse((400, 200), (100, 200), (30, 150), 0))
    round_shape = _cutout(_ellipse((200, 200), (100, 100), (80, 80), 0), "round")
    [choice] = choose_cutouts([target], [round_shape], rng=np.random.default_rng(0), chaos=0.0)
    assert 0.8 <= choice.placement.aspect_change <= 1.2
    assert choice.placement.height / choice.placement.width <= 1.2 * 1.05


def test_best_silhouette_wins_at_zero_chaos_and_same_class_first() -> None:
    """With chaos 0 the closest same-class silhouette is taken, even when another class fits better."""
    target_mask = _ellipse((300, 300), (150, 150), (30, 100), 0)
    target = _instance(target_mask)
    good = _cutout(_ellipse((200, 100), (50, 100), (20, 70), 0), "good")
    poor = _cutout(_ellipse((200, 200), (100, 100), (90, 90), 0), "poor")
    other_class = _cutout(target_mask, "exact-dog", class_id=18)
    [choice] = choose_cutouts([target], [poor, good, other_class], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.cutout.id == "good" and choice.same_class


def test_missing_class_falls_back_by_shape_and_says_so() -> None:
    """With no cut-out of the element's class, the best shape of any class is used, flagged."""
    target = _instance(_ellipse((300, 300), (150, 150), (30, 100), 0), class_id=18)
    tall = _cutout(_ellipse((200, 100), (50, 100), (20, 70), 0), "tall")
    wide = _cutout(_ellipse((100, 200), (100, 50), (70, 20), 0), "wide")
    [choice] = choose_cutouts([target], [wide, tall], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.cutout.id == "tall" and not choice.same_class


def test_chaos_spreads_the_choices_and_seed_repeats_them() -> None:
    """At chaos 1 many candidates get picked over seeds; the same seed repeats the same pick."""
    target = _instance(_ellipse((300, 300), (150, 150), (30, 100), 0))
    pool = [_cutout(_ellipse((200, 200), (100, 100), (20 + 8 * i, 80), 0), f"c{i}") for i in range(8)]
    calm = {
        choose_cutouts([target], pool, rng=np.random.default_rng(s), chaos=0.0)[0].cutout.id
        for s in range(20)
    }
    wild = {
        choose_cutouts([target], pool, rng=np.random.default_rng(s), chaos=1.0)[0].cutout.id
        for s in range(20)
    }
    assert len(calm) == 1 and len(wild) >= 4
    again = [
        choose_cutouts([target], pool, rng=np.random.default_rng(5), chaos=0.6)[0].cutout.id for _ in range(3)
    ]
    assert len(set(again)) == 1


def test_vote_weights_shift_the_choice() -> None:
    """A large vote weight on one candidate makes it picked far more often than without votes."""
    target = _instance(_ellipse((300, 300), (150, 150), (30, 100), 0))
    pool = [_cutout(_ellipse((200, 200), (100, 100), (20 + 8 * i, 80), 0), f"c{i}") for i in range(6)]

    def count_c3(weights: dict[str, float] | None) -> int:
        picks = [
            choose_cutouts([target], pool, rng=np.random.default_rng(s), chaos=0.5, cutout_weights=weights)
            for s in range(60)
        ]
        return sum(p[0].cutout.id == "c3" for p in picks)

    baseline, voted = count_c3(None), count_c3({"c3": 20.0})
    assert voted >= 30 and voted >= 2 * baseline


def test_a_photo_is_not_used_twice_while_others_remain() -> None:
    """Two identical elements get cut-outs from two different photos."""
    mask = _ellipse((300, 300), (150, 150), (30, 100), 0)
    pool = [_cutout(_ellipse((200, 100), (50, 100), (20, 70), 0), f"c{i}") for i in range(2)]
    choices = choose_cutouts(
        [_instance(mask), _instance(mask)], pool, rng=np.random.default_rng(0), chaos=0.0
    )
    assert {c.cutout.source for c in choices} == {"c0.jpg", "c1.jpg"}


def test_iou_helper() -> None:
    """IoU of a mask with itself is 1, with a half-shifted copy 1/3."""
    a = np.zeros((10, 10), bool)
    a[:, :6] = True
    b = np.roll(a, 3, axis=1)
    assert iou(a, a) == 1.0 and iou(a, b) == pytest.approx(3 / 9)


def test_a_cropped_photo_subject_is_avoided_for_a_whole_element() -> None:
    """A portrait cut by its photo's frame loses to a whole figure for an element inside the painting,
    but not for an element the painting's own frame cuts."""
    inside = _instance(_ellipse((300, 300), (150, 150), (30, 100), 0))
    exact = _cutout(_ellipse((200, 100), (50, 100), (30, 100), 0), "cropped-portrait", truncated=True)
    flat_topped = _ellipse((200, 100), (50, 100), (30, 100), 0)
    flat_topped[:40] = False  # no resizing makes it the element's shape
    close = _cutout(flat_topped, "whole-figure")
    [choice] = choose_cutouts([inside], [exact, close], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.cutout.id == "whole-figure"
    at_edge = _instance(_ellipse((300, 300), (150, 250), (30, 100), 0))
    [choice] = choose_cutouts([at_edge], [exact, close], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.cutout.id == "cropped-portrait"
    # Only the shins run off the painting's edge (Caillebotte's couple): the figure still stands whole.
    feet_off = _ellipse((300, 300), (150, 150), (30, 100), 0)
    feet_off[240:, 135:142] = feet_off[240:, 158:165] = True
    [choice] = choose_cutouts([_instance(feet_off)], [exact, close], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.cutout.id == "whole-figure" and choice.whole_policy == "whole"


def test_a_standing_shape_lies_down_for_a_reclining_element() -> None:
    """An upright silhouette is turned a quarter for a horizontal element when nothing fits upright."""
    target = _instance(_ellipse((300, 400), (200, 150), (110, 30), 0))
    upright = _cutout(_ellipse((200, 100), (50, 100), (25, 85), 0), "upright")
    [choice] = choose_cutouts([target], [upright], rng=np.random.default_rng(0), chaos=0.0)
    assert abs(choice.placement.rotation) == pytest.approx(90, abs=3)
    assert choice.predicted_iou > 0.8


def test_a_whole_element_takes_a_whole_cut_out_of_another_class_before_a_frame_cut_one() -> None:
    """With only frame-cut cut-outs of its class, a whole element gets a whole cut-out of another class
    chosen by shape, and the choice says so; with nothing whole anywhere, the frame-cut one is used."""
    inside = _instance(_ellipse((300, 300), (150, 150), (30, 100), 0))
    cropped = _cutout(_ellipse((200, 100), (50, 100), (30, 100), 0), "cropped-person", truncated=True)
    whole_dog = _cutout(_ellipse((200, 100), (50, 100), (22, 85), 0), "whole-dog", class_id=18)
    [choice] = choose_cutouts([inside], [cropped, whole_dog], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.cutout.id == "whole-dog" and not choice.same_class
    assert choice.whole_policy == "other_class_whole"
    cropped_dog = _cutout(_ellipse((200, 100), (50, 100), (22, 85), 0), "cropped-dog", 18, truncated=True)
    [choice] = choose_cutouts([inside], [cropped, cropped_dog], rng=np.random.default_rng(0), chaos=0.0)
    assert choice.cutout.id == "cropped-person" and choice.whole_policy == "frame_cut_only"


def test_variations_at_zero_chaos_are_distinct_assignments() -> None:
    """Variation k at chaos 0 takes the k-th best assignment: three variations, three different pairs,
    the first the best one."""
    left = _instance(_ellipse((300, 400), (100, 150), (30, 100), 0))
    right = _instance(_ellipse((300, 400), (300, 150), (30, 100), 0))
    pool = [_cutout(_ellipse((200, 200), (100, 100), (20 + 6 * i, 80), 0), f"c{i}") for i in range(6)]
    assignments = [
        tuple(
            c.cutout.id
            for c in choose_cutouts([left, right], pool, rng=np.random.default_rng(0), chaos=0.0, variation=k)
        )
        for k in range(3)
    ]
    assert len(set(assignments)) == 3
    best = choose_cutouts([left, right], pool, rng=np.random.default_rng(9), chaos=0.0)
    assert assignments[0] == tuple(c.cutout.id for c in best)


def test_avoided_cut_outs_give_way_to_ones_that_fit_nearly_as_well() -> None:
    """An avoided cut-out (e.g. one a guild saw recently) loses to one almost as good, not to a poor one."""
    target = _instance(_ellipse((300, 300), (150, 150), (30, 100), 0))
    best = _cutout(_ellipse((200, 100), (50, 100), (30, 100), 0), "best")
    close = _cutout(_ellipse((200, 100), (50, 100), (28, 96), 0), "close")
    poor = _cutout(_ellipse((200, 200), (100, 100), (80, 80), 0), "poor")
    rng = np.random.default_rng(0)
    [plain] = choose_cutouts([target], [best, close], rng=rng, chaos=0.0)
    [avoiding] = choose_cutouts([target], [best, close], rng=rng, chaos=0.0, avoid={"best"})
    [no_alternative] = choose_cutouts([target], [best, poor], rng=rng, chaos=0.0, avoid={"best"})
    assert (plain.cutout.id, avoiding.cutout.id, no_alternative.cutout.id) == ("best", "close", "best")


def _pair_and_pool() -> tuple[list[Instance], list[Cutout]]:
    left = _instance(_ellipse((300, 400), (100, 150), (30, 100), 0))
    right = _instance(_ellipse((300, 400), (300, 150), (30, 100), 0))
    pool = [_cutout(_ellipse((200, 200), (100, 100), (20 + 6 * i, 80), 0), f"c{i}") for i in range(6)]
    return [left, right], pool


@pytest.mark.parametrize("chaos", [0.0, 0.2, 0.6])
def test_a_draw_that_repeats_a_taken_assignment_moves_one_element_off_it(chaos: float) -> None:
    """When the pick equals an earlier variation's, one element changes (the nearest other assignment),
    with the same draws from the rng; an assignment nobody took stays as drawn."""
    elements, pool = _pair_and_pool()
    plain_rng, moved_rng, other_rng = (np.random.default_rng(3) for _ in range(3))
    plain = assignment_of(choose_cutouts(elements, pool, rng=plain_rng, chaos=chaos))
    moved = assignment_of(choose_cutouts(elements, pool, rng=moved_rng, chaos=chaos, taken=[plain]))
    assert moved != plain and sum(a != b for a, b in zip(plain, moved, strict=True)) == 1
    assert plain_rng.random() == moved_rng.random()
    untouched = choose_cutouts(elements, pool, rng=other_rng, chaos=chaos, taken=[("c5", "c4"), moved])
    assert assignment_of(untouched) == plain


def test_moving_off_a_taken_assignment_does_not_use_a_photo_twice() -> None:
    """The alternative keeps the rule that no photo appears twice while others are left."""
    mask = _ellipse((300, 300), (150, 150), (30, 100), 0)
    shape = _ellipse((200, 100), (50, 100), (20, 70), 0)
    pool = [_cutout(shape, "p1", source="p.jpg"), _cutout(shape, "q1", source="q.jpg")]
    pool.append(_cutout(shape, "p2", source="p.jpg"))
    elements = [_instance(mask), _instance(mask)]
    plain = choose_cutouts(elements, pool, rng=np.random.default_rng(0), chaos=0.0)
    taken = [assignment_of(plain)]
    moved = choose_cutouts(elements, pool, rng=np.random.default_rng(0), chaos=0.0, taken=taken)
    assert assignment_of(moved) != assignment_of(plain)
    assert len({c.cutout.source for c in moved}) == 2


def test_with_a_single_fitting_cut_out_the_repeat_stays_and_says_so() -> None:
    """A pool of one leaves no other assignment: the pick repeats, and its window of one tells why."""
    target = _instance(_ellipse((300, 300), (150, 150), (30, 100), 0))
    only = _cutout(_ellipse((200, 100), (50, 100), (30, 100), 0), "only")
    [choice] = choose_cutouts([target], [only], rng=np.random.default_rng(1), chaos=0.2, taken=[("only",)])
    assert choice.cutout.id == "only" and choice.window == 1


def test_a_frame_cut_cut_out_keeps_its_cut_where_the_painting_frame_is() -> None:
    """A bust (its photo cut it across the bottom) may stand in for a figure the painting's bottom edge
    cuts, its cut laid on that edge, not for one its left edge cuts, where its hard bottom would float in
    the picture (Raphael's Sixtus got the red-hat portrait so): a whole figure goes there. A figure cut
    on its right side is flipped to lay its cut on the left edge."""
    bust = _ellipse((200, 100), (50, 100), (30, 100), 0)
    bust[100:] = False  # cut straight across, half way down
    portrait = _cutout(bust, "bust", truncated=True)
    figure = _cutout(_ellipse((200, 100), (50, 100), (22, 90), 0), "whole-figure")
    bottom_cut = _ellipse((300, 300), (150, 290), (45, 100), 0)
    [choice] = choose_cutouts([_instance(bottom_cut)], [portrait, figure], rng=np.random.default_rng(0))
    assert choice.cutout.id == "bust"
    # Most of this element is inside the frame: laid by its centroid the bust's cut would end 17 px above
    # the bottom edge; it is moved onto it.
    mostly_inside = _ellipse((300, 300), (150, 210), (40, 100), 0)
    [choice] = choose_cutouts([_instance(mostly_inside)], [portrait], rng=np.random.default_rng(0))
    ys, _ = np.nonzero(portrait.silhouette)
    below_centroid = 1 - (ys.mean() + 0.5) / portrait.silhouette.shape[0]
    assert choice.placement.center[1] + below_centroid * choice.placement.height >= 299
    left_cut = _ellipse((300, 300), (0, 150), (100, 45), 0)
    [choice] = choose_cutouts([_instance(left_cut)], [portrait, figure], rng=np.random.default_rng(0))
    assert choice.cutout.id == "whole-figure"
    side = _ellipse((100, 200), (100, 50), (100, 30), 0)
    side[:, 100:] = False  # cut straight down its right side
    [choice] = choose_cutouts(
        [_instance(left_cut)], [_cutout(side, "cut-right", truncated=True)], rng=np.random.default_rng(0)
    )
    assert choice.placement.flip


def test_a_figure_holding_a_bag_is_slid_onto_the_figure_it_replaces() -> None:
    """Matched by centroids, a figure holding a large bag out to its side stands off the element's body
    (the bag pulls its centroid sideways); the placement slides it back until the bodies overlap."""
    element = _ellipse((400, 400), (200, 200), (40, 150), 0)
    holder = _ellipse((300, 220), (60, 150), (40, 150), 0)
    cv2.rectangle(holder.view(np.uint8), (100, 160), (200, 240), 1, -1)
    target = _target_of(_instance(element))
    cutout = _cutout(holder, "with-bag")
    matched, matched_iou, _ = best_placement(cutout, target, refine=False)
    slid, slid_iou, _ = best_placement(cutout, target)
    assert slid_iou >= matched_iou + 0.05
    # The bag lies right of the body (left once flipped), so the body overlaps by moving the other way.
    assert slid.flip == matched.flip
    towards_bag = -1.0 if slid.flip else 1.0
    assert (slid.center[0] - matched.center[0]) * towards_bag >= 10


def test_a_second_selection_reuses_the_placements_the_first_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variations of one painting share their placements: a second selection over the same elements,
    given the first one's ``placements``, scores nothing again and picks the same."""
    elements = [_instance(_ellipse((300, 300), (150, 150), (30, 100), 0))]
    pool = [_cutout(_ellipse((200, 100), (50, 100), (20 + k, 90), 0), f"figure-{k}") for k in range(4)]
    placements: dict[tuple[int, str, bool], tuple[Placement, float, float]] = {}
    first = choose_cutouts(elements, pool, rng=np.random.default_rng(0), chaos=0.0, placements=placements)
    assert (0, first[0].cutout.id, True) in placements

    def scored_again(*_: object) -> None:
        raise AssertionError("a placement was computed twice")

    monkeypatch.setattr(substitute, "_ranked_trials", scored_again)
    second = choose_cutouts(elements, pool, rng=np.random.default_rng(0), chaos=0.0, placements=placements)
    assert assignment_of(second) == assignment_of(first)
    assert second[0].placement == first[0].placement

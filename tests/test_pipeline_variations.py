"""Variations of one painting on a real library: variation k never repeats the cut-outs of variations
0..k-1 while the library has another, each variation made alone is the same picture as made after the
others, and variation 0 picks what it always picked (issue #13, "Same picture twice")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lamuse.io import fit_long_side
from lamuse.library import CutoutLibrary
from lamuse.pipeline import Pipeline, usable_instances
from lamuse.segment import ChainSegmenter
from lamuse.segment.annotations import AnnotationSegmenter
from lamuse.substitute import assignment_of, choose_cutouts
from lamuse.types import Language, Reinterpretation, ReinterpretOptions, RepeatRecord

from .conftest import BEAR_PHOTOS, PAINTING_ANNOTATIONS, PAINTINGS, bear_library_of

SHISHKIN = PAINTINGS / "shishkin_morning_in_a_pine_forest.jpg"
OPTIONS = ReinterpretOptions(seed=7, size=512, chaos=0.2)
"""At this seed both variations' own draws take the same bear (checked below)."""


def _pipeline(library: Path) -> Pipeline:
    segmenter = ChainSegmenter([AnnotationSegmenter([PAINTING_ANNOTATIONS])])
    return Pipeline(segmenter=segmenter, library=CutoutLibrary(library))


def _cutouts(result: Reinterpretation) -> tuple[str, ...]:
    return tuple(swap["cutout_id"] for swap in result.trace["swaps"])


def _without_timings(result: Reinterpretation) -> dict[str, Any]:
    return {key: value for key, value in result.trace.items() if key != "timings"}


@pytest.fixture(scope="module")
def bears(bear_library: Path) -> Pipeline:
    """Curated masks (Shishkin has one bear big enough to swap) and a library of two bear cut-outs."""
    return _pipeline(bear_library)


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    return Image.open(SHISHKIN).convert("RGB")


@pytest.fixture(scope="module")
def made_in_turn(bears: Pipeline, painting: Image.Image) -> list[Reinterpretation]:
    """Variations 0 and 1 made as a grid makes them: 1 is told what 0 took."""
    first = bears.reinterpret(painting, name=SHISHKIN.name, options=OPTIONS, variation=0)
    second = bears.reinterpret(
        painting, name=SHISHKIN.name, options=OPTIONS, variation=1, earlier=[_cutouts(first)]
    )
    return [first, second]


def _own_draw(pipeline: Pipeline, painting: Image.Image, variation: int) -> tuple[str, ...]:
    """What the variation's rng picks with nothing taken (the behaviour before #13)."""
    working = fit_long_side(painting, OPTIONS.size)
    instances = usable_instances(pipeline.segment(working, name=SHISHKIN.name).instances, working.size)
    rng = np.random.default_rng([OPTIONS.seed, variation])
    return assignment_of(choose_cutouts(instances, pipeline.library, rng=rng, chaos=OPTIONS.chaos, taken=()))


def test_variation_1_takes_the_other_bear_where_its_own_draw_repeats_variation_0(
    bears: Pipeline, painting: Image.Image, made_in_turn: list[Reinterpretation]
) -> None:
    """Both variations' draws take the better bear; variation 1 moves to the other one and says nothing
    about a repeat."""
    assert _own_draw(bears, painting, 0) == _own_draw(bears, painting, 1), "the case of the issue"
    first, second = made_in_turn
    assert len(_cutouts(first)) == 1 and _cutouts(first) != _cutouts(second)
    assert set(_cutouts(first) + _cutouts(second)) == {cutout.id for cutout in bears.library.cutouts}
    assert "repeats" not in second.trace and "repeat" not in second.explanation
    assert not np.array_equal(np.asarray(first.image), np.asarray(second.image))


def test_variation_1_made_alone_is_the_one_made_after_variation_0(
    bears: Pipeline, painting: Image.Image, made_in_turn: list[Reinterpretation]
) -> None:
    """Recomputing variation 1 alone (a U button) gives the same trace and pixels as in the grid."""
    alone = bears.reinterpret(painting, name=SHISHKIN.name, options=OPTIONS, variation=1)
    assert _without_timings(alone) == _without_timings(made_in_turn[1])
    assert np.array_equal(np.asarray(alone.image), np.asarray(made_in_turn[1].image))
    assert bears.assignments(painting, name=SHISHKIN.name, count=2, options=OPTIONS) == [
        _cutouts(result) for result in made_in_turn
    ]


def test_variation_0_picks_what_it_picked_before(
    bears: Pipeline, painting: Image.Image, made_in_turn: list[Reinterpretation]
) -> None:
    """Variation 0 is its own draw, as before #13 (its recipes and outputs do not change)."""
    assert _cutouts(made_in_turn[0]) == _own_draw(bears, painting, 0)


def test_every_candidate_of_variation_1_avoids_variation_0(
    bears: Pipeline, painting: Image.Image, made_in_turn: list[Reinterpretation]
) -> None:
    """``best_of``'s candidates of variation 1 (their own rng each) all leave variation 0's bear."""
    for candidate in range(1, 4):
        result = bears.reinterpret(
            painting, name=SHISHKIN.name, options=OPTIONS, variation=1, candidate=candidate
        )
        assert _cutouts(result) == _cutouts(made_in_turn[1])


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en", "The library has only one cut-out that fits here, so this variation repeats an earlier one."),
        ("fr", "La bibliothèque n'a qu'une découpe qui convienne ici : cette variation en répète une"),
    ],
)
def test_with_one_bear_variation_1_repeats_and_says_so_once(
    tmp_path: Path, painting: Image.Image, language: Language, sentence: str
) -> None:
    """A library of one fitting cut-out leaves no other assignment: the pictures are the same, the trace
    records which one it repeats, and the explanation says why, once."""
    one = _pipeline(bear_library_of(tmp_path / "library", tmp_path / "photos", BEAR_PHOTOS[:1]))
    options = ReinterpretOptions(seed=7, size=512, language=language)
    first, second = (
        one.reinterpret(painting, name=SHISHKIN.name, options=options, variation=k) for k in range(2)
    )
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert "repeats" not in first.trace and sentence not in first.explanation
    repeat: RepeatRecord = second.trace["repeats"]
    assert repeat == {"variation": 0, "reason": "one_cutout"}
    assert second.explanation.count(sentence) == 1


def test_earlier_assignments_must_be_those_of_every_earlier_variation(
    bears: Pipeline, painting: Image.Image
) -> None:
    """Variation 2 needs the assignments of variations 0 and 1, not one of them."""
    with pytest.raises(ValueError, match="variation 2 needs 2 earlier assignments"):
        bears.reinterpret(painting, name=SHISHKIN.name, options=OPTIONS, variation=2, earlier=[()])

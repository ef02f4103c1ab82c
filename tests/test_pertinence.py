"""Pertinence scores, the era table, theme steering and best-of-N, on the shared paintings and photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lamuse.baseline import LaMuseBaseline
from lamuse.cli import main
from lamuse.coco import COCO_NAMES
from lamuse.io import fit_long_side, load_image
from lamuse.library import CutoutLibrary
from lamuse.metrics import lab_image
from lamuse.pertinence import (
    Cooccurrence,
    Judge,
    best_of,
    brushwork_coherence,
    class_plan,
    lab_histogram,
    least_covered_square,
    load_eras,
    overlap,
    painting_year,
    parse_year,
    thirds_mass,
)
from lamuse.pipeline import Pipeline, usable_instances
from lamuse.segment.annotations import AnnotationSegmenter
from lamuse.segment.chain import ChainSegmenter
from lamuse.substitute import choose_cutouts
from lamuse.types import ReinterpretOptions, Segmentation

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS, PHOTO_ANNOTATIONS, PHOTOS

TITIAN = PAINTINGS / "titian_venus_of_urbino.jpg"
"""1534, a dog and a person: with the dogs taken out of the library, a class is missing."""
CAILLEBOTTE = PAINTINGS / "caillebotte_paris_street_rainy_day.jpg"


@pytest.fixture(scope="module")
def painting_segmenter() -> AnnotationSegmenter:
    return AnnotationSegmenter([PAINTING_ANNOTATIONS], image_dirs=[PAINTINGS])


@pytest.fixture(scope="module")
def library_without_dogs(tmp_path_factory: pytest.TempPathFactory) -> CutoutLibrary:
    """The shared photos' annotated cut-outs, minus every photo with a dog in it."""
    coco = json.loads(PHOTO_ANNOTATIONS.read_text())
    dog_id = next(c["id"] for c in coco["categories"] if c["name"] == "dog")
    with_dogs = {a["image_id"] for a in coco["annotations"] if a["category_id"] == dog_id}
    names = {i["file_name"] for i in coco["images"] if i["id"] not in with_dogs}
    folder = tmp_path_factory.mktemp("photos-without-dogs")
    for name in names:
        if (PHOTOS / name).is_file():
            (folder / name).symlink_to(PHOTOS / name)
    root = tmp_path_factory.mktemp("library-without-dogs")
    library = CutoutLibrary(root)
    library.add_photos(
        folder, annotations=AnnotationSegmenter([PHOTO_ANNOTATIONS], image_dirs=[folder]), progress=False
    )
    assert library.cutouts and all(c.class_name != "dog" for c in library.cutouts)
    return library


def test_every_coco_class_has_an_era_with_a_source() -> None:
    """80 entries, each a year or "always", each with a source; living beings are "always"."""
    eras = load_eras()
    assert set(eras.years) == set(COCO_NAMES.values())
    assert all(isinstance(y, int) or y == "always" for y in eras.years.values())
    assert all(len(eras.sources[name]) > 20 for name in eras.years)
    assert {eras.year(n) for n in ("person", "dog", "horse", "bird", "apple")} == {"always"}
    assert eras.year("car") == 1888 and eras.year("cell phone") == 1983
    assert eras.existed("boat", 1485) and not eras.existed("bicycle", 1850) and eras.existed("bicycle", 1900)


@pytest.mark.parametrize(
    ("text", "year"),
    [("1884-1886", 1884), ("c. 1665", 1665), ("17th century", 1650), ("Song copy of 10th c. original", 950)],
)
def test_catalogue_years_are_read(text: str, year: int) -> None:
    assert parse_year(text) == year


def test_painting_year_comes_from_the_corpus_sources() -> None:
    assert painting_year(PAINTINGS / "seurat_grande_jatte.jpg") == 1884
    assert painting_year(TITIAN) == 1534
    assert painting_year(PAINTINGS / "not_in_the_table.jpg") is None


def test_context_counts_classes_seen_in_the_same_photo(annotated_library: Path) -> None:
    """P(new | scene class) over the library's photos: 1 for the scene's own class, 0 for strangers."""
    cutouts = CutoutLibrary(annotated_library).cutouts
    context = Cooccurrence.from_cutouts(cutouts)
    by_photo: dict[str, set[str]] = {}
    for c in cutouts:
        by_photo.setdefault(c.source, set()).add(c.class_name)
    together = next(sorted(classes) for classes in by_photo.values() if len(classes) >= 2)
    assert context.fit(together[0], {together[0]}) == 1.0
    assert 0.0 < context.fit(together[1], {together[0]}) <= 1.0
    assert context.fit("person", set()) == 0.0
    assert context.fit("giraffe", {"person"}) == 0.0  # no giraffe in the shared photos


def test_coherent_theme_keeps_to_the_paintings_era(
    library_without_dogs: CutoutLibrary, painting_segmenter: AnnotationSegmenter
) -> None:
    """Titian 1534, no dog in the library: coherent picks only classes that existed in 1534;
    anachronistic replaces every element with a class that did not."""
    working = fit_long_side(load_image(TITIAN).image, 384)
    instances = usable_instances(painting_segmenter.segment(working, name=TITIAN.name), working.size)
    assert {i.class_name for i in instances} == {"dog", "person"}
    eras = load_eras()
    cutouts = library_without_dogs.cutouts
    coherent = choose_cutouts(
        instances,
        cutouts,
        rng=np.random.default_rng(0),
        class_plan=class_plan(instances, cutouts, "coherent", 1534),
    )
    assert all(eras.existed(c.cutout.class_name, 1534) for c in coherent)
    person = next(c for c in coherent if c.instance.class_name == "person")
    assert person.cutout.class_name == "person" and person.same_class
    anachronistic = choose_cutouts(
        instances,
        cutouts,
        rng=np.random.default_rng(0),
        class_plan=class_plan(instances, cutouts, "anachronistic", 1534),
    )
    assert all(not eras.existed(c.cutout.class_name, 1534) for c in anachronistic)
    assert class_plan(instances, cutouts, "free", 1534) is None


@pytest.mark.parametrize(
    ("theme", "words"), [("coherent", "existed in 1534"), ("anachronistic", "dates from")]
)
def test_theme_through_the_cli_is_explained(
    theme: str, words: str, library_without_dogs: CutoutLibrary, tmp_path: Path
) -> None:
    argv = ["reinterpret", str(TITIAN), "--library", str(library_without_dogs.root), "--out", str(tmp_path)]
    argv += [
        "--annotations",
        str(PAINTING_ANNOTATIONS),
        "--size",
        "320",
        "--stylizer",
        "none",
        "--theme",
        theme,
    ]
    assert main(argv) == 0
    trace = json.loads((tmp_path / "titian_venus_of_urbino-0.json").read_text())
    assert trace["options"]["year"] == 1534 and trace["options"]["theme"] == theme
    eras = [s["era"] for s in trace["swaps"]]
    newer = [e for e in eras if e != "always" and e > 1534]
    assert (not newer) if theme == "coherent" else len(newer) == len(eras)
    assert words in trace["explanation"]
    assert set(trace["pertinence"]) == {"composition", "style", "theme", "total", "chosen", "candidates"}


def test_brushwork_tells_a_grainy_patch_from_the_scene() -> None:
    """A square of photo-like grain in a softly brushed picture has no look-alike patch in the scene; a
    square of the scene's own texture has."""
    rng = np.random.default_rng(0)
    strokes = cv2.GaussianBlur(rng.normal(120, 40, (192, 192)).astype(np.float32), (0, 0), 2.5)
    scene = np.repeat(np.clip(strokes, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    mask = np.zeros((192, 192), dtype=bool)
    mask[60:130, 60:130] = True
    grainy = scene.copy()
    grainy[mask] = rng.integers(0, 256, size=(int(mask.sum()), 3), dtype=np.uint8)
    assert brushwork_coherence(lab_image(scene), mask) >= 0.8
    assert brushwork_coherence(lab_image(grainy), mask) <= 0.1
    assert np.isnan(brushwork_coherence(lab_image(scene), np.zeros_like(mask)))


def test_palette_and_scene_square() -> None:
    """The palette overlap is 1 for the same colours and 0 for colours the picture never uses; the scene
    square is the window the new elements cover least."""
    reds = np.tile([[50.0, 60.0, 40.0]], (100, 1))
    blues = np.tile([[40.0, 10.0, -60.0]], (100, 1))
    assert overlap(lab_histogram(reds).ravel(), lab_histogram(reds).ravel()) == pytest.approx(1.0)
    assert overlap(lab_histogram(reds).ravel(), lab_histogram(blues).ravel()) == 0.0
    covered = np.ones((100, 120), dtype=bool)
    covered[10:40, 70:110] = False
    x, y, share = least_covered_square(covered, 30)
    assert 70 <= x <= 80 and y == 10 and share == 0.0
    weight = np.zeros((90, 90))
    weight[:30, :30] = 1.0
    assert thirds_mass(weight)[0, 0] == pytest.approx(1.0)


def test_scores_order_what_we_know_apart(
    annotated_library: Path, painting_segmenter: AnnotationSegmenter
) -> None:
    """On Caillebotte with the shipped style and saliency models: our strategy's composition beats the
    La Muse baseline's; the stylized output's style beats its own collage; coherent beats anachronistic."""
    from lamuse.segment.salient import SalientSegmenter
    from lamuse.style import create_stylizer

    library = CutoutLibrary(annotated_library)
    stylizer = create_stylizer("auto")
    painting = load_image(CAILLEBOTTE).image
    working = fit_long_side(painting, 384)
    instances = painting_segmenter.segment(working, name=CAILLEBOTTE.name)
    segmentation = Segmentation(segmenter="annotations", instances=instances)
    judge = Judge(
        working,
        usable_instances(instances, working.size),
        library.cutouts,
        year=1877,
        style_model=stylizer,
        saliency_model=SalientSegmenter(),
    )
    pipeline = Pipeline(segmenter=ChainSegmenter([painting_segmenter]), library=library, stylizer=stylizer)
    options = ReinterpretOptions(size=384, year=1877)
    ours = pipeline.reinterpret(painting, name=CAILLEBOTTE.name, options=options, segmentation=segmentation)
    lamuse = LaMuseBaseline(library=library, stylizer=stylizer).reinterpret(
        painting, name=CAILLEBOTTE.name, size=384, segmentation=segmentation
    )
    scores = judge.score_result(ours)
    assert scores.composition > judge.score_result(lamuse).composition
    classes = [s["new_class"] for s in ours.trace["swaps"]]
    assert scores.style > judge.score(ours.collage, ours.placed, classes).style
    themed = {
        theme: judge.score_result(
            pipeline.reinterpret(
                painting,
                name=CAILLEBOTTE.name,
                options=ReinterpretOptions(size=384, year=1877, theme=theme, stylize=False),
                segmentation=segmentation,
            )
        )
        for theme in ("coherent", "anachronistic")
    }
    assert themed["coherent"].theme > themed["anachronistic"].theme
    assert all(0.0 <= v <= 1.0 for s in (scores, *themed.values()) for v in (s.composition, s.style, s.theme))


def test_best_of_keeps_the_top_candidate_that_fits_as_well_and_records_all(
    annotated_library: Path, painting_segmenter: AnnotationSegmenter
) -> None:
    """Candidate 0 is the plain variation; the kept one has the highest total among the candidates whose
    silhouettes fit at least as well as candidate 0's; every candidate's scores are traced."""
    library = CutoutLibrary(annotated_library)
    name = "seurat_grande_jatte.jpg"
    painting = Image.open(PAINTINGS / name).convert("RGB")
    working = fit_long_side(painting, 320)
    instances = painting_segmenter.segment(working, name=name)
    segmentation = Segmentation(segmenter="annotations", instances=instances)
    pipeline = Pipeline(segmenter=ChainSegmenter([painting_segmenter]), library=library)
    judge = Judge(working, instances, library.cutouts, year=None, style_model=None, saliency_model=None)
    options = ReinterpretOptions(size=320, chaos=0.8, candidates=4)
    best = best_of(pipeline, painting, judge, name=name, options=options, segmentation=segmentation)
    record = best.trace["pertinence"]
    each = [
        judge.score_result(
            pipeline.reinterpret(painting, name=name, options=options, segmentation=segmentation, candidate=c)
        )
        for c in range(4)
    ]
    assert record["candidates"] == [s.record() for s in each]
    assert record["candidates"][0]["theme"] == pytest.approx(0.75)  # same class, year unknown: era 0.5
    eligible = [i for i, s in enumerate(each) if s.parts["silhouettes"] >= each[0].parts["silhouettes"]]
    assert record["chosen"] == max(eligible, key=lambda i: each[i].total)
    assert len({s.total for s in each}) > 1  # the candidates really differ
    swaps = best.trace["swaps"]
    assert np.mean([s["mask_iou"] for s in swaps]) >= each[0].parts["silhouettes"] - 1e-3

"""The cut-out library: built from real photos, idempotent, with classes, credits and shape features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.cli import main
from lamuse.errors import LibraryError
from lamuse.library import CutoutLibrary, read_classes, read_credits
from lamuse.shapes import BOTTOM
from lamuse.types import Instance

from .conftest import PHOTO_ANNOTATIONS, PHOTOS


def test_annotated_library_has_classes_credits_and_features(annotated_library: Path) -> None:
    """Every COCO-annotated person/dog/... becomes a credited RGBA cut-out with shape features."""
    library = CutoutLibrary(annotated_library)
    counts = library.class_counts()
    assert counts["person"] >= 15 and counts["dog"] >= 1 and counts["suitcase"] >= 5
    for cutout in library.cutouts:
        assert cutout.file.is_file()
        assert cutout.credit and "source unknown" not in cutout.credit
        assert cutout.hu.shape == (7,) and 0 < cutout.silhouette.mean() <= 1
        assert max(cutout.silhouette.shape) == 64
    person = next(c for c in library.cutouts if c.class_name == "person")
    rgba = np.asarray(person.load_rgba())
    alpha = rgba[..., 3] > 0
    assert 0.1 < alpha.mean() < 1.0  # a real silhouette, not its box
    assert person.silhouette.mean() == pytest.approx(alpha.mean(), abs=0.05)


def test_adding_the_same_photos_twice_adds_nothing(tmp_path: Path) -> None:
    """A second `library add` of the same folder adds 0 rows (photos are keyed by content)."""
    argv = ["library", "add", str(PHOTOS), "--annotations", str(PHOTO_ANNOTATIONS)]
    argv += ["--library", str(tmp_path / "lib"), "--no-progress"]
    assert main(argv) == 0
    first = len(CutoutLibrary(tmp_path / "lib").cutouts)
    assert main(argv) == 0
    assert len(CutoutLibrary(tmp_path / "lib").cutouts) == first > 50


def test_folder_layout_and_salient_cutter(tmp_path: Path) -> None:
    """Without annotations, the folder name gives the class and the salient model cuts the subject."""
    photos = tmp_path / "objets"
    (photos / "cat").mkdir(parents=True)
    (photos / "dog").mkdir()
    (photos / "cat" / "chelsea.png").symlink_to(PHOTOS / "cat_chelsea_skimage.png")
    (photos / "dog" / "trap.jpg").symlink_to(PHOTOS / "dog_camera_trap.jpg")
    (photos / "dog" / "trap.json").write_text(
        json.dumps({"subject": "a dog", "author": "A. N.", "licence": "CC0"})
    )
    assert main(["library", "add", str(photos), "--library", str(tmp_path / "lib"), "--no-progress"]) == 0
    library = CutoutLibrary(tmp_path / "lib")
    assert library.class_counts() == {"cat": 1, "dog": 1}
    dog = next(c for c in library.cutouts if c.class_name == "dog")
    assert dog.credit == "A. N., CC0" and dog.subject == "a dog"
    cat = next(c for c in library.cutouts if c.class_name == "cat")
    alpha = np.asarray(Image.open(cat.file))[..., 3] > 0
    assert 0.2 < alpha.mean() < 0.95


def test_class_sidecar_names_photos(tmp_path: Path) -> None:
    """A class sidecar labels photos that have neither annotations nor a class folder."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "boat_at_pier_kodim11.png").symlink_to(PHOTOS / "boat_at_pier_kodim11.png")
    sidecar = tmp_path / "classes.json"
    sidecar.write_text(json.dumps({"boat_at_pier_kodim11.png": "boat"}))
    argv = ["library", "add", str(photos), "--classes", str(sidecar), "--library", str(tmp_path / "lib")]
    assert main([*argv, "--no-progress"]) == 0
    assert CutoutLibrary(tmp_path / "lib").class_counts() == {"boat": 1}


def test_unknown_class_in_sidecar_is_refused(tmp_path: Path) -> None:
    """A sidecar naming a non-COCO class is an error, not a silently empty library."""
    sidecar = tmp_path / "classes.json"
    sidecar.write_text(json.dumps({"x.jpg": "unicorn"}))
    with pytest.raises(LibraryError, match="unicorn"):
        read_classes(sidecar)


def test_credits_are_read_from_the_sources_table() -> None:
    """The shared SOURCES.md photo table gives subject, author and licence per file."""
    credits = read_credits(PHOTOS)
    credit = credits["tennis_player_indoor_coco189775.jpg"]
    assert credit.subject == "tennis player returning a volley"
    assert credit.licence == "CC BY 2.0" and "Flickr" in credit.author


def test_missing_library_is_a_clear_error(tmp_path: Path) -> None:
    """Using a library that was never built says how to build one."""
    with pytest.raises(LibraryError, match="lamuse library add"):
        _ = CutoutLibrary(tmp_path / "nothing").cutouts


def test_fragments_along_the_photo_frame_are_not_cut_out() -> None:
    """A sliver running along the photo's edge scores high frame contact (skipped); a whole object, or
    one whose feet the frame cuts, scores low (kept)."""
    import cv2

    from lamuse.library import FRAGMENT_CONTACT
    from lamuse.shapes import frame_contact

    whole = np.zeros((200, 200), np.uint8)
    cv2.ellipse(whole, (100, 100), (30, 80), 0, 0, 360, 1, -1)
    feet_cut = np.zeros((200, 200), np.uint8)
    cv2.ellipse(feet_cut, (100, 120), (30, 85), 0, 0, 360, 1, -1)
    sliver = np.zeros((200, 200), np.uint8)
    cv2.ellipse(sliver, (0, 100), (20, 90), 0, 0, 360, 1, -1)
    assert frame_contact(whole.astype(bool)) == 0.0
    assert 0 < frame_contact(feet_cut.astype(bool)) < FRAGMENT_CONTACT
    assert frame_contact(sliver.astype(bool)) > FRAGMENT_CONTACT + sliver.mean()


def test_the_shared_photo_fragments_are_left_out(annotated_library: Path) -> None:
    """The blue coat sliver at the edge of the pedestrians photo (COCO 'person') is not a cut-out."""
    library = CutoutLibrary(annotated_library)
    from_pedestrians = [c for c in library.cutouts if c.source.startswith("pedestrians_crossing")]
    assert from_pedestrians and all(
        c.silhouette.shape[0] / c.silhouette.shape[1] < 3.0 or c.silhouette.mean() > 0.5
        for c in from_pedestrians
    )
    assert all(c.id != f"{from_pedestrians[0].id.split('-')[0]}-4" for c in from_pedestrians)


def test_a_photo_that_fails_to_load_is_skipped_and_the_build_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken photo among good ones is reported; the library is complete without it."""
    photos = tmp_path / "photos"
    (photos / "dog").mkdir(parents=True)
    (photos / "dog" / "trap.jpg").symlink_to(PHOTOS / "dog_camera_trap.jpg")
    (photos / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    assert main(["library", "add", str(photos), "--library", str(tmp_path / "lib"), "--no-progress"]) == 0
    assert "skipped broken.jpg" in capsys.readouterr().out
    library = CutoutLibrary(tmp_path / "lib")
    assert library.is_complete and library.class_counts() == {"dog": 1}


def test_an_interrupted_build_is_never_taken_for_a_finished_library(tmp_path: Path) -> None:
    """A build that stops half-way leaves a library that says so (not "complete", not silently empty);
    running the same build again finishes it."""
    from lamuse.segment.annotations import AnnotationSegmenter

    annotations = AnnotationSegmenter([PHOTO_ANNOTATIONS], image_dirs=[PHOTOS])
    library = CutoutLibrary(tmp_path / "lib")

    class Interrupted(Exception):
        """Stands for a kill or a full disk in the middle of the build."""

    calls = 0

    def segment_then_fail(image: Image.Image, *, name: str | None = None) -> list[Instance]:
        nonlocal calls
        calls += 1
        if calls > 5:
            raise Interrupted
        return annotations.segment(image, name=name)

    broken = type("Broken", (), {"segment": staticmethod(segment_then_fail)})()
    with pytest.raises(Interrupted):
        library.add_photos(PHOTOS, annotations=broken, progress=False)
    assert library.exists and not library.is_complete
    with pytest.raises(LibraryError, match="half-built"):
        _ = CutoutLibrary(tmp_path / "lib").index
    summary = library.add_photos(PHOTOS, annotations=annotations, progress=False)
    assert summary.already_present >= 1 and library.is_complete
    assert len(CutoutLibrary(tmp_path / "lib")) > 50


def test_cut_outs_are_stored_in_shards_and_listed_with_their_credits(
    annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PNGs live in cutouts/<2 characters>/; `library show --json --items` lists every one."""
    library = CutoutLibrary(annotated_library)
    assert not list((annotated_library / "cutouts").glob("*.png"))
    for cutout in library.cutouts:
        assert cutout.file.parent.name == cutout.id[:2] and cutout.file.is_file()
    assert main(["library", "show", "--json", "--items", "--library", str(annotated_library)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["cutouts"] == len(shown["items"]) == len(library) and shown["classes"]["person"] >= 14
    pitcher = next(i for i in shown["items"] if i["source"] == "baseball_pitcher_coco433998.jpg")
    assert pitcher["licence"] == "CC BY-SA 2.0" and "Flickr" in pitcher["credit"]


def test_figures_cut_by_something_in_front_are_not_whole(annotated_library: Path) -> None:
    """The family seated behind their table and the rider on his horse show no legs though no frame cuts
    them, nor does the walker whose legs another walker hides, and the man seen in a mirror is cut along
    its frame: they are not whole. The spectator whose
    head is off the skate-pool photo is cut by its frame. Figures standing free stay whole, as does a
    suitcase resting on another."""
    by_source: dict[str, list[bool]] = {}
    for cutout in CutoutLibrary(annotated_library).cutouts:
        if cutout.class_name in ("person", "suitcase"):
            by_source.setdefault(f"{cutout.source}:{cutout.class_name}", []).append(cutout.whole)
    assert not any(by_source["family_at_table_coco790.jpg:person"])
    assert by_source["riders_on_beach_coco214753.jpg:person"].count(True) == 0
    assert not any(by_source["man_at_mirror_coco229358.jpg:person"])
    assert "89dabb8b6940-3" not in {c.id for c in CutoutLibrary(annotated_library).cutouts if c.whole}
    assert not all(by_source["skateboarder_in_pool_coco129648.jpg:person"])
    for free in ("man_making_pizza_coco397133.jpg", "man_and_blue_car_coco234748.jpg"):
        assert any(by_source[f"{free}:person"])
    assert any(by_source["suitcases_coco475678.jpg:suitcase"])
    # Where each was cut, so selection can lay the cut along the painting's frame.
    cutouts = CutoutLibrary(annotated_library).cutouts
    cut = {c.source: c.cut_sides for c in cutouts if c.class_name == "person"}
    assert cut["family_at_table_coco790.jpg"] & BOTTOM and cut["man_at_mirror_coco229358.jpg"] == BOTTOM
    assert all(c.cut_sides == 0 for c in cutouts if c.whole)

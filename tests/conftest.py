"""Shared fixtures: the shared demo data beside the checkout, and a cut-out library built from it once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAINTINGS = SHARED_DATA / "paintings"
PHOTOS = SHARED_DATA / "photos"
PAINTING_ANNOTATIONS = SHARED_DATA / "annotations" / "paintings.json"
PHOTO_ANNOTATIONS = SHARED_DATA / "annotations" / "photos.json"


@pytest.fixture(autouse=True, scope="session")
def _offline() -> Iterator[None]:
    """No test may reach the internet: Mask R-CNN fetches go to a local mirror or nowhere."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAMUSE_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not PAINTINGS.is_dir():
        pytest.fail(f"the shared demo data is missing at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def annotated_library(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A library cut from the shared photos with their COCO annotations only (fast, no model)."""
    from lamuse.library import CutoutLibrary
    from lamuse.segment.annotations import AnnotationSegmenter

    root = tmp_path_factory.mktemp("library")
    CutoutLibrary(root).add_photos(
        PHOTOS, annotations=AnnotationSegmenter([PHOTO_ANNOTATIONS], image_dirs=[PHOTOS]), progress=False
    )
    return root

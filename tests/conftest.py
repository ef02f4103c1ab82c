"""Shared fixtures: the shared demo data beside the checkout, and a cut-out library built from it once."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAINTINGS = SHARED_DATA / "paintings"
PHOTOS = SHARED_DATA / "photos"
PAINTING_ANNOTATIONS = SHARED_DATA / "annotations" / "paintings.json"
PHOTO_ANNOTATIONS = SHARED_DATA / "annotations" / "photos.json"
BEAR_PHOTOS = ("bears_walking_coco20247.jpg", "black_bear_camera_trap_ir.jpg")
"""The shared photos of bears: Shishkin's "Morning in a Pine Forest" has one bear big enough to swap."""


@pytest.fixture(autouse=True, scope="session")
def _offline() -> Iterator[None]:
    """No test may reach the internet: Mask R-CNN fetches go to a local mirror or nowhere."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAMUSE_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Mask R-CNN v1 state dict from a seeded random model (what a real checkpoint looks like, minus
    training): no real weights exist here."""
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.manual_seed(1234)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    path = tmp_path_factory.mktemp("ckpt") / "maskrcnn_v1_seeded.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served on 127.0.0.1 by a throwaway HTTP server."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join()


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


def bear_library_of(root: Path, photos: Path, names: Sequence[str]) -> Path:
    """A library at ``root`` of the named shared bear photos (linked into ``photos``), cut out by the shipped
    salient-object model."""
    from lamuse.library import CutoutLibrary
    from lamuse.segment.salient import SalientSegmenter

    photos.mkdir(parents=True, exist_ok=True)
    for name in names:
        (photos / name).symlink_to(PHOTOS / name)
    CutoutLibrary(root).add_photos(
        photos, salient=SalientSegmenter(), classes=dict.fromkeys(names, "bear"), progress=False
    )
    return root


@pytest.fixture(scope="session")
def bear_library(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A tiny library: the two bear cut-outs of the shared photos, nothing else."""
    base = tmp_path_factory.mktemp("bears")
    return bear_library_of(base / "library", base / "photos", BEAR_PHOTOS)

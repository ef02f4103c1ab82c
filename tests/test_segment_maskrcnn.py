"""Mask R-CNN plumbing with seeded random weights: local checkpoints, mirror downloads, output contract.

No real weights exist on this machine, so detections are meaningless; the tests check shapes, loading and
the download/checksum path against a local HTTP server.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from lamuse.errors import ChecksumMismatch, WeightsUnavailable
from lamuse.segment.maskrcnn import MaskRCNNSegmenter, torch_hub_checkpoints, torchvision_entry
from lamuse.weights import WeightsEntry, resolve, sha256_file
from tests.conftest import PAINTINGS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A v1 state dict from a seeded random model (what a real checkpoint looks like, minus training)."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.manual_seed(1234)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    path = tmp_path_factory.mktemp("ckpt") / "maskrcnn_v1_seeded.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    image = Image.open(PAINTINGS / "cassatt_childs_bath.jpg").convert("RGB")
    image.thumbnail((256, 256))
    return image


def _same_state(model: torch.nn.Module, path: Path) -> bool:
    saved = torch.load(path, weights_only=True)
    state = model.state_dict()
    return state.keys() == saved.keys() and all(torch.equal(state[k].cpu(), saved[k]) for k in saved)


def test_local_checkpoint_loads_and_segments(checkpoint: Path, painting: Image.Image) -> None:
    segmenter = MaskRCNNSegmenter(
        "v1", checkpoint, device="cpu", score_threshold=0.0, bf16=False, max_size=256
    )
    assert segmenter.name == "maskrcnn" and segmenter.weights_id == checkpoint.name
    assert not segmenter.model.training
    assert _same_state(segmenter.model, checkpoint)
    found = segmenter.segment(painting)
    assert found, "random weights with a zero threshold still propose boxes"
    scores = [i.score for i in found]
    assert scores == sorted(scores, reverse=True)
    for instance in found:
        assert instance.mask.shape == (painting.height, painting.width) and instance.mask.dtype == bool
        x0, y0, x1, y1 = instance.box
        assert 0 <= x0 < x1 <= painting.width and 0 <= y0 < y1 <= painting.height
        assert instance.mask[y0:y1, x0:x1].sum() == instance.area > 0
        assert 1 <= instance.class_id <= 90 and instance.class_name not in ("N/A", "__background__")
        assert 0.0 <= instance.score <= 1.0


def test_v2_builds_and_bf16_segments(painting: Image.Image) -> None:
    segmenter = MaskRCNNSegmenter("v2", None, device="cpu", score_threshold=0.0, bf16=True, max_size=256)
    assert segmenter.bf16 and segmenter.weights_id == "random"
    assert segmenter.model.rpn._post_nms_top_n["testing"] == 300
    for instance in segmenter.segment(painting):
        assert instance.mask.shape == (painting.height, painting.width)


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


def test_mirror_download_is_checksummed(
    checkpoint: Path, http_root: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = http_root
    (root / "maskrcnn_v1.pth").write_bytes(checkpoint.read_bytes())
    digest = sha256_file(checkpoint)
    cache = tmp_path / "cache"

    bad = WeightsEntry(
        name="maskrcnn_v1_mirror", filename="bad.pth", url=base + "maskrcnn_v1.pth", sha256="0" * 64
    )
    with pytest.raises(ChecksumMismatch):
        resolve(bad, cache_dir=cache)
    assert not cache.exists() or list(cache.iterdir()) == []

    entry = WeightsEntry(
        name="maskrcnn_v1_mirror", filename="maskrcnn_v1.pth", url=base + "maskrcnn_v1.pth", sha256=digest
    )
    assert not MaskRCNNSegmenter.is_available("v1", entry, cache_dir=cache)
    segmenter = MaskRCNNSegmenter("v1", entry, device="cpu", cache_dir=cache, max_size=256)
    assert (cache / "maskrcnn_v1.pth").is_file() and sha256_file(cache / "maskrcnn_v1.pth") == digest
    assert _same_state(segmenter.model, checkpoint)
    assert MaskRCNNSegmenter.is_available("v1", entry, cache_dir=cache)  # now cached: offline is fine
    missing = WeightsEntry(name="gone", filename="gone.pth", url=base + "gone.pth", sha256=digest)
    with pytest.raises(WeightsUnavailable):
        resolve(missing, cache_dir=cache)


def test_availability_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert torch_hub_checkpoints() == tmp_path / "torch" / "hub" / "checkpoints"
    assert not MaskRCNNSegmenter.is_available("v2", "DEFAULT")
    assert MaskRCNNSegmenter.is_available("v2", None)
    assert not MaskRCNNSegmenter.is_available("v1", tmp_path / "nope.pth")
    with pytest.raises(WeightsUnavailable):
        MaskRCNNSegmenter("v2", "DEFAULT", allow_download=False)


def test_torchvision_file_names_match_the_enums() -> None:
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights, MaskRCNN_ResNet50_FPN_Weights

    assert torchvision_entry("v1").url == MaskRCNN_ResNet50_FPN_Weights.DEFAULT.url
    assert torchvision_entry("v2").url == MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT.url

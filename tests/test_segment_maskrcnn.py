"""Mask R-CNN plumbing with seeded random weights: local checkpoints, mirror downloads, output contract.

No real weights exist on this machine, so detections are meaningless; the tests check shapes, loading and
the download/checksum path against a local HTTP server.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from PIL import Image

from lamuse.errors import ChecksumMismatch, WeightsUnavailable
from lamuse.segment.maskrcnn import MaskRCNNSegmenter, OnDemandDetector
from lamuse.weights import (
    WeightsEntry,
    download_url,
    maskrcnn_entry,
    resolve,
    sha256_file,
    torch_hub_checkpoints,
)
from tests.conftest import PAINTINGS


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
    assert not segmenter.model.training and segmenter.model.rpn.post_nms_top_n() == 300
    for instance in segmenter.segment(painting):
        assert instance.mask.shape == (painting.height, painting.width)


def test_mirror_download_is_checksummed(
    checkpoint: Path, http_root: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAMUSE_OFFLINE")
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

    for version, weights in (("v1", MaskRCNN_ResNet50_FPN_Weights), ("v2", MaskRCNN_ResNet50_FPN_V2_Weights)):
        entry = maskrcnn_entry(version)
        assert entry.url == weights.DEFAULT.url
        assert entry.sha256_prefix is not None and entry.sha256_prefix in weights.DEFAULT.url
        published_mib = weights.DEFAULT.meta["_file_size"]
        assert entry.size is not None and abs(entry.size / 2**20 - published_mib) < 0.01


def test_detector_is_fetched_once_on_first_need_then_reused(
    checkpoint: Path, http_root: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A painting without masks fetches the weights (with progress), a second detector reuses the cache
    with the server gone, and LAMUSE_OFFLINE forbids the fetch."""
    monkeypatch.delenv("LAMUSE_OFFLINE")
    root, base = http_root
    (root / "seeded.pth").write_bytes(checkpoint.read_bytes())
    entry = WeightsEntry(
        name="maskrcnn_v1_seeded",
        filename="seeded.pth",
        url=base + "seeded.pth",
        sha256=sha256_file(checkpoint),
    )
    cache = tmp_path / "cache"
    heard: list[tuple[int, int | None]] = []
    unknown = Image.open(PAINTINGS / "klimt_the_kiss.jpg").convert("RGB").resize((256, 256))

    first = OnDemandDetector(
        "v1", weights=entry, device="cpu", cache_dir=cache, progress=lambda *a: heard.append(a)
    )
    assert not (cache / "seeded.pth").exists()
    first.segment(unknown)
    assert (cache / "seeded.pth").is_file() and first.available
    assert heard and heard[-1] == (checkpoint.stat().st_size, checkpoint.stat().st_size)
    assert first.model_files == {"maskrcnn_v1": cache / "seeded.pth"}

    (root / "seeded.pth").unlink()  # the mirror is gone: the cached copy is what loads now
    again = OnDemandDetector(
        "v1", weights=entry, device="cpu", cache_dir=cache, progress=lambda *a: heard.append(a)
    )
    calls = len(heard)
    again.segment(unknown)
    assert again.available and len(heard) == calls

    monkeypatch.setenv("LAMUSE_OFFLINE", "1")
    offline = OnDemandDetector("v1", weights=entry, device="cpu", cache_dir=tmp_path / "empty")
    assert offline.segment(unknown) == [] and not offline.available


def test_failed_fetch_warns_once_and_the_chain_falls_back_to_shapes(
    checkpoint: Path,
    http_root: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """torchvision's file name served by a mirror with other bytes fails the published sha256 prefix:
    one warning, then salient shapes, and the Segmentation says no detector was available."""
    from lamuse.segment import default_chain

    monkeypatch.delenv("LAMUSE_OFFLINE")
    root, base = http_root
    entry = maskrcnn_entry("v1")
    (root / entry.filename).write_bytes(checkpoint.read_bytes())
    monkeypatch.setenv("LAMUSE_WEIGHTS_MIRROR", base)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert download_url(entry) == base + entry.filename
    chain = default_chain(None, maskrcnn_version="v1", device="cpu")
    unknown = Image.open(PAINTINGS / "klimt_the_kiss.jpg").convert("RGB").resize((256, 256))
    with caplog.at_level(logging.WARNING):
        first = chain.run(unknown)
        second = chain.run(unknown)
    warnings = [r for r in caplog.records if "no object detector" in r.getMessage()]
    assert len(warnings) == 1 and "sha256 prefix" in warnings[0].getMessage()
    for segmentation in (first, second):
        assert segmentation.segmenter == "salient" and not segmentation.detector_available
        assert segmentation.instances and segmentation.saliency is not None
    assert not (torch_hub_checkpoints() / entry.filename).exists()

"""Mask R-CNN (torchvision, COCO-80): instance masks for any painting, when its weights can be had.

torch and torchvision are imported inside the constructor: they cost seconds and most requests are
served by curated annotations. All weights go through ``lamuse.weights.resolve`` (local path → cache →
download), so the download and checksum code is the same for torchvision's files and our own mirror.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from lamuse.coco import COCO_CATEGORIES, COCO_NAMES
from lamuse.errors import ChecksumMismatch, ConfigError, WeightsUnavailable
from lamuse.segment._masks import make_instance
from lamuse.types import Instance
from lamuse.weights import Progress, WeightsEntry, maskrcnn_entry, resolve

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Version = Literal["v1", "v2"]
WeightsSpec = Path | WeightsEntry | Literal["DEFAULT"] | None
"""A local state-dict file, a registry entry (our mirror), torchvision's COCO weights, or random init."""


def _resolve_weights(
    version: Version,
    weights: WeightsSpec,
    cache_dir: Path | None,
    allow_download: bool,
    progress: Progress | None = None,
) -> Path | None:
    if weights is None:
        return None
    if isinstance(weights, str | Path) and weights != "DEFAULT":
        return resolve(
            WeightsEntry(name=f"maskrcnn_{version}_local", filename=Path(weights).name),
            local_path=Path(weights),
        )
    entry = weights if isinstance(weights, WeightsEntry) else maskrcnn_entry(version)
    return resolve(entry, cache_dir=cache_dir, allow_download=allow_download, progress=progress)


class MaskRCNNSegmenter:
    """torchvision Mask R-CNN ResNet-50 FPN (``v1`` or the stronger, slower ``v2``) on COCO's 80 classes.

    Args:
        version: ``"v2"`` (mask AP 41.8, ~2x slower) or ``"v1"`` (34.6).
        weights: a local state-dict path (loaded with ``weights_only=True``), a ``WeightsEntry`` (our mirror,
            resolved and checksummed in ``cache_dir``), ``"DEFAULT"`` (torchvision's COCO weights in the
            torch hub cache, downloaded if allowed) or None (random init: plumbing and speed tests only).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        score_threshold: minimum detection score kept.
        mask_threshold: mask probability above which a pixel belongs to the instance.
        bf16: bfloat16 autocast on CPU; ``"auto"`` enables it when the CPU runs bf16 natively (1.7-2.8x
            faster here). Off by default: its mask drift with the real weights has not been measured
            (they are not available offline), and bf16 is only worth it where results hold.
        max_size: longest side the network sees; larger images are shrunk first, masks come back at the
            image's own size.
        rpn_post_nms_top_n_test: proposals kept after the RPN (torchvision's 1000 is slower, no better for
            the few large elements of a painting).
    """

    name = "maskrcnn"

    def __init__(
        self,
        version: Version = "v2",
        weights: WeightsSpec = None,
        *,
        device: str = "auto",
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        bf16: bool | Literal["auto"] = False,
        max_size: int = 800,
        rpn_post_nms_top_n_test: int = 300,
        cache_dir: Path | None = None,
        allow_download: bool = True,
        progress: Progress | None = None,
    ) -> None:
        import torch
        from torchvision.models.detection import maskrcnn_resnet50_fpn, maskrcnn_resnet50_fpn_v2

        from lamuse.devices import cpu_has_bf16, torch_device

        if version not in ("v1", "v2"):
            raise ConfigError(f"unknown Mask R-CNN version {version!r}; use 'v1' or 'v2'")
        path = _resolve_weights(version, weights, cache_dir, allow_download, progress)
        builder = maskrcnn_resnet50_fpn_v2 if version == "v2" else maskrcnn_resnet50_fpn
        model = builder(
            weights=None,
            weights_backbone=None,
            num_classes=len(COCO_CATEGORIES),
            min_size=max_size,
            max_size=max_size,
            rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
            box_score_thresh=score_threshold,
        )
        if path is not None:
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as error:
                message = f"{path} is not a Mask R-CNN {version} state dict ({error})"
                raise WeightsUnavailable(message) from error
        self.weights_id = "random" if path is None else path.name
        self.model_files: Mapping[str, Path] = {} if path is None else {f"maskrcnn_{version}": path}
        self.device = torch_device(device)
        self.bf16 = self.device.type == "cpu" and (cpu_has_bf16() if bf16 == "auto" else bool(bf16))
        self.model = model.eval().to(self.device)
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self.max_size = max_size
        log.info("Mask R-CNN %s (%s) on %s, bf16=%s", version, self.weights_id, self.device, self.bf16)

    @classmethod
    def is_available(
        cls, version: Version = "v2", weights: WeightsSpec = "DEFAULT", *, cache_dir: Path | None = None
    ) -> bool:
        """Whether ``weights`` can be had without downloading (no torch import), so chains can skip us."""
        try:
            _resolve_weights(version, weights, cache_dir, allow_download=False)
        except (WeightsUnavailable, ChecksumMismatch) as exc:
            log.debug("Mask R-CNN %s weights unavailable offline: %s", version, exc)
            return False
        return True

    def _to_tensor(self, image: Image.Image) -> torch.Tensor:
        import torch

        rgb = image.convert("RGB")
        scale = self.max_size / max(rgb.size)
        if scale < 1:
            size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
            rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        pixels = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)
        return pixels.to(self.device).float().div_(255)

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        """Instances with score >= threshold, best first; masks bool (H, W) at ``image``'s size.

        ``name`` is accepted for the chain's sake and ignored.
        """
        import torch
        from torch.nn.functional import interpolate

        tensor = self._to_tensor(image)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        found = []
        with torch.inference_mode(), autocast:
            output = self.model([tensor])[0]
            keep = output["scores"] >= self.score_threshold
            # One mask at a time: N full-size float masks of a large painting would cost gigabytes.
            for label, score, probs in zip(
                output["labels"][keep].tolist(),
                output["scores"][keep].tolist(),
                output["masks"][keep],
                strict=True,
            ):
                class_name = COCO_NAMES.get(int(label))
                if class_name is None:  # an unused id: only random weights predict those
                    continue
                full = interpolate(probs[None].float(), size=(image.height, image.width), mode="bilinear")
                mask = (full[0, 0] > self.mask_threshold).cpu().numpy()
                instance = make_instance(int(label), class_name, float(score), mask)
                if instance is not None:
                    found.append(instance)
        return found


def fetch_weights(version: Version = "v2", *, progress: Progress | None = None) -> Path:
    """torchvision's COCO weights for ``version``, downloaded into the torch hub cache if not there yet
    (checksummed against torchvision's published prefix). A bot calls this at start-up so no user waits.

    Raises:
        WeightsUnavailable: offline (``$LAMUSE_OFFLINE``) or the download failed.
        ChecksumMismatch: the file is not torchvision's.
    """
    return resolve(maskrcnn_entry(version), progress=progress)


class OnDemandDetector:
    """Mask R-CNN built the first time a painting needs it: the chain asks it only when no curated masks
    answer. The first call fetches the weights (torchvision's unless ``weights`` names another entry;
    once, cached, checksummed); if that fails it warns once and answers nothing from then on, so the
    chain falls back to salient shapes.
    """

    name = "maskrcnn"

    def __init__(
        self,
        version: Version = "v2",
        *,
        weights: WeightsEntry | None = None,
        device: str = "auto",
        score_threshold: float = 0.5,
        progress: Progress | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.version: Version = version
        self.weights: WeightsSpec = weights if weights is not None else "DEFAULT"
        self.cache_dir = cache_dir
        self.device = device
        self.score_threshold = score_threshold
        self.progress = progress
        self._segmenter: MaskRCNNSegmenter | None = None
        self._failed = False
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """False once fetching the weights has failed."""
        return not self._failed

    @property
    def model_files(self) -> Mapping[str, Path]:
        return {} if self._segmenter is None else self._segmenter.model_files

    def _build(self) -> MaskRCNNSegmenter | None:
        with self._lock:
            if self._segmenter is None and not self._failed:
                try:
                    self._segmenter = MaskRCNNSegmenter(
                        self.version,
                        self.weights,
                        device=self.device,
                        score_threshold=self.score_threshold,
                        progress=self.progress,
                        cache_dir=self.cache_dir,
                    )
                except (WeightsUnavailable, ChecksumMismatch) as error:
                    log.warning(
                        "no object detector: Mask R-CNN %s weights could not be fetched (%s); "
                        "elements are found as salient shapes",
                        self.version,
                        error,
                    )
                    self._failed = True
            return self._segmenter

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        segmenter = self._build()
        return [] if segmenter is None else segmenter.segment(image, name=name)

"""Curated masks from COCO instance files: the offline segmenter for known paintings.

Curators bring their own masks as COCO JSON. An image is matched by file name, or by a perceptual hash of
its pixels, so an uploaded copy of a corpus painting (re-encoded, resized) still gets the curated masks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from lamuse.coco import (
    COCO_NAMES,
    CocoSegmentation,
    check_image_size,
    parse_segmentation,
    segmentation_to_mask,
)
from lamuse.errors import AnnotationsError, FileRefused, ImageError
from lamuse.io import load_image, read_regular_file
from lamuse.segment._masks import make_instance
from lamuse.types import Instance

log = logging.getLogger(__name__)

IMAGE_FOLDERS = ("paintings", "photos")
"""Default image folders, looked up beside the annotations folder (``<json>/../../paintings``)."""

HASH_SIDE = 16
"""The hash keeps the 16x16 lowest DCT frequencies of a 64x64 grayscale thumbnail: 256 bits."""
HASH_MAX_DISTANCE = 40
"""Hamming distance (of 256 bits) under which two images are the same picture. Measured on the 135 shared
paintings and photos: resized JPEG q60 copies 0-10 (95th percentile), +15% brightness/contrast up to 26;
any two different pictures 98 or more."""
ASPECT_TOLERANCE = 0.03
"""Relative aspect-ratio difference still accepted as the same picture (rounding when resizing)."""
MAX_ANNOTATIONS_BYTES = 1 << 30
"""Largest COCO file read (COCO's own train2017 instances file is 448 MB)."""
HASH_DECODE_SIDE = 256
"""Annotated images are decoded at this long side to hash them: plenty for a 64 px thumbnail."""


def perceptual_hash(image: Image.Image) -> np.ndarray:
    """256-bit DCT hash of the pixels (bool array); robust to resizing, JPEG re-encoding and mild colour."""
    thumb = image.convert("L").resize((64, 64), Image.Resampling.BOX)
    pixels = np.asarray(thumb, dtype=np.float32)
    low = cv2.dct(pixels)[:HASH_SIDE, :HASH_SIDE].reshape(-1)
    # The DC term only carries brightness; the median of the rest splits the bits evenly.
    return np.asarray(low > np.median(low[1:]), dtype=bool)


def _file_hash(path: Path) -> np.ndarray | None:
    """The hash of an annotated image file, through the guarded loader; None (logged) if it is unusable."""
    try:
        image = load_image(path, max_side=HASH_DECODE_SIDE).image
    except ImageError as error:
        log.warning("cannot hash annotated image %s: %s", path, error)
        return None
    return perceptual_hash(image)


@dataclass(frozen=True)
class CocoImage:
    """One ``images`` entry of a COCO file."""

    id: int
    file_name: str
    width: int
    height: int


@dataclass(frozen=True)
class CocoAnnotation:
    """One ``annotations`` entry; ``segmentation`` was validated when the file was read."""

    id: int
    image_id: int
    category_id: int
    segmentation: CocoSegmentation
    area: float
    iscrowd: bool

    def mask(self, image: CocoImage, size: tuple[int, int] | None = None) -> np.ndarray:
        """Bool mask at ``size = (width, height)`` (default: the annotated image's size)."""
        out = None if size is None else (size[1], size[0])
        return segmentation_to_mask(self.segmentation, image.height, image.width, out_size=out)


class CocoAnnotations:
    """A COCO instance file: images by id and base name, annotations per image, category names."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            data = json.loads(read_regular_file(self.path, MAX_ANNOTATIONS_BYTES))
        except FileRefused as error:
            raise AnnotationsError(f"cannot read annotations {self.path}: {error}") from error
        except (ValueError, RecursionError) as error:
            raise AnnotationsError(f"{self.path} is not JSON ({error})") from error
        try:
            self._index(data)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise AnnotationsError(f"{self.path} is not COCO instance JSON ({_describe(error)})") from error

    def _index(self, data: Any) -> None:
        self.images: dict[int, CocoImage] = {}
        for im in data["images"]:
            image = CocoImage(int(im["id"]), str(im["file_name"]), int(im["width"]), int(im["height"]))
            try:
                check_image_size(image.height, image.width)
            except ValueError as error:
                raise ValueError(f"image {image.id}: {error}") from error
            self.images[image.id] = image
        self.categories: dict[int, str] = {
            int(cat["id"]): str(cat["name"]) for cat in data.get("categories", [])
        }
        self.annotations: dict[int, list[CocoAnnotation]] = {image_id: [] for image_id in self.images}
        for ann in data["annotations"]:
            image_id = int(ann["image_id"])
            if image_id not in self.images:
                raise ValueError(
                    f"annotation {ann.get('id')!r:.20} is of image {image_id}, which is not listed"
                )
            entry = self.images[image_id]
            try:
                segmentation = parse_segmentation(ann["segmentation"], entry.height, entry.width)
            except ValueError as error:
                raise ValueError(f"annotation {ann.get('id')!r:.20}: {error}") from error
            self.annotations[image_id].append(
                CocoAnnotation(
                    id=int(ann["id"]),
                    image_id=image_id,
                    category_id=int(ann["category_id"]),
                    segmentation=segmentation,
                    area=float(ann.get("area", 0.0)),
                    iscrowd=bool(ann.get("iscrowd", 0)),
                )
            )
        self.by_name: dict[str, CocoImage] = {Path(im.file_name).name: im for im in self.images.values()}

    def category_name(self, category_id: int) -> str:
        """The file's own name for a category, else the official COCO name."""
        return self.categories.get(category_id) or COCO_NAMES.get(category_id, str(category_id))

    def instances(
        self, image: CocoImage, size: tuple[int, int] | None = None, *, include_crowd: bool = False
    ) -> list[Instance]:
        """The image's instances in file order (front to back for our paintings), masks at ``size``."""
        found = []
        for ann in self.annotations[image.id]:
            if ann.iscrowd and not include_crowd:
                continue
            instance = make_instance(
                ann.category_id, self.category_name(ann.category_id), 1.0, ann.mask(image, size)
            )
            if instance is not None:
                found.append(instance)
        return found


@dataclass(frozen=True)
class _Indexed:
    coco: CocoAnnotations
    image: CocoImage
    path: Path


class AnnotationSegmenter:
    """Segmenter answering from COCO files: file name first, then content hash; [] for unknown images.

    Args:
        sources: one COCO instance JSON or several (searched in order).
        image_dirs: folders holding the annotated images, used to hash them (lazily, on the first lookup
            by content). Default: ``paintings/`` and ``photos/`` beside each JSON's folder.
        max_distance: Hamming distance (of 256 bits) accepted as the same picture.
    """

    name = "annotations"

    def __init__(
        self,
        sources: Path | Sequence[Path],
        *,
        image_dirs: Sequence[Path] | None = None,
        max_distance: int = HASH_MAX_DISTANCE,
    ) -> None:
        paths = [Path(sources)] if isinstance(sources, str | Path) else [Path(p) for p in sources]
        self.files = [CocoAnnotations(p) for p in paths]
        self.model_files = {f"annotations_{i}": p for i, p in enumerate(paths)}
        self.image_dirs = (
            [Path(d) for d in image_dirs]
            if image_dirs is not None
            else list(dict.fromkeys(p.resolve().parent.parent / f for p in paths for f in IMAGE_FOLDERS))
        )
        self.max_distance = max_distance
        self._lock = threading.Lock()

    def _find_file(self, file_name: str) -> Path | None:
        for folder in self.image_dirs:
            candidate = folder / Path(file_name).name
            if candidate.is_file():
                return candidate
        return None

    @cached_property
    def _hashes(self) -> list[tuple[_Indexed, np.ndarray]]:
        """Hashes of every annotated image found on disk, computed once on first use."""
        indexed = []
        for coco in self.files:
            for image in coco.images.values():
                path = self._find_file(image.file_name)
                if path is None:
                    log.debug("annotated image %s not found in %s", image.file_name, self.image_dirs)
                    continue
                digest = _file_hash(path)
                if digest is not None:
                    indexed.append((_Indexed(coco, image, path), digest))
        log.info("hashed %d annotated images", len(indexed))
        return indexed

    def _lookup(self, image: Image.Image, name: str | None) -> tuple[CocoAnnotations, CocoImage] | None:
        aspect = image.width / image.height
        if name is not None:
            base = Path(name).name
            for coco in self.files:
                entry = coco.by_name.get(base)
                if entry is None:
                    continue
                if _aspect_close(aspect, entry.width / entry.height):
                    return coco, entry
                log.warning("%s matches %s by name but not by shape; ignoring the name", name, coco.path)
        with self._lock:  # the first content lookup hashes the corpus; do it once across threads
            hashes = self._hashes
        query = perceptual_hash(image)
        best: tuple[int, _Indexed] | None = None
        for indexed, digest in hashes:
            if not _aspect_close(aspect, indexed.image.width / indexed.image.height):
                continue
            distance = int(np.count_nonzero(query != digest))
            if distance <= self.max_distance and (best is None or distance < best[0]):
                best = (distance, indexed)
        if best is None:
            return None
        log.debug("matched by content: %s (distance %d)", best[1].image.file_name, best[0])
        return best[1].coco, best[1].image

    def annotated(
        self, image: Image.Image, *, name: str | None = None, include_crowd: bool = True
    ) -> list[Instance]:
        """All instances of the matched entry at ``image``'s size, crowd regions included by default."""
        found = self._lookup(image, name)
        if found is None:
            return []
        coco, entry = found
        return coco.instances(entry, image.size, include_crowd=include_crowd)

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        """Curated instances (score 1.0, no crowd regions) at ``image``'s size; [] if the image is unknown."""
        return self.annotated(image, name=name, include_crowd=False)


def _describe(error: Exception) -> str:
    """Words for what was wrong: a missing key by name, a bad value by its message."""
    if isinstance(error, KeyError):
        return f"missing key {error.args[0]!r}" if error.args else "a key is missing"
    return str(error) or type(error).__name__


def _aspect_close(a: float, b: float) -> bool:
    return abs(a - b) <= ASPECT_TOLERANCE * max(a, b)

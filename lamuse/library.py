"""The cut-out library: real objects cut out of photos, one RGBA PNG each, indexed in SQLite.

Every row carries what substitution needs to choose without opening the PNG (class, shape signature, a
small silhouette, colour) and what the explanation needs to credit the photo (source, subject, licence).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import sqlite_utils
from PIL import Image
from tqdm import tqdm

from lamuse.coco import COCO_IDS
from lamuse.errors import ImageError, LibraryError
from lamuse.io import IMAGE_SUFFIXES, list_images, load_image, save_png_atomic
from lamuse.shapes import frame_contact, hu_moments, mask_box, orientation, touches_border
from lamuse.types import Instance, Segmenter

if TYPE_CHECKING:
    from lamuse.segment.annotations import AnnotationSegmenter

log = logging.getLogger(__name__)

SILHOUETTE_SIDE = 64
MIN_AREA_FRACTION = 0.01
FRAGMENT_CONTACT = 0.15
"""A cut-out whose outline runs along the photo's frame for more than this share plus its area fraction
is a fragment (a sleeve, half a table, a reflection) and is skipped. Measured on the shared photos:
fragments 0.24-0.50 at 2-20% of the frame; whole subjects below 0.15, or large close-ups (a cat filling
70% of its photo: 0.33)."""
MIN_SIDE_PX = 40
MAX_CUTOUT_SIDE = 1024


def default_library_dir() -> Path:
    """``$LAMUSE_LIBRARY``, else ``$XDG_DATA_HOME/lamuse/library``, else ``~/.local/share/lamuse/library``."""
    if env := os.environ.get("LAMUSE_LIBRARY"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lamuse" / "library"


@dataclass(frozen=True, eq=False)
class Cutout:
    """One library row, with its small silhouette decoded.

    Attributes:
        silhouette: bool mask of the cut-out's tight crop, long side ``SILHOUETTE_SIDE``.
        aspect: height / width of the tight crop at full resolution.
        fill: mask area / crop area (how much of its box the object fills).
    """

    id: str
    class_id: int
    class_name: str
    source: str
    subject: str
    credit: str
    file: Path
    aspect: float
    fill: float
    orientation: float
    elongation: float
    hu: np.ndarray
    lab: tuple[float, float, float]
    truncated: bool
    silhouette: np.ndarray

    def load_rgba(self) -> Image.Image:
        try:
            with Image.open(self.file) as image:
                return image.convert("RGBA")
        except OSError as error:
            message = f"cut-out {self.id} is missing or damaged ({self.file}); re-add its photo"
            raise LibraryError(message) from error


@dataclass
class AddSummary:
    """What one ``library add`` run did."""

    photos_seen: int = 0
    photos_skipped: int = 0
    added: int = 0
    already_present: int = 0
    per_class: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


class CutoutLibrary:
    """A folder holding ``library.db`` and ``cutouts/<id>.png``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db_path = self.root / "library.db"

    @property
    def exists(self) -> bool:
        return self.db_path.is_file()

    def _db(self) -> sqlite_utils.Database:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "cutouts").mkdir(exist_ok=True)
        db = sqlite_utils.Database(self.db_path)
        db.enable_wal()
        return db

    @cached_property
    def cutouts(self) -> list[Cutout]:
        """Every cut-out, loaded once per library object (the substitution hot path reads this)."""
        if not self.exists:
            raise LibraryError(
                f"no cut-out library at {self.root}; build one with `lamuse library add PHOTOS_DIR`"
            )
        try:
            db = sqlite_utils.Database(self.db_path)
            if "cutouts" not in db.table_names():
                raise LibraryError(f"the library at {self.root} is empty")
            rows = list(db.table("cutouts").rows_where(order_by="id"))
        except sqlite3.DatabaseError as error:
            raise LibraryError(f"the library database {self.db_path} is unreadable ({error})") from error
        if not rows:
            raise LibraryError(f"the library at {self.root} is empty")
        return [self._row_to_cutout(row) for row in rows]

    def _row_to_cutout(self, row: Mapping[str, Any]) -> Cutout:
        height, width = row["silhouette_shape"].split("x")
        bits = np.unpackbits(np.frombuffer(row["silhouette"], dtype=np.uint8))
        silhouette = bits[: int(height) * int(width)].reshape(int(height), int(width)).astype(bool)
        return Cutout(
            id=row["id"],
            class_id=row["class_id"],
            class_name=row["class_name"],
            source=row["source"],
            subject=row["subject"],
            credit=row["credit"],
            file=self.root / row["file"],
            aspect=row["aspect"],
            fill=row["fill"],
            orientation=row["orientation"],
            elongation=row["elongation"],
            hu=np.asarray(json.loads(row["hu"]), dtype=np.float64),
            lab=(row["lab_l"], row["lab_a"], row["lab_b"]),
            truncated=bool(row["truncated"]),
            silhouette=silhouette,
        )

    def class_counts(self) -> Counter[str]:
        return Counter(c.class_name for c in self.cutouts)

    def add_photos(
        self,
        photos: Path,
        *,
        annotations: AnnotationSegmenter | None = None,
        salient: Segmenter | None = None,
        classes: Mapping[str, str] | None = None,
        credits: Mapping[str, PhotoCredit] | None = None,
        progress: bool = True,
    ) -> AddSummary:
        """Cut every instance out of every photo under ``photos`` and index it (idempotent).

        Classes come, in order, from ``annotations`` (COCO instances), the ``classes`` mapping (file name →
        class name), or the photo's folder name when it is a COCO class (``objects/dog/x.jpg``); the
        object itself then comes from ``salient``. Photos whose class cannot be told are skipped and
        reported. Credits come from ``credits`` (see ``read_credits``).
        """
        summary = AddSummary()
        db = self._db()
        table = db.table("cutouts")
        known_sources = (
            {row["source_sha256"] for row in db.query("select distinct source_sha256 from cutouts")}
            if "cutouts" in db.table_names()
            else set()
        )
        files = list_images(photos, recursive=True)
        credits = credits if credits is not None else read_credits(photos)
        classes = classes or {}
        for path in tqdm(files, desc="cutting out", unit="photo", disable=not progress):
            summary.photos_seen += 1
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            if digest in known_sources:
                summary.already_present += 1
                continue
            try:
                image = load_image(raw).image
            except ImageError as exc:
                summary.photos_skipped += 1
                summary.problems.append(f"{path.name}: {exc}")
                continue
            instances, class_source = self._instances_for(path, photos, image, annotations, salient, classes)
            if not instances:
                summary.photos_skipped += 1
                summary.problems.append(f"{path.name}: no usable object (class unknown or too small)")
                continue
            credit = credits.get(path.name, PhotoCredit.unknown(path.name))
            rows = []
            for index, instance in enumerate(instances):
                row = self._cut(image, instance, digest, index, path, photos, credit, class_source)
                if row is not None:
                    rows.append(row)
                    summary.per_class[instance.class_name] += 1
            if rows:
                table.insert_all(rows, pk="id", replace=True)
                summary.added += len(rows)
            else:
                summary.photos_skipped += 1
            known_sources.add(digest)
        self.__dict__.pop("cutouts", None)
        return summary

    def _instances_for(
        self,
        path: Path,
        photos: Path,
        image: Image.Image,
        annotations: AnnotationSegmenter | None,
        salient: Segmenter | None,
        classes: Mapping[str, str],
    ) -> tuple[list[Instance], str]:
        if annotations is not None:
            found = annotations.segment(image, name=path.name)
            if found:
                return found, "annotations"
        class_name = classes.get(path.name)
        class_source = "sidecar"
        if class_name is None and path.parent != photos and path.parent.name.replace("_", " ") in COCO_IDS:
            class_name, class_source = path.parent.name.replace("_", " "), "folder"
        if class_name is None or salient is None:
            return [], "none"
        objects = salient.segment(image)
        if not objects:
            return [], "none"
        main = max(objects, key=lambda inst: inst.area)
        class_id = COCO_IDS[class_name]
        labelled = Instance(
            class_id=class_id, class_name=class_name, score=main.score, mask=main.mask, box=main.box
        )
        return [labelled], class_source

    def _cut(
        self,
        image: Image.Image,
        instance: Instance,
        digest: str,
        index: int,
        path: Path,
        photos: Path,
        credit: PhotoCredit,
        class_source: str,
    ) -> dict[str, Any] | None:
        mask = instance.mask
        area = int(mask.sum())
        box = mask_box(mask)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        if area < MIN_AREA_FRACTION * mask.size or min(x1 - x0, y1 - y0) < MIN_SIDE_PX:
            return None
        if frame_contact(mask) > FRAGMENT_CONTACT + area / mask.size:
            return None
        rgb = np.asarray(image.convert("RGB"))[y0:y1, x0:x1]
        crop_mask = mask[y0:y1, x0:x1]
        rgba = np.dstack([rgb, crop_mask.astype(np.uint8) * 255])
        cutout = Image.fromarray(rgba, "RGBA")
        if max(cutout.size) > MAX_CUTOUT_SIDE:
            cutout.thumbnail((MAX_CUTOUT_SIDE, MAX_CUTOUT_SIDE), Image.Resampling.LANCZOS)
        cutout_id = f"{digest[:12]}-{index}"
        relative = Path("cutouts") / f"{cutout_id}.png"
        save_png_atomic(cutout, self.root / relative)
        angle, elongation = orientation(crop_mask)
        lab = cv2.cvtColor(rgb[None, crop_mask], cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
        silhouette = silhouette_of(crop_mask)
        return {
            "id": cutout_id,
            "class_id": instance.class_id,
            "class_name": instance.class_name,
            "class_source": class_source,
            "source": path.name,
            "source_path": str(path.relative_to(photos)),
            "source_sha256": digest,
            "subject": credit.subject,
            "credit": credit.text,
            "licence": credit.licence,
            "file": str(relative),
            "width": x1 - x0,
            "height": y1 - y0,
            "mask_area": area,
            "area_fraction": area / mask.size,
            "aspect": (y1 - y0) / (x1 - x0),
            "fill": area / ((y1 - y0) * (x1 - x0)),
            "orientation": angle,
            "elongation": elongation,
            "hu": json.dumps([round(float(v), 6) for v in hu_moments(crop_mask)]),
            "lab_l": float(lab[:, 0].mean() * 100 / 255),
            "lab_a": float(lab[:, 1].mean() - 128),
            "lab_b": float(lab[:, 2].mean() - 128),
            "truncated": int(touches_border(mask)),
            "silhouette": np.packbits(silhouette.ravel()).tobytes(),
            "silhouette_shape": f"{silhouette.shape[0]}x{silhouette.shape[1]}",
        }


def build_library(
    photos: Path,
    library_dir: Path,
    annotations: Sequence[Path] | None,
    classes_file: Path | None,
    *,
    progress: bool = True,
) -> AddSummary:
    """Add the photos of a folder to a library, with annotations, a class sidecar and the salient cutter."""
    from lamuse.segment.annotations import AnnotationSegmenter
    from lamuse.segment.salient import SalientSegmenter

    if not photos.is_dir():
        raise LibraryError(f"{photos} is not a folder of photos")
    return CutoutLibrary(library_dir).add_photos(
        photos,
        annotations=AnnotationSegmenter(list(annotations), image_dirs=[photos]) if annotations else None,
        salient=SalientSegmenter(),
        classes=read_classes(classes_file) if classes_file else None,
        progress=progress,
    )


def silhouette_of(crop_mask: np.ndarray, side: int = SILHOUETTE_SIDE) -> np.ndarray:
    """The tight-crop mask resized so its long side is ``side`` (area-preserving resampling)."""
    height, width = crop_mask.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(crop_mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return np.asarray(resized >= 0.5)


@dataclass(frozen=True)
class PhotoCredit:
    """Where a photo comes from, in words fit for an explanation."""

    subject: str
    author: str
    licence: str

    @property
    def text(self) -> str:
        parts = [p for p in (self.author, self.licence) if p]
        return ", ".join(parts) if parts else "source unknown"

    @classmethod
    def unknown(cls, file_name: str) -> PhotoCredit:
        return cls(subject=_subject_from_name(file_name), author="", licence="")


def _subject_from_name(file_name: str) -> str:
    stem = Path(file_name).stem
    stem = re.sub(r"_(coco\d+|kodim\d+|skimage)$", "", stem)
    return stem.replace("_", " ")


def read_credits(photos: Path) -> dict[str, PhotoCredit]:
    """Credits from a ``SOURCES.md``-style markdown table (in the folder or its parent) and sidecars.

    The table needs a ``file`` column and reads ``subject``, ``author``/``author / origin`` and ``licence``
    when present; a ``<photo>.json`` sidecar (``{"subject", "author", "licence"}``) wins over the table.
    """
    credits: dict[str, PhotoCredit] = {}
    for candidate in (photos / "SOURCES.md", photos.parent / "SOURCES.md"):
        if candidate.is_file():
            credits.update(_parse_markdown_tables(candidate.read_text(encoding="utf-8")))
            break
    for sidecar in photos.rglob("*.json"):
        image_name = next(
            (sidecar.with_suffix(s).name for s in IMAGE_SUFFIXES if sidecar.with_suffix(s).exists()), None
        )
        if image_name is None:
            continue
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("ignoring unreadable credit sidecar %s", sidecar)
            continue
        credits[image_name] = PhotoCredit(
            subject=str(data.get("subject", _subject_from_name(image_name))),
            author=str(data.get("author", "")),
            licence=str(data.get("licence", data.get("license", ""))),
        )
    return credits


def _parse_markdown_tables(text: str) -> Iterator[tuple[str, PhotoCredit]]:
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [re.sub(r"\s*\(.*\)", "", c).lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        row = dict(zip(header, cells, strict=False))
        if "file" not in row or "subject" not in row:
            continue
        subject = re.sub(r"\s*[\[(].*$", "", row["subject"]).strip()
        author = row.get("author / origin", row.get("author", ""))
        licence = row.get("licence", row.get("license", ""))
        licence = re.sub(r"\s*\(.*$", "", licence).strip()
        yield row["file"], PhotoCredit(subject=subject, author=author, licence=licence)


def read_classes(path: Path) -> dict[str, str]:
    """A class sidecar: JSON ``{"photo.jpg": "dog", ...}``; names must be COCO classes."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        classes = {str(k): v for k, v in data.items() if not str(k).startswith("_")}
    except (OSError, ValueError, AttributeError) as error:
        message = f'{path} is not a class sidecar (JSON {{"photo.jpg": "dog"}}): {error}'
        raise LibraryError(message) from error
    unknown = sorted({v for v in classes.values() if v not in COCO_IDS})
    if unknown:
        raise LibraryError(f"{path}: not COCO class names: {', '.join(unknown)}")
    return classes


def demo_classes_file() -> Path:
    """The class sidecar for the shared demo photos that have no annotations."""
    return Path(__file__).parent / "data" / "demo_photo_classes.json"

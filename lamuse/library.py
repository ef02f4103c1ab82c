"""The cut-out library: real objects cut out of photos, one RGBA PNG each, indexed in SQLite.

Every row carries what substitution needs to choose without opening the PNG (class, shape signature, a
small silhouette, whether the object is whole) and what the explanation needs to credit the photo
(source, subject, licence and their links). A shape index beside the database (``lamuse.shape_index``)
makes selection fast at 100k+ cut-outs; the library opens without reading every row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import cv2
import numpy as np
import sqlite_utils
from PIL import Image
from tqdm import tqdm

from lamuse.coco import COCO_IDS
from lamuse.errors import ImageError, LibraryError
from lamuse.io import IMAGE_SUFFIXES, list_images, load_image, save_png_atomic
from lamuse.shape_index import IndexEntry, ShapeIndex
from lamuse.shapes import (
    BOTTOM,
    PHOTO_FRAME_MARGIN,
    STRAIGHT_BASE,
    cut_sides,
    frame_contact,
    hu_moments,
    mask_box,
    orientation,
    straight_base,
    touched_sides,
)
from lamuse.sources import read_sources_table
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
OCCLUSION_LIMIT = 0.5
"""An instance whose convex hull other instances cover for more than this share is mostly hidden behind
them and is skipped (see ``occlusion``). On the shared photos the highest are 0.44 (a fork whose hull
spans the bowl it lies in; a chair behind a pizza table) and 0.39 (a suitcase behind luggage straps): all
kept; crowded COCO street scenes go above."""
FRONT_CONTACT = 0.3
FRONT_CONTACT_LOW = 0.6
"""A figure whose outline runs along other objects of its photo for more than ``FRONT_CONTACT`` of its
length, at least ``FRONT_CONTACT_LOW`` of that on its lower half, is cut by something in front of it (a
table before seated people, the horse under its rider, the walker whose legs another hides) and is not
whole, though the frame does not cut it. On the shared photos: the family at table 0.42-0.59 (0.77-0.99
low), a rider 0.58 (0.93), that walker 0.42 (0.63: pasted for Raphael's Madonna, its coat ended on a
hard line); people standing free 0.00-0.22."""
FIGURE_CLASS_IDS = frozenset({1, *range(16, 26)})
"""COCO's person and animals: what stands on legs, which an object in front hides. A suitcase on another
suitcase or a cup on a table meets them along its lower outline and is still whole."""
SHARD_CHARS = 2
"""Cut-outs live in ``cutouts/<first two id characters>/``: 256 folders, ~400 files each at 100k."""


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
        whole: the object is not cut by its photo's frame nor, for a figure, by an object in front of it
            (``cut_in_front``) or along a straight edge below it (``shapes.straight_base``), and for a
            COCO person knees or ankles are annotated when keypoints are given: it may stand in for an
            element that stands whole in a painting.
        source_url / licence_url: links for a CC BY credit ("" when unknown).
    """

    id: str
    class_id: int
    class_name: str
    source: str
    subject: str
    credit: str
    source_url: str
    licence: str
    licence_url: str
    file: Path
    orientation: float
    elongation: float
    hu: np.ndarray
    whole: bool
    silhouette: np.ndarray
    cut_sides: int = 0
    """Where it was cut (``shapes`` side bits): the photo's edges it reaches, and the bottom of a figure
    something in front of it or a straight edge cuts; 0 for a whole one."""

    def load_rgba(self) -> Image.Image:
        try:
            with Image.open(self.file) as image:
                return image.convert("RGBA")
        except OSError as error:
            message = f"cut-out {self.id} is missing or damaged ({self.file}); re-add its photo"
            raise LibraryError(message) from error


CutoutItem = TypedDict(
    "CutoutItem",
    {
        "id": str,
        "class": str,
        "source": str,
        "source_url": str,
        "licence": str,
        "licence_url": str,
        "credit": str,
        "whole": bool,
    },
)
"""One cut-out as ``lamuse library show --json --items`` lists it (``class`` is a keyword, hence the
functional form)."""


@dataclass
class AddSummary:
    """What one ``library add`` run did."""

    photos_seen: int = 0
    photos_skipped: int = 0
    added: int = 0
    already_present: int = 0
    instances_skipped: Counter[str] = field(default_factory=Counter)
    per_class: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Subject:
    """An object to cut out of a photo, with what its source knows beyond the mask.

    Attributes:
        legs_visible: for a COCO person, whether a knee or an ankle is annotated (None: not known).
    """

    instance: Instance
    legs_visible: bool | None = None


_CUTOUT_COLUMNS = (
    "id, class_id, class_name, source, subject, credit, source_url, licence, licence_url, file, "
    "orientation, elongation, hu, whole, cut_sides, silhouette, silhouette_shape"
)
_NEW_COLUMNS = {"source_url": str, "licence_url": str, "whole": int, "cut_sides": int}
"""Columns added after the first release; older libraries get them (empty) on their next build."""


class CutoutLibrary:
    """A folder holding ``library.db``, ``index/`` (the shape index) and ``cutouts/<shard>/<id>.png``.

    A build marks the database ``building`` first and ``complete`` last, so an interrupted build is
    never taken for a finished library: opening it says so, and the same build run again resumes.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db_path = self.root / "library.db"
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None

    @property
    def exists(self) -> bool:
        return self.db_path.is_file()

    @property
    def is_complete(self) -> bool:
        """Whether a build finished here (the bot builds the library when this is false)."""
        try:
            self._check_complete()
        except LibraryError:
            return False
        return True

    def _connect(self) -> sqlite3.Connection:
        if not self.exists:
            raise LibraryError(
                f"no cut-out library at {self.root}; build one with `lamuse library add PHOTOS_DIR`"
            )
        try:
            connection = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            connection.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise LibraryError(f"the library database {self.db_path} is unreadable ({error})") from error
        return connection

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection, opened once per library object and shared by its readers (one at a
        time: the bot reads from worker threads)."""
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            try:
                yield self._connection
            except sqlite3.DatabaseError as error:
                message = f"the library database {self.db_path} is unreadable ({error})"
                raise LibraryError(message) from error

    def _forget_connection(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _check_complete(self, *, finishing: bool = False) -> int:
        """The row count of a finished, non-empty library; a clear error otherwise (``finishing``: the
        build that is about to mark it complete asks)."""
        with self._reading() as db:
            tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
            if "cutouts" not in tables:
                raise LibraryError(f"the library at {self.root} is empty")
            if "meta" in tables:
                state = db.execute("select value from meta where key = 'state'").fetchone()
                if state is not None and state[0] != "complete" and not finishing:
                    raise LibraryError(
                        f"the library at {self.root} was left half-built by an interrupted run; "
                        "run the same `lamuse library add` (or `library fetch coco`) again to finish it"
                    )
            count = int(db.execute("select count(*) from cutouts").fetchone()[0])
        if count == 0:
            raise LibraryError(f"the library at {self.root} is empty")
        return count

    def __len__(self) -> int:
        return self._check_complete()

    @cached_property
    def index(self) -> ShapeIndex:
        """The shape index, memory-mapped; rebuilt from the database when missing or stale."""
        return self._open_index(self._check_complete())

    def _open_index(self, rows: int) -> ShapeIndex:
        folder = self.root / "index"
        index = ShapeIndex.open(folder, rows=rows)
        if index is not None:
            return index
        index = self._build_index()
        try:
            index.save(folder, rows=rows)
        except OSError as error:
            log.warning("cannot save the shape index in %s (%s); it is kept in memory", folder, error)
        return index

    def _build_index(self) -> ShapeIndex:
        with self._reading() as db:
            columns = {row[1] for row in db.execute("pragma table_info(cutouts)")}
            whole, cut = (_select_expression(c, columns) for c in ("whole", "cut_sides"))
            query = (
                f"select id, class_id, source_sha256, {whole}, {cut}, orientation, elongation, "
                "silhouette, silhouette_shape from cutouts"
            )
            entries = []
            for row in db.execute(query):
                silhouette = _decode_silhouette(row["silhouette"], row["silhouette_shape"])
                entries.append(
                    IndexEntry(
                        id=row["id"],
                        class_id=int(row["class_id"]),
                        source=row["source_sha256"],
                        whole=bool(row["whole"]),
                        orientation=float(row["orientation"]),
                        elongation=float(row["elongation"]),
                        silhouette=silhouette,
                        cut_sides=_cut_sides_of(row["cut_sides"], bool(row["whole"]), silhouette),
                    )
                )
        return ShapeIndex.build(entries)

    def load(self, positions: Sequence[int]) -> list[Cutout]:
        """The cut-outs at these index positions, in that order (one query, only those rows)."""
        ids = [self.index.id_at(int(p)) for p in positions]
        return self.by_ids(ids)

    def by_ids(self, ids: Sequence[str]) -> list[Cutout]:
        """The cut-outs with these ids, in that order; an unknown id is an error."""
        found: dict[str, Cutout] = {}
        with self._reading() as db:
            columns = {row[1] for row in db.execute("pragma table_info(cutouts)")}
            select = ", ".join(_select_expression(c, columns) for c in _CUTOUT_COLUMNS.split(", "))
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                for row in db.execute(f"select {select} from cutouts where id in ({marks})", chunk):
                    found[row["id"]] = self._row_to_cutout(row)
        missing = [i for i in ids if i not in found]
        if missing:
            raise LibraryError(f"cut-out {missing[0]} is not in the library at {self.root}")
        return [found[i] for i in ids]

    @property
    def cutouts(self) -> list[Cutout]:
        """Every cut-out, read now (for small libraries and tools: selection goes through ``index``)."""
        index = self.index
        return self.load(range(len(index)))

    def _row_to_cutout(self, row: Mapping[str, Any]) -> Cutout:
        silhouette = _decode_silhouette(row["silhouette"], row["silhouette_shape"])
        return Cutout(
            id=row["id"],
            class_id=row["class_id"],
            class_name=row["class_name"],
            source=row["source"],
            subject=row["subject"],
            credit=row["credit"],
            source_url=row["source_url"] or "",
            licence=row["licence"] or "",
            licence_url=row["licence_url"] or "",
            file=self.root / row["file"],
            orientation=row["orientation"],
            elongation=row["elongation"],
            hu=np.asarray(json.loads(row["hu"]), dtype=np.float64),
            whole=bool(row["whole"]),
            silhouette=silhouette,
            cut_sides=_cut_sides_of(row["cut_sides"], bool(row["whole"]), silhouette),
        )

    def class_counts(self) -> Counter[str]:
        self._check_complete()
        with self._reading() as db:
            rows = db.execute("select class_name, count(*) from cutouts group by class_name").fetchall()
        return Counter({str(name): int(count) for name, count in rows})

    def items(self) -> Iterator[CutoutItem]:
        """Every cut-out's identity and attribution, streamed from the database in id order."""
        self._check_complete()
        with self._reading() as db:
            columns = {row[1] for row in db.execute("pragma table_info(cutouts)")}
            names = ("id", "class_name", "source", "source_url", "licence", "licence_url", "credit", "whole")
            select = ", ".join(_select_expression(c, columns) for c in names)
            for row in db.execute(f"select {select} from cutouts order by id"):
                yield {
                    "id": row["id"],
                    "class": row["class_name"],
                    "source": row["source"],
                    "source_url": row["source_url"] or "",
                    "licence": row["licence"] or "",
                    "licence_url": row["licence_url"] or "",
                    "credit": row["credit"],
                    "whole": bool(row["whole"]),
                }

    @contextmanager
    def building(self) -> Iterator[LibraryBuild]:
        """Open a build: the library reads as half-built until the block ends without an error, then the
        shape index is rebuilt and the library marked complete."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LibraryError(f"cannot build a library in {self.root}: {error.strerror or error}") from error
        self._forget_connection()
        db = sqlite_utils.Database(self.db_path)
        db.enable_wal()
        db.table("meta").insert({"key": "state", "value": "building"}, pk="key", replace=True)
        build = LibraryBuild(self, db)
        yield build
        self.__dict__.pop("index", None)
        self._forget_connection()
        if "cutouts" in db.table_names() and db.table("cutouts").count:
            self._open_index(self._check_complete(finishing=True))
        db.table("meta").insert({"key": "state", "value": "complete"}, pk="key", replace=True)
        db.close()
        self._forget_connection()

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
        """Cut every instance out of every photo under ``photos`` and index it (idempotent, resumable).

        Classes come, in order, from ``annotations`` (COCO instances), the ``classes`` mapping (file name →
        class name), or the photo's folder name when it is a COCO class (``objects/dog/x.jpg``); the
        object itself then comes from ``salient``. Photos whose class cannot be told, or that fail to
        load, are skipped and reported. Credits come from ``credits`` (see ``read_credits``).
        """
        files = list_images(photos, recursive=True)
        credits = credits if credits is not None else read_credits(photos)
        classes = classes or {}
        with self.building() as build:
            for path in tqdm(files, desc="cutting out", unit="photo", disable=not progress):
                try:
                    if (read := build.unseen(path)) is None:
                        continue
                    raw, digest = read
                    image = load_image(raw).image
                    instances, class_source = _instances_for(
                        path, photos, image, annotations, salient, classes
                    )
                except (ImageError, OSError, ValueError) as exc:
                    build.summary.photos_skipped += 1
                    build.summary.problems.append(f"{path.name}: {exc}")
                    continue
                if not instances:
                    build.summary.photos_skipped += 1
                    build.summary.problems.append(
                        f"{path.name}: no usable object (class unknown or too small)"
                    )
                    continue
                credit = credits.get(path.name, PhotoCredit.unknown(path.name))
                subjects = [Subject(instance) for instance in instances]
                build.add(path, str(path.relative_to(photos)), digest, image, subjects, credit, class_source)
        return build.summary


class LibraryBuild:
    """An open build (see ``CutoutLibrary.building``): adds the cut-outs of one photo at a time."""

    def __init__(self, library: CutoutLibrary, db: sqlite_utils.Database) -> None:
        self.library = library
        self.summary = AddSummary()
        self._table = db.table("cutouts")
        if "cutouts" in db.table_names():
            self._known = {
                row["source_sha256"] for row in db.query("select distinct source_sha256 from cutouts")
            }
            missing = {k: v for k, v in _NEW_COLUMNS.items() if k not in self._table.columns_dict}
            if missing:
                self._table.add_missing_columns([missing])
        else:
            self._known = set()

    def insert_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Rows made elsewhere, in the library's columns (the benchmark's synthetic silhouettes)."""
        self._table.insert_all(rows, pk="id", replace=True, alter=True, batch_size=2000)

    def unseen(self, path: Path) -> tuple[bytes, str] | None:
        """Read one photo of the build (counted as seen): its bytes and sha256, or None when a photo with
        this content is already in the library (counted as already present). OSError when unreadable."""
        self.summary.photos_seen += 1
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest in self._known:
            self.summary.already_present += 1
            return None
        return raw, digest

    def add(
        self,
        path: Path,
        relative: str,
        digest: str,
        image: Image.Image,
        subjects: Sequence[Subject],
        credit: PhotoCredit,
        class_source: str,
        *,
        occluders: Sequence[np.ndarray] = (),
    ) -> int:
        """Cut out every subject that passes the quality checks; returns how many were added.

        ``occluders``: masks of the photo's objects that are not subjects (crowd regions, other classes),
        which can hide a subject as well as the other subjects can.
        """
        rgb = np.asarray(image.convert("RGB"))
        rows = []
        for index, subject in enumerate(subjects):
            others = [s.instance.mask for s in subjects if s is not subject] + list(occluders)
            skip = _quality_problem(subject.instance.mask, others)
            if skip is not None:
                self.summary.instances_skipped[skip] += 1
                continue
            row = self._cut(rgb, subject, digest, index, path.name, relative, credit, class_source, others)
            rows.append(row)
            self.summary.per_class[subject.instance.class_name] += 1
        if rows:
            self._table.insert_all(rows, pk="id", replace=True, alter=True)
            self.summary.added += len(rows)
        else:
            self.summary.photos_skipped += 1
            self.summary.problems.append(f"{path.name}: no object passed the quality checks")
        self._known.add(digest)
        return len(rows)

    def _cut(
        self,
        rgb: np.ndarray,
        subject: Subject,
        digest: str,
        index: int,
        name: str,
        relative: str,
        credit: PhotoCredit,
        class_source: str,
        others: Sequence[np.ndarray],
    ) -> dict[str, Any]:
        instance = subject.instance
        mask = instance.mask
        box = mask_box(mask)
        assert box is not None  # _quality_problem refuses empty masks
        x0, y0, x1, y1 = box
        crop_mask = mask[y0:y1, x0:x1]
        rgba = np.dstack([rgb[y0:y1, x0:x1], crop_mask.astype(np.uint8) * 255])
        cutout = Image.fromarray(rgba, "RGBA")
        if max(cutout.size) > MAX_CUTOUT_SIDE:
            cutout.thumbnail((MAX_CUTOUT_SIDE, MAX_CUTOUT_SIDE), Image.Resampling.LANCZOS)
        cutout_id = f"{digest[:12]}-{index}"
        relative_png = Path("cutouts") / cutout_id[:SHARD_CHARS] / f"{cutout_id}.png"
        save_png_atomic(cutout, self.library.root / relative_png)
        angle, elongation = orientation(crop_mask)
        silhouette = silhouette_of(crop_mask)
        frame_sides = touched_sides(mask, PHOTO_FRAME_MARGIN)
        cut_across = instance.class_id in FIGURE_CLASS_IDS and _cut_across(mask, others)
        return {
            "id": cutout_id,
            "class_id": instance.class_id,
            "class_name": instance.class_name,
            "class_source": class_source,
            "source": name,
            "source_path": relative,
            "source_sha256": digest,
            "subject": credit.subject,
            "credit": credit.text,
            "source_url": credit.source_url,
            "licence": credit.licence,
            "licence_url": credit.licence_url,
            "file": str(relative_png),
            "width": x1 - x0,
            "height": y1 - y0,
            "mask_area": int(mask.sum()),
            "area_fraction": float(mask.mean()),
            "orientation": angle,
            "elongation": elongation,
            "hu": json.dumps([round(float(v), 6) for v in hu_moments(crop_mask)]),
            "truncated": int(frame_sides != 0),
            "whole": int(frame_sides == 0 and subject.legs_visible is not False and not cut_across),
            "cut_sides": frame_sides | (BOTTOM if cut_across else 0),
            "silhouette": np.packbits(silhouette.ravel()).tobytes(),
            "silhouette_shape": f"{silhouette.shape[0]}x{silhouette.shape[1]}",
        }


def _select_expression(column: str, present: set[str]) -> str:
    """A column of an older library that lacks it reads as its default."""
    if column in present:
        return column
    if column == "whole":
        return "1 - truncated as whole"
    if column == "cut_sides":
        return "null as cut_sides"
    return f"'' as {column}"


def _cut_sides_of(stored: int | None, whole: bool, silhouette: np.ndarray) -> int:
    """A cut-out's cut sides as stored, or, in a library built before they were, read off its
    silhouette (the straight sides it fills, ``shapes.cut_sides``)."""
    if stored is not None:
        return int(stored)
    return 0 if whole else cut_sides(silhouette)


def _decode_silhouette(packed: bytes, shape: str) -> np.ndarray:
    height, width = (int(v) for v in shape.split("x"))
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8))
    return bits[: height * width].reshape(height, width).astype(bool)


def _quality_problem(mask: np.ndarray, others: Sequence[np.ndarray]) -> str | None:
    """Why an instance makes no usable cut-out ("tiny", "fragment", "occluded"), or None."""
    box = mask_box(mask)
    if box is None:
        return "tiny"
    x0, y0, x1, y1 = box
    area = int(mask.sum())
    if area < MIN_AREA_FRACTION * mask.size or min(x1 - x0, y1 - y0) < MIN_SIDE_PX:
        return "tiny"
    if frame_contact(mask) > FRAGMENT_CONTACT + area / mask.size:
        return "fragment"
    if others and occlusion(mask, others) > OCCLUSION_LIMIT:
        return "occluded"
    return None


def _cut_across(mask: np.ndarray, others: Sequence[np.ndarray]) -> bool:
    """Whether a figure is cut by something in front of it or along a straight edge below it."""
    return cut_in_front(mask, others) or straight_base(mask) >= STRAIGHT_BASE


def cut_in_front(mask: np.ndarray, others: Sequence[np.ndarray]) -> bool:
    """Whether other objects run along the lower part of ``mask``'s outline (``FRONT_CONTACT``)."""
    box = mask_box(mask)
    if box is None or not others:
        return False
    x0, y0, x1, y1 = box
    pad = 3
    wx0, wy0 = max(0, x0 - pad), max(0, y0 - pad)
    wx1, wy1 = min(mask.shape[1], x1 + pad), min(mask.shape[0], y1 + pad)
    local = mask[wy0:wy1, wx0:wx1].astype(np.uint8)
    outline = local.astype(bool) & ~cv2.erode(local, np.ones((3, 3), np.uint8)).astype(bool)
    beside = np.zeros_like(outline)
    for other in others:
        beside |= other[wy0:wy1, wx0:wx1]
    near = cv2.dilate(beside.astype(np.uint8), np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)).astype(bool)
    touching = outline & near
    length = int(outline.sum())
    if length == 0 or touching.sum() <= FRONT_CONTACT * length:
        return False
    rows = np.nonzero(touching)[0] + wy0
    return bool((rows > (y0 + y1) / 2).mean() >= FRONT_CONTACT_LOW)


def occlusion(mask: np.ndarray, others: Sequence[np.ndarray]) -> float:
    """Share of an instance's convex hull that other instances cover: what stands in front of it and
    cuts it into pieces (0 for an object standing free or lying on a table, whose mask excludes it)."""
    box = mask_box(mask)
    if box is None:
        return 0.0
    x0, y0, x1, y1 = box
    local = mask[y0:y1, x0:x1].astype(np.uint8)
    contours, _ = cv2.findContours(local, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros_like(local)
    cv2.fillPoly(hull, [cv2.convexHull(np.concatenate(contours))], 1)
    covered = np.zeros_like(local, dtype=bool)
    for other in others:
        covered |= other[y0:y1, x0:x1]
    covered &= hull.astype(bool) & ~local.astype(bool)
    return float(covered.sum() / max(int(hull.sum()), 1))


def _instances_for(
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
    """Where a photo comes from, in words fit for an explanation.

    With ``source_url`` and ``licence_url`` (COCO photos) the text is a CC BY attribution: the source
    ("COCO train2017 image 189775") with its link, and the licence with its link.
    """

    subject: str
    author: str
    licence: str
    source_url: str = ""
    licence_url: str = ""

    @property
    def text(self) -> str:
        if self.source_url or self.licence_url:
            source = ", ".join(p for p in (self.author, self.source_url) if p)
            licence = f"{self.licence} {self.licence_url}".strip()
            return "; ".join(p for p in (source, licence) if p)
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
            credits.update(_credits_from_table(candidate))
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


def _credits_from_table(sources: Path) -> Iterator[tuple[str, PhotoCredit]]:
    for file_name, row in read_sources_table(sources).items():
        if "subject" not in row:
            continue
        subject = re.sub(r"\s*[\[(].*$", "", row["subject"]).strip()
        author = row.get("author / origin", row.get("author", ""))
        licence = re.sub(r"\s*\(.*$", "", row.get("licence", row.get("license", ""))).strip()
        yield file_name, PhotoCredit(subject=subject, author=author, licence=licence)


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

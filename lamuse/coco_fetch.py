"""`lamuse library fetch coco`: licence-clean, credited cut-outs from COCO in one command.

Downloads the official annotations zip (resumed with HTTP ranges, its CRCs checked before use), keeps the
images whose licence the operator allows, fetches only those (bounded concurrency, retries with backoff,
each written to a ``.part`` file and decoded in full before it is renamed into place, so an interrupted or
damaged download is never taken as complete), then cuts their instances into the library with credits
fit for CC BY. Running it again downloads nothing new and adds 0 cut-outs.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image
from tqdm import tqdm

from lamuse.coco import COCO_NAMES, segmentation_to_mask
from lamuse.errors import ImageError, LamuseError
from lamuse.io import load_image
from lamuse.library import AddSummary, CutoutLibrary, PhotoCredit, Subject
from lamuse.segment._masks import make_instance

log = logging.getLogger(__name__)

COCO_BASE_URL = "http://images.cocodataset.org"
ANNOTATIONS_ZIP = "annotations/annotations_trainval2017.zip"
MIN_INSTANCE_AREA = 4096
"""COCO ``area`` below which an instance is too small to make a cut-out (the original La Muse filter)."""
MAX_PER_CLASS = 2000
MEAN_IMAGE_BYTES = 163_000
"""train2017 is 18.0 GB for 118,287 images; the dry run estimates image bytes with this mean."""
KNEES_AND_ANKLES = (13, 14, 15, 16)
"""COCO person keypoint indices of the knees and ankles."""
CHUNK = 1 << 16


@dataclass(frozen=True)
class Licence:
    """A COCO licence id as an attribution states it."""

    name: str
    url: str
    restricted: bool
    """Non-commercial or no-derivatives: a collage is a derivative, so only when the operator asks."""


LICENCES: Mapping[int, Licence] = {
    1: Licence("CC BY-NC-SA 2.0", "http://creativecommons.org/licenses/by-nc-sa/2.0/", True),
    2: Licence("CC BY-NC 2.0", "http://creativecommons.org/licenses/by-nc/2.0/", True),
    3: Licence("CC BY-NC-ND 2.0", "http://creativecommons.org/licenses/by-nc-nd/2.0/", True),
    4: Licence("CC BY 2.0", "http://creativecommons.org/licenses/by/2.0/", False),
    5: Licence("CC BY-SA 2.0", "http://creativecommons.org/licenses/by-sa/2.0/", False),
    6: Licence("CC BY-ND 2.0", "http://creativecommons.org/licenses/by-nd/2.0/", True),
    7: Licence("No known copyright restrictions", "http://flickr.com/commons/usage/", False),
    8: Licence("United States Government Work", "http://www.usa.gov/copyright.shtml", False),
}
DEFAULT_LICENCES = (4, 5, 7, 8)


class FetchError(LamuseError):
    """A download that cannot be completed or verified."""


@dataclass(frozen=True)
class FetchOptions:
    """What ``fetch coco`` downloads and where (one place for its defaults)."""

    downloads: Path
    split: str = "train2017"
    base_url: str = COCO_BASE_URL
    licences: tuple[int, ...] = DEFAULT_LICENCES
    classes: tuple[str, ...] = ()
    max_per_class: int = MAX_PER_CLASS
    limit: int | None = None
    concurrency: int = 8
    retries: int = 4
    backoff_s: float = 0.5
    dry_run: bool = False
    progress: bool = True


@dataclass(frozen=True)
class CocoPhoto:
    """One selected COCO image with its kept instances."""

    id: int
    file_name: str
    url: str
    flickr_url: str
    licence: int
    width: int
    height: int
    annotations: tuple[Mapping[str, Any], ...]
    """The kept instances (not crowd, large enough, an allowed class)."""
    occluders: tuple[Mapping[str, Any], ...]
    """Every instance of the image, crowd regions included, for the occlusion check."""


@dataclass
class FetchSummary:
    """What one ``fetch coco`` run found, downloaded and added."""

    split: str
    images: int = 0
    instances: int = 0
    estimated_bytes: int = 0
    downloaded: int = 0
    already_downloaded: int = 0
    failed: int = 0
    per_licence: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    library: AddSummary | None = None


def warn_restricted(licences: Sequence[int]) -> list[str]:
    """Warnings for the licences that forbid commercial use or derivatives (empty for the defaults)."""
    unknown = [i for i in licences if i not in LICENCES]
    if unknown:
        raise FetchError(f"unknown COCO licence ids: {', '.join(map(str, unknown))} (known: 1-8)")
    return [
        f"licence {i} ({LICENCES[i].name}) forbids commercial use or derivatives: outputs made with "
        "these cut-outs may not be shared commercially, or at all if ND"
        for i in licences
        if LICENCES[i].restricted
    ]


def fetch_coco(library_dir: Path, options: FetchOptions) -> FetchSummary:
    """Download, select, fetch and cut out; see the module docstring."""
    warn_restricted(options.licences)
    if options.split not in ("train2017", "val2017"):
        raise FetchError(f"unknown split {options.split!r}: train2017 or val2017")
    try:
        options.downloads.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        raise FetchError(f"cannot use {options.downloads} for downloads: {reason}") from error
    zip_path = options.downloads / Path(ANNOTATIONS_ZIP).name
    asyncio.run(_download_annotations(f"{options.base_url.rstrip('/')}/{ANNOTATIONS_ZIP}", zip_path, options))
    photos, categories = select_photos(zip_path, options)
    summary = FetchSummary(split=options.split, images=len(photos))
    summary.instances = sum(len(p.annotations) for p in photos)
    summary.per_licence.update(LICENCES[p.licence].name for p in photos)
    image_dir = options.downloads / options.split
    missing = [p for p in photos if not (image_dir / p.file_name).is_file()]
    summary.already_downloaded = len(photos) - len(missing)
    summary.estimated_bytes = len(missing) * MEAN_IMAGE_BYTES
    if options.dry_run:
        return summary
    image_dir.mkdir(parents=True, exist_ok=True)
    failures = asyncio.run(_download_images(missing, image_dir, options))
    summary.failed = len(failures)
    summary.downloaded = len(missing) - len(failures)
    summary.problems.extend(f"{name}: {reason}" for name, reason in failures.items())
    summary.library = _ingest(
        library_dir, image_dir, [p for p in photos if p.file_name not in failures], categories, options
    )
    return summary


def select_photos(zip_path: Path, options: FetchOptions) -> tuple[list[CocoPhoto], dict[int, str]]:
    """The images of the split with an allowed licence and at least one usable instance."""
    instances = _read_member(zip_path, f"annotations/instances_{options.split}.json")
    keypoints = _read_member(zip_path, f"annotations/person_keypoints_{options.split}.json")
    legs = {int(a["id"]): _legs_annotated(a.get("keypoints") or []) for a in keypoints.get("annotations", [])}
    categories = {int(c["id"]): str(c["name"]) for c in instances.get("categories", [])}
    wanted = set(options.classes)
    unknown = wanted - set(categories.values())
    if unknown:
        raise FetchError(f"not COCO classes: {', '.join(sorted(unknown))}")
    allowed = set(options.licences)
    images = {int(im["id"]): im for im in instances["images"] if int(im.get("license", 0)) in allowed}
    every: dict[int, list[Mapping[str, Any]]] = {}
    kept: dict[int, list[Mapping[str, Any]]] = {}
    per_class: Counter[int] = Counter()
    for ann in sorted(instances["annotations"], key=lambda a: int(a["id"])):
        image_id = int(ann["image_id"])
        if image_id not in images:
            continue
        every.setdefault(image_id, []).append(ann)
        category = int(ann["category_id"])
        if ann.get("iscrowd") or float(ann.get("area", 0)) < MIN_INSTANCE_AREA:
            continue
        if wanted and categories.get(category) not in wanted:
            continue
        if per_class[category] >= options.max_per_class:
            continue
        per_class[category] += 1
        kept.setdefault(image_id, []).append({**ann, "legs_visible": legs.get(int(ann["id"]))})
    photos = []
    for image_id in sorted(kept):
        image = images[image_id]
        photos.append(
            CocoPhoto(
                id=image_id,
                file_name=str(image["file_name"]),
                url=_rebase(
                    str(image.get("coco_url") or f"{COCO_BASE_URL}/{options.split}/{image['file_name']}"),
                    options.base_url,
                ),
                flickr_url=str(image.get("flickr_url") or ""),
                licence=int(image["license"]),
                width=int(image["width"]),
                height=int(image["height"]),
                annotations=tuple(kept[image_id]),
                occluders=tuple(every[image_id]),
            )
        )
        if options.limit is not None and len(photos) >= options.limit:
            break
    return photos, categories


def _legs_annotated(keypoints: Sequence[float]) -> bool | None:
    """Whether a knee or an ankle is labelled (visibility > 0); None when the person has no keypoints."""
    if len(keypoints) < 51 or not any(keypoints[2::3]):
        return None
    return any(keypoints[3 * k + 2] > 0 for k in KNEES_AND_ANKLES)


def _rebase(url: str, base_url: str) -> str:
    return base_url.rstrip("/") + url[len(COCO_BASE_URL) :] if url.startswith(COCO_BASE_URL) else url


def _read_member(zip_path: Path, member: str) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(zip_path) as archive, archive.open(member) as handle:
            data = json.load(handle)
    except KeyError as error:
        raise FetchError(f"{zip_path.name} has no {member}") from error
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise FetchError(f"cannot read {member} from {zip_path.name}: {error}") from error
    if not isinstance(data, dict) or "images" not in data:
        raise FetchError(f"{member} in {zip_path.name} is not COCO annotations JSON")
    return data


def _verify_zip(path: Path) -> None:
    """Every member's CRC and size, as the archive's directory declares them."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise FetchError(f"{path.name} is not a complete zip ({error})") from error
    if bad is not None:
        raise FetchError(f"{path.name} is corrupt: {bad} fails its CRC check")


async def _download_annotations(url: str, path: Path, options: FetchOptions) -> None:
    """Fetch the annotations zip into ``path``, resuming a ``.part`` left by an interrupted run."""
    if path.is_file():
        return
    part = path.with_name(path.name + ".part")
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for attempt in range(options.retries + 1):
            try:
                await _download_resumable(session, url, part, options.progress)
                break
            except (TimeoutError, aiohttp.ClientError, FetchError) as error:
                if attempt == options.retries:
                    raise FetchError(f"cannot download {url}: {error}") from error
                log.warning("annotations download interrupted (%s); retrying", error)
                await asyncio.sleep(options.backoff_s * 2**attempt)
    try:
        _verify_zip(part)
    except FetchError:
        part.unlink(missing_ok=True)
        raise
    part.rename(path)


async def _download_resumable(session: aiohttp.ClientSession, url: str, part: Path, progress: bool) -> None:
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    async with session.get(url, headers=headers) as response:
        if response.status == 416:
            return
        if response.status not in (200, 206):
            raise FetchError(f"HTTP {response.status}")
        if response.status == 200:
            have = 0
        total = have + (response.content_length or 0)
        mode = "ab" if response.status == 206 else "wb"
        with (
            open(part, mode) as out,
            tqdm(
                total=total or None,
                initial=have,
                unit="B",
                unit_scale=True,
                desc="annotations",
                disable=not progress,
            ) as bar,
        ):
            async for chunk in response.content.iter_chunked(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        if total and part.stat().st_size != total:
            raise FetchError(f"got {part.stat().st_size} of {total} bytes")


async def _download_images(
    photos: Sequence[CocoPhoto], folder: Path, options: FetchOptions
) -> dict[str, str]:
    """Fetch every photo (at most ``concurrency`` at once); returns the failures, by file name."""
    failures: dict[str, str] = {}
    limit = asyncio.Semaphore(options.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    bar = tqdm(total=len(photos), unit="image", desc="images", disable=not options.progress)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(photo: CocoPhoto) -> None:
            async with limit:
                reason = await _download_image(session, photo, folder, options)
            if reason is not None:
                failures[photo.file_name] = reason
            bar.update(1)

        await asyncio.gather(*(one(p) for p in photos))
    bar.close()
    return failures


async def _download_image(
    session: aiohttp.ClientSession, photo: CocoPhoto, folder: Path, options: FetchOptions
) -> str | None:
    """One image, retried with backoff; None when it is in place, else why not."""
    final = folder / photo.file_name
    part = final.with_name(final.name + ".part")
    reason = "not tried"
    for attempt in range(options.retries + 1):
        try:
            async with session.get(photo.url) as response:
                if response.status == 404:
                    return "HTTP 404"
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                data = await response.read()
                if response.content_length is not None and len(data) != response.content_length:
                    raise FetchError(f"got {len(data)} of {response.content_length} bytes")
            _check_image(data, photo)
            part.write_bytes(data)
            part.rename(final)
            return None
        except (TimeoutError, aiohttp.ClientError, FetchError) as error:
            reason = str(error) or type(error).__name__
        except ImageError as error:
            return f"damaged image ({error})"
        if attempt < options.retries:
            await asyncio.sleep(options.backoff_s * 2**attempt)
    part.unlink(missing_ok=True)
    return reason


def _check_image(data: bytes, photo: CocoPhoto) -> None:
    """Decode in full: a damaged or truncated file raises ``ImageError``, never lands on disk."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            size = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"it does not decode: {error}", reason="truncated") from error
    if size != (photo.width, photo.height):
        raise ImageError(f"{size[0]}x{size[1]}, the annotations say {photo.width}x{photo.height}")


def _ingest(
    library_dir: Path,
    image_dir: Path,
    photos: Sequence[CocoPhoto],
    categories: Mapping[int, str],
    options: FetchOptions,
) -> AddSummary:
    library = CutoutLibrary(library_dir)
    with library.building() as build:
        for photo in tqdm(photos, desc="cutting out", unit="photo", disable=not options.progress):
            path = image_dir / photo.file_name
            try:
                if (read := build.unseen(path)) is None:
                    continue
                raw, digest = read
                image = load_image(raw).image
                if image.size != (photo.width, photo.height):
                    raise ImageError(f"decoded as {image.size}, annotated as {(photo.width, photo.height)}")
                subjects = _subjects(photo, categories)
            except (ImageError, OSError, ValueError) as error:
                build.summary.photos_skipped += 1
                build.summary.problems.append(f"{photo.file_name}: {error}")
                continue
            kept = {int(a["id"]) for a in photo.annotations}
            licence = LICENCES[photo.licence]
            names = sorted({s.instance.class_name for s in subjects})
            credit = PhotoCredit(
                subject="a photo of " + " and ".join(names[:3]),
                author=f"COCO {options.split} image {photo.id}",
                licence=licence.name,
                source_url=photo.flickr_url or photo.url,
                licence_url=licence.url,
            )
            build.add(
                path,
                f"{options.split}/{photo.file_name}",
                digest,
                image,
                subjects,
                credit,
                "coco",
                occluders=[_mask(a, photo) for a in photo.occluders if int(a["id"]) not in kept],
            )
    return build.summary


def _mask(annotation: Mapping[str, Any], photo: CocoPhoto) -> Any:
    return segmentation_to_mask(annotation["segmentation"], photo.height, photo.width)


def _subjects(photo: CocoPhoto, categories: Mapping[int, str]) -> list[Subject]:
    subjects = []
    for annotation in photo.annotations:
        category = int(annotation["category_id"])
        name = categories.get(category) or COCO_NAMES.get(category, str(category))
        instance = make_instance(category, name, 1.0, _mask(annotation, photo))
        if instance is not None:
            subjects.append(Subject(instance, legs_visible=annotation.get("legs_visible")))
    return subjects


def describe(summary: FetchSummary, dry_run: bool) -> list[str]:
    """The lines the CLI prints for a fetch."""
    licences = ", ".join(f"{name} {count}" for name, count in sorted(summary.per_licence.items()))
    lines = [
        f"COCO {summary.split}: {summary.images} images with {summary.instances} usable instances "
        f"({licences or 'none'})"
    ]
    if dry_run:
        lines.append(
            f"to download: {summary.images - summary.already_downloaded} images, about "
            f"{summary.estimated_bytes / 1e9:.3f} GB at {MEAN_IMAGE_BYTES // 1000} KB an image "
            f"(already here: {summary.already_downloaded})"
        )
        return lines
    lines.append(
        f"downloaded {summary.downloaded}, already here {summary.already_downloaded}, failed {summary.failed}"
    )
    if summary.library is not None:
        added = summary.library
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(added.instances_skipped.items()))
        lines.append(
            f"{added.added} cut-outs added ({added.already_present} photos already in the library"
            f"{'; instances skipped: ' + skipped if skipped else ''})"
        )
    lines.extend(f"  failed {problem}" for problem in summary.problems)
    return lines

"""`lamuse library fetch coco` against a COCO-shaped site on 127.0.0.1, built from the shared photos.

The site has the official layout (``annotations/annotations_trainval2017.zip`` holding
``instances_train2017.json`` and ``person_keypoints_train2017.json``, images under ``train2017/``), real
shared photos under COCO file names, and licences spread over ids 1-8 so some images are NC.
"""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lamuse.cli import main
from lamuse.library import CutoutLibrary

from .conftest import PHOTO_ANNOTATIONS, PHOTOS

LICENCE_CYCLE = (4, 2, 5, 7, 1, 8, 4, 3)
"""Licence per image, in turn: ids 1, 2 and 3 are non-commercial."""
UPPER_BODY_ONLY = 1
"""Annotation id given keypoints with shoulders but no knee or ankle: a bust, never ``whole``."""


@dataclass
class Site:
    """The files served, what was asked for, and faults to inject."""

    root: Path
    licences: dict[int, int]
    flickr: dict[int, str]
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_zip_after: int | None = None
    garbled: set[str] = field(default_factory=set)
    url: str = ""


def _build_site(root: Path) -> Site:
    data = json.loads(PHOTO_ANNOTATIONS.read_text())
    images, licences, flickr = [], {}, {}
    ids = {}
    for number, image in enumerate(data["images"]):
        coco_id = int(image["coco_id"])
        name = f"{coco_id:012d}.jpg"
        (root / "train2017").mkdir(parents=True, exist_ok=True)
        (root / "train2017" / name).write_bytes((PHOTOS / image["file_name"]).read_bytes())
        licences[coco_id] = LICENCE_CYCLE[number % len(LICENCE_CYCLE)]
        flickr[coco_id] = f"http://farm{number % 9 + 1}.staticflickr.com/{coco_id}_test_z.jpg"
        ids[image["id"]] = coco_id
        images.append(
            {
                "id": coco_id,
                "file_name": name,
                "width": image["width"],
                "height": image["height"],
                "license": licences[coco_id],
                "coco_url": f"http://images.cocodataset.org/train2017/{name}",
                "flickr_url": flickr[coco_id],
            }
        )
    annotations = [{**a, "image_id": ids[a["image_id"]]} for a in data["annotations"]]
    people = []
    for ann in annotations:
        if ann["category_id"] != 1:
            continue
        keypoints = [0.0] * 51
        for k in (5, 6) if ann["id"] == UPPER_BODY_ONLY else (5, 6, 13, 14, 15, 16):
            keypoints[3 * k + 2] = 2
        people.append({**ann, "keypoints": keypoints, "num_keypoints": int(sum(keypoints[2::3]) / 2)})
    licence_table = [{"id": i, "name": f"licence {i}", "url": f"http://example/{i}"} for i in range(1, 9)]
    instances = {"images": images, "annotations": annotations, "categories": data["categories"]}
    instances["licenses"] = licence_table
    keypoints_file = {**instances, "annotations": people}
    (root / "annotations").mkdir()
    archive = root / "annotations" / "annotations_trainval2017.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("annotations/instances_train2017.json", json.dumps(instances))
        z.writestr("annotations/person_keypoints_train2017.json", json.dumps(keypoints_file))
        z.writestr("annotations/captions_train2017.json", json.dumps({"images": [], "annotations": []}))
    return Site(root=root, licences=licences, flickr=flickr)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            site.requests.append((self.path, self.headers.get("Range")))
            path = site.root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            if self.path.lstrip("/") in site.garbled:
                body = b"\x00garbled" * 16 + body[128:]
            start = 0
            if (wanted := self.headers.get("Range")) is not None:
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            payload = body[start:]
            if self.path.endswith(".zip") and site.cut_zip_after is not None:
                cut, site.cut_zip_after = site.cut_zip_after, None
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    built = _build_site(tmp_path / "site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(built))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    built.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield built
    server.shutdown()
    server.server_close()
    thread.join()


def _fetch(site: Site, tmp_path: Path, *extra: str) -> int:
    argv = ["library", "fetch", "coco", "--base-url", site.url, "--library", str(tmp_path / "lib")]
    argv += ["--downloads", str(tmp_path / "downloads"), "--no-progress", "--retries", "1", *extra]
    return main(argv)


def _image_requests(site: Site) -> list[str]:
    return [path for path, _ in site.requests if path.startswith("/train2017/")]


def test_fetch_builds_a_licence_clean_credited_library(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only free-licence images are downloaded and cut out; every credit carries the Flickr link and the
    licence with its link; a second fetch downloads nothing and adds 0."""
    assert _fetch(site, tmp_path) == 0
    free = {i for i, licence in site.licences.items() if licence in (4, 5, 7, 8)}
    fetched = {int(Path(p).stem) for p in _image_requests(site)}
    assert fetched and fetched <= free
    assert main(["library", "show", "--json", "--items", "--library", str(tmp_path / "lib")]) == 0
    fetch_out, _, show_out = capsys.readouterr().out.partition("\n{")
    assert "cut-outs added" in fetch_out
    shown = json.loads("{" + show_out)
    assert shown["cutouts"] == len(shown["items"]) > 20
    licence_urls = {4: "/licenses/by/2.0/", 5: "/licenses/by-sa/2.0/", 7: "flickr.com/commons", 8: "usa.gov"}
    for item in shown["items"]:
        coco_id = int(Path(item["source"]).stem)
        assert site.licences[coco_id] in (4, 5, 7, 8)
        assert item["source_url"] == site.flickr[coco_id] and site.flickr[coco_id] in item["credit"]
        assert licence_urls[site.licences[coco_id]] in item["licence_url"]
        assert item["licence"] in item["credit"] and item["licence_url"] in item["credit"]
        assert f"COCO train2017 image {coco_id}" in item["credit"]
        assert set(item) == {"id", "class", "source", "source_url", "licence", "licence_url", "credit"} | {
            "whole"
        }
    requests_before = len(_image_requests(site))
    assert _fetch(site, tmp_path) == 0
    out = capsys.readouterr().out
    assert "0 cut-outs added" in out and len(_image_requests(site)) == requests_before


def test_whole_flag_follows_the_frame_and_the_keypoints(site: Site, tmp_path: Path) -> None:
    """A person whose keypoints have no knee or ankle is not ``whole``; one cut by the photo frame
    neither; one standing free with legs annotated is."""
    assert _fetch(site, tmp_path) == 0
    library = CutoutLibrary(tmp_path / "lib")
    people = [c for c in library.cutouts if c.class_name == "person"]
    assert any(c.whole for c in people) and any(not c.whole for c in people)
    data = json.loads(PHOTO_ANNOTATIONS.read_text())
    bust = next(a for a in data["annotations"] if a["id"] == UPPER_BODY_ONLY)
    image = next(i for i in data["images"] if i["id"] == bust["image_id"])
    if site.licences[int(image["coco_id"])] in (4, 5, 7, 8):
        from_bust_photo = [c for c in people if int(Path(c.source).stem) == image["coco_id"]]
        assert from_bust_photo and not all(c.whole for c in from_bust_photo)


def test_an_interrupted_zip_download_resumes(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zip cut off mid-way is kept as ``.part`` (never taken as complete); the next run asks for the
    rest with a Range request and finishes."""
    size = (site.root / "annotations" / "annotations_trainval2017.zip").stat().st_size
    site.cut_zip_after = size // 2
    assert _fetch(site, tmp_path, "--retries", "0") == 2
    assert "error:" in capsys.readouterr().err
    part = tmp_path / "downloads" / "annotations_trainval2017.zip.part"
    assert part.is_file() and part.stat().st_size == size // 2
    assert not (tmp_path / "downloads" / "annotations_trainval2017.zip").exists()
    assert _fetch(site, tmp_path) == 0
    assert ("/annotations/annotations_trainval2017.zip", f"bytes={size // 2}-") in site.requests
    assert len(CutoutLibrary(tmp_path / "lib")) > 20


def test_a_corrupted_zip_is_detected(site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A zip with a damaged member (same size) fails its CRC check: exit 2, nothing kept, no library."""
    path = site.root / "annotations" / "annotations_trainval2017.zip"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    assert _fetch(site, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "CRC" in err and "\n" not in err.rstrip("\n")
    assert not list((tmp_path / "downloads").glob("*.zip*"))
    assert not (tmp_path / "lib").exists()


def test_a_corrupted_image_is_detected_and_skipped(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image that does not decode is reported, never saved, and yields no cut-out; the rest go on."""
    free = sorted(i for i, licence in site.licences.items() if licence in (4, 5, 7, 8))
    damaged = f"{free[0]:012d}.jpg"
    site.garbled.add(f"train2017/{damaged}")
    assert _fetch(site, tmp_path) == 0
    out = capsys.readouterr().out
    assert f"failed {damaged}: damaged image" in out
    assert not (tmp_path / "downloads" / "train2017" / damaged).exists()
    sources = {c["source"] for c in CutoutLibrary(tmp_path / "lib").items()}
    assert damaged not in sources and len(sources) > 5


def test_dry_run_counts_and_downloads_no_image(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dry run says how many images, instances and bytes, and fetches only the annotations."""
    assert _fetch(site, tmp_path, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "usable instances" in out and "GB" in out
    assert not _image_requests(site) and not (tmp_path / "lib").exists()


def test_non_commercial_licences_only_when_asked(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking for NC licences warns; their images then come too."""
    assert _fetch(site, tmp_path, "--licences", "2,4", "--dry-run") == 0
    captured = capsys.readouterr()
    assert "warning: licence 2 (CC BY-NC 2.0)" in captured.err
    assert "CC BY-NC 2.0" in captured.out


def test_a_reinterpretation_from_coco_cut_outs_credits_them_for_cc_by(site: Site, tmp_path: Path) -> None:
    """Each swap of the trace names the photo's link and the licence with its link, and so does the
    explanation (not "Flickr user")."""
    from PIL import Image

    from lamuse.pipeline import Pipeline
    from lamuse.segment import ChainSegmenter
    from lamuse.segment.annotations import AnnotationSegmenter
    from lamuse.types import ReinterpretOptions

    from .conftest import PAINTING_ANNOTATIONS, PAINTINGS

    assert _fetch(site, tmp_path) == 0
    pipeline = Pipeline(
        segmenter=ChainSegmenter([AnnotationSegmenter([PAINTING_ANNOTATIONS])]),
        library=CutoutLibrary(tmp_path / "lib"),
    )
    name = "monet_woman_with_parasol.jpg"
    result = pipeline.reinterpret(
        Image.open(PAINTINGS / name).convert("RGB"),
        name=name,
        options=ReinterpretOptions(size=512, stylize=False),
    )
    swaps = result.trace["swaps"]
    assert swaps
    for swap in swaps:
        assert swap["source_url"].startswith("http://farm") and swap["licence_url"].startswith("http")
        assert swap["source_url"] in swap["credit"] and swap["licence_url"] in swap["credit"]
        assert swap["source_url"] in result.explanation and swap["licence_url"] in result.explanation
        assert swap["whole_policy"] in ("whole", "other_class_whole", "frame_cut_only", "element_cut")
    assert "Flickr user" not in result.explanation


def test_bad_fetch_settings_exit_2_with_one_line(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown licence id, a downloads folder that is a file, an unreachable mirror: one error line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        ["--licences", "9"],
        ["--downloads", str(blocker)],
        ["--base-url", "http://127.0.0.1:9", "--retries", "0"],
    ]
    for extra in cases:
        assert _fetch(site, tmp_path, *extra) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err

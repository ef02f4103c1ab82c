"""A fast, deterministic engine double with the real Engine protocol (no torch)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from bot.engine import decode_image
from lamuse.coco import COCO_IDS
from lamuse.types import BackgroundRecord, Reinterpretation, ReinterpretOptions, SwapRecord, Trace

CUTOUTS = [f"cut{i:02d}" for i in range(8)]
SOURCES = ["cat", "teapot", "bicycle", "giraffe", "umbrella", "pizza", "astronaut", "bear"]


class FakeEngine:
    """Resizes to ``options.size``, posterizes by seed and invents swaps from the shared annotations."""

    def __init__(self, annotations: Path | None = None, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[dict[str, Any]] = []
        self.avoided: list[tuple[str, ...]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()
        self.before_call: Callable[[], None] | None = None
        self._classes: dict[str, list[str]] = {}
        if annotations is not None and annotations.is_file():
            data = json.loads(annotations.read_text())
            names = {c["id"]: c["name"] for c in data["categories"]}
            files = {i["id"]: Path(i["file_name"]).stem for i in data["images"]}
            for ann in data["annotations"]:
                self._classes.setdefault(files[ann["image_id"]], []).append(names[ann["category_id"]])

    def load_image(self, data: bytes | Path) -> Image.Image:
        return decode_image(data)

    def _record(self, kind: str, **info: Any) -> None:
        with self.lock:
            self.calls.append({"kind": kind, "thread": threading.current_thread().name, **info})
        if self.before_call is not None:
            self.before_call()
        if self.delay_s:
            time.sleep(self.delay_s)

    def reinterpret_variations(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variations: Sequence[int],
        on_stage: Callable[[str], None] | None = None,
        cutout_weights: Mapping[str, float] | None = None,
        background_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
        style_name: str | None = None,
    ) -> list[Reinterpretation]:
        stage = on_stage or (lambda _s: None)
        self.avoided.append(tuple(avoid_cutouts))
        stage("segment")
        self._record(
            "reinterpret",
            name=name,
            seed=options.seed,
            variations=list(variations),
            keep_colors=options.keep_colors,
        )
        return [self._variation(painting, name, options, v, stage, cutout_weights) for v in variations]

    def _variation(
        self,
        painting: Image.Image,
        name: str,
        options: ReinterpretOptions,
        variation: int,
        stage: Callable[[str], None],
        cutout_weights: Mapping[str, float] | None,
    ) -> Reinterpretation:
        rng = random.Random(f"{options.seed}:{variation}")
        image = painting.copy()
        image.thumbnail((options.size, options.size), Image.Resampling.BILINEAR)
        stage("substitute")
        classes = self._classes.get(name) or ["person"]
        weights = [float((cutout_weights or {}).get(c, 1.0)) for c in CUTOUTS]
        swaps: list[SwapRecord] = []
        for index, cls in enumerate(classes[:4]):
            cutout = rng.choices(CUTOUTS, weights=weights, k=1)[0]
            subject = SOURCES[CUTOUTS.index(cutout)]
            swaps.append(
                {
                    "class": cls,
                    "class_id": COCO_IDS.get(cls, 0),
                    "box": [index * 10, index * 10, index * 10 + 50, index * 10 + 50],
                    "original_mask_area": 2500,
                    "cutout_id": cutout,
                    "cutout_class": subject,
                    "same_class": False,
                    "source": "fake.jpg",
                    "subject": subject,
                    "credit": "Jane *Doe* @everyone (CC BY 4.0)",
                    "shape_distance": 0.1,
                    "mask_iou": 0.8,
                    "placement": {"flip": False, "rotation_deg": 0.0, "aspect_change": 1.0, "size": [50, 50]},
                }
            )
        stage("stylize")
        levels = 3 + (options.seed + variation) % 4
        styled = image if options.keep_colors else ImageOps.posterize(image, levels)
        english = " ".join(f"The {s['class']} became a {s['subject']}." for s in swaps)
        french = " ".join(f"« {s['class']} » est devenu « {s['subject']} »." for s in swaps)
        background: BackgroundRecord = (
            {"mode": "swap", "source": f"bg{options.seed % 3}.jpg"}
            if options.background == "swap"
            else {"mode": options.background}
        )
        trace: Trace = {
            "lamuse_version": "fake",
            "painting": name,
            "size": list(image.size),
            "output_size": list(styled.size),
            "segmenter": "fake",
            "instances_found": len(swaps),
            "seed": options.seed,
            "variation": variation,
            "swaps": swaps,
            "background": background,
            "stylized": not options.keep_colors,
            "style_source": name,
            "timings": {"substitute": 0.0},
            "explanation": english if options.language == "en" else french,
        }
        return Reinterpretation(image=styled, collage=image, trace=trace)

    def case_study(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variation: int,
        cutout_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
    ) -> Image.Image:
        self._record("case_study", name=name, seed=options.seed, variation=variation, theme=options.theme)
        sheet = Image.new("RGB", (540, 960), (245, 240, 230))
        sheet.paste(painting.resize((500, 400)), (20, 20))
        return sheet

    def show_masks(self, painting: Image.Image, *, name: str) -> Image.Image:
        self._record("show_masks", name=name)
        image = painting.copy()
        ImageDraw.Draw(image).rectangle(
            [5, 5, image.width // 2, image.height // 2], outline=(255, 0, 0), width=4
        )
        return image

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        self._record("upscale", size=image.size)
        return image.resize((image.width * scale, image.height * scale), Image.Resampling.BILINEAR)

"""The bodies of jobs (``muse``, ``upscale``, ``masks``), run on the inference thread.

Each returns an ``Outcome``: the encoded upload, the full-size PNG kept on disk for later buttons, and
the trace. No Discord and no SQL here; the cog delivers the outcome and the store records it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from bot.blobs import Blobs
from bot.corpus import CorpusPainting
from bot.engine import WORK_LONG_SIDE, Engine, fit_for_work
from bot.errors import UnknownPainting
from bot.jobs import Job, new_id
from bot.render import DEFAULT_UPLOAD_LIMIT, Encoded, encode_for_upload
from lamuse.types import ReinterpretOptions, StageCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """A finished job: what to upload and what to record."""

    output_id: str
    kind: str
    encoded: Encoded
    image_path: Path
    image_sha256: str
    trace: dict[str, Any]
    painting: str | None = None
    painting_meta: CorpusPainting | None = None
    seed: int | None = None
    chaos: float | None = None
    background: str | None = None
    background_id: str | None = None
    cutout_ids: list[str] = field(default_factory=list)
    input_path: str | None = None
    weights: dict[str, Any] | None = None
    original: Encoded | None = None

    @property
    def explanation(self) -> str:
        return str(self.trace.get("explanation", ""))


def upload_limit(params: dict[str, Any]) -> int:
    """The job's upload limit in bytes (the guild's, set by the cog), or the default when unset."""
    return int(params.get("upload_limit") or DEFAULT_UPLOAD_LIMIT)


def swaps_of(trace: dict[str, Any]) -> list[dict[str, Any]]:
    swaps = trace.get("swaps") or []
    return [s for s in swaps if isinstance(s, dict)]


def background_id_of(trace: dict[str, Any]) -> str | None:
    background = trace.get("background")
    if isinstance(background, dict):
        value = background.get("id") or background.get("background_id") or background.get("source")
        return str(value) if value else None
    return str(background) if isinstance(background, str) and background else None


class JobRunner:
    """Callable given to ``JobQueue``: dispatches a job to the engine by kind."""

    def __init__(
        self, engine: Engine, blobs: Blobs, *, output_size: int = 1024, work_long_side: int = WORK_LONG_SIDE
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.output_size = output_size
        self.work_long_side = max(work_long_side, output_size)

    def painting(self, name: str) -> CorpusPainting:
        for painting in self.engine.paintings():
            if painting.name == name:
                return painting
        raise UnknownPainting(name)

    def _painting_if_known(self, name: str | None) -> CorpusPainting | None:
        """The painting's metadata, or ``None`` when it is unnamed or no longer in the corpus.

        An upscale works on a stored output, so a painting removed from the corpus since then only costs
        the caption its metadata; it must not fail the job.
        """
        if not name:
            return None
        try:
            return self.painting(name)
        except UnknownPainting:
            log.info("painting %r is no longer in the corpus; upscaling without its metadata", name)
            return None

    def __call__(self, job: Job, on_stage: StageCallback) -> Outcome:
        handler = {"muse": self._muse, "upscale": self._upscale, "masks": self._masks}[job.kind]
        return handler(job, on_stage)

    def _source(self, params: dict[str, Any]) -> tuple[Image.Image, str, CorpusPainting | None]:
        """The painting to work on (a stored upload, or a corpus painting by name), already downscaled.

        Downscaling here, before any model stage, caps a job's memory whatever the upload's pixel count.
        """
        if params.get("input_path"):
            image = self.engine.load_image(Path(params["input_path"]))
            name = str(params.get("input_name") or "upload")
            meta = self.painting(params["painting"]) if params.get("painting") else None
        else:
            meta = self.painting(str(params["painting"]))
            image, name = self.engine.load_image(meta.path), meta.name
        working = fit_for_work(image, self.work_long_side)
        if working is not image:
            log.info("input %s downscaled from %s to %s before inference", name, image.size, working.size)
            image.close()
        return working, name, meta

    def _save(self, image: Image.Image, output_id: str) -> tuple[Path, str]:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return self.blobs.put("outputs", f"{output_id}.png", buffer.getvalue())

    def _muse(self, job: Job, on_stage: StageCallback) -> Outcome:
        params = job.params
        image, name, meta = self._source(params)
        options = ReinterpretOptions(
            seed=int(params["seed"]),
            chaos=float(params.get("chaos", 0.2)),
            background=params.get("background", "keep"),
            style_strength=float(params.get("style_strength", 1.0)),
            keep_colors=bool(params.get("keep_colors", False)),
            size=int(params.get("size", self.output_size)),
            language=params.get("language", "en"),
        )
        weights = params.get("weights") or {}
        result = self.engine.reinterpret(
            image,
            name=name,
            options=options,
            on_stage=on_stage,
            cutout_weights=weights.get("cutout") or None,
            background_weights=weights.get("background") or None,
        )
        trace = dict(result.trace)
        trace["weights"] = weights
        trace["input"] = {"work_size": list(image.size), "notes": list(params.get("input_notes") or [])}
        output_id = new_id()
        path, sha = self._save(result.image, output_id)
        encoded = encode_for_upload(result.image, upload_limit(params))
        original = encode_for_upload(image, upload_limit(params)) if params.get("with_original") else None
        swaps = swaps_of(trace)
        return Outcome(
            output_id=output_id,
            kind="muse",
            encoded=encoded,
            image_path=path,
            image_sha256=sha,
            trace=trace,
            painting=meta.name if meta else None,
            painting_meta=meta,
            seed=options.seed,
            chaos=options.chaos,
            background=options.background,
            background_id=background_id_of(trace),
            cutout_ids=[str(s["cutout_id"]) for s in swaps if s.get("cutout_id") is not None],
            input_path=params.get("input_path"),
            weights=weights,
            original=original,
        )

    def _upscale(self, job: Job, on_stage: StageCallback) -> Outcome:
        params = job.params
        on_stage("upscale")
        image = self.engine.load_image(Path(params["image_path"]))
        scale = int(params.get("scale", 2))
        result = self.engine.upscale(image, scale)
        output_id = new_id()
        path, sha = self._save(result, output_id)
        encoded = encode_for_upload(result, upload_limit(params))
        meta = self._painting_if_known(params.get("painting"))
        trace = {"upscaled_from": params.get("source_output"), "scale": scale}
        return Outcome(
            output_id,
            "upscale",
            encoded,
            path,
            sha,
            trace,
            painting=params.get("painting"),
            painting_meta=meta,
            seed=params.get("seed"),
        )

    def _masks(self, job: Job, on_stage: StageCallback) -> Outcome:
        on_stage("segment")
        image, name, meta = self._source(job.params)
        result = self.engine.show_masks(image, name=name)
        output_id = new_id()
        path, sha = self._save(result, output_id)
        encoded = encode_for_upload(result, upload_limit(job.params))
        return Outcome(
            output_id,
            "masks",
            encoded,
            path,
            sha,
            {"masks_of": name},
            painting=meta.name if meta else None,
            painting_meta=meta,
        )

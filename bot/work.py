"""The bodies of jobs (``muse``, ``upscale``, ``masks``), run on the inference thread.

Each returns an ``Outcome``: the encoded upload, the full-size PNG kept on disk for later buttons, and
the trace. No Discord and no SQL here; the service delivers the outcome and the store records it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict, cast

from PIL import Image

from bot.blobs import Blobs
from bot.corpus import Corpus, CorpusPainting
from bot.engine import WORK_LONG_SIDE, Engine, fit_for_work
from bot.errors import UnknownPainting
from bot.jobs import Job, new_id
from bot.params import MasksParams, MuseParams, Steering, StoredInput, UpscaleParams
from bot.render import Encoded, encode_for_upload
from lamuse.grid import compose_grid
from lamuse.recipe import Recipe, painting_id
from lamuse.types import StageCallback, SwapRecord

log = logging.getLogger(__name__)


class GridCell(TypedDict):
    """What a grid's embed and its V buttons need of one variation (stored in the grid output's trace)."""

    variation: int
    recipe: str
    swaps: list[SwapRecord]
    cutout_ids: list[str]


@dataclass(frozen=True)
class Outcome:
    """A finished job: what to upload and what to record."""

    output_id: str
    kind: str
    encoded: Encoded
    image_path: Path
    image_sha256: str
    trace: Mapping[str, Any]
    painting: str | None = None
    painting_meta: CorpusPainting | None = None
    seed: int | None = None
    chaos: float | None = None
    background: str | None = None
    background_id: str | None = None
    cutout_ids: Sequence[str] = field(default_factory=tuple)
    input_path: str | None = None
    steering: Steering | None = None
    original: Encoded | None = None
    recipe: str | None = None

    @property
    def explanation(self) -> str:
        return str(self.trace.get("explanation", ""))


def swaps_of(trace: Mapping[str, Any]) -> list[SwapRecord]:
    """The swap records of a stored or fresh trace (``lamuse.types.SwapRecord``; none for upscales)."""
    swaps = trace.get("swaps") or []
    return [cast(SwapRecord, s) for s in swaps if isinstance(s, Mapping)]


def background_id_of(trace: Mapping[str, Any]) -> str | None:
    """The background photo a swapped background came from (the pipeline records its file name)."""
    background = trace.get("background")
    if isinstance(background, Mapping) and background.get("mode") == "swap":
        value = background.get("source")
        return str(value) if value else None
    return None


KEEP_WEIGHT = 40.0
"""How strongly a V button's new grid prefers the cut-outs of the variation it varies: most swaps stay,
a few change (the pipeline samples with these weights at the job's chaos)."""


def cutout_weights(params: MuseParams) -> dict[str, float] | None:
    """The votes' cut-out weights, with a V button's kept cut-outs strongly preferred (None: neutral)."""
    weights = dict(params.steering.cutout)
    weights.update({cutout: KEEP_WEIGHT for cutout in params.keep_cutouts})
    return weights or None


def recipe_of(params: MuseParams, variation: int | None = None) -> Recipe:
    """The recipe of one variation (default: the job's first) of a muse job."""
    painting = painting_id(params.painting) if params.painting else None
    upload = f"@{Path(params.upload.path).stem}" if params.upload is not None else "@upload"
    return Recipe(
        painting=painting or upload,
        seed=params.seed,
        chaos=params.chaos,
        variation=params.variation if variation is None else variation,
        style_strength=params.style_strength,
        keep_colors=params.keep_colors,
        background=params.background,
    )


class JobRunner:
    """Callable given to ``JobQueue``: dispatches a job to the engine by the type of its parameters."""

    def __init__(
        self,
        engine: Engine,
        blobs: Blobs,
        corpus: Corpus,
        *,
        work_long_side: int = WORK_LONG_SIDE,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.corpus = corpus
        self.work_long_side = work_long_side

    def __call__(self, job: Job, on_stage: StageCallback) -> Outcome:
        params = job.params
        if isinstance(params, MuseParams):
            return self._muse(params, on_stage)
        if isinstance(params, UpscaleParams):
            return self._upscale(params, on_stage)
        return self._masks(params, on_stage)

    def _painting(self, name: str) -> CorpusPainting:
        found = self.corpus.get(name)
        if found is None:
            raise UnknownPainting(name)
        return found

    def _source(
        self, painting: str | None, upload: StoredInput | None
    ) -> tuple[Image.Image, str, CorpusPainting | None]:
        """The picture to work on (the stored, already normalised upload, or a corpus painting), at most
        ``work_long_side`` on its long side, so a job's memory is capped whatever was sent."""
        if upload is not None:
            image, name, meta = self.engine.load_image(Path(upload.path)), upload.name, None
        else:
            assert painting is not None  # params validation: one of the two is set
            meta = self._painting(painting)
            image, name = self.engine.load_image(meta.path), meta.name
        working = fit_for_work(image, self.work_long_side)
        if working is not image:
            log.info("input %s downscaled from %s to %s before inference", name, image.size, working.size)
            image.close()
        return working, name, meta

    def _stored(self, kind: str, image: Image.Image, upload_limit: int, trace: Mapping[str, Any]) -> Outcome:
        """A new output: the picture kept as PNG under a fresh id and encoded for this server's upload
        limit (the rest of the Outcome is the caller's)."""
        output_id = new_id()
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        path, sha = self.blobs.put("outputs", f"{output_id}.png", buffer.getvalue())
        return Outcome(output_id, kind, encode_for_upload(image, upload_limit), path, sha, trace)

    def _muse(self, params: MuseParams, on_stage: StageCallback) -> Outcome:
        image, name, meta = self._source(params.painting, params.upload)
        if params.sheet:
            return self._sheet(params, image, name, meta, on_stage)
        steering = params.steering
        results = self.engine.reinterpret_variations(
            image,
            name=name,
            options=params.options(),
            variations=params.variations,
            on_stage=on_stage,
            cutout_weights=cutout_weights(params),
            background_weights=steering.background or None,
            avoid_cutouts=params.avoid_cutouts,
            style_name=meta.title if meta is not None and meta.title else None,
        )
        notes = list(params.upload.notes) if params.upload is not None else []
        trace: dict[str, object]
        if params.count == 1:
            [result] = results
            shown = result.image
            trace = dict(result.trace)  # the pipeline's Trace plus what the bot adds
            trace["input"] = {"work_size": list(image.size), "notes": notes}
            trace["recipe"] = recipe_of(params).code
            background = background_id_of(trace)
        else:
            shown = compose_grid([r.image for r in results])
            cells: list[GridCell] = [
                {
                    "variation": index,
                    "recipe": recipe_of(params, index).code,
                    "swaps": r.trace["swaps"],
                    "cutout_ids": [s["cutout_id"] for s in r.trace["swaps"]],
                }
                for index, r in zip(params.variations, results, strict=True)
            ]
            trace = {"painting": name, "grid": cells, "recipe": recipe_of(params).code}
            trace["input"] = {"work_size": list(image.size), "notes": notes}
            if "worker" in results[0].trace:  # provenance (bot/workers.py): one job, one worker
                trace["worker"] = cast(dict[str, object], results[0].trace)["worker"]
            background = None
        trace["weights"] = steering.as_json()
        every_cutout = (s["cutout_id"] for r in results for s in r.trace["swaps"])
        return replace(
            self._stored("muse", shown, params.upload_limit, trace),
            painting=meta.name if meta else None,
            painting_meta=meta,
            seed=params.seed,
            chaos=params.chaos,
            background=params.background,
            background_id=background,
            cutout_ids=tuple(dict.fromkeys(every_cutout)),
            input_path=params.upload.path if params.upload is not None else None,
            steering=steering,
            original=encode_for_upload(image, params.upload_limit) if params.with_original else None,
            recipe=str(trace["recipe"]),
        )

    def _sheet(
        self,
        params: MuseParams,
        image: Image.Image,
        name: str,
        meta: CorpusPainting | None,
        on_stage: StageCallback,
    ) -> Outcome:
        on_stage("segment")
        sheet = self.engine.case_study(
            image,
            name=name,
            options=params.options(),
            variation=params.variation,
            cutout_weights=cutout_weights(params),
            avoid_cutouts=params.avoid_cutouts,
        )
        recipe = recipe_of(params).code
        return replace(
            self._stored("sheet", sheet, params.upload_limit, {"case_study_of": name, "recipe": recipe}),
            painting=meta.name if meta else None,
            painting_meta=meta,
            seed=params.seed,
            recipe=recipe,
        )

    def _upscale(self, params: UpscaleParams, on_stage: StageCallback) -> Outcome:
        on_stage("upscale")
        image = self.engine.load_image(Path(params.image_path))
        result = self.engine.upscale(image, params.scale)
        # A painting removed from the corpus since only costs the caption its metadata.
        meta = self.corpus.get(params.painting) if params.painting else None
        trace = {"upscaled_from": params.source_output, "scale": params.scale}
        return replace(
            self._stored("upscale", result, params.upload_limit, trace),
            painting=params.painting,
            painting_meta=meta,
            seed=params.seed,
        )

    def _masks(self, params: MasksParams, on_stage: StageCallback) -> Outcome:
        on_stage("segment")
        image, name, meta = self._source(params.painting, params.upload)
        result = self.engine.show_masks(image, name=name)
        return replace(
            self._stored("masks", result, params.upload_limit, {"masks_of": name}),
            painting=meta.name if meta else None,
            painting_meta=meta,
        )

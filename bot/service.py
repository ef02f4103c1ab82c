"""The request logic of ``/muse``, ``!muse``, the output buttons and the daily post, without Discord.

Cogs parse what Discord sends into a ``MuseRequest`` (or an output id and an action), call the service,
and turn what comes back into replies. The service validates uploads once, steers choices by votes,
builds typed jobs, submits them, records delivered outputs and re-attaches unfinished jobs after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from bot import steering
from bot.blobs import Blobs
from bot.corpus import Corpus, CorpusPainting
from bot.engine import WORK_LONG_SIDE, decode_for_work
from bot.errors import (
    ConflictingOptions,
    EmptyCorpus,
    LinkNotFetched,
    NoBackgrounds,
    OutputExpired,
    UnknownPainting,
)
from bot.jobs import Admission, Job, JobListener, JobQueue, new_id
from bot.params import (
    GRID_SIZE,
    BackgroundMode,
    JobParams,
    Language,
    MasksParams,
    MuseParams,
    Steering,
    StoredInput,
    UpscaleParams,
    from_json,
)
from bot.store import OutputRow, Store
from bot.work import Outcome
from lamuse.recipe import parse_recipe
from lamuse.types import Theme

log = logging.getLogger(__name__)

SEED_MAX = 2**31 - 1
LINK = re.compile(r"(?i)(?:https?|ftp|file)://|\bwww\.[a-z0-9-]+\.")
"""A link where a painting name was expected; the bot never fetches URLs (SSRF, unbounded downloads)."""
VALIDATIONS_AT_ONCE = 2
"""Uploads decoded at the same time for validation (each may take up to the per-decode ceiling)."""

ButtonAction = Literal[
    "again", "up2", "masks", "keep", "sheet", "u1", "u2", "u3", "u4", "v1", "v2", "v3", "v4", "reroll"
]
RECENT_OUTPUTS = 10
"""How many of a server's latest reinterpretations lend their cut-outs to the variety rule."""
VARY_CHAOS = 0.3
"""Least chaos of a V button's grid: at 0 the choice is the exact best fit and no swap could change."""
RecoveryOrigin = Literal["request", "daily"]


@dataclass(frozen=True)
class Origin:
    """Who asked, and where."""

    user_id: int
    guild_id: int | None
    channel_id: int | None


@dataclass(frozen=True)
class MuseRequest:
    """A ``/muse`` or ``!muse`` request (or the daily post) as the cogs parsed it; ``None`` = not given."""

    origin: Origin
    language: Language
    upload_limit: int
    data: bytes | None = None
    filename: str | None = None
    painting: str | None = None
    chaos: float | None = None
    style_strength: float | None = None
    keep_colors: bool | None = None
    background: BackgroundMode | None = None
    seed: int | None = None
    source_message_id: int | None = None
    with_original: bool = False
    exclude: frozenset[str] = frozenset()
    daily_slot: str | None = None
    count: int = GRID_SIZE
    recipe: str | None = None
    theme: Theme = "free"


def _year_of(painting: CorpusPainting | None) -> int | None:
    """The first four-digit year of a corpus painting's date ("c. 1503-1519" → 1503), for themes."""
    found = re.search(r"\d{4}", painting.year or "") if painting is not None else None
    return int(found.group()) if found else None


def reject_link(text: str | None) -> None:
    """Raise LinkNotFetched when ``text`` holds a URL (people paste image links instead of attaching)."""
    if text and LINK.search(text):
        raise LinkNotFetched(text)


def safe_stem(filename: str | None) -> str:
    """A display name for an upload, safe to log and to show (never used as a path)."""
    stem = Path(filename or "upload").stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:64] or "upload"


class MuseService:
    """Prepares, submits and records the bot's jobs; see the module docstring."""

    def __init__(
        self,
        *,
        store: Store,
        blobs: Blobs,
        corpus: Corpus,
        jobs: JobQueue,
        output_size: int,
        clock: Callable[[], datetime],
        work_long_side: int = WORK_LONG_SIDE,
        rng: random.Random | None = None,
        backgrounds_available: bool = True,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.corpus = corpus
        self.jobs = jobs
        self.output_size = output_size
        self.clock = clock
        self.work_long_side = max(work_long_side, output_size)
        self._rng = rng or random.Random()
        self.backgrounds_available = backgrounds_available
        self._validations = asyncio.Semaphore(VALIDATIONS_AT_ONCE)
        self._recovery: dict[RecoveryOrigin, Callable[[Job], JobListener]] = {}

    # --- requests -----------------------------------------------------------------------------------

    async def prepare(self, request: MuseRequest) -> Job:
        """Validate a request and build its job (painting and chaos steered by votes when not given).

        An upload is decoded once here, normalised to the work size and stored as PNG; the worker and every
        later button reuse that file, never the raw upload.

        Raises:
            ImageError: the attachment is not a usable image.
            UnknownPainting, EmptyCorpus, LinkNotFetched, ConflictingOptions: no painting to work on.
        """
        if request.data is not None and request.painting:
            raise ConflictingOptions("image", "painting")
        if request.background == "swap" and not self.backgrounds_available:
            raise NoBackgrounds()
        if request.recipe is not None and (request.data is not None or request.painting):
            raise ConflictingOptions("recipe", "image" if request.data is not None else "painting")
        if request.recipe is not None:
            return self._from_recipe(request)
        job_id = new_id()
        # A seed fixes everything not given (so the same seed gives the same picture again); votes steer
        # only requests that give neither a seed nor the choice steered.
        seeded = request.seed is not None
        rng = random.Random(request.seed) if seeded else self._rng
        stats = self.store.element_stats(request.origin.guild_id)  # aggregates: cheap, on the loop
        upload: StoredInput | None = None
        painting: str | None = None
        if request.data is not None:
            upload = await self._store_upload(job_id, request.data, request.filename)
        elif request.painting:
            reject_link(request.painting)
            # Free text ("!muse the milkmaid") finds a painting the way the autocomplete does.
            matches = self.corpus.search(request.painting, 1)
            found = self.corpus.find(request.painting) or (matches[0] if matches else None)
            if found is None:
                raise UnknownPainting(request.painting)
            painting = found.name
        else:
            names = [p.name for p in self.corpus.all()]
            fresh = [n for n in names if n not in request.exclude] or names
            if not fresh:
                raise EmptyCorpus()
            painting = rng.choice(fresh) if seeded else steering.choose(fresh, stats["painting"], rng)
        chaos = request.chaos
        if chaos is None:
            steered = steering.choose_chaos(stats["chaos"], rng)
            chaos = rng.choice(steering.CHAOS_LEVELS) if seeded else steered
        params = MuseParams(
            seed=request.seed if seeded and request.seed is not None else self._rng.randrange(SEED_MAX),
            chaos=round(chaos, 2),
            painting=painting,
            upload=upload,
            style_strength=1.0 if request.style_strength is None else round(request.style_strength, 2),
            keep_colors=bool(request.keep_colors),
            background=request.background or "keep",
            size=self.output_size,
            language=request.language,
            upload_limit=request.upload_limit,
            with_original=request.with_original,
            steering=Steering()
            if seeded
            else Steering(
                cutout=steering.weights(stats["cutout"]),
                background=steering.weights(stats["background"]),
                painting=steering.weights(stats["painting"]).get(painting or "", 1.0),
                chaos_steered=request.chaos is None,
            ),
            daily_slot=request.daily_slot,
            count=request.count,
            theme=request.theme,
            year=_year_of(self.corpus.get(painting)) if painting else None,
            # Variety: a server's recent cut-outs give way to others that fit nearly as well, unless a
            # seed asks for the same picture again.
            avoid_cutouts=()
            if seeded or request.origin.guild_id is None
            else tuple(self.store.recent_cutouts(request.origin.guild_id, RECENT_OUTPUTS)),
        )
        origin = request.origin
        return Job(
            id=job_id,
            user_id=origin.user_id,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            source_message_id=request.source_message_id,
            params=params,
        )

    def _from_recipe(self, request: MuseRequest) -> Job:
        """A job that makes exactly what a recipe names: nothing drawn at random, and the vote weights and
        variety rule the recipe's first job used (found by its seed), so a steered picture comes back too."""
        recipe = parse_recipe(request.recipe or "")
        upload: StoredInput | None = None
        painting: str | None = None
        if recipe.painting.startswith("@"):
            path = self.blobs.path("inputs", f"{recipe.painting[1:]}.png")
            if not path.is_file():
                raise OutputExpired(recipe.painting)
            upload = StoredInput(path=str(path), name=recipe.painting[1:])
        else:
            found = self.corpus.get(recipe.painting)
            if found is None:
                raise UnknownPainting(recipe.painting)
            painting = found.name
        params = MuseParams(
            seed=recipe.seed,
            chaos=recipe.chaos,
            painting=painting,
            upload=upload,
            style_strength=recipe.style_strength,
            keep_colors=recipe.keep_colors,
            background=recipe.background,
            size=self.output_size,
            language=request.language,
            upload_limit=request.upload_limit,
            count=request.count,
            variation=recipe.variation,
        )
        first = self.store.muse_job_with_seed(recipe.seed)
        if first is not None:
            made = from_json(first["kind"], first["params"])
            made_path = made.upload.path if isinstance(made, MuseParams) and made.upload else None
            wanted_path = upload.path if upload is not None else None
            if isinstance(made, MuseParams) and (made.painting, made_path) == (painting, wanted_path):
                params = replace(
                    params,
                    upload=made.upload,
                    steering=made.steering,
                    avoid_cutouts=made.avoid_cutouts,
                    keep_cutouts=made.keep_cutouts,
                )
        origin = request.origin
        return Job(
            user_id=origin.user_id, guild_id=origin.guild_id, channel_id=origin.channel_id, params=params
        )

    async def _store_upload(self, job_id: str, data: bytes, filename: str | None) -> StoredInput:
        async with self._validations:
            png, notes = await asyncio.to_thread(self._normalise, data)  # raises ImageError
        path, _sha = await asyncio.to_thread(self.blobs.put, "inputs", f"{job_id}.png", png)
        return StoredInput(path=str(path), name=safe_stem(filename), notes=tuple(notes))

    def _normalise(self, data: bytes) -> tuple[bytes, list[str]]:
        """Decode untrusted bytes once, straight to the work size, as the PNG that jobs read later."""
        loaded = decode_for_work(data, max_side=self.work_long_side)
        png = loaded.to_png()
        loaded.image.close()
        return png, list(loaded.notes)

    def admit(self, origin: Origin) -> Admission:
        """Hold the requester's place (quota, guild cap, global cap) while the request is validated."""
        return self.jobs.admit(origin.user_id, origin.guild_id)

    async def submit(
        self, job: Job, listener: JobListener, *, admission: Admission | None = None, scheduled: bool = False
    ) -> int:
        """Queue ``job``; if it is not accepted, its stored upload is deleted (nothing left behind).

        Anything raised here comes before the job row exists (a refusal, or the database failing to write
        it); a cancellation or a failed notification after acceptance leaves a row that needs its upload.
        """
        try:
            return await self.jobs.submit(job, listener, admission=admission, scheduled=scheduled)
        except Exception:
            upload = getattr(job.params, "upload", None)
            if isinstance(upload, StoredInput) and Path(upload.path).name == f"{job.id}.png":
                Path(upload.path).unlink(missing_ok=True)  # this request's own upload, not a button's source
            raise

    def follow_up(
        self, output: OutputRow, action: ButtonAction, origin: Origin, language: Language, upload_limit: int
    ) -> Job:
        """The job a button on a delivered output asks for.

        Raises:
            OutputExpired: the output's files were removed (retention) or are missing.
        """
        if output.get("expired_at") or not Path(output["image_path"]).is_file():
            raise OutputExpired(output["id"])

        def job(params: JobParams) -> Job:
            return Job(
                user_id=origin.user_id, guild_id=origin.guild_id, channel_id=origin.channel_id, params=params
            )

        if action == "up2":
            up = UpscaleParams(
                image_path=output["image_path"],
                source_output=output["id"],
                painting=output.get("painting"),
                seed=output.get("seed"),
                upload_limit=upload_limit,
            )
            return job(up)
        job_id = output.get("job_id")
        source_row = self.store.get_job(job_id) if job_id else None
        source = Job.from_row(source_row) if source_row is not None else None
        if source is None or not isinstance(source.params, MuseParams):
            raise OutputExpired(output["id"])
        params = source.params
        if params.upload is not None and not Path(params.upload.path).is_file():
            raise OutputExpired(output["id"])
        if action == "masks":
            masks = MasksParams(painting=params.painting, upload=params.upload, upload_limit=upload_limit)
            return job(masks)
        # A button job is the clicker's, not the guild's daily post.
        clicked = replace(
            params, daily_slot=None, language=language, upload_limit=upload_limit, with_original=False
        )
        if action == "sheet":  # the case study of exactly this picture
            return job(replace(clicked, count=1, sheet=True))
        if action.startswith("u"):  # that variation alone, at full size: the same recipe, count 1
            return job(replace(clicked, count=1, variation=params.variation + int(action[1]) - 1))
        if action.startswith("v") or action == "reroll":
            keep: tuple[str, ...] = ()
            chaos = params.chaos
            if action.startswith("v"):
                cells = output["trace"].get("grid") or []
                position = int(action[1]) - 1
                if position >= len(cells):
                    raise OutputExpired(output["id"])
                keep, chaos = tuple(cells[position]["cutout_ids"]), max(params.chaos, VARY_CHAOS)
            seed = self._rng.randrange(SEED_MAX)
            grid = replace(clicked, seed=seed, chaos=chaos, count=GRID_SIZE, variation=0, keep_cutouts=keep)
            return job(grid)
        again = replace(
            clicked,
            seed=self._rng.randrange(SEED_MAX) if action == "again" else params.seed,
            keep_colors=True if action == "keep" else params.keep_colors,
        )
        return job(again)

    # --- results ------------------------------------------------------------------------------------

    def record_output(self, job: Job, outcome: Outcome, message_id: int, channel_id: int | None) -> None:
        """Store a delivered output (its message id makes votes and buttons find it)."""
        self.store.insert_output(
            {
                "id": outcome.output_id,
                "job_id": job.id,
                "kind": outcome.kind,
                "user_id": job.user_id,
                "guild_id": job.guild_id,
                "channel_id": channel_id,
                "message_id": message_id,
                "painting": outcome.painting,
                "seed": outcome.seed,
                "chaos": outcome.chaos,
                "background": outcome.background,
                "background_id": outcome.background_id,
                "image_path": str(outcome.image_path),
                "image_sha256": outcome.image_sha256,
                "input_path": outcome.input_path,
                "trace": outcome.trace,
                "cutout_ids": list(outcome.cutout_ids),
                "weights": outcome.steering.as_json() if outcome.steering is not None else None,
                "created_at": self.clock().isoformat(),
            }
        )

    def set_response_message(self, job: Job, message_id: int) -> None:
        """The bot's progress message for ``job``: deleting it cancels the job."""
        job.response_message_id = message_id
        self.store.update_job(job.id, response_message_id=message_id)

    # --- restarts -----------------------------------------------------------------------------------

    def on_recovery(self, origin: RecoveryOrigin, listener_for: Callable[[Job], JobListener]) -> None:
        """Register how jobs of one origin are delivered after a restart (each cog registers its own)."""
        self._recovery[origin] = listener_for

    async def recover(self) -> tuple[list[Job], list[Job]]:
        """Re-queue (or report) what the previous run left unfinished; returns ``(resumed, reported)``."""

        def listener_for(job: Job) -> JobListener:
            daily = isinstance(job.params, MuseParams) and job.params.daily_slot is not None
            origin: RecoveryOrigin = "daily" if daily and "daily" in self._recovery else "request"
            return self._recovery[origin](job)

        return await self.jobs.recover(listener_for)


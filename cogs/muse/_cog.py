"""The Muse cog: parse and validate requests, hand them to the job queue, show progress and results."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot import steering
from bot.corpus import find_painting, search_paintings
from bot.engine import MAX_INPUT_BYTES, decode_with_notes
from bot.errors import (
    BotError,
    EmptyCorpus,
    JobCancelled,
    JobInterrupted,
    JobTimeout,
    LinkNotFetched,
    UnknownPainting,
)
from bot.i18n import MESSAGES, language_of, t
from bot.jobs import Job, new_id
from bot.render import DEFAULT_UPLOAD_LIMIT
from bot.work import Outcome
from cogs.errors import describe_error
from cogs.muse._render import render
from cogs.muse._views import MuseButton
from lamuse.errors import ImageError

if TYPE_CHECKING:
    from bot.app import MuseBot

log = logging.getLogger(__name__)

SEED_MAX = 2**31 - 1
LINK = re.compile(r"(?i)(?:https?|ftp|file)://|\bwww\.[a-z0-9-]+\.")
"""A link where a painting name was expected; the bot never fetches URLs (SSRF, unbounded downloads)."""
VALIDATIONS_AT_ONCE = 2
"""Uploads decoded at the same time for validation (each may take ~120 MB at the pixel limit)."""


class _Origin(TypedDict):
    """Who asked, and where: the fields a button's follow-up job shares with its interaction."""

    user_id: int
    guild_id: int | None
    channel_id: int | None


def ping_only(user_id: int) -> discord.AllowedMentions:
    """Mentions allowed in a post that tells one requester about their job after a restart: that user only.

    Pings are off bot-wide (bot/app.py); without this the requester named in the post is never notified.
    """
    return discord.AllowedMentions(
        everyone=False, users=[discord.Object(user_id)], roles=False, replied_user=False
    )


def failure_text(job: Job, error: BaseException, language: str) -> str:
    """Words for a failed job; bugs get the job id as their error id (it is in the log line)."""
    if isinstance(error, JobTimeout):
        return t("timeout", language, seconds=round(error.timeout_s))
    if isinstance(error, JobCancelled):
        return t("cancelled", language)
    if isinstance(error, JobInterrupted):
        return t("interrupted", language, user_id=job.user_id)
    return describe_error(error, language) or t("failed", language, error_id=job.id)


def refusal_text(error: BaseException, language: str) -> str:
    """Words for a refused request; errors describe_error has no words for (JobCancelled while the bot
    shuts down) get the generic failed text with a logged error id, never an empty reply."""
    text = describe_error(error, language)
    if text is None:
        error_id = uuid.uuid4().hex[:8]
        log.warning("error %s: request refused with %r", error_id, error)
        text = t("failed", language, error_id=error_id)
    return text


class _Reply:
    """Shared delivery: render an outcome, record it in the store once the message exists."""

    def __init__(self, cog: Muse, language: str) -> None:
        self.cog = cog
        self.language = language

    async def stage(self, job: Job, stage: str) -> None:
        key = f"stage.{stage}"
        if key in MESSAGES:
            await self._progress(job, t(key, self.language))

    async def queued(self, job: Job, position: int, eta_s: float) -> None:
        await self._progress(job, t("queued", self.language, position=position, eta=round(eta_s)))

    async def _progress(self, job: Job, text: str) -> None:
        raise NotImplementedError

    async def failed(self, job: Job, error: BaseException) -> None:
        await self._progress(job, failure_text(job, error, self.language))


class InteractionReply(_Reply):
    """Progress and result shown by editing a deferred interaction response."""

    def __init__(self, cog: Muse, interaction: discord.Interaction, language: str) -> None:
        super().__init__(cog, language)
        self.interaction = interaction

    async def _progress(self, job: Job, text: str) -> None:
        await self.interaction.edit_original_response(content=text)

    async def done(self, job: Job, result: Outcome) -> None:
        embed, files, view = render(result, self.language)
        try:
            message = await self.interaction.edit_original_response(
                content=None, embed=embed, attachments=files, view=view
            )
        except discord.HTTPException as error:  # the interaction token expires after 15 minutes
            log.warning("job %s: editing the interaction failed (%s); posting in the channel", job.id, error)
            await ChannelReply(self.cog, self.language, resumed=False).done(job, result)
            return
        self.cog.record_output(job, result, message.id, message.channel.id)


class MessageReply(_Reply):
    """Progress and result for ``!muse``: one reply message, edited in place."""

    def __init__(self, cog: Muse, ctx: commands.Context[Any], language: str) -> None:
        super().__init__(cog, language)
        self.ctx = ctx
        self.message: discord.Message | None = None

    async def _progress(self, job: Job, text: str) -> None:
        if self.message is None:
            self.message = await self.ctx.reply(text, mention_author=False)
            # Deleting this reply cancels the job, like deleting the request (cancel_for_message).
            job.response_message_id = self.message.id
            self.cog.bot.store.update_job(job.id, response_message_id=self.message.id)
        else:
            await self.message.edit(content=text)

    async def done(self, job: Job, result: Outcome) -> None:
        embed, files, view = render(result, self.language)
        if self.message is None:
            if view is None:  # Context.reply's overloads take a View, not None (None means no view)
                self.message = await self.ctx.reply(embed=embed, files=files, mention_author=False)
            else:
                self.message = await self.ctx.reply(embed=embed, files=files, view=view, mention_author=False)
        else:
            self.message = await self.message.edit(content=None, embed=embed, attachments=files, view=view)
        self.cog.record_output(job, result, self.message.id, self.message.channel.id)


class ChannelReply(_Reply):
    """Delivery for jobs resumed after a restart: the original interaction is gone, post in the channel."""

    def __init__(self, cog: Muse, language: str, *, resumed: bool = True) -> None:
        super().__init__(cog, language)
        self.resumed = resumed

    async def _progress(self, job: Job, text: str) -> None:
        return None

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self.cog.bot.get_partial_messageable(job.channel_id or 0, guild_id=job.guild_id)

    async def done(self, job: Job, result: Outcome) -> None:
        embed, files, view = render(result, self.language)
        # Pings are off bot-wide (bot/app.py); the "resumed" text may ping the one requester it names.
        kwargs: dict[str, Any] = {"embed": embed, "files": files}
        if self.resumed:
            kwargs["content"] = t("resumed", self.language, user_id=job.user_id)
            kwargs["allowed_mentions"] = ping_only(job.user_id)
        else:
            kwargs["content"] = f"<@{job.user_id}>"
        if view is not None:
            kwargs["view"] = view
        message = await self._channel(job).send(**kwargs)
        self.cog.record_output(job, result, message.id, message.channel.id)

    async def failed(self, job: Job, error: BaseException) -> None:
        if job.channel_id is None:
            return
        text = failure_text(job, error, self.language)
        if isinstance(error, JobInterrupted):  # the text names the requester: let that mention notify
            await self._channel(job).send(text, allowed_mentions=ping_only(job.user_id))
        else:
            await self._channel(job).send(text)


def reject_link(text: str | None) -> None:
    """Raise LinkNotFetched when ``text`` holds a URL (people paste image links instead of attaching)."""
    if text and LINK.search(text):
        raise LinkNotFetched(text)


async def read_attachment(attachment: discord.Attachment) -> bytes:
    """Download an attachment through discord.py (never its URL ourselves), refusing oversize ones unread."""
    if attachment.size > MAX_INPUT_BYTES:
        raise ImageError(f"the file is {attachment.size} bytes", reason="too_large")
    return await attachment.read()


def _safe_stem(filename: str | None) -> str:
    stem = Path(filename or "upload").stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:64] or "upload"


class Muse(commands.Cog):
    """``/muse``, ``!muse`` and the output buttons."""

    def __init__(self, bot: MuseBot) -> None:
        self.bot = bot
        self._recovered = False
        self._rng = random.Random()
        self._validations = asyncio.Semaphore(VALIDATIONS_AT_ONCE)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(MuseButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(MuseButton)

    # --- shared logic -------------------------------------------------------------------------------

    def upload_limit(self, guild: discord.Guild | None) -> int:
        limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
        if self.bot.settings.upload_limit_bytes is not None:
            limit = min(limit, self.bot.settings.upload_limit_bytes)
        return limit

    async def prepare_muse(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        language: str,
        upload_limit: int,
        data: bytes | None = None,
        filename: str | None = None,
        painting: str | None = None,
        chaos: float | None = None,
        style_strength: float | None = None,
        keep_colors: bool | None = None,
        background: str | None = None,
        seed: int | None = None,
        source_message_id: int | None = None,
        with_original: bool = False,
        exclude: frozenset[str] = frozenset(),
    ) -> Job:
        """Validate a request and build its job (painting and chaos steered by votes when not given).

        Raises:
            ImageError: the attachment is not a usable image.
            UnknownPainting, EmptyCorpus: no painting to work on.
        """
        job_id = new_id()
        stats = self.bot.store.element_stats(guild_id)
        params: dict[str, Any] = {
            "seed": seed if seed is not None else self._rng.randrange(SEED_MAX),
            "style_strength": 1.0 if style_strength is None else style_strength,
            "keep_colors": bool(keep_colors),
            "background": background or "keep",
            "language": language,
            "upload_limit": upload_limit,
            "size": self.bot.settings.output_size,
            "with_original": with_original,
        }
        paintings = list(self.bot.engine.paintings())
        if data is not None:
            async with self._validations:
                _image, notes = await asyncio.to_thread(decode_with_notes, data)  # raises ImageError
            del _image
            path, _sha = await asyncio.to_thread(self.bot.blobs.put, "inputs", f"{job_id}.img", data)
            params["input_path"] = str(path)
            params["input_notes"] = notes
            params["input_name"] = _safe_stem(filename)
            known = find_painting(paintings, params["input_name"])
            params["painting"] = known.name if known else None
        elif painting:
            reject_link(painting)
            found = find_painting(paintings, painting)
            if found is None:
                raise UnknownPainting(painting)
            params["painting"] = found.name
        else:
            names = [p.name for p in paintings if p.name not in exclude] or [p.name for p in paintings]
            if not names:
                raise EmptyCorpus()
            params["painting"] = steering.choose(names, stats["painting"], self._rng)
        params["chaos"] = chaos if chaos is not None else steering.choose_chaos(stats["chaos"], self._rng)
        params["weights"] = {
            "rule": "smoothed-ratio-v1",
            "cutout": steering.weights(stats["cutout"]),
            "background": steering.weights(stats["background"]),
            "painting": steering.weights(stats["painting"]).get(params.get("painting") or "", 1.0),
            "chaos_steered": chaos is None,
        }
        return Job(
            id=job_id,
            kind="muse",
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            source_message_id=source_message_id,
            params=params,
        )

    def record_output(self, job: Job, outcome: Outcome, message_id: int, channel_id: int | None) -> None:
        self.bot.store.insert_output(
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
                "cutout_ids": outcome.cutout_ids,
                "weights": outcome.weights,
                "created_at": self.bot.now().isoformat(),
            }
        )

    async def _start(self, interaction: discord.Interaction, language: str) -> bool:
        """Refuse at once (ephemeral) when the user is over their limit, else defer; True when deferred."""
        try:
            self.bot.jobs.check_admission(interaction.user.id)
        except BotError as error:
            await interaction.response.send_message(refusal_text(error, language), ephemeral=True)
            return False
        await interaction.response.defer(thinking=True)
        return True

    async def _submit_interaction(self, interaction: discord.Interaction, job: Job, language: str) -> None:
        response = await interaction.original_response()
        job.response_message_id = response.id
        await self._submit(job, InteractionReply(self, interaction, language))

    async def _submit(self, job: Job, listener: Any) -> None:
        """Queue ``job``; if the queue refuses it, its stored upload is deleted (nothing left behind).

        Only a refusal (BotError, raised before the job is stored) deletes it: a cancellation or a failed
        notification after acceptance leaves a job row that still needs its upload.
        """
        try:
            await self.bot.jobs.submit(job, listener)
        except BotError:
            upload = Path(str(job.params.get("input_path") or ""))
            if upload.name == f"{job.id}.img":  # this request's own upload, not a button's source
                upload.unlink(missing_ok=True)
            raise

    # --- /muse ----------------------------------------------------------------------------------------

    @app_commands.command(name="muse", description=_("Reinterpret a known painting with real photo cut-outs"))
    @app_commands.describe(
        image=_("Your own painting (an image file)"),
        painting=_("A painting from the collection"),
        chaos=_("How far the swaps may stray (0 = faithful, 1 = wild)"),
        style_strength=_("How strongly to re-paint in the painting's style (0-1)"),
        keep_colors=_("Keep the photos' own colours"),
        background=_("What to do with the background"),
        seed=_("Seed, to get the same result again"),
    )
    @app_commands.choices(
        background=[
            app_commands.Choice(name=_("keep"), value="keep"),
            app_commands.Choice(name=_("swap"), value="swap"),
            app_commands.Choice(name=_("none"), value="none"),
        ]
    )
    async def muse(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment | None = None,
        painting: str | None = None,
        chaos: app_commands.Range[float, 0.0, 1.0] | None = None,
        style_strength: app_commands.Range[float, 0.0, 1.0] | None = None,
        keep_colors: bool | None = None,
        background: str | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    ) -> None:
        """Reinterpret a painting: yours, one from the collection, or a surprise."""
        language = language_of(str(interaction.locale))
        if not await self._start(interaction, language):
            return
        try:
            data = await read_attachment(image) if image is not None else None
            job = await self.prepare_muse(
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                language=language,
                upload_limit=self.upload_limit(interaction.guild),
                data=data,
                filename=image.filename if image is not None else None,
                painting=painting,
                chaos=chaos,
                style_strength=style_strength,
                keep_colors=keep_colors,
                background=background,
                seed=seed,
            )
            await self._submit_interaction(interaction, job, language)
        except (BotError, ImageError) as error:
            log.debug("muse refused for user %s: %s", interaction.user.id, error)
            await interaction.edit_original_response(content=refusal_text(error, language))

    @muse.autocomplete("painting")
    async def muse_painting_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        paintings = search_paintings(list(self.bot.engine.paintings()), current, limit=25)
        return [app_commands.Choice(name=p.label[:100], value=p.name[:100]) for p in paintings]

    # --- !muse ----------------------------------------------------------------------------------------

    @commands.command(name="muse")
    async def muse_prefix(self, ctx: commands.Context[Any], *, painting: str | None = None) -> None:
        """Reinterpret the attached image (or a named / random painting)."""
        language = language_of(str(ctx.guild.preferred_locale) if ctx.guild else None)
        attachment = ctx.message.attachments[0] if ctx.message.attachments else None
        try:
            self.bot.jobs.check_admission(ctx.author.id)
            data = await read_attachment(attachment) if attachment is not None else None
            job = await self.prepare_muse(
                user_id=ctx.author.id,
                guild_id=ctx.guild.id if ctx.guild else None,
                channel_id=ctx.channel.id,
                language=language,
                upload_limit=self.upload_limit(ctx.guild),
                data=data,
                filename=attachment.filename if attachment is not None else None,
                painting=painting if attachment is None else None,
                source_message_id=ctx.message.id,
            )
            await self._submit(job, MessageReply(self, ctx, language))
        except (BotError, ImageError) as error:  # expected: answered here, not by the global handler
            log.debug("!muse refused for user %s: %s", ctx.author.id, error)
            await ctx.reply(refusal_text(error, language), mention_author=False)

    # --- buttons --------------------------------------------------------------------------------------

    async def on_button(self, interaction: discord.Interaction, action: str, output_id: str) -> None:
        """Another one / Upscale ×2 / Show masks / Same, keep colours: a new job from the stored output."""
        language = language_of(str(interaction.locale))
        output = self.bot.store.get_output(output_id)
        if output is None:
            await interaction.response.send_message(t("output_gone", language), ephemeral=True)
            return
        if not await self._start(interaction, language):
            return
        limit = self.upload_limit(interaction.guild)
        common: _Origin = {
            "user_id": interaction.user.id,
            "guild_id": interaction.guild_id,
            "channel_id": interaction.channel_id,
        }
        if action == "up2":
            params: dict[str, Any] = {
                "image_path": output["image_path"],
                "scale": 2,
                "source_output": output_id,
                "painting": output["painting"],
                "seed": output["seed"],
                "upload_limit": limit,
            }
            job = Job(kind="upscale", params=params, **common)
        elif action == "masks":
            params = {
                "painting": output["painting"],
                "input_path": output["input_path"],
                "input_name": output["painting"] or "upload",
                "upload_limit": limit,
            }
            job = Job(kind="masks", params=params, **common)
        else:
            source = self.bot.store.get_job(output["job_id"]) if output["job_id"] else None
            if source is None:
                await interaction.edit_original_response(content=t("output_gone", language))
                return
            params = dict(source["params"])
            params.pop("daily_slot", None)  # a button job is the clicker's, not the guild's daily post
            params.update(language=language, upload_limit=limit, with_original=False)
            if action == "again":
                params["seed"] = self._rng.randrange(SEED_MAX)
            else:
                params["keep_colors"] = True
            job = Job(kind="muse", params=params, **common)
        try:
            await self._submit_interaction(interaction, job, language)
        except BotError as error:
            await interaction.edit_original_response(content=refusal_text(error, language))

    # --- lifecycle and cancellation -------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self._recovered:
            return
        self._recovered = True

        def listener_for(job: Job) -> Any:
            daily: Any = self.bot.get_cog("Daily")
            if job.params.get("daily_slot") and daily is not None:
                return daily.listener_for(job)
            return ChannelReply(self, str(job.params.get("language", "en")))

        resumed, reported = await self.bot.jobs.recover(listener_for)
        if resumed or reported:
            log.info("after restart: %d jobs resumed, %d reported", len(resumed), len(reported))

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        cancelled = self.bot.jobs.cancel_for_message(payload.message_id)
        if cancelled:
            log.info("message %s deleted: cancelled jobs %s", payload.message_id, cancelled)

"""The Muse cog: parse and validate requests, hand them to the job queue, show progress and results."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.corpus import CHOICE_MAX_CHARS, choice_key
from bot.engine import MAX_INPUT_BYTES
from bot.errors import BotError, JobCancelled, JobInterrupted, JobTimeout
from bot.i18n import MESSAGES, language_of, t
from bot.jobs import Job
from bot.params import GRID_SIZE, BackgroundMode, Language
from bot.render import upload_limit
from bot.service import SEED_MAX, ButtonAction, MuseRequest, Origin
from bot.work import Outcome
from cogs.errors import describe_error, refusal_text
from cogs.help import help_reply
from cogs.muse._render import render
from cogs.muse._views import MuseButton
from lamuse.errors import ImageError
from lamuse.recipe import RecipeError
from lamuse.types import Theme

if TYPE_CHECKING:
    from bot.app import MuseBot

log = logging.getLogger(__name__)

def ping_only(user_id: int) -> discord.AllowedMentions:
    """Mentions allowed in a post that tells one requester about their job after a restart: that user only.

    Pings are off bot-wide (bot/app.py); without this the requester named in the post is never notified.
    """
    return discord.AllowedMentions(
        everyone=False, users=[discord.Object(user_id)], roles=False, replied_user=False
    )


def failure_text(job: Job, error: BaseException, language: Language) -> str:
    """Words for a failed job; bugs get the job id as their error id (it is in the log line)."""
    if isinstance(error, JobTimeout):
        return t("timeout", language, seconds=round(error.timeout_s))
    if isinstance(error, JobCancelled):
        return t("cancelled", language)
    if isinstance(error, JobInterrupted):
        return t("interrupted", language, user_id=job.user_id)
    return describe_error(error, language) or t("failed", language, error_id=job.id)


class _Reply:
    """Shared delivery: render an outcome, record it in the store once the message exists."""

    def __init__(self, cog: Muse, language: Language) -> None:
        self.cog = cog
        self.language = language

    async def stage(self, job: Job, stage: str) -> None:
        key = f"stage.{stage}"
        if key in MESSAGES:
            await self._progress(job, t(key, self.language))

    async def queued(self, job: Job, position: int, eta_s: float | None) -> None:
        if eta_s is None:  # nothing measured yet: no guess
            await self._progress(job, t("queued.unmeasured", self.language, position=position))
        else:
            await self._progress(job, t("queued", self.language, position=position, eta=round(eta_s)))

    async def _progress(self, job: Job, text: str) -> None:
        raise NotImplementedError

    async def failed(self, job: Job, error: BaseException) -> None:
        await self._progress(job, failure_text(job, error, self.language))


class InteractionReply(_Reply):
    """Progress and result shown by editing a deferred interaction response."""

    def __init__(self, cog: Muse, interaction: discord.Interaction, language: Language) -> None:
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
        self.cog.bot.service.record_output(job, result, message.id, message.channel.id)


class MessageReply(_Reply):
    """Progress and result for ``!muse``: one reply message, edited in place."""

    def __init__(self, cog: Muse, ctx: commands.Context[Any], language: Language) -> None:
        super().__init__(cog, language)
        self.ctx = ctx
        self.message: discord.Message | None = None

    async def _progress(self, job: Job, text: str) -> None:
        if self.message is None:
            self.message = await self.ctx.reply(text, mention_author=False)
            # Deleting this reply cancels the job, like deleting the request (cancel_for_message).
            self.cog.bot.service.set_response_message(job, self.message.id)
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
        self.cog.bot.service.record_output(job, result, self.message.id, self.message.channel.id)


class ChannelReply(_Reply):
    """Delivery for jobs resumed after a restart: the original interaction is gone, post in the channel."""

    def __init__(self, cog: Muse, language: Language, *, resumed: bool = True) -> None:
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
        self.cog.bot.service.record_output(job, result, message.id, message.channel.id)

    async def failed(self, job: Job, error: BaseException) -> None:
        if job.channel_id is None:
            return
        text = failure_text(job, error, self.language)
        if isinstance(error, JobInterrupted):  # the text names the requester: let that mention notify
            await self._channel(job).send(text, allowed_mentions=ping_only(job.user_id))
        else:
            await self._channel(job).send(text)


async def read_attachment(attachment: discord.Attachment) -> bytes:
    """Download an attachment through discord.py (never its URL ourselves), refusing oversize ones unread."""
    if attachment.size > MAX_INPUT_BYTES:
        message = f"the file is {attachment.size} bytes"
        raise ImageError(message, reason="too_large", limit_bytes=MAX_INPUT_BYTES)
    return await attachment.read()


class Muse(commands.Cog):
    """``/muse``, ``!muse`` and the output buttons: Discord in, ``MuseService`` calls, replies out."""

    def __init__(self, bot: MuseBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(MuseButton)
        self.bot.service.on_recovery("request", self._resumed_reply)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(MuseButton)

    def _resumed_reply(self, job: Job) -> ChannelReply:
        return ChannelReply(self, cast(Language, getattr(job.params, "language", "en")))

    def upload_limit(self, guild: discord.Guild | None) -> int:
        guild_limit = guild.filesize_limit if guild is not None else None
        return upload_limit(guild_limit, self.bot.settings.upload_limit_bytes)

    async def _start(self, interaction: discord.Interaction, language: Language) -> bool:
        """Refuse at once (ephemeral) when the user is over their limit, else defer; True when deferred."""
        try:
            self.bot.jobs.check_admission(interaction.user.id, interaction.guild_id)
        except BotError as error:
            await interaction.response.send_message(refusal_text(error, language), ephemeral=True)
            return False
        await interaction.response.defer(thinking=True)
        return True

    async def _submit_interaction(
        self, interaction: discord.Interaction, job: Job, language: Language, **submit: Any
    ) -> None:
        response = await interaction.original_response()
        job.response_message_id = response.id
        await self.bot.service.submit(job, InteractionReply(self, interaction, language), **submit)

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
        count=_("How many variations: a grid of four, or one picture"),
        recipe=_("A recipe from a picture's footer, to make it again"),
        theme=_("Era of the new elements: true to the painting's time, free, or deliberately anachronistic"),
    )
    @app_commands.choices(
        background=[
            app_commands.Choice(name=_("keep"), value="keep"),
            app_commands.Choice(name=_("swap"), value="swap"),
            app_commands.Choice(name=_("none"), value="none"),
        ]
    )
    @app_commands.choices(
        theme=[
            app_commands.Choice(name=_("coherent"), value="coherent"),
            app_commands.Choice(name=_("free"), value="free"),
            app_commands.Choice(name=_("anachronistic"), value="anachronistic"),
        ]
    )
    @app_commands.choices(
        count=[
            app_commands.Choice(name=_("four (a grid)"), value=GRID_SIZE),
            app_commands.Choice(name=_("one"), value=1),
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
        count: int = GRID_SIZE,
        recipe: app_commands.Range[str, 1, 200] | None = None,
        theme: str = "free",
    ) -> None:
        """Reinterpret a painting: yours, one from the collection, or a surprise."""
        language = language_of(str(interaction.locale))
        if not await self._start(interaction, language):
            return
        origin = Origin(interaction.user.id, interaction.guild_id, interaction.channel_id)
        try:
            with self.bot.service.admit(origin) as admission:
                data = await read_attachment(image) if image is not None else None
                request = MuseRequest(
                    origin=origin,
                    language=language,
                    upload_limit=self.upload_limit(interaction.guild),
                    data=data,
                    filename=image.filename if image is not None else None,
                    painting=painting,
                    chaos=chaos,
                    style_strength=style_strength,
                    keep_colors=keep_colors,
                    background=cast(BackgroundMode | None, background),
                    seed=seed,
                    count=count,
                    recipe=recipe,
                    theme=cast(Theme, theme),
                )
                job = await self.bot.service.prepare(request)
                await self._submit_interaction(interaction, job, language, admission=admission)
        except (BotError, ImageError, RecipeError) as error:
            log.debug("muse refused for user %s: %s", interaction.user.id, error)
            await interaction.edit_original_response(content=refusal_text(error, language))

    @muse.autocomplete("painting")
    async def muse_painting_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        paintings = self.bot.service.corpus.search(current, limit=25)
        return [
            app_commands.Choice(name=p.label[:CHOICE_MAX_CHARS], value=choice_key(p.name)) for p in paintings
        ]

    # --- !muse ----------------------------------------------------------------------------------------

    @commands.command(name="muse")
    async def muse_prefix(self, ctx: commands.Context[Any], *, painting: str | None = None) -> None:
        """Reinterpret the attached image (or a named / random painting)."""
        language = language_of(str(ctx.guild.preferred_locale) if ctx.guild else None)
        if painting is not None and painting.strip().casefold() in ("help", "aide", "?"):
            embed, file = help_reply(language)
            await ctx.reply(embed=embed, file=file, mention_author=False)
            return
        attachment = ctx.message.attachments[0] if ctx.message.attachments else None
        origin = Origin(ctx.author.id, ctx.guild.id if ctx.guild else None, ctx.channel.id)
        try:
            with self.bot.service.admit(origin) as admission:
                data = await read_attachment(attachment) if attachment is not None else None
                request = MuseRequest(
                    origin=origin,
                    language=language,
                    upload_limit=self.upload_limit(ctx.guild),
                    data=data,
                    filename=attachment.filename if attachment is not None else None,
                    painting=painting,
                    source_message_id=ctx.message.id,
                )
                job = await self.bot.service.prepare(request)
                await self.bot.service.submit(job, MessageReply(self, ctx, language), admission=admission)
        except (BotError, ImageError) as error:  # expected: answered here, not by the global handler
            log.debug("!muse refused for user %s: %s", ctx.author.id, error)
            await ctx.reply(refusal_text(error, language), mention_author=False)

    # --- buttons --------------------------------------------------------------------------------------

    async def on_button(self, interaction: discord.Interaction, action: ButtonAction, output_id: str) -> None:
        """Another one / Upscale ×2 / Show masks / Same, keep colours: a new job from the stored output."""
        language = language_of(str(interaction.locale))
        output = self.bot.store.get_output(output_id)
        if output is None:
            await interaction.response.send_message(t("output_gone", language), ephemeral=True)
            return
        if not await self._start(interaction, language):
            return
        origin = Origin(interaction.user.id, interaction.guild_id, interaction.channel_id)
        try:
            job = self.bot.service.follow_up(
                output, action, origin, language, self.upload_limit(interaction.guild)
            )
            await self._submit_interaction(interaction, job, language)
        except BotError as error:
            await interaction.edit_original_response(content=refusal_text(error, language))

    # --- cancellation ---------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        cancelled = self.bot.jobs.cancel_for_message(payload.message_id)
        if cancelled:
            log.info("message %s deleted: cancelled jobs %s", payload.message_id, cancelled)

"""One place that turns exceptions into replies and log lines (user mistake: debug; bug: exception)."""

from __future__ import annotations

import logging
import uuid

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import (
    Busy,
    ConflictingOptions,
    EmptyCorpus,
    LinkNotFetched,
    NoBackgrounds,
    OutputExpired,
    RateLimited,
    UnknownPainting,
    UserLimitReached,
    WorkersUnavailable,
)
from bot.i18n import MESSAGES, language_of, t
from lamuse.errors import BackgroundsUnavailable, ImageError
from lamuse.recipe import EXAMPLE as RECIPE_EXAMPLE
from lamuse.recipe import RecipeError

log = logging.getLogger(__name__)


def image_error_text(error: ImageError, language: str) -> str:
    """One specific message per loader reason, worded with the limit the error carries; never the
    exception text (it may name paths)."""
    key = f"image.{error.reason}"
    if key not in MESSAGES:
        return t("not_image", language, reason=error.reason.replace("_", " "))
    return t(
        key,
        language,
        limit_mb=(error.limit_bytes or 0) >> 20,
        limit_mp=(error.limit_pixels or 0) // 1_000_000,
        min_side=error.min_side or 0,
        max_aspect=round(error.max_aspect or 0),
        limit_scans=error.limit_scans or 0,
    )


def describe_error(error: BaseException, language: str) -> str | None:
    """The user-facing text for an expected error, or None for a bug."""
    if isinstance(error, Busy):
        return t("busy", language, seconds=round(error.retry_after_s))
    if isinstance(error, UserLimitReached):
        return t("user_limit", language, running=error.running, queued=error.queued)
    if isinstance(error, ImageError):
        return image_error_text(error, language)
    if isinstance(error, LinkNotFetched):
        return t("link_not_fetched", language)
    if isinstance(error, RateLimited):
        return t("rate_limited", language, per_minute=error.per_minute, seconds=round(error.retry_after_s))
    if isinstance(error, UnknownPainting):
        name = discord.utils.escape_mentions(discord.utils.escape_markdown(error.name[:100]))
        return t("unknown_painting", language, name=name)
    if isinstance(error, EmptyCorpus):
        return t("empty_corpus", language)
    if isinstance(error, RecipeError):
        return t("bad_recipe", language, example=RECIPE_EXAMPLE)
    if isinstance(error, OutputExpired):
        return t("output_gone", language)
    if isinstance(error, ConflictingOptions):
        return t("conflicting_options", language, first=error.first, second=error.second)
    if isinstance(error, NoBackgrounds | BackgroundsUnavailable):
        return t("no_backgrounds", language)
    if isinstance(error, WorkersUnavailable):
        return t("workers_down", language)
    return None


def refusal_text(error: BaseException, language: str) -> str:
    """Words for a refused request; errors describe_error has no words for (JobCancelled while the bot
    shuts down) get the generic failed text with a logged error id, never an empty reply."""
    text = describe_error(error, language)
    if text is None:
        error_id = uuid.uuid4().hex[:8]
        log.warning("error %s: request refused with %r", error_id, error)
        text = t("failed", language, error_id=error_id)
    return text


class Errors(commands.Cog):
    """Global handlers for prefix and app-command errors."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        language = language_of(str(interaction.locale))
        if isinstance(error, app_commands.CheckFailure):
            text = t("not_admin", language)
            log.debug("check failed for %s on %s", interaction.user.id, interaction.command)
        elif (text := describe_error(original, language)) is not None:  # type: ignore[assignment]
            log.debug("user error in %s: %s", interaction.command, original)
        else:
            error_id = uuid.uuid4().hex[:8]
            log.error(
                "error %s in command %s (user %s, guild %s)",
                error_id,
                interaction.command.qualified_name if interaction.command else "?",
                interaction.user.id,
                interaction.guild_id,
                exc_info=original,
            )
            text = t("failed", language, error_id=error_id)
        await self._reply(interaction, text)

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        try:
            if interaction.response.is_done():
                await interaction.edit_original_response(content=text, attachments=[], embed=None, view=None)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not send the error reply for interaction %s", interaction.id)

    @commands.Cog.listener()
    async def on_command_error(
        self, ctx: commands.Context[commands.Bot], error: commands.CommandError
    ) -> None:
        if getattr(error, "handled", False) or isinstance(error, commands.CommandNotFound):
            return
        original = getattr(error, "original", error)
        language = language_of(str(ctx.guild.preferred_locale) if ctx.guild else None)
        text = describe_error(original, language)
        if text is None:
            if isinstance(error, commands.UserInputError | commands.CheckFailure):
                text = str(error)
            else:
                error_id = uuid.uuid4().hex[:8]
                log.error(
                    "error %s in prefix command %s (user %s, guild %s)",
                    error_id,
                    ctx.command,
                    ctx.author.id,
                    ctx.guild.id if ctx.guild else None,
                    exc_info=original,
                )
                text = t("failed", language, error_id=error_id)
        try:
            await ctx.reply(text, mention_author=False)
        except discord.HTTPException:
            log.warning("could not send the error reply in channel %s", ctx.channel.id)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Errors(bot))

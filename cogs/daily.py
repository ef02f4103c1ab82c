"""Daily prompt: each configured guild gets a reinterpretation of a corpus painting at its local time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any, Literal, cast

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands, tasks

from bot.daily import due_slot, next_slot, painter_prompt, parse_time, parse_zone
from bot.errors import BotError
from bot.i18n import language_of, t
from bot.jobs import Job
from bot.params import Language, MuseParams
from bot.render import upload_limit
from bot.service import MuseRequest, Origin
from bot.store import GuildSettings
from bot.work import Outcome
from cogs.errors import refusal_text
from cogs.muse._render import render

if TYPE_CHECKING:
    from bot.app import MuseBot

log = logging.getLogger(__name__)

MIDNIGHT_UTC = time(0, 0, tzinfo=UTC)


def is_admin(interaction: discord.Interaction) -> bool:
    """Server-side check: the Discord UI hides admin commands, but guild admins can re-grant them."""
    user = interaction.user
    return isinstance(user, discord.Member) and user.guild_permissions.manage_guild


class DailyReply:
    """Posts the finished daily reinterpretation with the original, the prompt and a thread for answers."""

    def __init__(self, cog: Daily, guild_id: int, slot: str) -> None:
        self.cog = cog
        self.guild_id = guild_id
        self.slot = slot

    async def queued(self, job: Job, position: int, eta_s: float | None) -> None:
        return None

    async def stage(self, job: Job, stage: str) -> None:
        return None

    async def done(self, job: Job, result: Outcome) -> None:
        bot = self.cog.bot
        language: Language = job.params.language if isinstance(job.params, MuseParams) else "en"
        embed, files, view = render(result, language)
        prompt = painter_prompt(result.trace, language)
        channel = bot.get_partial_messageable(job.channel_id or 0, guild_id=job.guild_id)
        kwargs: dict[str, Any] = {"content": prompt, "embed": embed, "files": files}
        if view is not None:
            kwargs["view"] = view
        message = await channel.send(**kwargs)
        bot.service.record_output(job, result, message.id, message.channel.id)
        bot.store.finish_daily_post(
            self.guild_id,
            self.slot,
            painting=result.painting or "",
            output_id=result.output_id,
            message_id=message.id,
        )
        try:
            title = (
                (result.painting_meta.title if result.painting_meta else None) or result.painting or "daily"
            )
            await message.create_thread(name=f"{title[:80]} · {self.slot}"[:100])
        except (discord.HTTPException, AttributeError) as error:
            log.warning("daily post %s in guild %s: no thread (%s)", self.slot, self.guild_id, error)
        log.info("daily post %s for guild %s: %s", self.slot, self.guild_id, result.painting)

    async def failed(self, job: Job, error: BaseException) -> None:
        log.warning("daily post %s for guild %s failed: %s", self.slot, self.guild_id, error)
        self.cog.bot.store.release_daily_slot(self.guild_id, self.slot)


class Daily(commands.Cog):
    """``/muse-admin daily …`` and the loop that posts each guild's daily prompt once per local day."""

    admin = app_commands.Group(
        name="muse-admin",
        description=_("Configure La Muse for this server"),
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    daily = app_commands.Group(name="daily", description=_("The daily painting prompt"), parent=admin)

    def __init__(self, bot: MuseBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.service.on_recovery("daily", self.listener_for)
        self.daily_loop.change_interval(time=self.loop_times())
        self.daily_loop.start()

    async def cog_unload(self) -> None:
        self.daily_loop.cancel()

    # --- scheduling -----------------------------------------------------------------------------------

    def loop_times(self) -> list[time]:
        """The UTC times of day of each guild's next slot after now (recomputed after each tick: DST)."""
        now = self.bot.now()
        times = set()
        for settings in self.bot.store.daily_guilds():
            try:
                at, zone = parse_time(settings.daily_time or ""), parse_zone(settings.daily_timezone or "")
            except ValueError:
                continue
            times.add(next_slot(now, at, zone).timetz().replace(tzinfo=UTC))
        return sorted(times, key=lambda t: (t.hour, t.minute)) or [MIDNIGHT_UTC]

    def _reschedule(self) -> None:
        self.daily_loop.change_interval(time=self.loop_times())
        if self.daily_loop.is_running():
            self.daily_loop.restart()

    @tasks.loop(time=MIDNIGHT_UTC)
    async def daily_loop(self) -> None:
        await self.post_due()
        self.daily_loop.change_interval(time=self.loop_times())

    @daily_loop.before_loop
    async def before_daily_loop(self) -> None:
        await self.bot.wait_until_ready()
        await self.post_due()  # a slot missed while the bot was down is posted once, now

    async def post_due(self) -> int:
        """Post every guild's due slot that is not posted yet; returns how many were started."""
        now = self.bot.now()
        started = 0
        for settings in self.bot.store.daily_guilds():
            claimed: str | None = None
            try:
                try:
                    at = parse_time(settings.daily_time or "")
                    zone = parse_zone(settings.daily_timezone or "")
                except ValueError:
                    log.warning("guild %s has an invalid daily schedule", settings.guild_id)
                    continue
                since = datetime.fromisoformat(settings.daily_since) if settings.daily_since else None
                slot = due_slot(now, at, zone, since)
                if slot is None or not self.bot.store.claim_daily_slot(settings.guild_id, slot, now):
                    continue
                claimed = slot
                if await self.post(settings, slot):
                    started += 1
            except Exception:  # one guild's failure must not stop the others' posts
                log.exception("daily post for guild %s failed", settings.guild_id)
                if claimed is not None:
                    self.bot.store.release_daily_slot(settings.guild_id, claimed)
        return started

    async def post(
        self, settings: GuildSettings, slot: str, *, requested_by: int | None = None
    ) -> bool:
        """Queue the daily reinterpretation (a painting the guild has not had recently).

        A scheduled post (``requested_by`` None) is the bot's own, one per guild per day; a manual one
        counts against the requesting admin's quota, the guild's cap and the global cap like any request.
        """
        if settings.daily_channel_id is None or self.bot.user is None:
            self.bot.store.release_daily_slot(settings.guild_id, slot)
            return False
        recent = self.bot.store.recent_daily_paintings(settings.guild_id, self.bot.settings.recent_paintings)
        guild = self.bot.get_guild(settings.guild_id)
        service = self.bot.service
        guild_limit = guild.filesize_limit if guild is not None else None
        limit = upload_limit(guild_limit, self.bot.settings.upload_limit_bytes)
        origin = Origin(self.bot.user.id, settings.guild_id, settings.daily_channel_id)
        request = MuseRequest(
            origin=origin,
            language=cast(Language, settings.daily_language),
            upload_limit=limit,
            with_original=True,
            exclude=frozenset(recent),
            daily_slot=slot,
            count=1,  # the day's one prompt, shown beside its original
        )
        reply = DailyReply(self, settings.guild_id, slot)
        try:
            if requested_by is None:
                job = await service.prepare(request)
                await service.submit(job, reply, scheduled=True)
            else:
                with self.bot.jobs.admit(requested_by, settings.guild_id) as admission:
                    job = await service.prepare(request)
                    await service.submit(job, reply, admission=admission)
        except BotError as error:
            log.warning("daily post %s for guild %s not started: %s", slot, settings.guild_id, error)
            self.bot.store.release_daily_slot(settings.guild_id, slot)
            if requested_by is not None:
                raise
            return False
        return True

    def listener_for(self, job: Job) -> DailyReply:
        """Delivery for a daily job resumed after a restart."""
        slot = job.params.daily_slot if isinstance(job.params, MuseParams) else None
        return DailyReply(self, job.guild_id or 0, slot or "")

    # --- admin commands -------------------------------------------------------------------------------

    async def _refuse(self, interaction: discord.Interaction) -> bool:
        if is_admin(interaction):
            return False
        await interaction.response.send_message(
            t("not_admin", language_of(str(interaction.locale))), ephemeral=True
        )
        return True

    def _status_text(self, settings: GuildSettings, language: Language) -> str:
        if not settings.daily_enabled:
            return t("daily.off", language)
        return t(
            "daily.on",
            language,
            channel=settings.daily_channel_id,
            time=settings.daily_time,
            zone=settings.daily_timezone,
            language=settings.daily_language,
        )

    @daily.command(name="set", description=_("Post the daily prompt in a channel at a local time"))
    @app_commands.describe(
        channel=_("Channel for the daily post"),
        at=_("Local time, HH:MM"),
        timezone=_("Time zone, e.g. Europe/Paris"),
        language=_("Language of the post"),
    )
    async def daily_set(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        at: str,
        timezone: str = "UTC",
        language: Literal["en", "fr"] | None = None,
    ) -> None:
        """Turn the daily post on."""
        if await self._refuse(interaction) or interaction.guild_id is None:
            return
        reader = language_of(str(interaction.locale))
        try:
            parsed = parse_time(at)
        except ValueError:
            reply = t("daily.bad_time", reader, value=at[:40])
            await interaction.response.send_message(reply, ephemeral=True)
            return
        try:
            parse_zone(timezone)
        except ValueError:
            reply = t("daily.bad_zone", reader, value=timezone[:60])
            await interaction.response.send_message(reply, ephemeral=True)
            return
        settings = self.bot.store.update_guild_settings(
            interaction.guild_id,
            daily_channel_id=channel.id,
            daily_time=parsed.strftime("%H:%M"),
            daily_timezone=timezone.strip(),
            daily_language=language or reader,  # by default the language of whoever set it up
            daily_enabled=1,
            daily_since=self.bot.now().isoformat(),
        )
        self._reschedule()
        await interaction.response.send_message(self._status_text(settings, reader), ephemeral=True)

    @daily.command(name="off", description=_("Stop the daily post"))
    async def daily_off(self, interaction: discord.Interaction) -> None:
        """Turn the daily post off."""
        if await self._refuse(interaction) or interaction.guild_id is None:
            return
        settings = self.bot.store.update_guild_settings(interaction.guild_id, daily_enabled=0)
        self._reschedule()
        reply = self._status_text(settings, language_of(str(interaction.locale)))
        await interaction.response.send_message(reply, ephemeral=True)

    @daily.command(name="status", description=_("Show the daily post settings"))
    async def daily_status(self, interaction: discord.Interaction) -> None:
        """Show the daily post settings."""
        if await self._refuse(interaction) or interaction.guild_id is None:
            return
        settings = self.bot.store.guild_settings(interaction.guild_id)
        posts = self.bot.store.daily_posts(interaction.guild_id)
        reader = language_of(str(interaction.locale))
        last = ""
        if posts:
            last = t("daily.last", reader, slot=posts[-1]["slot"], painting=posts[-1]["painting"])
        await interaction.response.send_message(self._status_text(settings, reader) + last, ephemeral=True)

    @daily.command(name="now", description=_("Post today's prompt now"))
    async def daily_now(self, interaction: discord.Interaction) -> None:
        """Post a daily prompt now (does not use up today's slot)."""
        if await self._refuse(interaction) or interaction.guild_id is None:
            return
        language = language_of(str(interaction.locale))
        settings = self.bot.store.guild_settings(interaction.guild_id)
        if settings.daily_channel_id is None:
            await interaction.response.send_message(t("daily.no_channel", language), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        slot = f"manual-{self.bot.now().strftime('%Y%m%dT%H%M%S')}"
        self.bot.store.claim_daily_slot(interaction.guild_id, slot, self.bot.now())
        try:
            started = await self.post(settings, slot, requested_by=interaction.user.id)
        except BotError as error:
            await interaction.followup.send(refusal_text(error, language), ephemeral=True)
            return
        reply = t("daily.posting" if started else "daily.not_posted", language)
        await interaction.followup.send(reply, ephemeral=True)

    @admin.command(name="vote-emoji", description=_("Which reactions count as votes"))
    @app_commands.describe(emoji=_("Emoji separated by spaces, e.g. ⭐ 👍 🔥"))
    async def vote_emoji(self, interaction: discord.Interaction, emoji: str) -> None:
        """Set which reactions count as votes in this server."""
        if await self._refuse(interaction) or interaction.guild_id is None:
            return
        chosen = [e for e in emoji.replace(",", " ").split() if e][:10]
        self.bot.store.update_guild_settings(interaction.guild_id, vote_emoji=",".join(chosen) or None)
        reader = language_of(str(interaction.locale))
        shown = " ".join(chosen) or t("votes.default", reader)
        await interaction.response.send_message(t("votes.emoji", reader, emoji=shown), ephemeral=True)


async def setup(bot: MuseBot) -> None:
    await bot.add_cog(Daily(bot))

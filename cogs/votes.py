"""Reactions on the bot's outputs are votes (one per user per output); ``/muse-top`` ranks them."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.i18n import language_of, t
from bot.store import OutputRow

if TYPE_CHECKING:
    from bot.app import MuseBot

log = logging.getLogger(__name__)

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "all": None}
TOP_LABEL_CHARS = 120
TOP_DESCRIPTION_CHARS = 4000
"""Under Discord's 4096-character embed description, with room for the rank and vote count."""


class Votes(commands.Cog):
    """Turns reactions into votes; reconciles with the message once per run (reactions missed offline)."""

    def __init__(self, bot: MuseBot) -> None:
        self.bot = bot
        self._reconciled: set[str] = set()
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def vote_emoji(self, guild_id: int | None) -> frozenset[str]:
        configured = self.bot.store.guild_settings(guild_id).vote_emoji if guild_id is not None else None
        if configured:
            return frozenset(e for e in configured.split(",") if e)
        return frozenset(self.bot.settings.vote_emoji_set())

    def _is_bot(self, user_id: int, member: discord.Member | None) -> bool:
        if self.bot.user is not None and user_id == self.bot.user.id:
            return True
        if member is not None:
            return member.bot
        user = self.bot.get_user(user_id)
        return user is not None and user.bot

    async def _reconcile(self, output: OutputRow, guild_id: int | None) -> None:
        """First event on an output in this run: make stored votes match the message's reactions."""
        channel_id, message_id = output.get("channel_id"), output.get("message_id")
        if output["id"] in self._reconciled or channel_id is None or message_id is None:
            return
        self._reconciled.add(output["id"])
        emoji = self.vote_emoji(guild_id)
        requester = output.get("user_id")
        try:
            channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
            message = await channel.fetch_message(message_id)
            pairs: list[tuple[int, str]] = []
            for reaction in message.reactions:
                if str(reaction.emoji) not in emoji:
                    continue
                async for user in reaction.users():
                    if not user.bot and user.id != requester:
                        pairs.append((user.id, str(reaction.emoji)))
        except discord.HTTPException as error:
            log.warning("could not reconcile votes of output %s: %s", output["id"], error)
            return
        self.bot.store.replace_votes(output["id"], pairs, self.bot.now())

    async def _apply(self, payload: discord.RawReactionActionEvent, write: Callable[[str], None]) -> None:
        """Look up the output, reconcile it once, then ``write`` the vote, all under the message's lock.

        The lock keeps a second reaction from being written while the first event's reconcile is still
        reading the message's reactions (its snapshot would then erase the newer vote).
        """
        if self._is_bot(payload.user_id, payload.member):
            return
        if str(payload.emoji) not in self.vote_emoji(payload.guild_id):
            return
        lock = self._locks.get(payload.message_id)
        if lock is None:
            lock = self._locks[payload.message_id] = asyncio.Lock()
        async with lock:
            # payload.message_author_id is not reliable (None offline); the store knows our outputs.
            output = self.bot.store.output_by_message(payload.message_id)
            if output is None:
                return
            if output.get("user_id") == payload.user_id:
                return  # a painter's reaction on their own output is not a vote (docs/bot.md)
            await self._reconcile(output, payload.guild_id)
            write(output["id"])

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        def write(output_id: str) -> None:
            self.bot.store.add_vote(output_id, payload.user_id, str(payload.emoji), self.bot.now())

        await self._apply(payload, write)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        def write(output_id: str) -> None:
            self.bot.store.remove_vote(output_id, payload.user_id, str(payload.emoji))

        await self._apply(payload, write)

    @app_commands.command(name="muse-top", description=_("Best reinterpretations of this server"))
    @app_commands.describe(period=_("Which period"))
    @app_commands.guild_only()
    async def muse_top(
        self, interaction: discord.Interaction, period: Literal["day", "week", "all"] = "week"
    ) -> None:
        """The most voted outputs of this server."""
        if interaction.guild_id is None:
            return
        span = PERIODS[period]
        since = self.bot.now() - span if span is not None else None
        rows = self.bot.store.top_outputs(interaction.guild_id, since, limit=10)
        language = language_of(str(interaction.locale))
        if not rows:
            await interaction.response.send_message(t("top.empty", language, period=period), ephemeral=True)
            return
        lines = []
        used = 0
        for rank, row in enumerate(rows, start=1):
            link = (
                f"https://discord.com/channels/{interaction.guild_id}/{row['channel_id']}/{row['message_id']}"
            )
            known = self.bot.service.corpus.get(row["painting"]) if row["painting"] else None
            label = known.label if known else (row["painting"] or t("painting_unknown", language))
            name = discord.utils.escape_markdown(_clip(label, TOP_LABEL_CHARS))
            line = f"{rank}. [{name}]({link}) — {row['votes']} ⭐"
            if used + len(line) + 1 > TOP_DESCRIPTION_CHARS:
                break  # Discord refuses descriptions over 4096 characters (HTTP 50035)
            lines.append(line)
            used += len(line) + 1
        embed = discord.Embed(title=t("top.title", language, period=period), description="\n".join(lines))
        await interaction.response.send_message(embed=embed)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def setup(bot: MuseBot) -> None:
    await bot.add_cog(Votes(bot))

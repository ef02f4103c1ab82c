"""Reactions on the bot's outputs are votes (one per user per output); ``/muse-top`` ranks them."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.corpus import find_painting

if TYPE_CHECKING:
    from bot.app import MuseBot

log = logging.getLogger(__name__)

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "all": None}


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

    async def _reconcile(self, output: dict[str, Any], guild_id: int | None) -> None:
        """First event on an output in this run: make stored votes match the message's reactions."""
        if output["id"] in self._reconciled or output["channel_id"] is None:
            return
        self._reconciled.add(output["id"])
        emoji = self.vote_emoji(guild_id)
        try:
            channel = self.bot.get_partial_messageable(output["channel_id"], guild_id=guild_id)
            message = await channel.fetch_message(output["message_id"])
            pairs: list[tuple[int, str]] = []
            for reaction in message.reactions:
                if str(reaction.emoji) not in emoji:
                    continue
                async for user in reaction.users():
                    if not user.bot:
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
        if not rows:
            await interaction.response.send_message(f"No votes yet ({period}).", ephemeral=True)
            return
        lines = []
        for rank, row in enumerate(rows, start=1):
            link = (
                f"https://discord.com/channels/{interaction.guild_id}/{row['channel_id']}/{row['message_id']}"
            )
            known = (
                find_painting(list(self.bot.engine.paintings()), row["painting"]) if row["painting"] else None
            )
            name = discord.utils.escape_markdown(known.label if known else (row["painting"] or "upload"))
            lines.append(f"{rank}. [{name}]({link}) — {row['votes']} ⭐")
        embed = discord.Embed(title=f"La Muse — top ({period})", description="\n".join(lines))
        await interaction.response.send_message(embed=embed)


async def setup(bot: MuseBot) -> None:
    await bot.add_cog(Votes(bot))

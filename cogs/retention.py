"""A daily retention pass over the stored uploads and pictures (see ``bot/retention.py``)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from discord.ext import commands, tasks

from bot.retention import expire_outputs, remove_unused_files

if TYPE_CHECKING:
    from bot.app import MuseBot

log = logging.getLogger(__name__)


class Retention(commands.Cog):
    """A retention pass once a day (the first one at start, once the bot is ready)."""

    def __init__(self, bot: MuseBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.retention_loop.start()

    async def cog_unload(self) -> None:
        self.retention_loop.cancel()

    @tasks.loop(hours=24)
    async def retention_loop(self) -> None:
        settings, now = self.bot.settings, self.bot.now()
        # Rows on the loop (the store's connection belongs to it; short statements in batches), the file
        # walk in a thread.
        expired = expire_outputs(
            self.bot.store, now, days=settings.retention_days, voted_days=settings.voted_retention_days
        )
        in_use, gone = self.bot.store.files_in_use(), self.bot.store.files_of_expired()
        removed, freed = await asyncio.to_thread(remove_unused_files, self.bot.blobs, in_use, gone)
        log.info("retention: %d outputs expired, %d files removed (%d MB)", expired, removed, freed >> 20)

    @retention_loop.before_loop
    async def before_retention_loop(self) -> None:
        await self.bot.wait_until_ready()


async def setup(bot: MuseBot) -> None:
    await bot.add_cog(Retention(bot))

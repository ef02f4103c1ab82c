"""The ``/muse`` and ``!muse`` commands, their progress replies and their persistent buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import MuseBot


async def setup(bot: MuseBot) -> None:
    from cogs.muse._cog import Muse

    await bot.add_cog(Muse(bot))

"""LAMUSE_SHARDS: the bot runs as one AutoShardedBot process; /muse answers and daily posts fire once per
guild (the cogs and their loop exist once, whatever the shard count)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from discord.ext import commands

from bot.app import ShardedMuseBot
from bot.settings import Settings
from tests.bot.conftest import World, make_settings, painting_bytes
from tests.bot.test_daily import posted, setup_two_guilds


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, shards=2)


@pytest.mark.simcord(settle_timeout=60)
async def test_a_sharded_bot_answers_and_posts_once_per_guild_a_day(world: World) -> None:
    assert isinstance(world.bot, ShardedMuseBot) and isinstance(world.bot, commands.AutoShardedBot)
    assert world.bot.shard_count == 2
    name = "caillebotte_paris_street_rainy_day.jpg"
    result = await world.alice.slash(world.channel, "muse", image=(name, painting_bytes(name)))
    assert result.response is not None and result.response.attachments
    guilds: tuple[Any, ...] = await setup_two_guilds(world)
    paris, york = guilds[0], guilds[1]
    await world.env.advance_time(15 * 3600)  # past 09:00 in Paris and in New York
    assert [p["slot"] for p in posted(world, paris.id)] == ["2026-01-01"]
    assert [p["slot"] for p in posted(world, york.id)] == ["2026-01-01"]
    await world.env.advance_time(24 * 3600)
    assert [p["slot"] for p in posted(world, paris.id)] == ["2026-01-01", "2026-01-02"]
    assert [p["slot"] for p in posted(world, york.id)] == ["2026-01-01", "2026-01-02"]


def test_no_shards_setting_keeps_one_plain_connection(tmp_path: Path) -> None:
    from bot.app import create_bot
    from tests.bot.conftest import PAINTINGS
    from tests.bot.fakes import FakeEngine

    bot = create_bot(make_settings(tmp_path), FakeEngine(PAINTINGS))
    assert not isinstance(bot, commands.AutoShardedBot)
    bot.store.close()

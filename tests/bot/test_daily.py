"""Daily prompt in virtual time: two time zones, once per day, catch-up after downtime, admin-only."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import discord
import pytest
import simcord

from bot.app import create_bot
from bot.daily import due_slot, latest_slot, next_slot, painter_prompt, parse_time, parse_zone
from bot.params import MuseParams, from_json
from bot.store import GuildSettings
from cogs.daily import Daily
from tests.bot.conftest import World, make_settings
from tests.bot.fakes import FakeEngine


def posted(world: World, guild_id: int) -> list[dict]:  # type: ignore[type-arg]
    return [p for p in world.env.bot.store.daily_posts(guild_id) if p["message_id"] is not None]


def post_message(channel: object, message_id: int) -> discord.Message:
    return next(m for m in channel.history() if m.id == message_id)  # type: ignore[attr-defined]


async def setup_two_guilds(world: World) -> tuple[object, object, object, object]:
    env = world.env
    paris = world.guild
    admin_role = paris.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    paris_admin = paris.add_member(env.create_user("paris-admin"), roles=[admin_role])
    york = env.create_guild("New York")
    york_channel = york.create_text_channel("daily")
    york_role = york.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    york_admin = york.add_member(env.create_user("york-admin"), roles=[york_role])
    r1 = await paris_admin.slash(
        world.channel,
        "muse-admin daily set",
        channel=world.channel,
        at="09:00",
        timezone="Europe/Paris",
        language="fr",
    )
    assert "on" in r1.response.content
    await york_admin.slash(
        york_channel, "muse-admin daily set", channel=york_channel, at="09:00", timezone="America/New_York"
    )
    return paris, york, york_channel, paris_admin


@pytest.mark.simcord(settle_timeout=60)
async def test_daily_posts_at_local_time_in_two_time_zones_once_per_day(world: World) -> None:
    """09:00 Paris (08:00Z) and 09:00 New York (14:00Z) each get one post a day, with prompt and original."""
    paris, york, york_channel, _admin = await setup_two_guilds(world)
    await world.env.advance_time(8 * 3600 - 60)  # 07:59Z: nothing yet
    assert posted(world, paris.id) == [] and posted(world, york.id) == []
    await world.env.advance_time(120)  # 08:01Z
    assert [p["slot"] for p in posted(world, paris.id)] == ["2026-01-01"]
    assert posted(world, york.id) == []
    message = post_message(world.channel, posted(world, paris.id)[0]["message_id"])
    assert "peignez" in message.content
    assert len(world.channel.threads) == 1, "a thread for answers"
    assert len(message.attachments) == 2  # the reinterpretation and the original beside it
    assert message.embeds[0].fields
    await world.env.advance_time(6 * 3600)  # 14:01Z
    assert [p["slot"] for p in posted(world, york.id)] == ["2026-01-01"]
    york_post = post_message(york_channel, posted(world, york.id)[0]["message_id"])
    assert "Your turn: paint what the" in york_post.content
    await world.env.advance_time(24 * 3600)
    assert [p["slot"] for p in posted(world, paris.id)] == ["2026-01-01", "2026-01-02"]
    assert [p["slot"] for p in posted(world, york.id)] == ["2026-01-01", "2026-01-02"]
    paintings = [p["painting"] for p in posted(world, paris.id)]
    assert len(set(paintings)) == 2, "a painting is not reused while recent"


@pytest.mark.simcord(settle_timeout=60)
async def test_missed_slots_after_downtime_are_posted_once(world: World) -> None:
    """Two days down: on start each guild gets one catch-up post, not two, then the schedule goes on."""
    paris, york, _york_channel, _admin = await setup_two_guilds(world)
    await world.env.advance_time(15 * 3600)  # both posted on day 1
    world.bot.get_cog("Daily").daily_loop.cancel()  # type: ignore[union-attr]  # the bot is "down"
    await world.env.advance_time(2 * 24 * 3600)  # 2026-01-03T15:00Z: two slots missed per guild
    await world.env.restart_bot(create_bot(world.bot.settings, world.bot.engine, gate=world.gate))
    assert [p["slot"] for p in posted(world, paris.id)] == ["2026-01-01", "2026-01-03"]
    assert [p["slot"] for p in posted(world, york.id)] == ["2026-01-01", "2026-01-03"]
    await world.env.advance_time(24 * 3600)
    assert [p["slot"] for p in posted(world, paris.id)][-1] == "2026-01-04"
    assert len(posted(world, york.id)) == 3


async def test_admin_commands_refuse_non_admins(world: World) -> None:
    """Discord hides /muse-admin from non-admins; if a server re-grants it, the bot still refuses."""
    with pytest.raises(simcord.SetupError):
        await world.bob.slash(world.channel, "muse-admin daily off")
    commands = await world.bot.tree.fetch_commands()
    admin = next(c for c in commands if c.name == "muse-admin")
    world.guild.set_command_permissions(admin, {world.bob: True})
    result = await world.bob.slash(world.channel, "muse-admin daily set", channel=world.channel, at="09:00")
    assert result.ephemeral and "Manage Server" in result.response.content
    assert not world.bot.store.guild_settings(world.guild.id).daily_enabled


async def test_daily_status_and_off(world: World) -> None:
    """status reports the schedule, off stops it."""
    owner_role = world.guild.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    admin = world.guild.add_member(world.env.create_user("boss"), roles=[owner_role])
    await admin.slash(
        world.channel, "muse-admin daily set", channel=world.channel, at="18:30", timezone="Asia/Tokyo"
    )
    status = await admin.slash(world.channel, "muse-admin daily status")
    assert "18:30" in status.response.content and "Asia/Tokyo" in status.response.content
    off = await admin.slash(world.channel, "muse-admin daily off")
    assert "off" in off.response.content
    bad = await admin.slash(world.channel, "muse-admin daily set", channel=world.channel, at="25:99")
    assert "not a time" in bad.response.content


def test_latest_slot_when_the_zone_skipped_yesterday() -> None:
    """Samoa skipped 30 Dec 2011 (UTC-10 to UTC+14): just after midnight on the 31st, the latest slot is
    the 29th's, two local days back, so ``latest_slot``'s day-minus-2 fallback is reachable."""
    at, apia = parse_time("09:00"), parse_zone("Pacific/Apia")
    now = datetime(2011, 12, 30, 10, 10, tzinfo=UTC)  # 2011-12-31 00:10 local
    slot, instant = latest_slot(now, at, apia)
    assert slot == "2011-12-29"
    assert instant == datetime(2011, 12, 29, 19, 0, tzinfo=UTC) and instant <= now


def test_slot_maths_handles_time_zones_and_the_enable_instant() -> None:
    """The latest slot is local-date based; slots before enabling are not owed."""
    at, paris = parse_time("09:00"), parse_zone("Europe/Paris")
    assert latest_slot(datetime(2026, 7, 1, 7, 0, tzinfo=UTC), at, paris)[0] == "2026-07-01"  # CEST: 07:00Z
    assert latest_slot(datetime(2026, 7, 1, 6, 59, tzinfo=UTC), at, paris)[0] == "2026-06-30"
    enabled = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert due_slot(datetime(2026, 7, 1, 11, 0, tzinfo=UTC), at, paris, enabled) is None
    assert due_slot(datetime(2026, 7, 2, 7, 0, tzinfo=UTC), at, paris, enabled) == "2026-07-02"
    assert painter_prompt({"swaps": [{"class": "dog"}]}, "en") == "🎨 Your turn: paint what the dog became!"


@pytest.mark.simcord(settle_timeout=60)
async def test_a_button_on_the_daily_post_makes_an_ordinary_job(world: World) -> None:
    """Another one on a daily post copies its params but not its daily slot.

    Otherwise a restart would deliver the clicker's job as the guild's daily post.
    """
    role = world.guild.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    admin = world.guild.add_member(world.env.create_user("boss"), roles=[role])
    await admin.slash(world.channel, "muse-admin daily set", channel=world.channel, at="09:00")
    await world.env.advance_time(9 * 3600 + 60)
    [post] = posted(world, world.guild.id)
    message = post_message(world.channel, post["message_id"])
    again = await world.alice.click(message, label="Another one")
    assert again.response is not None and again.response.attachments
    rows = world.bot.store.db.execute("SELECT id FROM jobs WHERE user_id = ?", [world.alice.id]).fetchall()
    [job] = [world.bot.store.get_job(r[0]) for r in rows]
    assert job is not None
    params = from_json(job["kind"], job["params"])
    assert isinstance(params, MuseParams) and params.daily_slot is None


def test_the_day_after_a_dst_change_fires_at_the_new_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paris springs forward on 2026-03-29: after the 28th's 08:00Z post, the next is 07:00Z, not 08:00Z."""
    at, paris = parse_time("09:00"), parse_zone("Europe/Paris")
    after_last_winter_post = datetime(2026, 3, 28, 8, 0, 30, tzinfo=UTC)
    assert next_slot(after_last_winter_post, at, paris) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert next_slot(datetime(2026, 3, 28, 7, 0, tzinfo=UTC), at, paris) == datetime(
        2026, 3, 28, 8, 0, tzinfo=UTC
    )  # today's slot, still ahead
    bot = create_bot(make_settings(tmp_path), FakeEngine())
    bot.store.update_guild_settings(
        1, daily_channel_id=2, daily_time="09:00", daily_timezone="Europe/Paris", daily_enabled=1
    )
    monkeypatch.setattr(bot, "now", lambda: after_last_winter_post)
    assert Daily(bot).loop_times() == [time(7, 0, tzinfo=UTC)]
    bot.store.close()


async def test_one_guilds_unexpected_error_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while posting for one guild is logged, its slot released, and the next guild still posts."""
    bot = create_bot(make_settings(tmp_path), FakeEngine())
    store = bot.store
    for guild_id in (1, 2):
        store.update_guild_settings(
            guild_id,
            daily_channel_id=10 + guild_id,
            daily_time="09:00",
            daily_timezone="UTC",
            daily_enabled=1,
        )
    monkeypatch.setattr(bot, "now", lambda: datetime(2026, 1, 1, 9, 0, 30, tzinfo=UTC))
    daily = Daily(bot)
    posted_for: list[int] = []

    async def post(settings: GuildSettings, slot: str) -> bool:
        if settings.guild_id == 1:
            raise RuntimeError("bug")
        posted_for.append(settings.guild_id)
        return True

    daily.post = post  # type: ignore[method-assign]
    assert await daily.post_due() == 1
    assert posted_for == [2]
    assert store.daily_posts(1) == [], "the failed guild's slot is released"
    store.close()


@pytest.mark.parametrize("name", ["Europe", "Mars/Olympus", ""])
def test_a_folder_or_unknown_zone_is_an_invalid_timezone(name: str) -> None:
    """ "Europe" names a folder of the tz database (IsADirectoryError): the admin gets the usual message."""
    with pytest.raises(ValueError, match="is not a time zone"):
        parse_zone(name)

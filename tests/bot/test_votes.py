"""Reactions as votes: one per user per output, removal, bots ignored, restart, reconcile, leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import create_bot
from tests.bot.conftest import World


async def make_output(world: World, painting: str = "vermeer_milkmaid") -> object:
    result = await world.alice.slash(world.channel, "muse", painting=painting)
    assert result.response is not None
    return result.response


def votes_of(world: World, response: object) -> int:
    store = world.env.bot.store
    output = store.output_by_message(response.id)  # type: ignore[attr-defined]
    return store.vote_count(output["id"])


async def test_votes_count_users_not_emoji_and_ignore_bots(world: World) -> None:
    """3 users with mixed emoji = 3 votes; un-react leaves 2; bots, other emoji, non-outputs ignored."""
    response = await make_output(world)
    u1, u2, u3 = (world.guild.add_member(world.env.create_user(f"voter{i}")) for i in range(3))
    robot = world.guild.add_member(world.env.create_user("robot", bot=True))
    await u1.react(response, "⭐")
    await u1.react(response, "👍")
    await u2.react(response, "🔥")
    await u3.react(response, "⭐")
    await robot.react(response, "⭐")
    await world.bob.react(response, "😀")
    assert votes_of(world, response) == 3
    await u1.unreact(response, "⭐")
    assert votes_of(world, response) == 3, "u1 still votes with 👍"
    await u2.unreact(response, "🔥")
    assert votes_of(world, response) == 2
    plain = await world.alice.send(world.channel, "just chatting")
    await u2.react(plain, "⭐")
    rows = world.bot.store.db.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
    assert rows == 2  # u1 👍 and u3 ⭐ only


async def test_votes_survive_restart_and_reconcile_with_reactions(world: World) -> None:
    """Votes persist across a restart; the first event after it makes the store match the message."""
    response = await make_output(world)
    u1, u2 = (world.guild.add_member(world.env.create_user(f"voter{i}")) for i in range(2))
    await u1.react(response, "⭐")
    await u2.react(response, "🔥")
    await world.env.restart_bot(create_bot(world.bot.settings, world.bot.engine, gate=world.gate))
    assert votes_of(world, response) == 2
    store = world.env.bot.store
    output = store.output_by_message(response.id)  # type: ignore[attr-defined]
    store.add_vote(
        output["id"], 424242, "⭐", datetime(2026, 1, 1, tzinfo=UTC)
    )  # a removal missed while down
    assert votes_of(world, response) == 3
    u3 = world.guild.add_member(world.env.create_user("late"))
    await u3.react(response, "👍")
    assert votes_of(world, response) == 3  # u1, u2, u3; the stale vote is gone
    users = {r[0] for r in store.db.execute("SELECT user_id FROM votes").fetchall()}
    assert 424242 not in users


async def test_leaderboard_orders_by_votes(world: World) -> None:
    """/muse-top lists the guild's outputs by votes, with links and painting names."""
    first = await make_output(world, "vermeer_milkmaid")
    second = await make_output(world, "leonardo_mona_lisa")
    voters = [world.guild.add_member(world.env.create_user(f"v{i}")) for i in range(3)]
    await voters[0].react(first, "⭐")
    for voter in voters:
        await voter.react(second, "🔥")
    top = await world.bob.slash(world.channel, "muse-top", period="all")
    lines = (top.response.embeds[0].description or "").splitlines()
    assert lines[0].startswith("1. [Mona Lisa — Leonardo da Vinci]") and "— 3" in lines[0]
    assert lines[1].startswith("2. [The Milkmaid — Johannes Vermeer]") and "— 1" in lines[1]
    assert f"/{second.id})" in lines[0]  # type: ignore[attr-defined]
    await world.env.advance_time(8 * 24 * 3600)
    week = await world.bob.slash(world.channel, "muse-top", period="week")
    assert "No votes yet" in week.response.content


async def test_votes_steer_the_next_proposals(world: World) -> None:
    """Outputs' votes become weights: the next /muse passes raised cut-out weights to the engine."""
    response = await make_output(world)
    voters = [world.guild.add_member(world.env.create_user(f"v{i}")) for i in range(4)]
    for voter in voters:
        await voter.react(response, "⭐")
    voted = world.bot.store.output_by_message(response.id)  # type: ignore[attr-defined]
    again = await world.alice.slash(world.channel, "muse", painting="vermeer_milkmaid")
    output = world.bot.store.output_by_message(again.response.id)
    weights = output["trace"]["weights"]["cutout"]
    assert all(weights[c] > 1.0 for c in voted["cutout_ids"])
    assert output["weights"]["painting"] > 1.0

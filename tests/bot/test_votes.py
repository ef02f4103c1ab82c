"""Reactions as votes: one per user per output, removal, bots ignored, restart, reconcile, leaderboard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bot.app import create_bot
from cogs.votes import Votes
from tests.bot.conftest import World, make_settings
from tests.bot.fakes import FakeEngine


async def make_output(world: World, painting: str = "vermeer_milkmaid") -> object:
    result = await world.alice.slash(world.channel, "muse", count=1, painting=painting)
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
    again = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    output = world.bot.store.output_by_message(again.response.id)
    weights = output["trace"]["weights"]["cutout"]
    assert all(weights[c] > 1.0 for c in voted["cutout_ids"])
    assert output["weights"]["painting"] > 1.0


class _Reaction:
    def __init__(self, emoji: str, user_ids: list[int]) -> None:
        self.emoji = emoji
        self._users = [SimpleNamespace(id=u, bot=False) for u in user_ids]

    async def users(self) -> Any:
        for user in self._users:
            yield user


class _SlowChannel:
    """fetch_message waits until the test lets it go: the reconcile is still reading reactions."""

    def __init__(self, reactions: list[_Reaction]) -> None:
        self.reactions = reactions
        self.go = asyncio.Event()
        self.reading = asyncio.Event()

    async def fetch_message(self, message_id: int) -> Any:
        self.reading.set()
        await self.go.wait()
        return SimpleNamespace(reactions=self.reactions)


async def test_a_vote_during_the_first_reconcile_is_not_erased(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob votes while Alice's event is reconciling from a snapshot taken before Bob reacted."""
    bot = create_bot(make_settings(tmp_path), FakeEngine())
    store = bot.store
    store.insert_output(
        {
            "id": "o1",
            "kind": "muse",
            "guild_id": 5,
            "channel_id": 6,
            "message_id": 77,
            "image_path": "x.png",
            "image_sha256": "0" * 64,
            "trace": {},
            "created_at": "2026-01-01T00:00:00+00:00",
        }
    )
    channel = _SlowChannel([_Reaction("⭐", [1])])  # the snapshot: only Alice
    monkeypatch.setattr(bot, "get_partial_messageable", lambda *_a, **_k: channel)
    monkeypatch.setattr(bot, "now", lambda: datetime(2026, 1, 1, tzinfo=UTC))
    votes = Votes(bot)

    def payload(user_id: int) -> Any:
        return SimpleNamespace(user_id=user_id, member=None, emoji="⭐", guild_id=5, message_id=77)

    alice = asyncio.create_task(votes.on_raw_reaction_add(payload(1)))
    await channel.reading.wait()  # Alice's event is inside the reconcile, waiting for the message
    bob = asyncio.create_task(votes.on_raw_reaction_add(payload(2)))
    await asyncio.sleep(0)  # one turn: Bob's event runs until it waits for the message's lock
    channel.go.set()
    await asyncio.gather(alice, bob)
    assert store.vote_count("o1") == 2
    store.close()

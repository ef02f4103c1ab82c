"""Queue behaviour end to end: load with fairness and limits, restart, timeout, cancellation."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import create_bot
from tests.bot.conftest import Gate, World, make_settings, painting_bytes
from tests.bot.fakes import FakeEngine
from tests.bot.lag import LagProbe

SMALL = "caillebotte_paris_street_rainy_day.jpg"
BIG = ["seurat_grande_jatte.jpg", "renoir_luncheon_boating_party.jpg", "vangogh_bedroom_arles.jpg"]


@pytest.mark.simcord(settle_timeout=120)
async def test_fifty_concurrent_muse_from_ten_users(world: World, engine: FakeEngine) -> None:
    """50 /muse from 10 users on a busy worker: all answered, limits hold, fair order, responsive loop."""
    users = [world.guild.add_member(world.env.create_user(f"user{i}")) for i in range(10)]
    world.bot.jobs.per_guild_queued = world.bot.settings.max_pending  # one guild may fill the queue here
    world.gate.hold()
    results = []
    for round_ in range(5):
        for index, user in enumerate(users):
            name = BIG[(round_ + index) % len(BIG)]
            results.append(
                (user, await user.slash(world.channel, "muse", count=1, image=(name, painting_bytes(name))))
            )
    queue = world.bot.jobs
    assert queue.pending == world.bot.settings.max_pending
    # The probe runs on the test's side of the same event loop with real timers: simcord freezes the
    # bot's own short sleeps while worker-thread work is pending, so an in-bot probe would only see that.
    probe, stop = LagProbe(interval_s=0.005), asyncio.Event()
    probe_task = asyncio.get_running_loop().create_task(probe.run(stop))
    world.gate.release()
    await world.env.settle(timeout=120)
    stop.set()
    await probe_task

    accepted: dict[int, int] = {}
    refused = {"busy": 0, "limit": 0}
    for user, result in results:
        response = result.response
        assert response is not None, "every interaction is answered"
        if response.attachments:
            accepted[user.id] = accepted.get(user.id, 0) + 1
        elif "busy" in response.content:
            refused["busy"] += 1
            assert result.ephemeral
        else:
            assert "You already have" in response.content
            refused["limit"] += 1
    per_user_cap = 1 + world.bot.settings.per_user_queued
    assert all(count <= per_user_cap for count in accepted.values())
    assert sum(accepted.values()) == world.bot.settings.max_pending + 1
    assert sum(accepted.values()) + refused["busy"] + refused["limit"] == 50

    order = [user_id for _job, user_id in world.gate.seen]
    assert len(set(order[:10])) == 10, "round-robin: the first ten jobs come from ten different users"
    assert {c["thread"] for c in engine.calls} == {c["thread"] for c in engine.calls[:1]}, "one worker thread"

    p50, p99, worst = probe.percentile(50), probe.percentile(99), max(probe.samples)
    sys.__stdout__.write(
        f"\nevent-loop lag during {len(engine.calls)} jobs: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
        f"max {worst:.2f} ms over {len(probe.samples)} samples; accepted {sum(accepted.values())}, "
        f"busy {refused['busy']}, over user limit {refused['limit']}\n"
    )
    assert len(probe.samples) > 50


async def test_restart_mid_job_resumes_it(world: World, engine: FakeEngine) -> None:
    """Killing the bot while a job runs and starting again finishes the job in the channel."""
    world.gate.hold()
    first = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=9)
    assert first.response is not None and not first.response.attachments
    row = world.bot.store.unfinished_jobs()[0]
    assert row["status"] == "running"
    new_gate = Gate()
    new_gate.env = world.env
    await world.env.restart_bot(create_bot(world.bot.settings, engine, gate=new_gate))
    message = world.channel.last_message
    assert "after a restart" in message.content
    assert message.attachments and message.embeds[0].title == "The Milkmaid — Johannes Vermeer"
    assert world.env.bot.store.get_job(row["id"])["status"] == "done"


async def test_restart_reports_a_job_out_of_tries(tmp_path, engine: FakeEngine, gate: Gate) -> None:  # type: ignore[no-untyped-def]
    """A job interrupted once too often is reported in the channel instead of being run again."""
    import simcord

    settings = make_settings(tmp_path, max_tries=1)
    async with simcord.run(create_bot(settings, engine, gate=gate)) as env:
        gate.env = env
        guild = env.create_guild()
        channel = guild.create_text_channel("art")
        alice = guild.add_member(env.create_user("alice"))
        gate.hold()
        await alice.slash(channel, "muse", count=1, painting="vermeer_milkmaid")
        await env.restart_bot(create_bot(settings, engine))
        assert "could not finish it" in channel.last_message.content
        assert engine.calls == []


async def test_deleting_the_request_cancels_the_job(world: World, engine: FakeEngine) -> None:
    """Deleting the !muse message cancels its job, whether waiting or already started."""
    world.gate.hold()
    running = await world.alice.send(world.channel, "!muse", attachments=[(SMALL, painting_bytes(SMALL))])
    waiting = await world.alice.send(world.channel, "!muse", attachments=[(SMALL, painting_bytes(SMALL))])
    await world.alice.delete(waiting)
    await world.alice.delete(running)
    world.gate.release()
    await world.env.settle()
    assert engine.calls == []
    statuses = [r[0] for r in world.bot.store.db.execute("SELECT status FROM jobs").fetchall()]
    assert statuses == ["cancelled", "cancelled"]
    assert "Cancelled" in world.channel.last_message.content


async def test_deleting_the_bots_progress_reply_cancels_the_job(world: World, engine: FakeEngine) -> None:
    """docs/bot.md: deleting the bot's progress message of a !muse cancels the job too."""
    world.gate.hold()
    await world.alice.send(world.channel, "!muse", attachments=[(SMALL, painting_bytes(SMALL))])
    reply = world.channel.last_message
    assert reply.author.id == world.bot.user.id  # type: ignore[union-attr]
    mods = world.guild.create_role("mods", permissions=discord.Permissions(manage_messages=True))
    moderator = world.guild.add_member(world.env.create_user("mod"), roles=[mods])
    await moderator.delete(reply)
    world.gate.release()
    await world.env.settle()
    assert engine.calls == []
    statuses = [r[0] for r in world.bot.store.db.execute("SELECT status FROM jobs").fetchall()]
    assert statuses == ["cancelled"]


def _mentions_of_post(env: Any, needle: str) -> list[dict[str, Any]]:
    """The allowed_mentions of every message the bot posted whose content holds ``needle``."""
    found = []
    for request in env.http_requests:
        body = request.json
        if request.method != "POST" or not isinstance(body, dict):
            continue
        payload = body["data"] if isinstance(body.get("data"), dict) else body
        if needle in str(payload.get("content") or ""):
            found.append(payload.get("allowed_mentions") or {})
    return found


async def test_the_resumed_message_pings_only_its_requester(world: World, engine: FakeEngine) -> None:
    """Pings are off bot-wide, but the "finished after a restart" post must notify the one who asked."""
    world.gate.hold()
    await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=9)
    new_gate = Gate()
    new_gate.env = world.env
    await world.env.restart_bot(create_bot(world.bot.settings, engine, gate=new_gate))
    assert f"<@{world.alice.id}>" in world.channel.last_message.content
    mentions = _mentions_of_post(world.env, "after a restart")
    assert len(mentions) == 1
    assert mentions[0].get("parse") == []
    assert [int(u) for u in mentions[0].get("users", [])] == [world.alice.id]
    assert not mentions[0].get("roles") and not mentions[0].get("replied_user")


async def test_the_interrupted_message_pings_only_its_requester(
    tmp_path: Path, engine: FakeEngine, gate: Gate
) -> None:
    """A job reported as interrupted after a restart notifies its requester, and nobody else."""
    import simcord

    settings = make_settings(tmp_path, max_tries=1)
    async with simcord.run(create_bot(settings, engine, gate=gate)) as env:
        gate.env = env
        guild = env.create_guild()
        channel = guild.create_text_channel("art")
        alice = guild.add_member(env.create_user("alice"))
        gate.hold()
        await alice.slash(channel, "muse", count=1, painting="vermeer_milkmaid")
        await env.restart_bot(create_bot(settings, engine))
        assert "could not finish it" in channel.last_message.content
        mentions = _mentions_of_post(env, "could not finish it")
        assert len(mentions) == 1
        assert mentions[0].get("parse") == []
        assert [int(u) for u in mentions[0].get("users", [])] == [alice.id]
        assert not mentions[0].get("roles") and not mentions[0].get("replied_user")

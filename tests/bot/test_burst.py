"""Burst: 200 /muse from 40 users inside one virtual minute; all answered, none dropped or duplicated.

The engine double keeps this about the bot (queue, store, Discord replies), not the models.
Figures go to the terminal reporter (visible without -s) and kept as junit properties.
"""

from __future__ import annotations

import asyncio
import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.bot.conftest import SHARED_DATA, World
from tests.bot.fakes import FakeEngine
from tests.bot.lag import LagProbe

INVOCATIONS = 200
USERS = 40
WAVES = 4
VIRTUAL_GAP_S = 60.0 / INVOCATIONS - 0.01  # 200 invocations spread over just under one virtual minute


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / (1024 * 1024)


def small_png() -> bytes:
    with Image.open(SHARED_DATA / "paintings" / "vermeer_milkmaid.jpg") as opened:
        image = opened.convert("RGB")
    image.thumbnail((200, 200))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def classify(result: Any) -> str:
    """What the user finally sees: a picture, or a refusal (busy, over quota, over rate)."""
    response = result.response
    if response is None:
        return "unanswered"
    if response.attachments:
        return "result"
    content = response.content or ""
    if "busy" in content:
        return "busy"
    if "You already have" in content:
        return "user_limit"
    if "requests in a minute" in content:
        return "rate_limited"
    if "In the queue" in content or "…" in content:
        return "stuck_in_progress"
    return f"other: {content[:60]}"


@pytest.mark.simcord(settle_timeout=120)
async def test_burst_of_200_from_40_users_in_one_virtual_minute(
    world: World,
    engine: FakeEngine,
    record_property: Any,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every invocation gets one final answer; accepted jobs run exactly once; the loop stays responsive."""
    users = [world.guild.add_member(world.env.create_user(f"user{i}")) for i in range(USERS)]
    rng = random.Random(6)
    weights = [6 if i < 5 else 1 for i in range(USERS)]  # five heavy users hit their quota and rate
    picks = rng.choices(range(USERS), weights=weights, k=INVOCATIONS)
    data = small_png()
    probe, stop = LagProbe(interval_s=0.005), asyncio.Event()
    probe_task = asyncio.get_running_loop().create_task(probe.run(stop))
    rss_start = rss_mb()
    rss_peak = rss_start
    start_clock = world.bot.now()

    results: list[tuple[int, Any]] = []
    per_wave = INVOCATIONS // WAVES
    for wave in range(WAVES):
        world.gate.hold()
        for index in picks[wave * per_wave : (wave + 1) * per_wave]:
            user = users[index]
            result = await user.slash(world.channel, "muse", count=1, image=(f"u{index}.png", data))
            results.append((user.id, result))
            await world.env.advance_time(VIRTUAL_GAP_S)
        world.gate.release()
        await world.env.settle(timeout=120)
        rss_peak = max(rss_peak, rss_mb())
    elapsed_virtual = (world.bot.now() - start_clock).total_seconds()
    stop.set()
    await probe_task

    outcomes = Counter(classify(result) for _user, result in results)
    accepted = outcomes["result"]
    jobs = world.bot.store.db.execute("SELECT id, status FROM jobs").fetchall()
    outputs = world.bot.store.db.execute("SELECT job_id, message_id FROM outputs").fetchall()
    job_runs = Counter(job_id for job_id, _user in world.gate.seen)
    duplicated = sum(count - 1 for count in job_runs.values() if count > 1)
    duplicated += len(outputs) - len({row[0] for row in outputs})
    duplicated += sum(len(result.followups) for _user, result in results)
    dropped = INVOCATIONS - sum(outcomes[k] for k in ("result", "busy", "user_limit", "rate_limited"))
    p50, p99, worst = probe.percentile(50), probe.percentile(99), max(probe.samples, default=0.0)

    figures = {
        "invocations": INVOCATIONS,
        "answered": sum(1 for _u, r in results if r.response is not None),
        "results": accepted,
        "busy": outcomes["busy"],
        "user_limit": outcomes["user_limit"],
        "rate_limited": outcomes["rate_limited"],
        "dropped": dropped,
        "duplicated": duplicated,
        "virtual_s": round(elapsed_virtual, 1),
        "lag_p50_ms": round(p50, 2),
        "lag_p99_ms": round(p99, 2),
        "lag_max_ms": round(worst, 2),
        "lag_samples": len(probe.samples),
        "rss_start_mb": round(rss_start, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "rss_end_mb": round(rss_mb(), 1),
    }
    for key, value in figures.items():
        record_property(key, value)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with capsys.disabled():
        line = f"burst figures: {figures}; outcomes: {dict(outcomes)}"
        (reporter.write_line if reporter is not None else print)("\n" + line)

    assert elapsed_virtual < 61.0
    assert figures["answered"] == INVOCATIONS and dropped == 0, outcomes
    assert duplicated == 0
    assert accepted == len(jobs) == len(outputs) == len(engine.calls) == len(job_runs)
    assert all(status == "done" for _id, status in jobs)
    assert len({row[1] for row in outputs}) == accepted, "one message per output"
    assert outcomes["busy"] > 0 and outcomes["user_limit"] + outcomes["rate_limited"] > 0

"""Bot benchmark: event-loop lag during a burst of /muse requests over a store holding many outputs.

Run: ``.venv/bin/python -m tests.bot.bench_burst --stored 300000 --requests 300`` (prints JSON). It drives
the real bot through simcord with the engine double, so it measures the bot (queue, store, Discord
replies), not the models. Timings belong here, not in unit tests.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import simcord
from PIL import Image

from bot.app import create_bot
from bot.store import Store
from tests.bot.conftest import ANNOTATIONS, Gate, make_settings
from tests.bot.fakes import CUTOUTS, FakeEngine
from tests.bot.lag import LagProbe


def seed_outputs(store: Store, count: int, guild_id: int) -> float:
    """Store ``count`` past outputs with votes, as months of use would; returns the seconds it took."""
    rng = random.Random(3)
    start = time.perf_counter()
    when = datetime(2025, 1, 1, tzinfo=UTC)
    paintings = [p.stem for p in sorted((ANNOTATIONS.parent.parent / "paintings").iterdir())]
    with store.transaction():
        for index in range(count):
            output_id = f"seed{index:07d}"
            store.insert_output(
                {
                    "id": output_id,
                    "kind": "muse",
                    "guild_id": guild_id,
                    "user_id": 1000 + index % 500,
                    "painting": rng.choice(paintings),
                    "chaos": rng.choice((0.1, 0.2, 0.3)),
                    "image_path": f"/nowhere/{output_id}.png",
                    "image_sha256": "0" * 64,
                    "trace": {"swaps": []},
                    "cutout_ids": rng.sample(CUTOUTS, 3),
                    "created_at": (when + timedelta(seconds=index)).isoformat(),
                }
            )
            if index % 7 == 0:
                store.add_vote(output_id, 5000 + index % 300, "⭐", when)
    return time.perf_counter() - start


def small_png(seed: int) -> bytes:
    image = Image.new("RGB", (160, 120), (seed % 255, 120, 200))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def burst(stored: int, requests: int, users: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        settings = make_settings(root, per_user_per_minute=30)
        gate = Gate()
        bot = create_bot(settings, FakeEngine(ANNOTATIONS), gate=gate)
        async with simcord.run(bot, settle_timeout=600) as env:
            gate.env = env
            guild = env.create_guild()
            channel = guild.create_text_channel("art")
            seconds_to_seed = seed_outputs(bot.store, stored, guild.id)
            started = time.perf_counter()
            bot.store.element_stats(guild.id)
            stats_ms = (time.perf_counter() - started) * 1000
            members = [guild.add_member(env.create_user(f"user{i}")) for i in range(users)]
            probe, stop = LagProbe(interval_s=0.005), asyncio.Event()
            probe_task = asyncio.get_running_loop().create_task(probe.run(stop))
            rng = random.Random(5)
            outcomes: Counter[str] = Counter()
            waves = 4
            for _wave in range(waves):
                gate.hold()
                for index in range(requests // waves):
                    member = members[rng.randrange(users)]
                    if index % 3 == 0:
                        upload = (f"u{index}.png", small_png(index))
                        result = await member.slash(channel, "muse", image=upload)
                    else:
                        result = await member.slash(channel, "muse", painting="vermeer_milkmaid")
                    content = (result.response.content or "") if result.response else "unanswered"
                    outcomes["queued" if "queue" in content else content[:24]] += 1
                gate.release()
                await env.settle(timeout=600)
            stop.set()
            await probe_task
            return {
                "stored_outputs": stored,
                "seed_s": round(seconds_to_seed, 1),
                "element_stats_ms": round(stats_ms, 2),
                "requests": requests,
                "users": users,
                "lag_p50_ms": round(probe.percentile(50), 2),
                "lag_p99_ms": round(probe.percentile(99), 2),
                "lag_max_ms": round(max(probe.samples, default=0.0), 2),
                "lag_samples": len(probe.samples),
                "outcomes": dict(outcomes),
            }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--users", type=int, default=40)
    args = parser.parse_args()
    report = asyncio.run(burst(args.stored, args.requests, args.users))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

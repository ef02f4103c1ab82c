"""Limits through Discord: per-user rate, upload size by guild, job timeout, memory cap per job.

The per-user queue quota and the global queue bound are proven in test_queue_e2e.py
(test_fifty_concurrent_muse_from_ten_users) and test_jobs.py (test_per_user_and_global_limits).
"""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.engine import WORK_LONG_SIDE
from tests.bot.conftest import World
from tests.bot.fakes import FakeEngine


def _jpeg(width: int, height: int) -> bytes:
    ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    image = Image.fromarray(np.dstack([ramp, ramp[::-1], np.full_like(ramp, 80)]), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


async def test_per_user_rate_limit_and_its_reset(world: World) -> None:
    """The 7th request of a user inside one minute is refused with a wait time; a minute later it works."""
    per_minute = world.bot.settings.per_user_per_minute
    for _ in range(per_minute):
        ok = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
        assert ok.response is not None and ok.response.attachments
    refused = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert refused.response is not None and refused.ephemeral
    assert f"more than {per_minute} requests in a minute" in refused.response.content
    other = await world.bob.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert other.response is not None and other.response.attachments, "other users are not affected"
    await world.env.advance_time(61)
    again = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert again.response is not None and again.response.attachments


def test_upload_limit_is_the_guilds_own_capped_by_settings(simcord_bot: Any) -> None:
    """The output must fit the guild's upload limit (boosted guilds allow more), and the operator's cap."""
    from cogs.muse._cog import Muse

    cog = Muse(simcord_bot)
    small_guild = SimpleNamespace(filesize_limit=8 * 1024 * 1024)
    boosted = SimpleNamespace(filesize_limit=100 * 1024 * 1024)
    assert cog.upload_limit(small_guild) == 8 * 1024 * 1024  # type: ignore[arg-type]
    assert cog.upload_limit(boosted) == 100 * 1024 * 1024  # type: ignore[arg-type]
    simcord_bot.settings.upload_limit_bytes = 5_000_000
    assert cog.upload_limit(boosted) == 5_000_000  # type: ignore[arg-type]
    simcord_bot.store.close()


def test_timeout_message_is_clear_in_both_languages() -> None:
    """A timed-out job (JobQueue raises JobTimeout, see test_jobs.py) is told in words, with the limit.

    simcord freezes its virtual clock while worker-thread work runs, so the timeout itself is exercised
    with real time in test_jobs.py::test_timeout_reports_a_clear_error_and_the_queue_goes_on.
    """
    from bot.errors import JobTimeout
    from bot.jobs import Job
    from bot.params import MuseParams
    from cogs.muse._cog import failure_text

    job = Job(user_id=1, params=MuseParams(seed=0, painting="vermeer_milkmaid"))
    assert failure_text(job, JobTimeout(300), "en").startswith("⌛ That took too long (over 300 s)")
    assert failure_text(job, JobTimeout(300), "fr").startswith("⌛ C'était trop long (plus de 300 s)")


async def test_engine_crash_is_reported_without_details_and_the_next_job_runs(
    world: World, engine: FakeEngine
) -> None:
    """An unexpected engine error shows an error id (the job id, in the log), never the exception text."""

    def crash() -> None:
        raise RuntimeError("boom in /srv/lamuse/secret_module.py line 42")

    engine.before_call = crash
    bad = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert bad.response is not None and not bad.response.attachments
    job_id = world.bot.store.db.execute("SELECT id FROM jobs").fetchone()[0]
    assert f"Something went wrong (error id `{job_id}`)" in bad.response.content
    assert "boom" not in bad.response.content and "secret" not in bad.response.content
    engine.before_call = None
    good = await world.bob.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert good.response is not None and good.response.attachments


async def test_huge_but_allowed_upload_is_downscaled_before_inference(
    world: World, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 24-megapixel photo (under the 40 MP limit) reaches the engine at most WORK_LONG_SIDE long."""
    seen: list[tuple[int, int]] = []
    reinterpret = engine.reinterpret_variations

    def spy(painting: Image.Image, **kwargs: Any) -> Any:
        seen.append(painting.size)
        return reinterpret(painting, **kwargs)

    monkeypatch.setattr(engine, "reinterpret_variations", spy)
    result = await world.alice.slash(world.channel, "muse", count=1, image=("big.jpg", _jpeg(6000, 4000)))
    assert result.response is not None and result.response.attachments
    assert seen == [(WORK_LONG_SIDE, round(4000 * WORK_LONG_SIDE / 6000))]
    output = world.bot.store.output_by_message(result.response.id)
    assert output is not None and output["trace"]["input"]["work_size"] == list(seen[0])


async def test_an_upload_is_stored_off_the_event_loop(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing and hashing an upload (up to the input byte limit) must not block the event loop."""
    loop_thread = threading.get_ident()
    puts: list[tuple[str, bool]] = []
    put = world.bot.blobs.put

    def spy(kind: str, name: str, data: bytes) -> Any:
        puts.append((kind, threading.get_ident() == loop_thread))
        return put(kind, name, data)

    monkeypatch.setattr(world.bot.blobs, "put", spy)
    result = await world.alice.slash(world.channel, "muse", count=1, image=("photo.jpg", _jpeg(320, 240)))
    assert result.response is not None and result.response.attachments
    assert ("inputs", False) in puts
    assert ("inputs", True) not in puts

"""Security: the token never reaches logs or errors, user text is escaped and mentions nobody,
nothing is left in temporary folders. Admin checks: test_daily.py::test_admin_commands_refuse_non_admins.
Hostile file names: test_gauntlet.py::test_malicious_filename_never_reaches_the_filesystem.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.blobs import Blobs
from tests.bot.conftest import PAINTINGS, World
from tests.bot.fakes import FakeEngine

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.known-test-token-value-0123456789"
HOSTILE = "@everyone **bold** <@123456> `code` ||spoiler|| @here"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def _env_for_main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, library: Path, **extra: str) -> None:
    """A configuration the start-up checks accept (a built library, CPU, the shared corpus)."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("LAMUSE_CORPUS", str(PAINTINGS))
    monkeypatch.setenv("LAMUSE_DB", str(tmp_path / "muse.db"))
    monkeypatch.setenv("LAMUSE_DATA_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("LAMUSE_LIBRARY", str(library))
    monkeypatch.setenv("LAMUSE_DEVICE", "cpu")
    monkeypatch.setenv("LAMUSE_LOG_LEVEL", "DEBUG")
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def test_token_never_logged_when_login_fails(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    root_logging: None,
    annotated_library: Path,
) -> None:
    """Startup at DEBUG up to a failed login: exit status 2 with one clear line, and the token is in no
    log line and no output."""
    import discord

    import bot.__main__ as entry

    async def refuse_login(self: Any, token: str) -> None:
        assert token == TOKEN  # the real token does reach discord.py, and only there
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord.Client, "login", refuse_login)
    _env_for_main(monkeypatch, tmp_path, annotated_library)
    caplog.set_level(logging.DEBUG)
    assert entry.main() == 2
    out, err = capfd.readouterr()
    assert "starting La Muse" in caplog.text
    assert "Discord refused DISCORD_TOKEN" in caplog.text
    for text in (caplog.text, out, err):
        assert TOKEN not in text and "known-test-token" not in text


def test_token_never_shown_in_a_settings_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str], root_logging: None
) -> None:
    """An invalid setting is reported with its name, and the token stays out of the message."""
    import bot.__main__ as entry

    _env_for_main(monkeypatch, tmp_path, tmp_path / "lib", LAMUSE_OUTPUT_SIZE="huge")
    assert entry.main() == 2
    _out, err = capfd.readouterr()
    assert "output_size" in err and TOKEN not in err


async def test_token_absent_from_job_failure_logs_and_replies(
    world: World, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """With a token configured, a crashing job's log lines and reply carry neither token nor settings dump."""
    from pydantic import SecretStr

    from bot.app import describe

    world.bot.settings.discord_token = SecretStr(TOKEN)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("config: %s / %r", describe(world.bot), world.bot.settings)

    def crash() -> None:
        raise RuntimeError(f"engine failed with settings {world.bot.settings!r}")

    engine.before_call = crash
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert result.response is not None and "Something went wrong" in result.response.content
    assert "engine failed" in caplog.text  # the failure is logged...
    assert TOKEN not in caplog.text  # ...without the secret
    assert all(TOKEN not in str(r.json) for r in world.env.http_requests)


async def test_user_text_is_escaped_and_mentions_nobody(world: World) -> None:
    """Painting names, file names and credits with @everyone/markdown are escaped; no message may ping."""
    await world.alice.slash(world.channel, "muse", count=1, painting=HOSTILE)
    await world.bob.send(world.channel, f"!muse {HOSTILE}")
    shown = world.channel.last_message.content
    assert "@\u200beveryone" in shown and "\\*\\*bold\\*\\*" in shown and "@\u200bhere" in shown
    made = await world.alice.slash(world.channel, "muse", count=1, image=(f"{HOSTILE}.png", _png()))
    assert made.response is not None and made.response.attachments
    embed = made.response.embeds[0]
    assert "@everyone" not in (embed.title or "") + (embed.fields[0].value or "").replace("@\u200b", "")
    speaking = 0
    for request in world.env.http_requests:
        body = request.json
        if not isinstance(body, dict) or request.method not in ("POST", "PATCH"):
            continue
        payload = body["data"] if isinstance(body.get("data"), dict) else body
        if payload.get("content") or payload.get("embeds"):
            speaking += 1
            assert (payload.get("allowed_mentions") or {}).get("parse") == [], (request.path, payload)
    assert speaking >= 5


async def test_pings_are_off_in_one_place_the_bot(world: World) -> None:
    """The bot-wide allowed_mentions is the one source of "no pings"; a leaderboard (no job) obeys it too."""
    assert world.bot.allowed_mentions is not None
    assert world.bot.allowed_mentions.to_dict() == {"parse": []}
    made = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert made.response is not None
    await world.bob.react(made.response, "⭐")
    before = len(world.env.http_requests)
    await world.alice.slash(world.channel, "muse-top")
    spoken = [r.json for r in world.env.http_requests[before:] if isinstance(r.json, dict)]
    payloads = [b["data"] if isinstance(b.get("data"), dict) else b for b in spoken]
    embeds = [p for p in payloads if p.get("embeds")]
    assert embeds and all((p.get("allowed_mentions") or {}).get("parse") == [] for p in embeds)


async def test_finished_failed_and_refused_jobs_leave_no_temp_files(
    world: World, engine: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file appears in the temp folder and no half-written ``.part`` file stays in the data dir."""
    scratch = tmp_path / "scratch-tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ok = await world.alice.slash(world.channel, "muse", count=1, image=("ok.png", _png()))
    assert ok.response is not None and ok.response.attachments

    def crash() -> None:
        raise RuntimeError("boom")

    engine.before_call = crash
    await world.bob.slash(world.channel, "muse", count=1, image=("fails.png", _png()))
    engine.before_call = None
    await world.alice.slash(world.channel, "muse", count=1, image=("bad.png", b"not an image"))
    assert list(scratch.iterdir()) == []
    data_dir = world.bot.settings.data_dir
    assert [p for p in data_dir.rglob("*") if p.name.startswith(".") or p.suffix == ".part"] == []
    assert len(list((data_dir / "inputs").iterdir())) == 2  # the two accepted uploads, kept for buttons


def test_half_written_files_from_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    """A kill -9 mid-write leaves ``.name.xxx.part``; the next start deletes it and keeps the rest."""
    first = Blobs(tmp_path)
    kept, _sha = first.put("outputs", "abc.png", b"png")
    partial = tmp_path / "outputs" / ".def.png.x1y2.part"
    partial.write_bytes(b"half")
    again = Blobs(tmp_path)
    assert again.removed_partials == 1 and not partial.exists() and kept.read_bytes() == b"png"


def test_blob_names_are_never_user_text(tmp_path: Path) -> None:
    """Blobs refuse names with separators or a leading dot, so a user string can't pick a path."""
    blobs = Blobs(tmp_path)
    for name in ("../x.png", "a/b.png", "..\\x.png", ".hidden"):
        with pytest.raises(ValueError):
            blobs.put("inputs", name, b"x")


def test_unreachable_discord_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    root_logging: None,
    annotated_library: Path,
) -> None:
    """No network at start: exit status 1 and a plain log line, no traceback, no token."""
    import aiohttp
    import discord

    import bot.__main__ as entry

    async def no_network(self: Any, token: str) -> None:
        raise aiohttp.ClientConnectionError("Cannot connect to host discord.com:443")

    monkeypatch.setattr(discord.Client, "login", no_network)
    _env_for_main(monkeypatch, tmp_path, annotated_library)
    assert entry.main() == 1
    out, err = capfd.readouterr()
    assert "cannot reach Discord" in caplog.text
    assert "Traceback" not in out + err + caplog.text and TOKEN not in out + err + caplog.text

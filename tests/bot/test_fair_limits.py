"""Limits that hold across guilds and before decoding; votes, rankings and stored files that cannot be
abused (issue: hostile uploads and fair limits). Through Discord with simcord and the engine double."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord
from PIL import Image

from bot.app import create_bot
from tests.bot.conftest import PAINTINGS, World, make_settings, painting_bytes
from tests.bot.fakes import FakeEngine


def small_png(seed: int) -> bytes:
    image = Image.new("RGB", (96, 64), (40 + seed % 200, 90, 160))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def inputs_of(world: World) -> list[Path]:
    folder = world.bot.settings.data_dir / "inputs"
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_a_users_burst_of_uploads_is_refused_before_decoding(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """12 uploads from one user while the worker is busy: 3 accepted, the other 9 refused unread."""
    from bot import service

    decoded: list[int] = []
    real = service.decode_for_work

    def counting(data: bytes, **kwargs: Any) -> Any:
        decoded.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(service, "decode_for_work", counting)
    world.gate.hold()
    results = [
        await world.alice.slash(world.channel, "muse", count=1, image=(f"u{i}.png", small_png(i)))
        for i in range(12)
    ]
    cap = 1 + world.bot.settings.per_user_queued
    refused = [r for r in results if r.response is not None and "You already have" in r.response.content]
    assert len(refused) == 12 - cap
    assert len(decoded) == cap, "refused uploads were never decoded"
    world.gate.release()
    await world.env.settle(timeout=60)
    pictures = [r for r in results if r.response is not None and r.response.attachments]
    assert len(pictures) == cap


async def test_manual_daily_posts_count_against_the_guild_and_global_caps(world: World) -> None:
    """An admin firing `/muse-admin daily now` 40 times fills at most the guild's share of the queue;
    a user of another guild still gets a picture."""
    role = world.guild.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    admin = world.guild.add_member(world.env.create_user("boss"), roles=[role])
    await admin.slash(world.channel, "muse-admin daily set", channel=world.channel, at="23:00")
    world.gate.hold()
    answers = [await admin.slash(world.channel, "muse-admin daily now") for _ in range(40)]
    texts = [(a.followups[-1].content if a.followups else a.response.content) or "" for a in answers]
    accepted = sum("Posting now." in text for text in texts)
    assert accepted <= world.bot.settings.per_guild_queued
    refusals = ("busy", "You already have", "requests in a minute")
    assert all(("Posting now." in text) or any(r in text for r in refusals) for text in texts), texts
    other = world.env.create_guild("Elsewhere")
    channel = other.create_text_channel("art")
    visitor = other.add_member(world.env.create_user("visitor"))
    result = await visitor.slash(channel, "muse", count=1, painting="vermeer_milkmaid")
    assert result.response is not None and "busy" not in (result.response.content or "")
    world.gate.release()
    await world.env.settle(timeout=120)
    assert result.response is not None and result.response.attachments


async def test_a_painter_reacting_to_their_own_output_is_no_vote(world: World) -> None:
    """Self-votes do not count (docs/bot.md); other users' reactions do."""
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    response = result.response
    assert response is not None
    await world.alice.react(response, "⭐")
    output = world.bot.store.output_by_message(response.id)
    assert output is not None and world.bot.store.vote_count(output["id"]) == 0
    await world.bob.react(response, "⭐")
    assert world.bot.store.vote_count(output["id"]) == 1


async def test_an_upload_is_deleted_when_its_job_row_cannot_be_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database failure after the upload was stored leaves no file behind, and the user hears of it."""

    def failing_insert(row: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(world.bot.store, "insert_job", failing_insert)
    result = await world.alice.slash(world.channel, "muse", count=1, image=("mine.png", small_png(1)))
    assert result.response is not None and "error id" in (result.response.content or "")
    assert inputs_of(world) == []
    world.env.errors.clear()


async def test_a_long_autocomplete_query_is_answered_from_its_first_hundred_characters(world: World) -> None:
    """6000 characters (Discord's limit) cost what 100 do: the index only reads the start."""
    cog: Any = world.bot.get_cog("Muse")
    query = "milkmaid" + "x" * 5992
    choices = await cog.muse_painting_autocomplete(None, query)
    assert choices == [] or all(len(c.value) <= 100 for c in choices)
    found = await cog.muse_painting_autocomplete(None, "milkmaid")
    assert [c.value for c in found][:1] == ["vermeer_milkmaid"]


async def test_expired_pictures_answer_their_buttons_and_voted_ones_stay(world: World) -> None:
    """After the retention period, an unvoted output's files are gone and its buttons say so; a voted
    one is kept until the longer voted period."""
    kept = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    dropped = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert kept.response is not None and dropped.response is not None
    await world.bob.react(kept.response, "⭐")
    store = world.bot.store
    kept_row = store.output_by_message(kept.response.id)
    dropped_row = store.output_by_message(dropped.response.id)
    assert kept_row is not None and dropped_row is not None
    await world.env.advance_time((world.bot.settings.retention_days + 2) * 86400)
    assert not Path(dropped_row["image_path"]).exists()
    assert Path(kept_row["image_path"]).exists()
    click = await world.bob.click(dropped.response, label="Upscale ×2")
    assert click.response is not None and "no longer available" in click.response.content
    again = await world.bob.click(kept.response, label="Upscale ×2")
    assert again.response is not None and again.response.attachments


@pytest.mark.simcord(settle_timeout=60)
async def test_top_list_with_very_long_titles_fits_discords_embed(tmp_path: Path) -> None:
    """Corpus titles of hundreds of characters: /muse-top still answers (no HTTP 50035)."""
    corpus = tmp_path / "paintings"
    corpus.mkdir()
    rows = ["## paintings", "", "| file | title | painter |", "|---|---|---|"]
    for index in range(12):
        name = f"p{index:02d}.jpg"
        (corpus / name).write_bytes(painting_bytes("vermeer_milkmaid.jpg"))
        rows.append(f"| {name} | {'A very long title ' * 30}{index} | {'Painter ' * 20} |")
    (tmp_path / "SOURCES.md").write_text("\n".join(rows) + "\n")
    settings = make_settings(tmp_path, corpus=corpus, per_user_per_minute=60, per_user_queued=20)
    bot = create_bot(settings, FakeEngine())
    async with simcord.run(bot, settle_timeout=60) as env:
        guild = env.create_guild()
        channel = guild.create_text_channel("art")
        alice = guild.add_member(env.create_user("alice"))
        bob = guild.add_member(env.create_user("bob"))
        for index in range(12):
            result = await alice.slash(channel, "muse", count=1, painting=f"p{index:02d}")
            assert result.response is not None
            await bob.react(result.response, "⭐")
        top = await alice.slash(channel, "muse-top", period="all")
        assert top.response is not None and top.response.embeds
        assert len(top.response.embeds[0].description or "") <= 4096
        assert not env.errors


@pytest.mark.simcord(settle_timeout=60)
async def test_a_painting_name_over_discords_100_characters_is_found_from_its_choice(tmp_path: Path) -> None:
    """Autocomplete values are cut at 100 characters; the cut value still finds the painting."""
    corpus = tmp_path / "paintings"
    corpus.mkdir()
    long_name = "a_painting_with_a_very_long_file_name_" * 4
    (corpus / f"{long_name}.jpg").write_bytes(painting_bytes("vermeer_milkmaid.jpg"))
    bot = create_bot(make_settings(tmp_path, corpus=corpus), FakeEngine())
    async with simcord.run(bot, settle_timeout=60) as env:
        guild = env.create_guild()
        channel = guild.create_text_channel("art")
        alice = guild.add_member(env.create_user("alice"))
        cog: Any = bot.get_cog("Muse")
        [choice] = await cog.muse_painting_autocomplete(None, "very_long")
        assert len(choice.value) <= 100
        result = await alice.slash(channel, "muse", count=1, painting=choice.value)
        assert result.response is not None and result.response.attachments


def test_the_corpus_lists_what_the_loader_accepts() -> None:
    """One suffix list: the corpus shows every image file the loader can open."""
    from bot.corpus import Corpus
    from lamuse.io import list_images

    assert [p.path for p in Corpus(PAINTINGS).all()] == list_images(PAINTINGS)


async def test_a_button_whose_stored_picture_was_deleted_says_so(world: World) -> None:
    """A picture removed from disk (by an operator, a failed disk) is "no longer available", not a bad
    upload."""
    first = await world.alice.slash(world.channel, "muse", count=1, image=("mine.png", small_png(3)))
    assert first.response is not None and first.response.attachments
    output = world.bot.store.output_by_message(first.response.id)
    assert output is not None and output["input_path"]
    Path(output["input_path"]).unlink()
    again = await world.bob.click(first.response, label="Another one")
    assert again.response is not None and "no longer available" in again.response.content
    Path(output["image_path"]).unlink()
    upscale = await world.bob.click(first.response, label="Upscale ×2")
    assert upscale.response is not None and "no longer available" in upscale.response.content

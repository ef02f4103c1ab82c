"""/muse and !muse end to end through the job queue, with the engine double (simcord, offline)."""

from __future__ import annotations

from tests.bot.conftest import World, image_format, image_size, painting_bytes

SMALL = "caillebotte_paris_street_rainy_day.jpg"  # 1200x909, annotated (person, umbrella)


async def test_slash_muse_with_attachment_returns_png_of_the_paintings_aspect(world: World) -> None:
    """/muse image:<painting> answers with a PNG of the same aspect (±2%) and an embed naming a swap."""
    result = await world.alice.slash(world.channel, "muse", count=1, image=(SMALL, painting_bytes(SMALL)))
    response = result.response
    assert response is not None
    data = await response.attachments[0].read()
    assert image_format(data) == "PNG"
    width, height = image_size(data)
    assert abs(width / height - 1200 / 909) / (1200 / 909) < 0.02
    embed = response.embeds[0]
    swaps = embed.fields[0].value
    assert "person →" in swaps or "umbrella →" in swaps
    # An upload is the painter's own: named by its file, never given a corpus painting's title or votes.
    title = (embed.title or "").replace("\\", "")
    assert title == "Your painting (caillebotte_paris_street_rainy_day)"
    assert "seed" in (embed.footer.text or "")
    assert len(response.components) >= 1


async def test_slash_muse_painting_by_name(world: World) -> None:
    """/muse painting:<name> reinterprets that corpus painting and titles it."""
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=7)
    response = result.response
    assert response is not None and response.attachments
    width, height = image_size(await response.attachments[0].read())
    assert abs(width / height - 1068 / 1200) < 0.02 * (1068 / 1200)
    embed = response.embeds[0]
    assert embed.title == "The Milkmaid — Johannes Vermeer"
    assert "seed 7" in (embed.footer.text or "")


async def test_painting_autocomplete_is_fuzzy_and_capped(world: World) -> None:
    """Autocomplete finds accents-insensitive matches and never returns more than 25 choices."""
    choices = await world.alice.autocomplete(world.channel, "muse", "painting", "velazquez")
    assert choices[0]["value"] == "velazquez_las_meninas"
    everything = await world.alice.autocomplete(world.channel, "muse", "painting", "")
    assert len(everything) == 25


async def test_slash_muse_without_input_picks_a_corpus_painting(world: World) -> None:
    """/muse with neither image nor painting reinterprets a random corpus painting."""
    result = await world.alice.slash(world.channel, "muse", count=1)
    response = result.response
    assert response is not None and response.attachments
    assert response.embeds[0].title


async def test_unknown_painting_is_refused_clearly(world: World) -> None:
    """/muse painting:<nonsense> says it does not know that painting."""
    result = await world.alice.slash(world.channel, "muse", count=1, painting="zzzz not a painting")
    assert result.response is not None
    assert "don't know the painting" in result.response.content


async def test_prefix_muse_with_attachment(world: World) -> None:
    """!muse with an attached image answers with the picture and the embed."""
    await world.alice.send(world.channel, "!muse", attachments=[(SMALL, painting_bytes(SMALL))])
    message = world.channel.last_message
    assert message.attachments
    data = await message.attachments[0].read()
    width, height = image_size(data)
    assert abs(width / height - 1200 / 909) < 0.02 * (1200 / 909)
    assert message.embeds[0].fields[0].value


async def test_non_image_attachment_gets_a_clear_error_and_the_bot_keeps_answering(world: World) -> None:
    """A text file named .png is refused with words, and the next /muse still works."""
    upload = ("fake.png", b"hello, not an image" * 10)
    bad = await world.alice.slash(world.channel, "muse", count=1, image=upload)
    assert bad.response is not None
    assert "not an image I can read" in bad.response.content
    assert not bad.response.attachments
    good = await world.alice.slash(world.channel, "muse", count=1, image=(SMALL, painting_bytes(SMALL)))
    assert good.response is not None and good.response.attachments


async def test_prefix_non_image_attachment_gets_a_clear_error(world: World) -> None:
    """!muse with a text attachment replies with the same clear refusal."""
    await world.alice.send(world.channel, "!muse", attachments=[("notes.txt", b"just text")])
    assert "not an image I can read" in world.channel.last_message.content


async def test_each_button_works(world: World, engine) -> None:  # type: ignore[no-untyped-def]
    """Another one, Upscale ×2, Show masks and Same-keep-colours each answer with a new picture."""
    first = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=11)
    assert first.response is not None
    size = image_size(await first.response.attachments[0].read())

    again = await world.bob.click(first.response, label="Another one")
    assert again.response is not None and again.response.attachments
    assert not (again.response.embeds[0].footer.text or "").startswith("seed 11 ")

    upscaled = await world.alice.click(first.response, label="Upscale ×2")
    assert upscaled.response is not None
    assert image_size(await upscaled.response.attachments[0].read()) == (size[0] * 2, size[1] * 2)

    masks = await world.alice.click(first.response, label="Show masks")
    assert masks.response is not None and masks.response.attachments
    assert "What I found" in (masks.response.embeds[0].title or "")

    keep = await world.alice.click(first.response, label="Same, keep colours")
    assert keep.response is not None and keep.response.attachments
    assert (keep.response.embeds[0].footer.text or "").startswith("seed 11 ")
    kinds = [c["kind"] for c in engine.calls]
    assert kinds == ["reinterpret", "reinterpret", "upscale", "show_masks", "reinterpret"]
    assert engine.calls[-1]["keep_colors"] is True


async def test_buttons_work_after_a_restart(world: World) -> None:
    """The buttons' custom ids carry the output id, so they still work on a fresh bot."""
    from bot.app import create_bot

    first = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=3)
    assert first.response is not None
    old = world.bot
    await world.env.restart_bot(create_bot(old.settings, old.engine, gate=world.gate))
    upscaled = await world.alice.click(first.response, label="Upscale ×2")
    assert upscaled.response is not None and upscaled.response.attachments


async def test_output_is_recorded_with_trace_and_cutouts(world: World) -> None:
    """The store keeps the output's message, painting, seed, trace, cut-out ids and applied weights."""
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=5)
    assert result.response is not None
    output = world.bot.store.output_by_message(result.response.id)
    assert output is not None
    assert output["painting"] == "vermeer_milkmaid" and output["seed"] == 5
    assert output["trace"]["swaps"] and output["cutout_ids"]
    assert output["trace"]["weights"]["rule"] == "smoothed-ratio-v1"
    assert output["guild_id"] == world.guild.id


async def test_upload_is_capped_to_the_limit(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An output over the upload limit is re-encoded (WebP/JPEG) to fit; simcord does not check this."""
    world.bot.settings.upload_limit_bytes = 60_000
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=1)
    assert result.response is not None
    data = await result.response.attachments[0].read()
    assert len(data) <= 60_000
    assert image_format(data) in {"WEBP", "JPEG"}


async def test_embed_escapes_user_text_and_mentions_nobody(world: World) -> None:
    """Credits with markdown and @everyone are escaped in the embed."""
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert result.response is not None
    value = result.response.embeds[0].fields[0].value or ""
    assert "\\*Doe\\*" in value
    assert "@everyone" not in value.replace("@\u200beveryone", "")


async def test_command_descriptions_are_localized_in_french(world: World) -> None:
    """The synced /muse command carries French descriptions (app_commands Translator)."""
    synced = [r for r in world.env.http_requests if r.method == "PUT" and r.path.endswith("/commands")]
    muse = next(c for c in synced[-1].json if c["name"] == "muse")
    assert muse["description_localizations"]["fr"].startswith("Réinterpréter")
    image = next(o for o in muse["options"] if o["name"] == "image")
    assert image["description_localizations"]["fr"] == "Ton propre tableau (un fichier image)"


async def test_progress_is_shown_while_working(world: World) -> None:
    """The deferred reply is edited with the queue position and each stage before the picture."""
    await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    edits = [
        r.json.get("content")
        for r in world.env.http_requests
        if r.method == "PATCH" and "/messages/@original" in r.path and isinstance(r.json, dict)
    ]
    texts = " | ".join(e for e in edits if e)
    for expected in ("In the queue", "Finding the figures", "Swapping", "Painting"):
        assert expected in texts


async def test_a_bug_in_a_button_gets_the_error_id_reply(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An exception in a button's work goes to the error cog: the user sees the error-id message."""
    first = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert first.response is not None
    muse = world.bot.get_cog("Muse")

    async def broken(*_args: object) -> None:
        raise RuntimeError("bug in the button")

    monkeypatch.setattr(muse, "on_button", broken)
    clicked = await world.bob.click(first.response, label="Another one")
    assert clicked.response is not None and "error id" in clicked.response.content


async def test_a_button_without_the_muse_cog_answers(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """While the Muse cog is missing (reloading), a click gets an ephemeral answer, not silence."""
    first = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert first.response is not None
    real_get_cog = world.bot.get_cog
    monkeypatch.setattr(world.bot, "get_cog", lambda name: None if name == "Muse" else real_get_cog(name))
    clicked = await world.bob.click(first.response, label="Another one")
    assert clicked.ephemeral and "try again" in clicked.response.content


async def test_a_request_while_shutting_down_gets_words_not_an_empty_reply(world: World) -> None:
    """JobCancelled from a closing queue has no specific message: the generic failed text is shown."""
    await world.bot.jobs.close()  # close() has begun: submit refuses with JobCancelled
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    assert result.response is not None and "error id" in (result.response.content or "")


async def test_a_cancelled_submit_keeps_the_upload_of_an_accepted_job(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """CancelledError after the queue stored the job must not delete the upload the job will need."""
    import asyncio
    from datetime import UTC, datetime

    import pytest

    from bot.blobs import Blobs
    from bot.corpus import Corpus
    from bot.errors import Busy
    from bot.jobs import Job, JobListener, JobQueue
    from bot.params import MuseParams, StoredInput
    from bot.service import MuseService
    from bot.store import Store
    from tests.bot.conftest import PAINTINGS

    class ScriptedQueue(JobQueue):
        """A queue whose submit ends the way the test says (accepted then cancelled, or refused)."""

        def __init__(self, error: BaseException) -> None:
            super().__init__(Store(":memory:"), lambda job, on_stage: None)
            self.error = error

        async def submit(self, job: Job, listener: JobListener, **_: object) -> int:
            raise self.error

    upload = tmp_path / "abc.png"
    job = Job(id="abc", user_id=1, params=MuseParams(seed=0, upload=StoredInput(path=str(upload))))
    cases = ((asyncio.CancelledError(), asyncio.CancelledError, True), (Busy(retry_after_s=5), Busy, False))
    for raised, error, kept in cases:
        upload.write_bytes(b"image")
        queue = ScriptedQueue(raised)
        service = MuseService(
            store=queue.store,
            blobs=Blobs(tmp_path / "files"),
            corpus=Corpus(PAINTINGS),
            jobs=queue,
            output_size=512,
            clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        )
        with pytest.raises(error):
            await service.submit(job, listener=None)  # type: ignore[arg-type]
        assert upload.exists() is kept


async def test_progress_is_honest_starting_and_positions_as_the_queue_drains(world: World) -> None:
    """No made-up estimate before a job was measured; "Starting…" when a job starts; a waiting user's
    position is edited as the queue ahead of them drains."""
    carol = world.guild.add_member(world.env.create_user("carol"))
    world.gate.hold()
    for member in (world.alice, world.bob, carol):
        await member.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid")
    await world.env.advance_time(6)  # past the edit rate limit
    world.gate.release()
    await world.env.settle(timeout=60)
    edits = [
        (r.path, r.json.get("content"))
        for r in world.env.http_requests
        if r.method == "PATCH" and "/messages/@original" in r.path and isinstance(r.json, dict)
    ]
    texts = [text for _path, text in edits if text]
    assert "⏳ In the queue: position 1." in texts and not any("(~" in t for t in texts[:2]), texts
    assert any(text.startswith("🎨 Starting") for text in texts)
    carols = [text for path, text in edits if text and path == edits[-1][0]]
    positions = [text for text in carols if "position" in text]
    assert positions[0] == "⏳ In the queue: position 2.", carols
    assert positions[1].startswith("⏳ In the queue: position 1 (~"), "measured by then: an estimate"


async def test_help_is_a_short_illustrated_guide_in_both_languages(world: World) -> None:
    """/muse-help and `!muse help` answer with the guide and its picture; French users read French."""
    result = await world.alice.slash(world.channel, "muse-help")
    assert result.response is not None and result.ephemeral
    embed = result.response.embeds[0]
    assert embed.title == "La Muse — how it works" and "U1-U4" in (embed.description or "")
    assert image_format(await result.response.attachments[0].read()) == "PNG"
    await world.alice.send(world.channel, "!muse help")
    reply = world.channel.last_message
    assert reply.embeds and reply.embeds[0].title == "La Muse — how it works" and reply.attachments
    atelier = world.env.create_guild("Atelier", preferred_locale="fr")
    salon = atelier.create_text_channel("art")
    paul = atelier.add_member(world.env.create_user("paul"))
    await paul.send(salon, "!muse aide")
    assert salon.last_message.embeds[0].title == "La Muse — mode d'emploi"


async def test_prefix_free_text_finds_a_painting_like_the_autocomplete(world: World) -> None:
    """`!muse the milkmaid` finds Vermeer's Milkmaid by its title, as the suggestions would."""
    await world.alice.send(world.channel, "!muse milkmaid")
    reply = world.channel.last_message
    assert reply.attachments and "Milkmaid" in (reply.embeds[0].title or "")


async def test_swap_lines_name_what_each_element_became(world: World) -> None:
    """A swap line says the new element's class first, then the photo it came from."""
    result = await world.alice.slash(world.channel, "muse", count=1, painting="vermeer_milkmaid", seed=2)
    assert result.response is not None
    output = world.bot.store.output_by_message(result.response.id)
    assert output is not None
    swap = output["trace"]["swaps"][0]
    value = result.response.embeds[0].fields[0].value or ""
    first = value.splitlines()[0]
    assert first.startswith(f"{swap['class']} → {swap['cutout_class']} — from a photo of ")

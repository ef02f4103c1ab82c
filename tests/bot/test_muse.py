"""/muse and !muse end to end through the job queue, with the engine double (simcord, offline)."""

from __future__ import annotations

from tests.bot.conftest import World, image_format, image_size, painting_bytes

SMALL = "caillebotte_paris_street_rainy_day.jpg"  # 1200x909, annotated (person, umbrella)


async def test_slash_muse_with_attachment_returns_png_of_the_paintings_aspect(world: World) -> None:
    """/muse image:<painting> answers with a PNG of the same aspect (±2%) and an embed naming a swap."""
    result = await world.alice.slash(world.channel, "muse", image=(SMALL, painting_bytes(SMALL)))
    response = result.response
    assert response is not None
    data = await response.attachments[0].read()
    assert image_format(data) == "PNG"
    width, height = image_size(data)
    assert abs(width / height - 1200 / 909) / (1200 / 909) < 0.02
    embed = response.embeds[0]
    swaps = embed.fields[0].value
    assert "person →" in swaps or "umbrella →" in swaps
    assert "Paris Street; Rainy Day" in (embed.title or "")
    assert "seed" in (embed.footer.text or "")
    assert len(response.components) >= 1

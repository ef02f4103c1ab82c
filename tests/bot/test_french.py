"""A French-locale server walks every command, button and error once and never reads one of the bot's
English sentences (simcord; the client locale is French, the guild's preferred locale too)."""

from __future__ import annotations

import re
from typing import Any

import discord
import pytest

from bot.i18n import MESSAGES
from tests.bot.conftest import World, painting_bytes

SMALL = "caillebotte_paris_street_rainy_day.jpg"


def english_fragments() -> list[str]:
    """The literal parts (10+ characters, with a space) of every catalogue sentence whose French differs."""
    fragments: set[str] = set()
    for entry in MESSAGES.values():
        if entry.get("fr") == entry["en"]:
            continue
        for part in re.split(r"\{[^}]*\}", entry["en"]):
            part = part.strip(" .,:;()“”«»")
            if len(part) >= 10 and " " in part:
                fragments.add(part)
    return sorted(fragments)


def texts_of(world: World) -> list[str]:
    """Everything the bot wrote: message contents, embeds, button labels (REST bodies)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in ("url", "custom_id", "filename", "attachments"):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for request in world.env.http_requests:
        if request.method in ("POST", "PATCH") and isinstance(request.json, dict):
            walk(request.json)
    return found


@pytest.mark.simcord(settle_timeout=60)
async def test_a_french_server_never_reads_an_english_sentence(world: World, french_client: None) -> None:
    """Grid and its U/V/🔄 buttons, one picture and its four buttons, votes and the top list, help, every
    admin command, and the common errors — all in French."""
    env = world.env
    atelier = env.create_guild("Atelier", preferred_locale="fr")
    salon = atelier.create_text_channel("art")
    role = atelier.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    marie = atelier.add_member(env.create_user("marie"), roles=[role])
    paul = atelier.add_member(env.create_user("paul"))

    grid = await marie.slash(salon, "muse", painting="vermeer_milkmaid")
    assert grid.response is not None and grid.response.attachments
    for label in ("U1", "V1", "🔄"):
        await env.advance_time(11)  # under the per-user rate limit
        clicked = await paul.click(grid.response, label=label)
        assert clicked.response is not None and clicked.response.attachments
    one = await marie.slash(salon, "muse", painting="vermeer_milkmaid", count=1)
    assert one.response is not None
    labels = ("Une autre", "Agrandir ×2", "Voir les masques", "Pareil, garder les couleurs", "Étude de cas")
    for label in labels:
        await env.advance_time(11)
        clicked = await paul.click(one.response, label=label)
        assert clicked.response is not None and clicked.response.attachments, label
    await paul.react(one.response, "⭐")
    await marie.slash(salon, "muse-top", period="all")
    await marie.slash(salon, "muse-help")
    await marie.send(salon, "!muse aide")
    await marie.send(salon, "!muse", attachments=[("mine.jpg", painting_bytes(SMALL))])
    await marie.slash(salon, "muse-admin daily set", channel=salon, at="09:00", timezone="Europe/Paris")
    await marie.slash(salon, "muse-admin daily status")
    await marie.slash(salon, "muse-admin daily now")
    await marie.slash(salon, "muse-admin daily set", channel=salon, at="25:99")
    await marie.slash(salon, "muse-admin daily set", channel=salon, at="09:00", timezone="Mars/Olympus")
    await marie.slash(salon, "muse-admin daily off")
    await marie.slash(salon, "muse-admin vote-emoji", emoji="⭐ 🔥")
    await env.advance_time(61)
    commands = await world.bot.tree.fetch_commands()
    admin = next(c for c in commands if c.name == "muse-admin")
    atelier.set_command_permissions(admin, {paul: True})  # the server re-grants it: the bot still checks
    await paul.slash(salon, "muse-admin daily status")
    await paul.slash(salon, "muse", painting="zzzz pas un tableau")
    await paul.slash(salon, "muse", recipe="pas-une-recette")
    await paul.slash(salon, "muse", image=("faux.png", b"pas une image" * 20))
    await paul.slash(salon, "muse", image=("mine.png", painting_bytes(SMALL)), painting="vermeer_milkmaid")
    await paul.slash(salon, "muse", painting="vermeer_milkmaid", background="swap")
    await env.advance_time(9 * 3600 + 60)  # the daily post itself

    new = texts_of(world)  # only the French server was used
    fragments = english_fragments()
    hits = [(fragment, text) for text in new for fragment in fragments if fragment in text]
    assert not hits, hits[:5]
    assert any("Tableau du jour" in text for text in new) and any("quatre" in text for text in new)

"""Turn a job outcome into what Discord shows: file, embed (escaped user text), buttons."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import discord

from bot.i18n import t
from bot.work import Outcome, swaps_of
from cogs.muse._views import MuseButton
from lamuse.explain import french_class
from lamuse.types import SwapRecord

EMBED_COLOUR = discord.Colour(0xB0843C)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: Any) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(str(text)))


def painting_title(outcome: Outcome, language: str) -> str:
    """The corpus title and painter; an upload is the painter's own, named by its file, never a corpus
    painting's title (nor its votes) even when it looks like one."""
    meta = outcome.painting_meta
    if meta is not None and meta.title:
        title = meta.title + (f" — {meta.painter}" if meta.painter else "")
    elif outcome.painting:
        title = outcome.painting
    elif outcome.input_path and outcome.trace.get("painting"):
        title = f"{t('painting_unknown', language)} ({outcome.trace['painting']})"
    else:
        title = t("painting_unknown", language)
    return _clip(_escape(title), 256)


def class_words(name: str, language: str) -> str:
    """A COCO class as the reader's language names it (a class-agnostic element is a shape)."""
    if name == "object":
        return "la forme" if language == "fr" else "shape"
    return (french_class(name) or name) if language == "fr" else name


def _link(text: str, url: str) -> str:
    """A markdown link when the URL is a plain http(s) one, else the escaped text alone."""
    if re.fullmatch(r"https?://[^\s()<>]+", url):
        return f"[{_escape(text)}]({url})"
    return _escape(text)


def credit_text(swap: SwapRecord, language: str) -> str:
    """The photo's credit; with a source and licence link (CC BY attribution) both are links."""
    source_url, licence_url = swap.get("source_url") or "", swap.get("licence_url") or ""
    if source_url and licence_url:
        photo = _link(t("credit.photo", language), source_url)
        return f"{photo}, {_link(swap.get('licence') or 'licence', licence_url)}"
    return t("credit", language, credit=_escape(swap.get("credit") or "?"))


def swap_lines(trace: Mapping[str, Any], language: str, *, detailed: bool = True) -> list[str]:
    """One line per swap: what each element became (its new class); detailed lines add the photo and its
    credit (a grid's cells stay short: their U picture has the rest)."""
    lines = []
    for swap in swaps_of(trace):
        what = class_words(swap.get("class") or "?", language)
        became = class_words(swap.get("new_class") or swap.get("cutout_class") or "?", language)
        line = t("swap_line", language, what=_escape(what), became=_escape(became))
        if not detailed:
            lines.append(line)
            continue
        if swap.get("subject"):
            line += f" — {t('swap_photo', language, subject=_escape(swap['subject']))}"
        if swap.get("credit"):
            line += f" ({credit_text(swap, language)})"
        lines.append(line)
    return lines


def render(
    outcome: Outcome, language: str
) -> tuple[discord.Embed, list[discord.File], discord.ui.View | None]:
    """Embed, files and (for reinterpretations) the persistent buttons of one outcome."""
    title = painting_title(outcome, language)
    embed = discord.Embed(colour=EMBED_COLOUR)
    files = [discord.File(io.BytesIO(outcome.encoded.data), filename=outcome.encoded.filename)]
    if outcome.kind == "masks":
        embed.title = _clip(t("masks_title", language, title=title), 256)
    elif outcome.kind == "sheet":
        embed.title = _clip(t("sheet_title", language, title=title), 256)
    elif outcome.kind == "upscale":
        embed.title = _clip(
            t("upscaled_title", language, title=title, scale=outcome.trace.get("scale", 2)), 256
        )
    elif grid := outcome.trace.get("grid"):
        embed.title = title
        embed.description = t("grid.intro", language)
        for cell in grid:
            lines = swap_lines(cell, language, detailed=False)
            value = "\n".join(lines) if lines else t("no_swaps", language)
            embed.add_field(name=str(cell["variation"] - grid[0]["variation"] + 1), value=_clip(value, 1024))
    else:
        embed.title = title
        explanation = outcome.explanation
        if explanation:
            embed.description = _clip(_escape(explanation), 4000)
        lines = swap_lines(outcome.trace, language)
        value = "\n".join(lines) if lines else t("no_swaps", language)
        embed.add_field(name=t("swaps", language), value=_clip(value, 1024), inline=False)
    footer = []
    if outcome.seed is not None:
        footer.append(t("seed", language, seed=outcome.seed))
    if outcome.recipe:
        footer.append(t("recipe", language, recipe=outcome.recipe))
    footer.append(outcome.output_id)
    notes = (outcome.trace.get("input") or {}).get("notes") or []
    if "animated_first_frame" in notes:
        footer.append(t("note.animated_first_frame", language))
    if outcome.encoded.extension != "png":
        footer.append(t("downsized", language, fmt=outcome.encoded.extension.upper()))
    embed.set_footer(text=" · ".join(footer))
    embed.set_image(url=f"attachment://{outcome.encoded.filename}")
    if outcome.original is not None:
        files.append(
            discord.File(io.BytesIO(outcome.original.data), filename=f"original.{outcome.original.extension}")
        )
    view: discord.ui.View | None = None
    if outcome.kind == "muse":
        is_grid = bool(outcome.trace.get("grid"))
        view = grid_buttons(outcome.output_id) if is_grid else buttons(outcome.output_id, language)
    return embed, files, view


def grid_buttons(output_id: str) -> discord.ui.View:
    """U1-U4 (that one, whole), V1-V4 (four close to it), 🔄 (four new ones); restart-proof custom ids."""
    view = discord.ui.View(timeout=None)
    for row, letter in ((0, "u"), (1, "v")):
        for position in range(1, 5):
            style = discord.ButtonStyle.primary if letter == "u" else discord.ButtonStyle.secondary
            label = f"{letter.upper()}{position}"
            button = MuseButton(f"{letter}{position}", output_id, label=label, style=style)
            button.item.row = row
            view.add_item(button)
    reroll = MuseButton("reroll", output_id, label="🔄", style=discord.ButtonStyle.secondary)
    reroll.item.row = 2
    view.add_item(reroll)
    return view


def buttons(output_id: str, language: str) -> discord.ui.View:
    """The buttons of one picture; their custom ids carry the output id so they work after a restart."""
    view = discord.ui.View(timeout=None)
    for action, key, style in (
        ("again", "button.again", discord.ButtonStyle.primary),
        ("up2", "button.upscale", discord.ButtonStyle.secondary),
        ("masks", "button.masks", discord.ButtonStyle.secondary),
        ("keep", "button.keep", discord.ButtonStyle.secondary),
        ("sheet", "button.sheet", discord.ButtonStyle.secondary),
    ):
        view.add_item(MuseButton(action, output_id, label=t(key, language), style=style))
    return view

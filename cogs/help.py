"""``/muse-help`` (and ``!muse help``): a short illustrated guide, in the reader's language."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands
from PIL import Image, ImageDraw

from bot.i18n import language_of, t
from bot.params import Language
from lamuse.fonts import load_font

if TYPE_CHECKING:
    from bot.app import MuseBot

GUIDE_SIZE = (960, 600)
TILE_COLOURS = ((176, 132, 60), (70, 110, 150), (120, 150, 90), (150, 80, 90))


def guide_image(language: Language) -> Image.Image:
    """The grid a /muse answer shows, numbered as its buttons are, with what U, V and 🔄 do."""
    width, height = GUIDE_SIZE
    image = Image.new("RGB", GUIDE_SIZE, (30, 30, 34))
    draw = ImageDraw.Draw(image)
    title, body = load_font(40, bold=True), load_font(28)
    draw.text((40, 28), t("help.image_title", language), font=title, fill=(240, 230, 210))
    tile_w, tile_h, gap, left, top = 200, 140, 10, 40, 100
    for index, colour in enumerate(TILE_COLOURS):
        x = left + (index % 2) * (tile_w + gap)
        y = top + (index // 2) * (tile_h + gap)
        draw.rectangle((x, y, x + tile_w, y + tile_h), fill=colour)
        draw.rectangle((x, y, x + 44, y + 44), fill=(0, 0, 0))
        draw.text((x + 12, y + 4), str(index + 1), font=title, fill=(255, 255, 255))
    legend_x = left + 2 * tile_w + gap + 50
    for row, key in enumerate(("help.image_u", "help.image_v", "help.image_reroll", "help.image_recipe")):
        draw.text((legend_x, top + row * 62), t(key, language), font=body, fill=(230, 230, 230))
    draw.text((40, height - 70), t("help.image_footer", language), font=body, fill=(200, 190, 170))
    return image


def help_reply(language: Language) -> tuple[discord.Embed, discord.File]:
    """The guide: an embed of how to ask and what comes back, and its picture."""
    embed = discord.Embed(
        title=t("help.title", language), description=t("help.body", language), colour=0xB0843C
    )
    buffer = io.BytesIO()
    guide_image(language).save(buffer, "PNG")
    embed.set_image(url="attachment://muse-help.png")
    return embed, discord.File(io.BytesIO(buffer.getvalue()), filename="muse-help.png")


class Help(commands.Cog):
    """``/muse-help``."""

    def __init__(self, bot: MuseBot) -> None:
        self.bot = bot

    @app_commands.command(name="muse-help", description=_("How to use La Muse"))
    async def muse_help(self, interaction: discord.Interaction) -> None:
        """How to use La Muse."""
        embed, file = help_reply(language_of(str(interaction.locale)))
        await interaction.response.send_message(embed=embed, file=file, ephemeral=True)


async def setup(bot: MuseBot) -> None:
    await bot.add_cog(Help(bot))

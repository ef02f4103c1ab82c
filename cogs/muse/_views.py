"""Persistent buttons: the custom id ``muse:<action>:<output id>`` is all the state they need."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.i18n import language_of, t


class MuseButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"muse:(?P<action>again|up2|masks|keep|sheet|u[1-4]|v[1-4]|reroll):(?P<output>[0-9a-f]{8,32})",
):
    """A button on an output; the callback reloads the output from the store (survives restarts)."""

    def __init__(
        self,
        action: str,
        output_id: str,
        *,
        label: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        super().__init__(
            discord.ui.Button(label=label or action, style=style, custom_id=f"muse:{action}:{output_id}")
        )
        self.action = action
        self.output_id = output_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> MuseButton:
        if isinstance(item, discord.ui.Button):  # always, for our template: it only matches our buttons
            return cls(match["action"], match["output"], label=item.label, style=item.style)
        return cls(match["action"], match["output"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: Any = interaction.client
        cog: Any = client.get_cog("Muse")
        if cog is None:  # being reloaded: say so rather than leave the click unanswered
            language = language_of(str(interaction.locale))
            await interaction.response.send_message(t("unavailable", language), ephemeral=True)
            return
        try:
            await cog.on_button(interaction, self.action, self.output_id)
        except Exception as error:  # views swallow errors; the error cog answers with an id
            client.dispatch("app_command_error", interaction, error)

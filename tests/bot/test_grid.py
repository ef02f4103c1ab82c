"""The grid: four variations to choose from, U/V/🔄 buttons, recipes and seeds that reproduce (simcord)."""

from __future__ import annotations

from typing import Any

from bot.app import create_bot
from tests.bot.conftest import World, image_size, painting_bytes, same_as_tile


async def grid(world: World, **options: Any) -> Any:
    result = await world.alice.slash(world.channel, "muse", **options)
    assert result.response is not None and result.response.attachments, result.response
    return result.response


def cell_swaps(world: World, response: Any) -> list[list[str]]:
    output = world.env.bot.store.output_by_message(response.id)
    assert output is not None
    return [cell["cutout_ids"] for cell in output["trace"]["grid"]]


async def test_a_grid_of_four_with_its_buttons_and_recipe(world: World) -> None:
    """/muse answers with one 2×2 image of the painting's aspect, numbered fields, U1-U4, V1-V4, 🔄."""
    response = await grid(world, painting="vermeer_milkmaid", seed=5)
    width, height = image_size(await response.attachments[0].read())
    painting_width, painting_height = image_size(painting_bytes("vermeer_milkmaid.jpg"))
    aspect = painting_width / painting_height
    assert abs(width / height - aspect) < 0.03 * aspect  # two tiles by two, a thin gap between
    embed = response.embeds[0]
    assert [field.name for field in embed.fields] == ["1", "2", "3", "4"]
    labels = [child["label"] for row in response.components for child in row["components"]]
    assert labels == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "🔄"]
    assert "recipe lm1.vermeer_milkmaid.5." in (embed.footer.text or "")


async def test_the_same_seed_gives_the_same_grid_pixel_for_pixel(world: World) -> None:
    """Everything not given is fixed by the seed: painting choice, chaos, no vote steering."""
    first = await grid(world, seed=11)
    await world.bob.react(first, "⭐")  # votes must not change what a seed gives
    second = await grid(world, seed=11)
    assert await first.attachments[0].read() == await second.attachments[0].read()
    assert first.embeds[0].title == second.embeds[0].title


async def test_u2_posts_that_variation_whole_and_its_recipe_makes_it_again(world: World) -> None:
    """U2 is variation 2 alone, at full size with the painting's aspect; its recipe reproduces it."""
    response = await grid(world, painting="caillebotte_paris_street_rainy_day", seed=3)
    picked = await world.bob.click(response, label="U2")
    assert picked.response is not None and picked.response.attachments
    data = await picked.response.attachments[0].read()
    width, height = image_size(data)
    assert abs(width / height - 1200 / 909) < 0.02 * (1200 / 909)
    assert max(width, height) == world.bot.settings.output_size
    footer = picked.response.embeds[0].footer.text or ""
    recipe = footer.split("recipe ")[1].split(" ")[0]
    assert recipe.split(".")[4] == "1", "variation index 1 is the second tile"
    grid_png = await response.attachments[0].read()
    assert same_as_tile(grid_png, 1, data) and not same_as_tile(grid_png, 0, data)
    again = await world.alice.slash(world.channel, "muse", recipe=recipe, count=1)
    assert again.response is not None and await again.response.attachments[0].read() == data


async def test_v1_keeps_most_swaps_of_variation_1_and_reroll_makes_four_new(world: World) -> None:
    """V1 is a new grid near variation 1 (its cut-outs strongly preferred); 🔄 is four fresh ones."""
    response = await grid(world, painting="seurat_grande_jatte", seed=8, chaos=0.5)
    first_cell = set(cell_swaps(world, response)[0])
    varied = await world.bob.click(response, label="V1")
    assert varied.response is not None and varied.response.attachments
    cells = cell_swaps(world, varied.response)
    kept = sum(c in first_cell for cell in cells for c in cell) / sum(len(cell) for cell in cells)
    assert kept > 0.5, (first_cell, cells)
    rerolled = await world.bob.click(response, label="🔄")
    assert rerolled.response is not None and rerolled.response.attachments
    assert rerolled.response.embeds[0].footer.text != response.embeds[0].footer.text, "a new seed"
    assert len(rerolled.response.embeds[0].fields) == 4 and len(cell_swaps(world, rerolled.response)) == 4


async def test_grid_buttons_work_after_a_restart(world: World) -> None:
    """U and V custom ids carry the output id; a restarted bot answers them from the store."""
    response = await grid(world, painting="vermeer_milkmaid", seed=2)
    await world.env.restart_bot(create_bot(world.bot.settings, world.bot.engine, gate=world.gate))
    picked = await world.bob.click(response, label="U4")
    assert picked.response is not None and picked.response.attachments


async def test_a_recipe_with_an_image_or_a_painting_is_refused_clearly(world: World) -> None:
    """Options that exclude each other get a message naming both."""
    result = await world.alice.slash(
        world.channel, "muse", painting="vermeer_milkmaid", recipe="lm1.vermeer_milkmaid.1.0p2.0.1.k"
    )
    assert result.response is not None and "`recipe`" in result.response.content
    bad = await world.alice.slash(world.channel, "muse", recipe="not-a-recipe")
    assert bad.response is not None and "recipe" in bad.response.content and "lm1." in bad.response.content


async def test_a_servers_recent_cut_outs_give_way_and_recipes_still_reproduce(
    world: World, engine: Any
) -> None:
    """Unseeded requests avoid the server's recent cut-outs (variety); a recipe from the footer makes the
    same picture again anyway (it reuses the first job's votes and variety), while seeds avoid nothing."""
    first = await grid(world, painting="vermeer_milkmaid")
    used = {c for cell in cell_swaps(world, first) for c in cell}
    second = await grid(world, painting="vermeer_milkmaid")
    assert used <= set(engine.avoided[-1])
    recipe = (second.embeds[0].footer.text or "").split("recipe ")[1].split(" ")[0]
    await world.bob.react(first, "⭐")
    again = await world.alice.slash(world.channel, "muse", recipe=recipe)
    assert again.response is not None
    assert await again.response.attachments[0].read() == await second.attachments[0].read()
    await grid(world, painting="vermeer_milkmaid", seed=4)
    assert engine.avoided[-1] == ()


async def test_the_case_study_button_posts_the_sheet_of_that_picture(world: World, engine: Any) -> None:
    """"Case study" on a picture posts its sheet (same recipe, same variation); the theme reaches it."""
    one = await world.alice.slash(
        world.channel, "muse", painting="titian_venus_of_urbino", count=1, seed=6, theme="coherent"
    )
    assert one.response is not None
    sheet = await world.bob.click(one.response, label="Case study")
    assert sheet.response is not None and sheet.response.attachments
    assert (sheet.response.embeds[0].title or "").startswith("Case study: ")
    call = engine.calls[-1]
    assert call["kind"] == "case_study" and call["seed"] == 6 and call["theme"] == "coherent"
    assert not sheet.response.components, "a sheet has no buttons"

"""Recipes: a short code that names everything that decided a picture, so it can be made again.

``lm1.<painting>.<seed>.<chaos>.<variation>.<strength>.<flags>`` — readable, URL- and Discord-safe;
numbers keep every digit, with ``p`` for the decimal point (chaos ``0p25``). The painting is the corpus id
(file stem; ``~`` plus a digest for a stem that is long or has other characters) or, for an upload, ``@``
plus the bot's stored input id. The same recipe, painting and library
give the same pixels (``lamuse reinterpret --recipe``, ``/muse recipe:``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import get_args

from lamuse.errors import LamuseError
from lamuse.types import BackgroundMode, ReinterpretOptions

PREFIX = "lm1"
_BACKGROUND_CODES: dict[BackgroundMode, str] = {"keep": "k", "swap": "s", "none": "n"}
_PAINTING = re.compile(r"^[@~]?[A-Za-z0-9_-]{1,80}$")
_NUMBER = re.compile(r"^\d+(?:p\d+)?$")
EXAMPLE = "lm1.monet_impression_sunrise.42.0p2.1.1.k"


class RecipeError(LamuseError, ValueError):
    """A recipe code that is not one this release can read."""


@dataclass(frozen=True)
class Recipe:
    """What a recipe fixes. ``painting`` is a corpus id, or ``@<input id>`` for a stored upload."""

    painting: str
    seed: int
    chaos: float
    variation: int = 0
    style_strength: float = 1.0
    keep_colors: bool = False
    background: BackgroundMode = "keep"

    def __post_init__(self) -> None:
        if not _PAINTING.match(self.painting):
            problem = f"a recipe names a painting id of letters, digits, - and _, not {self.painting!r}"
            raise RecipeError(problem)
        if self.seed < 0 or self.variation < 0 or not 0.0 <= self.chaos <= 1.0:
            raise RecipeError("a recipe's seed and variation are 0 or more, its chaos between 0 and 1")
        if not 0.0 <= self.style_strength <= 1.0 or self.background not in get_args(BackgroundMode):
            raise RecipeError("a recipe's style strength is between 0 and 1, its background keep/swap/none")

    @property
    def code(self) -> str:
        flags = _BACKGROUND_CODES[self.background] + ("c" if self.keep_colors else "")
        numbers = (str(self.seed), _number(self.chaos), str(self.variation), _number(self.style_strength))
        return ".".join((PREFIX, self.painting, *numbers, flags))

    def options(self, base: ReinterpretOptions | None = None) -> ReinterpretOptions:
        """``base`` (sizes, watermark…) with everything the recipe fixes."""
        return replace(
            base or ReinterpretOptions(),
            seed=self.seed,
            chaos=self.chaos,
            style_strength=self.style_strength,
            keep_colors=self.keep_colors,
            background=self.background,
        )


def parse_recipe(code: str) -> Recipe:
    """The recipe a code names.

    Raises:
        RecipeError: not a recipe of this release (the message says what one looks like).
    """
    parts = code.strip().split(".")
    if len(parts) != 7 or parts[0] != PREFIX:
        raise RecipeError(f"{code[:80]!r} is not a recipe; they look like {EXAMPLE}")
    _prefix, painting, seed, chaos, variation, strength, flags = parts
    if not (seed.isdigit() and variation.isdigit() and _NUMBER.match(chaos) and _NUMBER.match(strength)):
        raise RecipeError(f"{code[:80]!r} is not a recipe this release can read; they look like {EXAMPLE}")
    if not flags or flags[0] not in "ksn" or set(flags[1:]) - {"c"}:
        raise RecipeError(f"{code[:80]!r} is not a recipe this release can read; they look like {EXAMPLE}")
    background = next(mode for mode, letter in _BACKGROUND_CODES.items() if letter == flags[0])
    return Recipe(
        painting=painting,
        seed=int(seed),
        chaos=float(chaos.replace("p", ".")),
        variation=int(variation),
        style_strength=float(strength.replace("p", ".")),
        keep_colors="c" in flags[1:],
        background=background,
    )


def _number(value: float) -> str:
    """Every digit of ``value`` (``repr``), with ``p`` for the decimal point; whole numbers bare."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text.replace(".", "p")


def painting_id(name: str) -> str:
    """How a recipe names a painting: its file stem when short and plain, else ``~`` and a digest of it."""
    if _PAINTING.match(name) and name[0] not in "@~":
        return name
    return "~" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:12]

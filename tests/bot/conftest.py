"""Fixtures: settings in tmp_path, the engine double, a gate to hold the worker, and a simcord world."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.app import MuseBot, create_bot
from bot.jobs import Job
from bot.settings import Settings
from tests.bot.fakes import FakeEngine
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
PAINTINGS = DATA / "paintings"
ANNOTATIONS = DATA / "annotations" / "paintings.json"


class Gate:
    """Holds the worker before each job (a declared external wait, so simcord settles around it)."""

    def __init__(self) -> None:
        self.env: Any = None
        self.held = False
        self._event = asyncio.Event()
        self.waiting: list[str] = []
        self.seen: list[tuple[str, int]] = []

    def hold(self) -> None:
        self.held = True
        self._event = asyncio.Event()

    def release(self) -> None:
        self.held = False
        self._event.set()

    async def __call__(self, job: Job) -> None:
        self.seen.append((job.id, job.user_id))
        if self.held and self.env is not None:
            self.waiting.append(job.id)
            await self.env.external_wait(self._event.wait(), reason="test gate holds the worker")


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "corpus": PAINTINGS,
        "annotations": ANNOTATIONS,
        "db": tmp_path / "lamuse.db",
        "data_dir": tmp_path / "files",
        "output_size": 512,
        "library": tmp_path / "library",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(ANNOTATIONS)


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def simcord_bot(settings: Settings, engine: FakeEngine, gate: Gate) -> MuseBot:
    return create_bot(settings, engine, gate=gate)


@dataclass
class World:
    env: Any
    bot: MuseBot
    guild: Any
    channel: Any
    alice: Any
    bob: Any
    gate: Gate


@pytest.fixture
async def world(simcord_env: Any, gate: Gate) -> World:
    gate.env = simcord_env
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("art")
    alice = guild.add_member(simcord_env.create_user("alice"))
    bob = guild.add_member(simcord_env.create_user("bob"))
    return World(simcord_env, simcord_env.bot, guild, channel, alice, bob, gate)


def painting_bytes(name: str) -> bytes:
    return (PAINTINGS / name).read_bytes()


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def image_format(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return str(image.format)


def same_as_tile(grid_png: bytes, position: int, picture: bytes, *, gap: int = 6) -> bool:
    """Whether ``picture`` is tile ``position`` (0-3) of the grid, pixel for pixel below its number label."""
    assert image_format(grid_png) == "PNG" and image_format(picture) == "PNG"
    with Image.open(io.BytesIO(grid_png)) as grid_image, Image.open(io.BytesIO(picture)) as image:
        width, height = image.size
        x, y = (position % 2) * (width + gap), (position // 2) * (height + gap)
        tile = np.asarray(grid_image.convert("RGB"))[y : y + height, x : x + width]
        whole = np.asarray(image.convert("RGB"))
    below_label = height // 4
    return bool(np.array_equal(tile[below_label:], whole[below_label:]))


@pytest.fixture
def french_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Interactions arrive with locale "fr", as from a French Discord client (simcord always sends en-US)."""
    import simcord.interactions as interactions

    original = interactions.base_payload

    def base_payload(*args: Any, **kwargs: Any) -> Any:
        record, payload = original(*args, **kwargs)
        payload["locale"] = "fr"
        return record, payload

    monkeypatch.setattr(interactions, "base_payload", base_payload)
    yield


@pytest.fixture
def root_logging() -> Any:
    """``main()`` installs a root handler; remove it afterwards so other tests keep their logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)

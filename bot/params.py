"""Typed job parameters, one frozen dataclass per job kind, and their versioned JSON form for the store.

A job row must hold everything needed to run the job again after a restart, so parameters are values, not
live objects. Defaults live here (and in ``lamuse.types.ReinterpretOptions`` for the picture itself), nowhere
else. ``to_json``/``from_json`` write version 2 and still read the untyped dicts of version 1 rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeAlias, get_args

from bot.render import DEFAULT_UPLOAD_LIMIT
from lamuse.types import BackgroundMode, ReinterpretOptions, Theme

__all__ = [
    "BackgroundMode",
    "JobParams",
    "Language",
    "MasksParams",
    "MuseParams",
    "ParamsError",
    "Steering",
    "StoredInput",
    "UpscaleParams",
    "from_json",
    "to_json",
]

PARAMS_VERSION = 2
GRID_SIZE = 4
"""Variations per /muse answer by default (a 2×2 grid), as image bots offer."""
Language = Literal["en", "fr"]
JobKind = Literal["muse", "upscale", "masks"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
BACKGROUNDS: tuple[BackgroundMode, ...] = get_args(BackgroundMode)
_DEFAULT_OPTIONS = ReinterpretOptions()


class ParamsError(ValueError):
    """A stored or built parameter set is not valid (unknown kind, missing or out-of-range field)."""


@dataclass(frozen=True)
class StoredInput:
    """An upload kept on disk for the job: the normalised work-size image, its display name, loader notes."""

    path: str
    name: str = "upload"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Steering:
    """The vote-derived weights a muse job used (see ``bot.steering``), recorded with its output."""

    rule: str = "smoothed-ratio-v1"
    cutout: Mapping[str, float] = field(default_factory=dict)
    background: Mapping[str, float] = field(default_factory=dict)
    painting: float = 1.0
    chaos_steered: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "cutout": dict(self.cutout),
            "background": dict(self.background),
            "painting": self.painting,
            "chaos_steered": self.chaos_steered,
        }


@dataclass(frozen=True)
class MuseParams:
    """A reinterpretation of a corpus painting (``painting``) or of an upload (``upload``)."""

    seed: int
    chaos: float = _DEFAULT_OPTIONS.chaos
    painting: str | None = None
    upload: StoredInput | None = None
    style_strength: float = _DEFAULT_OPTIONS.style_strength
    keep_colors: bool = _DEFAULT_OPTIONS.keep_colors
    background: BackgroundMode = _DEFAULT_OPTIONS.background
    size: int = _DEFAULT_OPTIONS.size
    language: Language = "en"
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    with_original: bool = False
    steering: Steering = field(default_factory=Steering)
    daily_slot: str | None = None
    count: int = GRID_SIZE
    variation: int = 0
    keep_cutouts: tuple[str, ...] = ()
    avoid_cutouts: tuple[str, ...] = ()
    """The server's recent cut-outs, left out while others fit nearly as well (variety)."""
    theme: Theme = "free"
    year: int | None = None
    """The painting's year (the corpus's SOURCES.md), for the theme; None: unknown."""
    sheet: bool = False
    """Answer with the case-study sheet of this one variation instead of the picture."""

    kind: JobKind = field(default="muse", init=False)

    def __post_init__(self) -> None:
        if self.painting is None and self.upload is None:
            raise ParamsError("a muse job needs a painting or an upload")
        _check_range("chaos", self.chaos, 0.0, 1.0)
        _check_range("style_strength", self.style_strength, 0.0, 1.0)
        if self.background not in BACKGROUNDS:
            raise ParamsError(f"background must be one of {BACKGROUNDS}, not {self.background!r}")
        if self.language not in LANGUAGES:
            raise ParamsError(f"language must be one of {LANGUAGES}, not {self.language!r}")
        if self.seed < 0 or self.size <= 0 or self.upload_limit <= 0 or self.variation < 0:
            raise ParamsError("seed, size, variation and upload_limit must be positive")
        if self.count not in (1, GRID_SIZE):
            raise ParamsError(f"count must be 1 or {GRID_SIZE}, not {self.count}")

    @property
    def variations(self) -> range:
        """The variation indices this job makes: one, or a grid of ``GRID_SIZE`` from ``variation``."""
        return range(self.variation, self.variation + self.count)

    def options(self) -> ReinterpretOptions:
        """What the pipeline receives: the picture-deciding subset of these parameters."""
        return ReinterpretOptions(
            seed=self.seed,
            chaos=self.chaos,
            background=self.background,
            style_strength=self.style_strength,
            keep_colors=self.keep_colors,
            size=self.size,
            language=self.language,
            theme=self.theme,
            year=self.year,
        )


@dataclass(frozen=True)
class UpscaleParams:
    """Enlarge a stored output (``image_path``, written by the bot itself)."""

    image_path: str
    source_output: str
    scale: int = 2
    painting: str | None = None
    seed: int | None = None
    upload_limit: int = DEFAULT_UPLOAD_LIMIT

    kind: JobKind = field(default="upscale", init=False)

    def __post_init__(self) -> None:
        if self.scale not in (2, 4):
            raise ParamsError(f"scale must be 2 or 4, not {self.scale}")


@dataclass(frozen=True)
class MasksParams:
    """Outline what the segmenter finds in a corpus painting or a stored upload."""

    painting: str | None = None
    upload: StoredInput | None = None
    upload_limit: int = DEFAULT_UPLOAD_LIMIT

    kind: JobKind = field(default="masks", init=False)

    def __post_init__(self) -> None:
        if self.painting is None and self.upload is None:
            raise ParamsError("a masks job needs a painting or an upload")


JobParams: TypeAlias = MuseParams | UpscaleParams | MasksParams


def to_json(params: JobParams) -> str:
    """The versioned JSON stored in ``jobs.params``."""
    body = asdict(params)
    body.pop("kind", None)
    return json.dumps({"version": PARAMS_VERSION, "kind": params.kind, **body}, sort_keys=True)


def from_json(kind: str, text: str) -> JobParams:
    """Parse a stored ``jobs.params`` value of either version.

    Raises:
        ParamsError: unknown kind, or a row that cannot make a valid job.
    """
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise ParamsError(f"job parameters are not JSON ({error})") from error
    if not isinstance(raw, dict):
        raise ParamsError("job parameters are not a JSON object")
    body = dict(raw) if raw.get("version") == PARAMS_VERSION else _from_version_1(kind, raw)
    body.pop("version", None)
    body.pop("kind", None)
    try:
        if kind == "muse":
            extra: dict[str, object] = {
                "upload": _input(body.get("upload")),
                "steering": _steering(body.get("steering")),
                "keep_cutouts": tuple(body.get("keep_cutouts", ())),
                "avoid_cutouts": tuple(body.get("avoid_cutouts", ())),
            }
            return MuseParams(**{**body, **extra})
        if kind == "upscale":
            return UpscaleParams(**body)
        if kind == "masks":
            return MasksParams(**{**body, "upload": _input(body.get("upload"))})
    except TypeError as error:  # an unknown or missing field
        raise ParamsError(f"{kind} job parameters do not fit ({error})") from error
    raise ParamsError(f"unknown job kind {kind!r}")


def _input(value: Any) -> StoredInput | None:
    if value is None:
        return None
    return StoredInput(path=str(value["path"]), name=str(value["name"]), notes=tuple(value.get("notes", ())))


def _steering(value: Any) -> Steering:
    if not value:
        return Steering()
    return Steering(
        rule=str(value.get("rule", "smoothed-ratio-v1")),
        cutout=dict(value.get("cutout") or {}),
        background=dict(value.get("background") or {}),
        painting=float(value.get("painting", 1.0)),
        chaos_steered=bool(value.get("chaos_steered", False)),
    )


_V1_DROPPED = ("input_path", "input_name", "input_notes", "weights", "tag", "n", "slow")


def _from_version_1(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Version 1 rows were free dicts written by the cogs; map them onto the typed fields."""
    body = {k: v for k, v in raw.items() if k not in _V1_DROPPED}
    if raw.get("input_path"):
        body["upload"] = {
            "path": raw["input_path"],
            "name": raw.get("input_name") or "upload",
            "notes": list(raw.get("input_notes") or ()),
        }
    if kind == "muse":
        body["steering"] = raw.get("weights")
        body.setdefault("seed", 0)
        body.setdefault("count", 1)  # version 1 made one picture per job
    if kind == "masks":
        body.pop("input_name", None)
    return body


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ParamsError(f"{name} must be between {low} and {high}, not {value}")

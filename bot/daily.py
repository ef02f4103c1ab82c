"""Daily-post scheduling maths and the painters' prompt; pure functions (no Discord, no clock reads)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lamuse.explain import french_class


def parse_time(text: str) -> time:
    """``"HH:MM"`` to a time; raises ValueError with a readable message."""
    try:
        hour, minute = (int(part) for part in text.strip().split(":"))
        return time(hour, minute)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{text!r} is not a time like 09:30") from error


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:  # "Europe" is a folder: IsADirectoryError
        raise ValueError(f"{name!r} is not a time zone like Europe/Paris") from error


def slot_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local ``at`` on local ``day`` (DST handled by zoneinfo)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_slot(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of the first slot after ``now``: today's local slot if still ahead, else tomorrow's.

    Computed per local day, so the day after a DST change fires at the new offset.
    """
    local_today = now.astimezone(zone).date()
    today = slot_instant(local_today, at, zone)
    return today if today > now else slot_instant(local_today + timedelta(days=1), at, zone)


def latest_slot(now: datetime, at: time, zone: ZoneInfo) -> tuple[str, datetime]:
    """The most recent slot at or before ``now``: ``(local date ISO, UTC instant)``."""
    local_today = now.astimezone(zone).date()
    for day in (local_today, local_today - timedelta(days=1)):
        instant = slot_instant(day, at, zone)
        if instant <= now:
            return day.isoformat(), instant
    # Reachable: a zone that skipped yesterday (Pacific/Apia skipped 2011-12-30) maps yesterday's
    # slot after ``now``; the day before it is the latest real slot.
    day = local_today - timedelta(days=2)
    return day.isoformat(), slot_instant(day, at, zone)


def due_slot(now: datetime, at: time, zone: ZoneInfo, since: datetime | None) -> str | None:
    """The slot to post now, if any: the latest one, only when it fell after the feature was enabled.

    Missed slots after downtime collapse into this one slot, so a long outage posts once, not N times.
    """
    slot, instant = latest_slot(now, at, zone)
    if since is not None and instant < since:
        return None
    return slot


def painter_prompt(trace: Mapping[str, Any], language: str) -> str:
    """A short prompt for painters from the swaps, e.g. "Paint what the dog became"."""
    swaps = [s for s in trace.get("swaps") or [] if isinstance(s, Mapping) and s.get("class")]
    if not swaps:
        if language == "fr":
            return "🎨 À vos pinceaux : peignez votre propre version de ce tableau !"
        return "🎨 Your turn: paint your own version of this painting!"
    # A class-agnostic element (no object detector) is a shape, never "object".
    what = "shape" if swaps[0].get("class_id") == 0 else str(swaps[0]["class"])
    if language == "fr":
        if what == "shape":
            return "🎨 À vos pinceaux : peignez ce que devient la forme principale du tableau !"
        return f"🎨 À vos pinceaux : peignez ce que devient {french_class(what) or f'« {what} »'} !"
    return f"🎨 Your turn: paint what the {what} became!"

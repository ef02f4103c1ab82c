"""Typed errors the library raises; adapters (CLI, bot) put them into words."""

from __future__ import annotations


class LamuseError(Exception):
    """Base of every error the library raises on purpose."""


class ImageError(LamuseError):
    """The input is not an image we can use; `reason` is a short machine key, the message is for people."""

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class WeightsUnavailable(LamuseError):
    """A model's weights are neither local, cached, bundled nor downloadable (offline)."""


class ChecksumMismatch(LamuseError):
    """A weights file does not have the sha256 its registry entry promises."""


class LibraryError(LamuseError):
    """The cut-out library is missing, empty or unreadable."""


class ConfigError(LamuseError, ValueError):
    """An unknown stage name, device or similar setting (still a ValueError for plain callers)."""


class AnnotationsError(LamuseError):
    """A COCO annotations file is missing or not valid COCO instance JSON."""


class BackgroundsUnavailable(LamuseError):
    """``background="swap"`` was asked but no usable background image was given."""

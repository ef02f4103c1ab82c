"""Typed errors the library raises; adapters (CLI, bot) put them into words."""

from __future__ import annotations


class LamuseError(Exception):
    """Base of every error the library raises on purpose."""


class ImageError(LamuseError):
    """The input is not an image we can use.

    ``reason`` is a short machine key; the message is for people. The limit that was crossed travels with
    the error (``limit_bytes``, ``limit_pixels``, ``min_side``, ``max_aspect``, ``limit_scans``: whichever
    applies, else None), so adapters word their own message without importing the loader's constants.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "invalid",
        limit_bytes: int | None = None,
        limit_pixels: int | None = None,
        min_side: int | None = None,
        max_aspect: float | None = None,
        limit_scans: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.limit_bytes = limit_bytes
        self.limit_pixels = limit_pixels
        self.min_side = min_side
        self.max_aspect = max_aspect
        self.limit_scans = limit_scans


class FileRefused(LamuseError):
    """A path that is not a regular file we may read (missing, a folder, a FIFO or device, too large).

    ``reason`` is one of ``missing``, ``folder``, ``not_a_file``, ``too_large``, ``unreadable``.
    """

    def __init__(self, message: str, *, reason: str, limit_bytes: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.limit_bytes = limit_bytes


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

"""Typed errors of the bot's services; the error-handler cog turns them into words."""

from __future__ import annotations


class BotError(Exception):
    """Base of the errors the bot raises on purpose (user-facing, expected)."""


class Busy(BotError):
    """The global queue is full; ``retry_after_s`` is an honest estimate of when a slot frees up."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"queue full, retry in ~{retry_after_s:.0f}s")
        self.retry_after_s = retry_after_s


class UserLimitReached(BotError):
    """This user already has their running job plus the allowed number waiting."""

    def __init__(self, running: int, queued: int) -> None:
        super().__init__(f"user has {running} running and {queued} queued jobs")
        self.running = running
        self.queued = queued


class JobTimeout(BotError):
    """A job ran longer than the configured limit."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"job took longer than {timeout_s:.0f}s")
        self.timeout_s = timeout_s


class JobCancelled(BotError):
    """The job was cancelled (its message was deleted, or the bot is shutting down)."""


class JobInterrupted(BotError):
    """The bot restarted while the job was running and it was not retried (too many tries)."""


class UnknownPainting(BotError):
    """The requested corpus painting does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown painting {name!r}")
        self.name = name


class EmptyCorpus(BotError):
    """The corpus folder has no paintings, so no random or daily painting can be chosen."""


class LinkNotFetched(BotError):
    """The user gave a link instead of attaching a file; the bot never downloads URLs (SSRF, size)."""

    def __init__(self, url: str) -> None:
        super().__init__("a link was given instead of an attachment")
        self.url = url


class RateLimited(BotError):
    """The user asked for more jobs in the last minute than the per-user rate allows."""

    def __init__(self, per_minute: int, retry_after_s: float) -> None:
        super().__init__(f"more than {per_minute} requests a minute; retry in ~{retry_after_s:.0f}s")
        self.per_minute = per_minute
        self.retry_after_s = retry_after_s


class ConflictingOptions(BotError):
    """Two options that exclude each other were both given (an attachment and a painting name)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} and {second} were both given")
        self.first = first
        self.second = second


class OutputExpired(BotError):
    """A button's output (or the picture it was made from) is no longer stored: retention removed it."""

    def __init__(self, output_id: str) -> None:
        super().__init__(f"output {output_id} is no longer stored")
        self.output_id = output_id
class WorkersUnavailable(BotError):
    """The inference workers (a Ray cluster) cannot be reached; new jobs are refused until they are back."""


class NoBackgrounds(BotError):
    """``background:swap`` was asked but the operator configured no background photos."""

"""All runtime settings, read once from the environment (and ``.env``) in the entry point.

Every key is documented in ``.env.example``. The token is a ``SecretStr`` so it never shows in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The bot's configuration; ``LAMUSE_*`` variables plus ``DISCORD_TOKEN``."""

    model_config = SettingsConfigDict(
        env_prefix="LAMUSE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "LAMUSE_DISCORD_TOKEN")
    )
    corpus: Path = Path("data/paintings")
    annotations: Path | None = None
    library: Path = Path("lamuse-data/library")
    photos: Path | None = None
    photo_annotations: Path | None = None
    photo_classes: Path | None = None
    backgrounds: Path | None = None
    db: Path = Path("lamuse-data/lamuse.db")
    data_dir: Path = Path("lamuse-data/files")
    device: str = "auto"
    stylizer: Literal["auto", "none"] = "auto"
    upscaler: Literal["auto", "lanczos"] = "auto"
    output_size: int = Field(default=1024, ge=128, le=4096)
    command_prefix: str = "!"
    sync_commands: bool = True
    per_user_queued: int = Field(default=2, ge=0)
    per_user_per_minute: int = Field(default=6, ge=1)
    max_pending: int = Field(default=20, ge=1)
    per_guild_queued: int = Field(default=10, ge=1)
    retention_days: float = Field(default=30.0, gt=0)
    voted_retention_days: float = Field(default=365.0, gt=0)
    job_timeout_s: float = Field(default=300.0, gt=0)
    max_tries: int = Field(default=2, ge=1)
    upload_limit_bytes: int | None = Field(default=None, ge=1024)
    vote_emoji: str = "⭐,👍,🔥"
    recent_paintings: int = Field(default=20, ge=0)
    log_level: str = "INFO"
    workers: Literal["local", "ray"] = "local"
    ray_address: str = ""
    ray_actors: int = Field(default=2, ge=1)
    shards: int | None = Field(default=None, ge=0)

    def vote_emoji_set(self) -> tuple[str, ...]:
        """The default vote emoji, as a tuple (a guild may override it in the store)."""
        return tuple(e.strip() for e in self.vote_emoji.split(",") if e.strip())

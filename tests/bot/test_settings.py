"""Settings come from the environment; the token never shows in reprs or logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import create_bot
from bot.settings import Settings
from tests.bot.fakes import FakeEngine
from tests.conftest import PAINTING_ANNOTATIONS, PAINTINGS


def test_settings_read_env_and_hide_the_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """LAMUSE_* and DISCORD_TOKEN are read; the token is a SecretStr; create_bot needs no token."""
    monkeypatch.setenv("DISCORD_TOKEN", "very-secret-token")
    monkeypatch.setenv("LAMUSE_CORPUS", str(PAINTINGS))
    monkeypatch.setenv("LAMUSE_ANNOTATIONS", str(PAINTING_ANNOTATIONS))
    monkeypatch.setenv("LAMUSE_LIBRARY", str(tmp_path / "lib"))
    monkeypatch.setenv("LAMUSE_DB", str(tmp_path / "muse.db"))
    monkeypatch.setenv("LAMUSE_DATA_DIR", str(tmp_path / "files"))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.corpus == PAINTINGS
    assert settings.db == tmp_path / "muse.db"
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "very-secret-token"
    assert "very-secret-token" not in repr(settings) and "very-secret-token" not in str(settings.model_dump())
    bot = create_bot(settings, FakeEngine())
    assert bot.store.version >= 2
    bot.store.close()


def test_example_env_documents_every_setting() -> None:
    """Every Settings field appears in .env.example."""
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for name in Settings.model_fields:
        key = "DISCORD_TOKEN" if name == "discord_token" else f"LAMUSE_{name.upper()}"
        assert key in text, key

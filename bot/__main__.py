"""``python -m bot``: read settings, set up logging, build and run the bot."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from pydantic import ValidationError

from bot.settings import Settings

log = logging.getLogger("bot")


def setup_logging(level: str) -> None:
    """Console logging; discord.http is noisy, so it only says warnings."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("discord.http").setLevel(logging.WARNING)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        sys.stderr.write(f"invalid settings:\n{error}\n")
        return 2
    setup_logging(settings.log_level)
    if settings.discord_token is None:
        log.error("DISCORD_TOKEN is not set (see .env.example)")
        return 2
    if not settings.corpus.is_dir():
        log.warning("corpus folder %s does not exist: only attached images will work", settings.corpus)
    from bot.app import create_bot, describe, run_bot

    bot = create_bot(settings)
    log.info("starting La Muse: %s", describe(bot))
    return run_bot(bot, settings.discord_token.get_secret_value())


if __name__ == "__main__":
    raise SystemExit(main())

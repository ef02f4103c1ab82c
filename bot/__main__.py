"""``python -m bot``: read settings, check them (``--check`` stops there), load the models, run the bot."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
from collections.abc import Sequence

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


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="validate the settings, build the library, load the models, exit"
    )
    args = parser.parse_args(list(argv))
    try:
        settings = Settings()
    except ValidationError as error:
        sys.stderr.write(f"invalid settings:\n{error}\n")
        return 2
    from bot.check import log_level_problem, run_checks

    if problem := log_level_problem(settings.log_level):
        sys.stderr.write(f"error: LAMUSE_LOG_LEVEL: {problem}\n")
        return 2
    setup_logging(settings.log_level)
    if settings.discord_token is None and not args.check:
        log.error("DISCORD_TOKEN is not set (see .env.example)")
        return 2
    from bot.engine import LamuseEngine

    engine = LamuseEngine(settings)
    report = run_checks(settings, engine)
    for finding in report.findings:
        if args.check:
            sys.stdout.write(finding.line() + "\n")
        elif finding.level != "ok":
            log.warning("%s", finding.line())
    if report.errors:
        if not args.check:
            log.error("%d setting(s) need fixing; `python -m bot --check` lists them", len(report.errors))
        return 2
    if args.check:
        return 0
    from bot.app import create_bot, describe, run_bot

    assert settings.discord_token is not None
    bot = create_bot(settings, engine)
    log.info("starting La Muse: %s", describe(bot))
    return run_bot(bot, settings.discord_token.get_secret_value())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

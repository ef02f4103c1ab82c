"""Build the Discord client: ``create_bot(settings, engine)`` wires store, files, queue and cogs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.blobs import Blobs
from bot.corpus import Corpus
from bot.engine import WORK_LONG_SIDE, Engine, LamuseEngine
from bot.jobs import Gate, JobQueue
from bot.service import MuseService
from bot.settings import Settings
from bot.store import Store
from bot.work import JobRunner
from bot.workers import WorkerBackend, create_backend

log = logging.getLogger(__name__)

INITIAL_EXTENSIONS = ("cogs.errors", "cogs.muse", "cogs.daily", "cogs.votes", "cogs.retention", "cogs.help")

FRENCH: dict[str, str] = {
    "Reinterpret a known painting with real photo cut-outs": (
        "Réinterpréter un tableau connu avec de vraies photos"
    ),
    "Your own painting (an image file)": "Ton propre tableau (un fichier image)",
    "A painting from the collection": "Un tableau de la collection",
    "How far the swaps may stray (0 = faithful, 1 = wild)": (
        "Jusqu'où les échanges peuvent s'écarter (0 = fidèle, 1 = fou)"
    ),
    "How strongly to re-paint in the painting's style (0-1)": "Force du style du tableau (0-1)",
    "Keep the photos' own colours": "Garder les couleurs des photos",
    "What to do with the background": "Que faire du fond",
    "Seed, to get the same result again": "Graine, pour retrouver le même résultat",
    "How many variations: a grid of four, or one picture": (
        "Combien de variantes : une grille de quatre, ou une image"
    ),
    "A recipe from a picture's footer, to make it again": "La recette en bas d'une image, pour la refaire",
    "four (a grid)": "quatre (une grille)",
    "Era of the new elements: true to the painting's time, free, or deliberately anachronistic": (
        "Époque des nouveaux éléments : fidèle au temps du tableau, libre, ou volontairement anachronique"
    ),
    "coherent": "cohérente",
    "free": "libre",
    "anachronistic": "anachronique",
    "one": "une",
    "keep": "garder",
    "swap": "changer",
    "none": "aucun",
    "Best reinterpretations of this server": "Meilleures réinterprétations du serveur",
    "Which period": "Quelle période",
    "day": "jour",
    "week": "semaine",
    "all": "tout",
    "Configure La Muse for this server": "Configurer La Muse pour ce serveur",
    "The daily painting prompt": "Le tableau du jour",
    "Post the daily prompt in a channel at a local time": (
        "Publier le tableau du jour dans un salon à une heure locale"
    ),
    "Channel for the daily post": "Salon du tableau du jour",
    "Local time, HH:MM": "Heure locale, HH:MM",
    "Time zone, e.g. Europe/Paris": "Fuseau horaire, par ex. Europe/Paris",
    "Language of the post": "Langue de la publication",
    "Stop the daily post": "Arrêter le tableau du jour",
    "Show the daily post settings": "Voir les réglages du tableau du jour",
    "Post today's prompt now": "Publier le tableau du jour maintenant",
    "Which reactions count as votes": "Quelles réactions comptent comme votes",
    "How to use La Muse": "Comment utiliser La Muse",
    "Emoji separated by spaces, e.g. ⭐ 👍 🔥": "Émojis séparés par des espaces, par ex. ⭐ 👍 🔥",
}


class MuseTranslator(app_commands.Translator):
    """English source strings, French translations of descriptions and choice names (names stay ASCII)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContext[Any, Any],
    ) -> str | None:
        if locale is not discord.Locale.french:
            return None
        if context.location in (
            app_commands.TranslationContextLocation.command_name,
            app_commands.TranslationContextLocation.group_name,
            app_commands.TranslationContextLocation.parameter_name,
        ):
            return None
        return FRENCH.get(string.message)


class MuseTree(app_commands.CommandTree):
    """Routes every app-command error to the error-handler cog (``on_app_command_error``)."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        self.client.dispatch("app_command_error", interaction, error)


class MuseBot(commands.Bot):
    """The bot with its services as typed attributes; built by ``create_bot``."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        store: Store,
        blobs: Blobs,
        jobs: JobQueue,
        service: MuseService,
        *,
        extensions: tuple[str, ...] = INITIAL_EXTENSIONS,
        workers: WorkerBackend | None = None,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        intents.reactions = True
        super().__init__(
            command_prefix=commands.when_mentioned_or(settings.command_prefix),
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=MuseTree,
            help_command=None,
            shard_count=settings.shards or None,
        )
        self.settings = settings
        self.engine = engine
        self.store = store
        self.blobs = blobs
        self.jobs = jobs
        self.service = service
        self.workers = workers
        self.initial_extensions = extensions
        self._recovered = False

    def now(self) -> datetime:
        """UTC now from discord.py's clock (virtual under the offline test harness)."""
        return discord.utils.utcnow()

    async def setup_hook(self) -> None:
        await self.tree.set_translator(MuseTranslator())
        for extension in self.initial_extensions:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("failed to load extension %s", extension)
        if self.settings.sync_commands:
            await self.tree.sync()

    async def on_ready(self) -> None:
        """Once per process: re-queue or report what the previous run left unfinished."""
        if self._recovered:
            return
        self._recovered = True
        resumed, reported = await self.service.recover()
        if resumed or reported:
            log.info("after restart: %d jobs resumed, %d reported", len(resumed), len(reported))

    async def close(self) -> None:
        await self.jobs.close()
        if self.workers is not None:
            self.workers.close()
        await super().close()
        self.store.close()


class ShardedMuseBot(MuseBot, commands.AutoShardedBot):
    """MuseBot over several gateway shards in this one process: ``LAMUSE_SHARDS`` of them, or Discord's
    recommended count when it is 0. Cogs and their daily loop exist once, so posts fire once per guild."""


def create_bot(
    settings: Settings,
    engine: Engine | None = None,
    *,
    gate: Gate | None = None,
    clock: Callable[[], datetime] | None = None,
    extensions: tuple[str, ...] = INITIAL_EXTENSIONS,
    workers: WorkerBackend | None = None,
) -> MuseBot:
    """Build an unstarted bot. ``engine`` defaults to the real lamuse pipeline (built on first job).

    Args:
        settings: the configuration.
        engine: the inference engine; tests pass a fast double.
        gate: awaited by the worker before each job runs (tests hold jobs with it).
        clock: UTC clock for job rows; defaults to discord.py's (virtual under simcord).
        extensions: cogs to load.
        workers: where jobs run; default from ``LAMUSE_WORKERS`` (bot/workers.py).
    """
    engine = engine if engine is not None else LamuseEngine(settings)
    workers = workers if workers is not None else create_backend(settings, engine)
    store = Store(settings.db)
    blobs = Blobs(settings.data_dir)
    corpus = Corpus(settings.corpus)
    work_long_side = max(WORK_LONG_SIDE, settings.output_size)
    # Jobs run on the workers' engine (one per Ray actor); the bot's own engine decodes and checks.
    runner = JobRunner(workers.engine, blobs, corpus, work_long_side=work_long_side)
    now = clock or discord.utils.utcnow
    jobs = JobQueue(
        store,
        runner,
        per_user_queued=settings.per_user_queued,
        per_guild_queued=settings.per_guild_queued,
        per_user_per_minute=settings.per_user_per_minute,
        max_pending=settings.max_pending,
        timeout_s=settings.job_timeout_s,
        max_tries=settings.max_tries,
        clock=now,
        gate=gate,
        slots=workers.slots,
        unavailable=workers.unavailable,
    )
    service = MuseService(
        store=store,
        blobs=blobs,
        corpus=corpus,
        jobs=jobs,
        output_size=settings.output_size,
        clock=now,
        work_long_side=work_long_side,
        backgrounds_available=settings.backgrounds is not None,
    )
    bot_class = MuseBot if settings.shards is None else ShardedMuseBot
    return bot_class(settings, engine, store, blobs, jobs, service, extensions=extensions, workers=workers)


def describe(bot: MuseBot) -> str:
    """One log line about the running configuration, without secrets."""
    s = bot.settings
    return f"corpus={s.corpus} library={s.library} db={s.db} device={s.device} workers={s.workers}"


def run_bot(bot: commands.Bot, token: str) -> int:
    """Run until stopped; a refused token or an unreachable Discord is one clear log line, not a traceback.

    Returns the process exit status.
    """
    try:
        bot.run(token, log_handler=None)
    except discord.LoginFailure:
        log.error("Discord refused DISCORD_TOKEN: check the bot token in the developer portal")
        return 2
    except (aiohttp.ClientConnectionError, TimeoutError) as error:
        log.error("cannot reach Discord (%s): check the network, then start again", type(error).__name__)
        return 1
    return 0

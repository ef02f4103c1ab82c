"""The bot's one SQLite database: jobs, outputs, votes, guild settings, daily posts.

Every SQL statement of the bot lives here. Calls are short and synchronous on the event-loop thread, in
WAL mode. Schema changes are numbered migrations applied at open, tracked in ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Required, TypedDict, cast

import sqlite_utils

log = logging.getLogger(__name__)

ELEMENT_KINDS = ("cutout", "background", "painting", "chaos")

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "jobs and outputs",
        [
            """CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                user_id INTEGER NOT NULL,
                guild_id INTEGER,
                channel_id INTEGER,
                source_message_id INTEGER,
                response_message_id INTEGER,
                params TEXT NOT NULL,
                status TEXT NOT NULL,
                tries INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                output_id TEXT,
                created_at TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT
            )""",
            "CREATE INDEX jobs_status ON jobs(status)",
            """CREATE TABLE outputs (
                id TEXT PRIMARY KEY,
                job_id TEXT,
                kind TEXT NOT NULL,
                user_id INTEGER,
                guild_id INTEGER,
                channel_id INTEGER,
                message_id INTEGER UNIQUE,
                painting TEXT,
                seed INTEGER,
                chaos REAL,
                background TEXT,
                image_path TEXT NOT NULL,
                image_sha256 TEXT NOT NULL,
                input_path TEXT,
                trace TEXT NOT NULL,
                cutout_ids TEXT NOT NULL DEFAULT '[]',
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX outputs_guild ON outputs(guild_id, created_at)",
        ],
    ),
    (
        2,
        "votes, guild settings, daily posts",
        [
            """CREATE TABLE votes (
                output_id TEXT NOT NULL REFERENCES outputs(id),
                user_id INTEGER NOT NULL,
                emoji TEXT NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (output_id, user_id, emoji)
            )""",
            """CREATE TABLE guild_settings (
                guild_id INTEGER PRIMARY KEY,
                daily_channel_id INTEGER,
                daily_time TEXT,
                daily_timezone TEXT,
                daily_language TEXT NOT NULL DEFAULT 'en',
                daily_enabled INTEGER NOT NULL DEFAULT 0,
                daily_since TEXT,
                vote_emoji TEXT
            )""",
            """CREATE TABLE daily_posts (
                guild_id INTEGER NOT NULL,
                slot TEXT NOT NULL,
                painting TEXT,
                output_id TEXT,
                message_id INTEGER,
                posted_at TEXT NOT NULL,
                PRIMARY KEY (guild_id, slot)
            )""",
            "ALTER TABLE outputs ADD COLUMN background_id TEXT",
            "ALTER TABLE outputs ADD COLUMN weights TEXT",
        ],
    ),
    (
        3,
        "element aggregates, retention",
        [
            """CREATE TABLE element_stats (
                guild_id INTEGER NOT NULL,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                shown INTEGER NOT NULL DEFAULT 0,
                votes INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (guild_id, kind, key)
            )""",
            "ALTER TABLE outputs ADD COLUMN expired_at TEXT",
            "CREATE INDEX outputs_created ON outputs(created_at)",
            "_backfill_element_stats",

        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class JobRow(TypedDict):
    """A ``jobs`` row as stored: ``params`` is the versioned JSON of ``bot.params``."""

    id: str
    kind: str
    user_id: int
    guild_id: int | None
    channel_id: int | None
    source_message_id: int | None
    response_message_id: int | None
    params: str
    status: str
    tries: int
    error: str | None
    output_id: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class OutputRow(TypedDict, total=False):
    """An ``outputs`` row: what a delivered picture was made from and where its files are."""

    id: Required[str]
    kind: Required[str]
    image_path: Required[str]
    image_sha256: Required[str]
    created_at: Required[str]
    job_id: str | None
    user_id: int | None
    guild_id: int | None
    channel_id: int | None
    message_id: int | None
    painting: str | None
    seed: int | None
    chaos: float | None
    background: str | None
    background_id: str | None
    input_path: str | None
    trace: Mapping[str, Any]
    cutout_ids: Sequence[str]
    weights: Mapping[str, Any] | None
    expired_at: str | None


class StoreCorrupt(RuntimeError):
    """The database file fails SQLite's integrity check; starting on it could lose more rows."""


class SchemaTooNew(RuntimeError):
    """The database was written by a newer release; running on it could corrupt rows we don't know."""


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("naive datetime: the store keeps UTC-aware times only")
    return when.isoformat()


@dataclass(frozen=True)
class GuildSettings:
    """A guild's daily-post and vote configuration."""

    guild_id: int
    daily_channel_id: int | None = None
    daily_time: str | None = None
    daily_timezone: str | None = None
    daily_language: str = "en"
    daily_enabled: bool = False
    daily_since: str | None = None
    vote_emoji: str | None = None


def _elements(
    painting: str | None, chaos: float | None, background_id: str | None, cutout_ids: str | None
) -> set[tuple[str, str]]:
    """The steerable elements of one output: a cut-out counts once however often it was pasted."""
    found: set[tuple[str, str]] = set()
    if painting is not None:
        found.add(("painting", painting))
    if chaos is not None:
        found.add(("chaos", f"{float(chaos):.1f}"))
    if background_id is not None:
        found.add(("background", background_id))
    found.update(("cutout", str(c)) for c in json.loads(cutout_ids or "[]"))
    return found


def _output_row(row: sqlite3.Row) -> OutputRow:
    record: dict[str, Any] = dict(row)
    record["trace"] = json.loads(record["trace"])
    record["cutout_ids"] = json.loads(record["cutout_ids"])
    record["weights"] = json.loads(record["weights"]) if record.get("weights") else None
    return cast(OutputRow, record)


def _paths_in(value: Any) -> set[str]:
    """File paths named anywhere in a job's stored parameters (``path``/``image_path``/``input_path``)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("path", "image_path", "input_path") and isinstance(item, str):
                found.add(item)
            else:
                found |= _paths_in(item)
    return found


def _job_row(row: sqlite3.Row) -> JobRow:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "user_id": row["user_id"],
        "guild_id": row["guild_id"],
        "channel_id": row["channel_id"],
        "source_message_id": row["source_message_id"],
        "response_message_id": row["response_message_id"],
        "params": row["params"],
        "status": row["status"],
        "tries": row["tries"],
        "error": row["error"],
        "output_id": row["output_id"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


class Store:
    """Owns the database connection and every statement the bot runs."""

    def __init__(self, path: Path | str, *, target_version: int = SCHEMA_VERSION) -> None:
        """Open (creating if needed), check and migrate the database.

        Raises:
            StoreCorrupt: the file is not a sound SQLite database.
            OSError: the folder cannot be created or the file opened.
        """
        in_memory = str(path) == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(path), isolation_level=None)
        except sqlite3.OperationalError as error:
            raise OSError(f"cannot open the database {path} ({error})") from error
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        if not in_memory:
            self._check_integrity(path)
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.migrate(target_version)

    def close(self) -> None:
        self.db.conn.close()

    def _check_integrity(self, path: Path | str) -> None:
        """Refuse a damaged file at start (quick_check reads every page once: ~1 s per GB)."""
        try:
            verdict = [str(r[0]) for r in self.db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.OperationalError as error:  # a folder, or a file we may not read
            self.db.conn.close()
            raise OSError(f"cannot open the database {path} ({error})") from error
        except sqlite3.DatabaseError as error:
            self.db.conn.close()
            raise StoreCorrupt(f"{path} is not a readable SQLite database ({error})") from error
        if verdict != ["ok"]:
            self.db.conn.close()
            raise StoreCorrupt(f"{path} fails SQLite's integrity check: {'; '.join(verdict[:3])}")

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes atomically (BEGIN IMMEDIATE … COMMIT, ROLLBACK on error)."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def migrate(self, target: int = SCHEMA_VERSION) -> list[int]:
        """Apply pending migrations up to ``target``, all in one transaction; returns the versions applied."""
        current = self.version
        if current > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"database schema {current} is newer than this release's {SCHEMA_VERSION}; upgrade the bot"
            )
        applied: list[int] = []
        with self.transaction():
            for version, what, statements in MIGRATIONS:
                if current < version <= target:
                    for statement in statements:
                        if statement == "_backfill_element_stats":
                            self._backfill_element_stats()
                        else:
                            self.db.execute(statement)
                    applied.append(version)
                    log.info("database migrated to %d (%s)", version, what)
            if applied:
                self.db.execute(f"PRAGMA user_version = {applied[-1]:d}")
        return applied

    # --- jobs -------------------------------------------------------------------------------------

    def insert_job(self, row: JobRow) -> None:
        self.db.table("jobs").insert(dict(row))

    def update_job(self, job_id: str, **fields: str | int | None) -> None:
        self.db.table("jobs").update(job_id, fields)

    def get_job(self, job_id: str) -> JobRow | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", [job_id]).fetchone()
        return _job_row(row) if row else None

    def muse_job_with_seed(self, seed: int) -> JobRow | None:
        """The first muse job made with ``seed`` (seeds are drawn from 2³¹: a recipe's seed finds its job)."""
        row = self.db.execute(
            "SELECT * FROM jobs WHERE kind = 'muse' AND json_extract(params, '$.seed') = ? "
            "ORDER BY created_at, rowid LIMIT 1",
            [seed],
        ).fetchone()
        return _job_row(row) if row else None

    def unfinished_jobs(self) -> list[JobRow]:
        rows = self.db.execute(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, rowid"
        ).fetchall()
        return [_job_row(r) for r in rows]

    # --- outputs ----------------------------------------------------------------------------------

    def insert_output(self, row: OutputRow) -> None:
        """Record a delivered output and count its elements as shown (one transaction)."""
        record: dict[str, Any] = dict(row)
        record["trace"] = json.dumps(record.get("trace") or {}, default=str)
        record["cutout_ids"] = json.dumps(list(record.get("cutout_ids") or []))
        if record.get("weights") is not None:
            record["weights"] = json.dumps(record["weights"])
        with self.transaction():
            self.db.table("outputs").insert(record)
            self._bump_elements(row["id"], shown=1)

    def get_output(self, output_id: str) -> OutputRow | None:
        row = self.db.execute("SELECT * FROM outputs WHERE id = ?", [output_id]).fetchone()
        return _output_row(row) if row else None

    def output_by_message(self, message_id: int) -> OutputRow | None:
        row = self.db.execute("SELECT * FROM outputs WHERE message_id = ?", [message_id]).fetchone()
        return _output_row(row) if row else None

    def recent_cutouts(self, guild_id: int, outputs: int) -> list[str]:
        """The cut-outs of the server's last ``outputs`` reinterpretations, newest first, once each."""
        rows = self.db.execute(
            "SELECT cutout_ids FROM outputs WHERE guild_id = ? AND kind = 'muse' "
            "ORDER BY created_at DESC LIMIT ?",
            [guild_id, outputs],
        ).fetchall()
        return list(dict.fromkeys(c for row in rows for c in json.loads(row[0])))

    # --- retention --------------------------------------------------------------------------------

    def expired_candidates(
        self, before: datetime, voted_before: datetime, limit: int = 500
    ) -> list[OutputRow]:
        """Outputs past retention not yet expired: unvoted ones made before ``before``, voted ones before
        ``voted_before`` (votes keep a picture longer)."""
        rows = self.db.execute(
            """SELECT * FROM outputs o WHERE o.expired_at IS NULL AND (
                   (o.created_at < ? AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.output_id = o.id))
                   OR o.created_at < ?)
               ORDER BY o.created_at LIMIT ?""",
            [_iso(before), _iso(voted_before), limit],
        ).fetchall()
        return [_output_row(r) for r in rows]

    def mark_expired(self, output_id: str, when: datetime) -> None:
        """The output's files are gone; the row stays for votes, stats and the "expired" answer."""
        self.db.execute("UPDATE outputs SET expired_at = ? WHERE id = ?", [_iso(when), output_id])

    def files_of_expired(self) -> set[str]:
        """Files named by expired outputs (retention removes them unless something else still needs them)."""
        rows = self.db.execute(
            "SELECT image_path, input_path FROM outputs WHERE expired_at IS NOT NULL"
        ).fetchall()
        return {str(value) for row in rows for value in row if value}

    def files_in_use(self) -> set[str]:
        """Every stored file an unexpired output or an unfinished job still needs."""
        used = {
            str(value)
            for row in self.db.execute(
                "SELECT image_path, input_path FROM outputs WHERE expired_at IS NULL"
            ).fetchall()
            for value in row
            if value
        }
        for row in self.db.execute(
            "SELECT params FROM jobs WHERE status IN ('queued', 'running')"
        ).fetchall():
            used.update(_paths_in(json.loads(row[0])))
        return used

    # --- votes ------------------------------------------------------------------------------------

    def add_vote(self, output_id: str, user_id: int, emoji: str, when: datetime) -> None:
        """Record one reaction; a user's several emoji on one output still count as one vote."""
        with self.transaction():
            first = not self._has_voted(output_id, user_id)
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO votes (output_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)",
                [output_id, user_id, emoji, _iso(when)],
            )
            if first and cursor.rowcount == 1:
                self._bump_elements(output_id, votes=1)

    def remove_vote(self, output_id: str, user_id: int, emoji: str) -> None:
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM votes WHERE output_id = ? AND user_id = ? AND emoji = ?",
                [output_id, user_id, emoji],
            )
            if cursor.rowcount == 1 and not self._has_voted(output_id, user_id):
                self._bump_elements(output_id, votes=-1)

    def _has_voted(self, output_id: str, user_id: int) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM votes WHERE output_id = ? AND user_id = ? LIMIT 1", [output_id, user_id]
            ).fetchone()
            is not None
        )

    def vote_count(self, output_id: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(DISTINCT user_id) FROM votes WHERE output_id = ?", [output_id]
        ).fetchone()
        return int(row[0])

    def replace_votes(self, output_id: str, reactions: Iterable[tuple[int, str]], when: datetime) -> None:
        """Make the stored votes equal the message's current reactions (reconcile after downtime)."""
        wanted = set(reactions)
        with self.transaction():
            current = {
                (r["user_id"], r["emoji"])
                for r in self.db.execute(
                    "SELECT user_id, emoji FROM votes WHERE output_id = ?", [output_id]
                ).fetchall()
            }
            for user_id, emoji in current - wanted:
                self.remove_vote(output_id, user_id, emoji)
            for user_id, emoji in wanted - current:
                self.add_vote(output_id, user_id, emoji, when)

    def top_outputs(self, guild_id: int, since: datetime | None, limit: int = 10) -> list[dict[str, Any]]:
        """The guild's outputs with the most voters since ``since``; ties go to the older output."""
        query = """
            SELECT o.id, o.message_id, o.channel_id, o.painting, o.seed, o.created_at,
                   COUNT(DISTINCT v.user_id) AS votes
            FROM outputs o JOIN votes v ON v.output_id = o.id
            WHERE o.guild_id = ? AND o.kind = 'muse' AND o.message_id IS NOT NULL {since}
            GROUP BY o.id
            ORDER BY votes DESC, o.created_at ASC, o.id ASC
            LIMIT ?
        """
        params: list[Any] = [guild_id]
        if since is not None:
            query = query.format(since="AND o.created_at >= ?")
            params.append(_iso(since))
        else:
            query = query.format(since="")
        params.append(limit)
        return [dict(r) for r in self.db.execute(query, params).fetchall()]

    def element_stats(self, guild_id: int | None = None) -> dict[str, dict[str, tuple[int, int]]]:
        """Per element kind, ``{id: (times shown, votes)}``; the steering rule's only input.

        Kinds: ``cutout``, ``background``, ``painting``, ``chaos`` (chaos bucketed to one decimal). Read from
        the ``element_stats`` aggregates that outputs and votes keep up to date, so the cost grows with the
        number of distinct elements, not with the number of stored outputs.
        """
        where, params = ("WHERE guild_id = ?", [guild_id]) if guild_id is not None else ("", [])
        rows = self.db.execute(
            f"SELECT kind, key, SUM(shown) AS shown, SUM(votes) AS votes FROM element_stats {where} "
            "GROUP BY kind, key",
            params,
        ).fetchall()
        stats: dict[str, dict[str, tuple[int, int]]] = {kind: {} for kind in ELEMENT_KINDS}
        for row in rows:
            if row["shown"] > 0:
                stats[str(row["kind"])][str(row["key"])] = (int(row["shown"]), int(row["votes"]))
        return stats

    def _bump_elements(self, output_id: str, *, shown: int = 0, votes: int = 0) -> None:
        """Add to the aggregates of every element of one muse output (inside the caller's transaction)."""
        if self.version >= 3:  # a store opened at an older ``target_version`` has no aggregates yet
            self._add_to_aggregates(output_id, shown=shown, votes=votes)

    def _add_to_aggregates(self, output_id: str, *, shown: int, votes: int) -> None:
        row = self.db.execute(
            "SELECT guild_id, kind, painting, chaos, background_id, cutout_ids FROM outputs WHERE id = ?",
            [output_id],
        ).fetchone()
        if row is None or row["kind"] != "muse":
            return
        for kind, key in _elements(row["painting"], row["chaos"], row["background_id"], row["cutout_ids"]):
            self.db.execute(
                "INSERT INTO element_stats (guild_id, kind, key, shown, votes) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, kind, key) DO UPDATE SET shown = shown + excluded.shown, "
                "votes = votes + excluded.votes",
                [row["guild_id"] or 0, kind, key, shown, votes],
            )

    def _backfill_element_stats(self) -> None:
        """Migration 3: build the aggregates from the outputs and votes an earlier release stored."""
        outputs = self.db.execute("SELECT id FROM outputs WHERE kind = 'muse'").fetchall()
        for output in outputs:
            voters = self.db.execute(
                "SELECT COUNT(DISTINCT user_id) FROM votes WHERE output_id = ?", [output["id"]]
            ).fetchone()[0]
            self._add_to_aggregates(output["id"], shown=1, votes=int(voters))

    # --- guild settings and daily posts ---------------------------------------------------------------

    def guild_settings(self, guild_id: int) -> GuildSettings:
        row = self.db.execute("SELECT * FROM guild_settings WHERE guild_id = ?", [guild_id]).fetchone()
        if row is None:
            return GuildSettings(guild_id=guild_id)
        record = dict(row)
        record["daily_enabled"] = bool(record["daily_enabled"])
        return GuildSettings(**record)

    def update_guild_settings(self, guild_id: int, **fields: Any) -> GuildSettings:
        self.db.table("guild_settings").upsert({"guild_id": guild_id, **fields}, pk="guild_id")
        return self.guild_settings(guild_id)

    def daily_guilds(self) -> list[GuildSettings]:
        rows = self.db.execute("SELECT guild_id FROM guild_settings WHERE daily_enabled = 1").fetchall()
        return [self.guild_settings(r[0]) for r in rows]

    def claim_daily_slot(self, guild_id: int, slot: str, when: datetime) -> bool:
        """Reserve ``slot`` for the guild; False when it was already posted (so a slot posts once)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO daily_posts (guild_id, slot, posted_at) VALUES (?, ?, ?)",
            [guild_id, slot, _iso(when)],
        )
        return cursor.rowcount == 1

    def release_daily_slot(self, guild_id: int, slot: str) -> None:
        """Forget a claimed slot whose post failed, so that it can be claimed again.

        Nothing re-arms it: the post is retried only if a later ``post_due`` (the next start, or another
        guild's tick the same day) runs while this is still the guild's latest slot.
        """
        self.db.execute(
            "DELETE FROM daily_posts WHERE guild_id = ? AND slot = ? AND message_id IS NULL", [guild_id, slot]
        )

    def finish_daily_post(
        self, guild_id: int, slot: str, *, painting: str, output_id: str | None, message_id: int
    ) -> None:
        self.db.execute(
            "UPDATE daily_posts SET painting = ?, output_id = ?, message_id = ? "
            "WHERE guild_id = ? AND slot = ?",
            [painting, output_id, message_id, guild_id, slot],
        )

    def daily_posts(self, guild_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM daily_posts WHERE guild_id = ? ORDER BY posted_at, slot", [guild_id]
        ).fetchall()
        return [dict(r) for r in rows]

    def recent_daily_paintings(self, guild_id: int, limit: int) -> list[str]:
        rows = self.db.execute(
            "SELECT painting FROM daily_posts WHERE guild_id = ? AND painting IS NOT NULL "
            "ORDER BY posted_at DESC, slot DESC LIMIT ?",
            [guild_id, limit],
        ).fetchall()
        return [r[0] for r in rows]

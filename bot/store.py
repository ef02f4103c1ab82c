"""The bot's one SQLite database: jobs, outputs, votes, guild settings, daily posts.

Every SQL statement of the bot lives here. Calls are short and synchronous on the event-loop thread, in
WAL mode. Schema changes are numbered migrations applied at open, tracked in ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

log = logging.getLogger(__name__)

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
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


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


class Store:
    """Owns the database connection and every statement the bot runs."""

    def __init__(self, path: Path | str, *, target_version: int = SCHEMA_VERSION) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.migrate(target_version)

    def close(self) -> None:
        self.db.conn.close()

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
                        self.db.execute(statement)
                    applied.append(version)
                    log.info("database migrated to %d (%s)", version, what)
            if applied:
                self.db.execute(f"PRAGMA user_version = {applied[-1]:d}")
        return applied

    # --- jobs -------------------------------------------------------------------------------------

    def insert_job(self, row: dict[str, Any]) -> None:
        record = dict(row)
        record["params"] = json.dumps(record["params"])
        self.db.table("jobs").insert(record)

    def update_job(self, job_id: str, **fields: Any) -> None:
        if "params" in fields:
            fields["params"] = json.dumps(fields["params"])
        self.db.table("jobs").update(job_id, fields)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", [job_id]).fetchone()
        return self._job(row) if row else None

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, rowid"
        ).fetchall()
        return [self._job(r) for r in rows]

    @staticmethod
    def _job(row: sqlite3.Row) -> dict[str, Any]:
        record = dict(row)
        record["params"] = json.loads(record["params"])
        return record

    # --- outputs ----------------------------------------------------------------------------------

    def insert_output(self, row: dict[str, Any]) -> None:
        record = dict(row)
        record["trace"] = json.dumps(record.get("trace") or {}, default=str)
        record["cutout_ids"] = json.dumps(record.get("cutout_ids") or [])
        if record.get("weights") is not None:
            record["weights"] = json.dumps(record["weights"])
        self.db.table("outputs").insert(record)

    def get_output(self, output_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM outputs WHERE id = ?", [output_id]).fetchone()
        return self._output(row) if row else None

    def output_by_message(self, message_id: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM outputs WHERE message_id = ?", [message_id]).fetchone()
        return self._output(row) if row else None

    @staticmethod
    def _output(row: sqlite3.Row) -> dict[str, Any]:
        record = dict(row)
        record["trace"] = json.loads(record["trace"])
        record["cutout_ids"] = json.loads(record["cutout_ids"])
        if record.get("weights"):
            record["weights"] = json.loads(record["weights"])
        return record

    # --- votes ------------------------------------------------------------------------------------

    def add_vote(self, output_id: str, user_id: int, emoji: str, when: datetime) -> None:
        """Record one reaction; a user's several emoji on one output still count as one vote."""
        self.db.execute(
            "INSERT OR IGNORE INTO votes (output_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)",
            [output_id, user_id, emoji, _iso(when)],
        )

    def remove_vote(self, output_id: str, user_id: int, emoji: str) -> None:
        self.db.execute(
            "DELETE FROM votes WHERE output_id = ? AND user_id = ? AND emoji = ?", [output_id, user_id, emoji]
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

        Kinds: ``cutout``, ``background``, ``painting``, ``chaos`` (chaos bucketed to one decimal).
        """
        where = "WHERE o.kind = 'muse'" + (" AND o.guild_id = ?" if guild_id is not None else "")
        params = [guild_id] if guild_id is not None else []
        # Votes are counted once per output (a voter's several emoji are one vote), joined, then summed per
        # element in SQL. Chaos is grouped by exact value here and bucketed to one decimal in Python, so the
        # buckets round exactly as f"{chaos:.1f}" does; a cut-out counts once per output that used it.
        rows = self.db.execute(
            f"""WITH voters AS (
                    SELECT output_id, COUNT(DISTINCT user_id) AS n FROM votes GROUP BY output_id
                ),
                shown AS (
                    SELECT o.id, o.painting, o.chaos, o.background_id, o.cutout_ids, COALESCE(v.n, 0) AS votes
                    FROM outputs o LEFT JOIN voters v ON v.output_id = o.id {where}
                )
                SELECT 'painting' AS kind, painting AS key, COUNT(*) AS shown, SUM(votes) AS votes
                    FROM shown WHERE painting IS NOT NULL GROUP BY painting
                UNION ALL
                SELECT 'background', background_id, COUNT(*), SUM(votes)
                    FROM shown WHERE background_id IS NOT NULL GROUP BY background_id
                UNION ALL
                SELECT 'chaos', chaos, COUNT(*), SUM(votes) FROM shown WHERE chaos IS NOT NULL GROUP BY chaos
                UNION ALL
                SELECT 'cutout', CAST(value AS TEXT), COUNT(*), SUM(votes)
                    FROM (SELECT DISTINCT shown.id, j.value, shown.votes
                          FROM shown, json_each(shown.cutout_ids) j)
                    GROUP BY CAST(value AS TEXT)""",
            params,
        ).fetchall()
        stats: dict[str, dict[str, tuple[int, int]]] = {
            "cutout": {},
            "background": {},
            "painting": {},
            "chaos": {},
        }
        for row in rows:
            kind = str(row["kind"])
            key = f"{float(row['key']):.1f}" if kind == "chaos" else str(row["key"])
            shown, voted = stats[kind].get(key, (0, 0))
            stats[kind][key] = (shown + int(row["shown"]), voted + int(row["votes"]))
        return stats

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

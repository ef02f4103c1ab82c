"""Store: migrations from an older database, WAL, the vote and job statements."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from bot.params import MuseParams, from_json
from bot.store import SCHEMA_VERSION, Store


def test_migrates_a_version_1_database_keeping_its_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A database made by the first release upgrades in place; old rows stay, new tables appear."""
    path = tmp_path / "old.db"
    old = Store(path, target_version=1)
    assert old.version == 1 and "votes" not in old.db.table_names()
    old.insert_job(
        {
            "id": "j1",
            "kind": "muse",
            "user_id": 1,
            "params": json.dumps({"seed": 3, "painting": "vermeer_milkmaid", "input_notes": []}),
            "status": "done",
            "created_at": "2026-01-01T00:00:00+00:00",
        }
    )
    old.insert_output(
        {
            "id": "o1",
            "job_id": "j1",
            "kind": "muse",
            "guild_id": 5,
            "message_id": 77,
            "image_path": "x.png",
            "image_sha256": "0" * 64,
            "trace": {"swaps": []},
            "created_at": "2026-01-01T00:00:00+00:00",
        }
    )
    old.close()
    new = Store(path)
    assert new.version == SCHEMA_VERSION
    assert {"votes", "guild_settings", "daily_posts"} <= set(new.db.table_names())
    job = new.get_job("j1")
    assert job is not None
    params = from_json(job["kind"], job["params"])  # a version-1 row still loads, typed
    assert isinstance(params, MuseParams) and params.seed == 3 and params.painting == "vermeer_milkmaid"
    assert new.output_by_message(77)["id"] == "o1"
    assert new.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    new.add_vote("o1", 9, "⭐", datetime(2026, 1, 1, tzinfo=UTC))
    assert new.vote_count("o1") == 1
    assert new.migrate() == []  # idempotent


def test_daily_slot_is_claimed_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Claiming a guild's slot twice fails the second time (a slot posts once, even across restarts)."""
    store = Store(tmp_path / "db.sqlite")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert store.claim_daily_slot(1, "2026-01-01", now)
    assert not store.claim_daily_slot(1, "2026-01-01", now)
    store.release_daily_slot(1, "2026-01-01")
    assert store.claim_daily_slot(1, "2026-01-01", now)


def test_daily_posts_are_in_posting_order_manual_ones_included(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A manual post made before a dated slot comes before it (slot names do not sort by time)."""
    store = Store(tmp_path / "db.sqlite")
    store.claim_daily_slot(1, "manual-20260101T100000", datetime(2026, 1, 1, 10, 0, tzinfo=UTC))
    store.finish_daily_post(1, "manual-20260101T100000", painting="early", output_id=None, message_id=1)
    store.claim_daily_slot(1, "2026-01-02", datetime(2026, 1, 2, 9, 0, tzinfo=UTC))
    store.finish_daily_post(1, "2026-01-02", painting="late", output_id=None, message_id=2)
    assert [p["slot"] for p in store.daily_posts(1)] == ["manual-20260101T100000", "2026-01-02"]
    assert store.recent_daily_paintings(1, 1) == ["late"]


def test_top_outputs_rank_reinterpretations_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An upscale or masks reply is not a separate entry of /muse-top."""
    store = Store(tmp_path / "db.sqlite")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    for index, kind in enumerate(["muse", "upscale", "masks"]):
        store.insert_output(
            {
                "id": f"o{index}",
                "kind": kind,
                "guild_id": 5,
                "message_id": 100 + index,
                "image_path": "x.png",
                "image_sha256": "0" * 64,
                "trace": {},
                "created_at": when.isoformat(),
            }
        )
        store.add_vote(f"o{index}", 9, "⭐", when)
    assert [r["id"] for r in store.top_outputs(5, None)] == ["o0"]


V1_SCHEMA = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id INTEGER NOT NULL, guild_id INTEGER,
    channel_id INTEGER, source_message_id INTEGER, response_message_id INTEGER, params TEXT NOT NULL,
    status TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0, error TEXT, output_id TEXT,
    created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT);
CREATE INDEX jobs_status ON jobs(status);
CREATE TABLE outputs (id TEXT PRIMARY KEY, job_id TEXT, kind TEXT NOT NULL, user_id INTEGER,
    guild_id INTEGER, channel_id INTEGER, message_id INTEGER UNIQUE, painting TEXT, seed INTEGER,
    chaos REAL, background TEXT, image_path TEXT NOT NULL, image_sha256 TEXT NOT NULL, input_path TEXT,
    trace TEXT NOT NULL, cutout_ids TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL);
CREATE INDEX outputs_guild ON outputs(guild_id, created_at);
INSERT INTO jobs VALUES ('j1', 'muse', 1, 5, 6, NULL, NULL, '{"seed": 3}', 'queued', 1, NULL, NULL,
    '2026-01-01T00:00:00+00:00', NULL, NULL);
INSERT INTO outputs VALUES ('o1', 'j1', 'muse', 1, 5, 6, 77, 'vermeer_milkmaid', 3, 0.2, 'keep', 'x.png',
    '0000', NULL, '{"swaps": []}', '["cut01"]', '2026-01-01T00:00:00+00:00');
PRAGMA user_version = 1;
"""


def test_migrates_a_release_1_file_written_without_this_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A rollback-journal v1 file (as release 1 wrote it, by plain SQL) opens, upgrades, keeps rows."""
    import sqlite3

    path = tmp_path / "release1.db"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [row["id"] for row in store.unfinished_jobs()] == ["j1"], "an unfinished job is still resumed"
    output = store.output_by_message(77)
    assert output is not None and output["cutout_ids"] == ["cut01"] and output["weights"] is None
    assert store.element_stats(5)["painting"] == {"vermeer_milkmaid": (1, 0)}
    store.close()


def test_a_failed_migration_changes_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Migrations run in one transaction: a bad statement leaves the old schema and version intact."""
    import pytest

    from bot import store as store_module

    path = tmp_path / "db.sqlite"
    Store(path).close()
    next_version = SCHEMA_VERSION + 1
    broken_step = (next_version, "broken", ["CREATE TABLE extra (x)", "NOT SQL AT ALL"])
    broken = [*store_module.MIGRATIONS, broken_step]
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", next_version)
    with pytest.raises(Exception, match="syntax"):
        Store(path, target_version=next_version)
    monkeypatch.undo()
    store = Store(path)
    assert store.version == SCHEMA_VERSION and "extra" not in store.db.table_names()
    store.close()


def test_a_database_from_a_newer_release_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Opening a schema newer than the code fails loudly instead of writing rows it does not understand."""
    import sqlite3

    import pytest

    from bot.store import SchemaTooNew

    path = tmp_path / "future.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        Store(path)


def test_votes_and_jobs_commit_before_the_call_returns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Autocommit + WAL: another connection sees each write at once (what makes kill -9 safe)."""
    import sqlite3

    store = Store(tmp_path / "db.sqlite")
    store.insert_output(
        {"id": "o1", "kind": "muse", "image_path": "x", "image_sha256": "0", "created_at": "2026"}
    )
    store.add_vote("o1", 1, "⭐", datetime(2026, 1, 1, tzinfo=UTC))
    other = sqlite3.connect(tmp_path / "db.sqlite")
    assert other.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 1
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    store.close()


def _reference_element_stats(store: Store, guild_id: int | None) -> dict[str, dict[str, tuple[int, int]]]:
    """element_stats as it was written first (a per-output vote subquery, summed in Python)."""
    where = "WHERE o.kind = 'muse'" + (" AND o.guild_id = ?" if guild_id is not None else "")
    rows = store.db.execute(
        f"""SELECT o.painting, o.chaos, o.background_id, o.cutout_ids,
                   (SELECT COUNT(DISTINCT user_id) FROM votes v WHERE v.output_id = o.id) AS votes
            FROM outputs o {where}""",
        [guild_id] if guild_id is not None else [],
    ).fetchall()
    kinds = ("cutout", "background", "painting", "chaos")
    stats: dict[str, dict[str, tuple[int, int]]] = {kind: {} for kind in kinds}

    def bump(kind: str, key: str | None, votes: int) -> None:
        if key is None:
            return
        shown, voted = stats[kind].get(key, (0, 0))
        stats[kind][key] = (shown + 1, voted + votes)

    for row in rows:
        votes = int(row["votes"])
        bump("painting", row["painting"], votes)
        bump("background", row["background_id"], votes)
        if row["chaos"] is not None:
            bump("chaos", f"{float(row['chaos']):.1f}", votes)
        for cutout in set(json.loads(row["cutout_ids"])):
            bump("cutout", str(cutout), votes)
    return stats


def test_element_stats_match_the_reference_on_a_seeded_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The SQL aggregation gives exactly what the first (per-row) implementation gave."""
    rng = random.Random(1234)
    store = Store(tmp_path / "db.sqlite")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    paintings = [None, "", "vermeer_milkmaid", "seurat_grande_jatte", "monet_poppies"]
    cutouts = ["cut00", "cut01", "cut02", "cut03"]
    chaos_values = [None, 0.1, 0.2, 0.25, 0.3, 0.35, 0.15, 0.05, 0.45, 0.5, 0.2000001]
    for index in range(400):
        store.insert_output(
            {
                "id": f"o{index}",
                "kind": rng.choice(["muse", "muse", "muse", "upscale", "masks"]),
                "guild_id": rng.choice([None, 5, 6, 7]),
                "message_id": 1000 + index,
                "painting": rng.choice(paintings),
                "chaos": rng.choice(chaos_values),
                "background_id": rng.choice([None, "bg0", "bg1", "bg2"]),
                "cutout_ids": [rng.choice(cutouts) for _ in range(rng.randint(0, 4))],
                "image_path": "x.png",
                "image_sha256": "0" * 64,
                "trace": {},
                "created_at": when.isoformat(),
            }
        )
        for user in rng.sample(range(1, 9), rng.randint(0, 5)):
            for emoji in rng.sample(["⭐", "🔥", "👍"], rng.randint(1, 3)):
                store.add_vote(f"o{index}", user, emoji, when)
    for guild in (None, 5, 6, 7, 8):
        expected = _reference_element_stats(store, guild)
        assert store.element_stats(guild) == expected, guild
    full = store.element_stats(None)
    assert all(full[kind] for kind in ("cutout", "background", "painting", "chaos"))
    assert sum(votes for _, votes in full["painting"].values()) > 0

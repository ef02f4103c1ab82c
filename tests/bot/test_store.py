"""Store: migrations from an older database, WAL, the vote and job statements."""

from __future__ import annotations

from datetime import UTC, datetime

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
            "params": {"seed": 3},
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
    assert new.get_job("j1")["params"] == {"seed": 3}
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

"""kill -9 during a vote burst and during running jobs: after restart nothing is lost or doubled.

A child process (tests/reliability/_child.py) runs the real Store / JobQueue and acknowledges each commit
on stdout; the test SIGKILLs it at chosen points, reopens the database and checks every acknowledgement.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bot.jobs import Job, JobQueue
from bot.store import Store

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """A child process whose stdout lines are collected by a reader thread."""

    def __init__(self, db: Path, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._child", str(db), mode],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.strip())
        self._queue.put(None)

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        """Collect lines until ``predicate(lines)`` holds (or fail with the child's stderr)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(0.01, remaining))
            except queue.Empty:
                line = None
            if line is None or remaining <= 0:
                self.proc.kill()
                raise AssertionError(f"child never got there: {self.lines[-5:]} {self.stderr()}")
            self.lines.append(line)

    def kill9(self) -> None:
        """SIGKILL, then keep every line it wrote before dying."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        assert self.proc.returncode == -signal.SIGKILL

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""

    def ids(self, event: str) -> list[str]:
        return [line.split()[1] for line in self.lines if line.startswith(event + " ")]


def test_kill9_during_a_vote_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """Every acknowledged vote is there after the kill, none twice; replaying them changes nothing."""
    db = tmp_path / "votes.db"
    store = Store(db)
    store.insert_output(
        {"id": "o1", "kind": "muse", "image_path": "x.png", "image_sha256": "0" * 64, "created_at": "2026"}
    )
    store.close()
    child = Child(db, "votes")
    child.wait_for(lambda lines: len(lines) >= 400)
    child.kill9()
    acked = {int(user) for user in child.ids("voted")}

    store = Store(db)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stored = [row[0] for row in store.db.execute("SELECT user_id FROM votes WHERE output_id = 'o1'")]
    assert acked <= set(stored), "an acknowledged vote was lost"
    assert set(stored) - acked <= {max(acked) + 1}, "only the in-flight vote may be extra"
    assert len(stored) == len(set(stored)) == store.vote_count("o1"), "no vote counted twice"
    from datetime import UTC, datetime

    for user in sorted(acked)[:50]:  # the gateway replays reactions after a reconnect
        store.add_vote("o1", user, "⭐", datetime(2026, 1, 1, tzinfo=UTC))
    assert store.vote_count("o1") == len(stored)
    store.close()


class Recorder:
    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.reported: list[str] = []

    async def queued(self, job: Job, position: int, eta_s: float | None) -> None:
        return None

    async def stage(self, job: Job, stage: str) -> None:
        return None

    async def done(self, job: Job, result: Any) -> None:
        self.delivered.append(job.id)

    async def failed(self, job: Job, error: BaseException) -> None:
        self.reported.append(job.id)


async def test_kill9_during_delivery_and_during_work_every_job_is_delivered_or_reported(
    tmp_path: Path,
) -> None:
    """Kill while a result uploads, then while a job runs: each job ends delivered once or reported."""
    db = tmp_path / "jobs.db"
    first = Child(db, "submit")
    first.wait_for(lambda lines: sum(line.startswith("delivering ") for line in lines) >= 2)
    first.kill9()
    submitted = first.ids("queued")
    assert len(submitted) == 6
    cut_in_delivery = first.ids("delivering")[1]
    assert cut_in_delivery not in first.ids("delivered")

    second = Child(db, "resume")
    second.wait_for(lambda lines: sum(line.startswith("start ") for line in lines) >= 2)
    time.sleep(0.1)  # mid-work
    second.kill9()
    cut_in_work = second.ids("start")[1]
    assert second.ids("start")[0] == cut_in_delivery, "the job killed during its upload runs again"

    store = Store(db)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    recorder = Recorder()
    ran: list[str] = []

    def work(job: Job, on_stage: Any) -> Any:
        ran.append(job.id)
        return None

    final = JobQueue(store, work, max_tries=1)  # the job cut mid-work has used its one try
    resumed, reported = await final.recover(lambda job: recorder)
    await final.drain()
    await final.close()

    delivered = Counter(first.ids("delivered") + second.ids("delivered") + recorder.delivered)
    assert [job.id for job in reported] == [cut_in_work] == recorder.reported
    assert delivered[cut_in_delivery] == 1, "the result cut during its upload was delivered after all"
    for job_id in submitted:
        outcome = (delivered[job_id], job_id in recorder.reported)
        assert outcome in ((1, False), (0, True)), f"job {job_id}: delivered/reported = {outcome}"
    assert set(ran).isdisjoint(first.ids("delivered") + second.ids("delivered")), "nothing ran twice"
    statuses = dict(store.db.execute("SELECT id, status FROM jobs").fetchall())
    assert set(statuses) == set(submitted)
    assert {statuses[j] for j in submitted if j != cut_in_work} == {"done"}
    assert statuses[cut_in_work] == "failed"
    store.close()

"""Event-loop lag measurement for the burst tests and the bot benchmark (test tooling, not the package)."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field


@dataclass
class LagProbe:
    """How late a short sleep wakes while the bot works; milliseconds."""

    interval_s: float = 0.005
    samples: list[float] = field(default_factory=list)
    max_samples: int = 20_000

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            lag_ms = (time.perf_counter() - start - self.interval_s) * 1000.0
            if len(self.samples) < self.max_samples:
                self.samples.append(max(0.0, lag_ms))

    def percentile(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, math.ceil(q / 100.0 * len(ordered)) - 1))
        return ordered[index]

"""How votes steer proposals: a bounded, smoothed vote ratio per element, never zero.

For an element (a cut-out id, a background, a painting, a chaos level) that appeared in ``shown`` outputs
which gathered ``votes`` voters in total::

    ratio  = (A + votes) / (A + B + shown)          # Beta(A, B) prior, A = B = 1
    weight = clamp(ratio / (A / (A + B)), FLOOR, CAP)   # 1.0 = neutral (never shown)

- An element never shown has weight 1.0, the same as the prior: new cut-outs get their chance.
- Votes raise the weight; showing without votes lowers it, but never below FLOOR (0.2): nothing starves.
- CAP (5.0) bounds how much one popular element can crowd out the rest.

The weights go to the pipeline as ``cutout_weights`` / ``background_weights`` (relative preferences),
and paintings and chaos levels are drawn with probability proportional to their weight.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

PRIOR_A = 1.0
PRIOR_B = 1.0
FLOOR = 0.2
CAP = 5.0
CHAOS_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)

Stats = Mapping[str, tuple[int, int]]
"""``{element id: (times shown, votes)}``."""


def weight(shown: int, votes: int) -> float:
    """The bounded weight of one element (see the module docstring)."""
    ratio = (PRIOR_A + votes) / (PRIOR_A + PRIOR_B + shown)
    neutral = PRIOR_A / (PRIOR_A + PRIOR_B)
    return min(CAP, max(FLOOR, ratio / neutral))


def weights(stats: Stats) -> dict[str, float]:
    """Weight of every element in ``stats``; elements not listed are neutral (1.0) by convention."""
    return {key: round(weight(shown, votes), 4) for key, (shown, votes) in sorted(stats.items())}


def choose(candidates: Sequence[str], stats: Stats, rng: random.Random) -> str:
    """Draw one candidate with probability proportional to its weight."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    values = [weight(*stats.get(c, (0, 0))) for c in candidates]
    return rng.choices(list(candidates), weights=values, k=1)[0]


def choose_chaos(stats: Stats, rng: random.Random) -> float:
    """Draw a chaos level from CHAOS_LEVELS, steered by the votes of outputs made at each level."""
    keys = [f"{level:.1f}" for level in CHAOS_LEVELS]
    return float(choose(keys, stats, rng))

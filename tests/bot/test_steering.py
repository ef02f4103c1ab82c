"""The vote-steering rule: voted elements are chosen more, nothing ever reaches zero probability."""

from __future__ import annotations

import random
from collections import Counter

from bot import steering


def test_weights_are_bounded_and_neutral_when_unseen() -> None:
    """Unseen = 1.0; votes raise up to CAP; shown-without-votes lowers down to FLOOR, never 0."""
    assert steering.weight(0, 0) == 1.0
    assert steering.weight(1, 5) > steering.weight(1, 1) > steering.weight(1, 0)
    assert steering.weight(1000, 0) == steering.FLOOR > 0
    assert steering.weight(1, 1000) == steering.CAP


def test_voted_elements_are_chosen_more_and_unvoted_never_starve() -> None:
    """Fixed seed, 20 000 draws: the voted painting wins most often; every unvoted one keeps a share."""
    rng = random.Random(1234)
    candidates = [f"p{i}" for i in range(10)]
    stats = {"p0": (5, 12), "p1": (5, 3), "p2": (40, 0)}  # p0 loved, p1 liked, p2 shown a lot, never voted
    draws = Counter(steering.choose(candidates, stats, rng) for _ in range(20_000))
    assert draws["p0"] > draws["p1"] > draws["p3"] > draws["p2"] > 0
    total_weight = sum(steering.weight(*stats.get(c, (0, 0))) for c in candidates)
    for name in candidates:
        expected = steering.weight(*stats.get(name, (0, 0))) / total_weight
        assert expected >= steering.FLOOR / total_weight
        assert abs(draws[name] / 20_000 - expected) < 0.02


def test_chaos_levels_follow_votes() -> None:
    """Chaos levels with votes are drawn more often; all levels stay possible."""
    rng = random.Random(7)
    stats = {"0.4": (3, 9)}
    draws = Counter(steering.choose_chaos(stats, rng) for _ in range(5_000))
    assert max(draws, key=draws.__getitem__) == 0.4
    assert set(draws) == set(steering.CHAOS_LEVELS)

"""A batch over a simulated two-node Ray cluster (``ray.cluster_utils.Cluster``) uses both nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamuse.batch import run_batch
from lamuse.types import ReinterpretOptions

from .test_distributed import NAMES, _config, _folder


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, logging_level="WARNING")
    cluster.wait_for_nodes()
    yield
    ray.shutdown()
    cluster.shutdown()  # type: ignore[no-untyped-call]


@pytest.mark.ray
def test_a_batch_is_spread_over_both_nodes(two_nodes: None, tmp_path: Path, annotated_library: Path) -> None:
    import ray

    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}  # type: ignore[no-untyped-call]
    assert len(nodes) == 2
    paintings = sorted(_folder(tmp_path).iterdir())
    summary = run_batch(
        paintings,
        tmp_path / "out",
        _config(annotated_library),
        ReinterpretOptions(seed=2, size=256),
        workers="ray",
        ray_actors=2,
    )
    assert summary["failures"] == [] and len(summary["paintings"]) == len(NAMES)
    assert {w["node"] for w in summary["workers"]} == nodes
    assert {e["worker"]["node"] for e in summary["paintings"]} == nodes

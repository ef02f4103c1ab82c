"""`lamuse bench` runs end to end and reports every stage it promises (figures are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamuse.cli import main

STAGES = (
    "segment_maskrcnn_512",
    "substitute",
    "stylize_512",
    "stylize_1024",
    "upscale_x2_512",
    "reinterpret_512",
    "grid_512",
    "lamuse_chain_512",
)


@pytest.mark.slow
def test_bench_prints_the_json_contract(
    shared_data: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run per stage: device, peak RSS, each stage's median/p90 and the speed-up, as JSON."""
    assert (
        main(["bench", "--data", str(shared_data), "--library", str(annotated_library), "--runs", "1"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["device"].startswith(("cpu", "cuda")) and report["peak_rss_mb"] > 100
    for stage in STAGES:
        assert report["stages"][stage]["median_s"] > 0
        assert report["stages"][stage]["p90_s"] >= report["stages"][stage]["median_s"]
    assert report["speedup_vs_lamuse"] > 0 and report["speedup_vs_lamuse_same_segmenter"] > 0

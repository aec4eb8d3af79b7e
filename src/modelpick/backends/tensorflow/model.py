"""Graph -> keras.Model (functional), mirroring backends/torch/model.py.

The model takes the graph's input as it is (channels-first for images and waveforms) and
moves it channels-last once, inside, so that users never see the layout difference.
"""

from __future__ import annotations

import keras
from keras import layers

from ...graph import Graph, Node, Residual, Sequential, Shape
from . import layers as _layers
from .layers import LAYERS


class KerasGraphModel:
    """A keras.Model plus the map from graph paths to the Keras layers holding their weights."""

    def __init__(self, graph: Graph, keras_model: keras.Model, leaves: dict[str, list]):
        self.graph = graph
        self.keras = keras_model
        self.leaves = leaves
        self.compiled: dict = {}


def _name(path: str) -> str:
    return "n_" + path.replace(".", "_")


def _apply(node: Node, shape: Shape, x, cl: bool, path: str, leaves: dict):
    if isinstance(node, Sequential):
        for i, child in enumerate(node.nodes):
            label = child.name or f"{i}"
            x, cl = _apply(child, shape, x, cl, f"{path}.{label}" if path else label, leaves)
            shape = child.output_shape(shape)
        return x, cl
    if isinstance(node, Residual):
        a, cl_a = _apply(node.body, shape, x, cl, f"{path}.body", leaves)
        b, cl_b = _apply(node.shortcut, shape, x, cl, f"{path}.shortcut", leaves)
        if cl_a != cl_b:
            raise NotImplementedError(f"{path}: residual branches end in different layouts")
        return layers.Add(name=_name(path))([a, b]), cl_a
    try:
        builder = LAYERS[node.kind]
    except KeyError:
        raise NotImplementedError(
            f"the tensorflow backend has no layer for node kind {node.kind!r}"
        ) from None
    y, cl, weighted = builder(node, shape, x, cl, _name(path))
    leaves[path] = weighted
    return y, cl


def build_model(graph: Graph) -> KerasGraphModel:
    dtype = "int32" if graph.input_kind == "tokens" else "float32"
    inputs = keras.Input(shape=graph.input_shape, dtype=dtype, name="input")
    x, cl = inputs, False
    rank = len(graph.input_shape)
    if graph.layout in ("image", "waveform") and rank >= 2:
        x, cl = layers.Permute((*range(2, rank + 1), 1), name="to_channels_last")(x), True
    leaves: dict[str, list] = {}
    _layers._EMBEDDINGS.clear()  # a tied language-model head reads this model's embedding
    try:
        y, cl = _apply(graph.body, graph.input_shape, x, cl, "", leaves)
    finally:
        _layers._EMBEDDINGS.clear()
    if cl and len(graph.output_shape) >= 2:
        out_rank = len(graph.output_shape)
        y = layers.Permute((out_rank, *range(1, out_rank)), name="to_channels_first")(y)
    return KerasGraphModel(graph, keras.Model(inputs, y, name=_name(graph.name)), leaves)

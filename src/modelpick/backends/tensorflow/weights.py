"""Keras layers <-> canonical weights (PyTorch layouts; see backends/base.py).

The conversions: Dense kernels are transposed; convolution kernels move from (out, in, *k) to
(*k, in, out); RNN biases are summed (Keras's SimpleRNN/LSTM have one where PyTorch has two);
GRU gates are reordered (PyTorch r, z, n; Keras z, r, h).
"""

from __future__ import annotations

import numpy as np

from ...graph import Graph, cost
from ..base import Weights

_GRU_ORDER = (1, 0, 2)  # torch (r, z, n) <-> keras (z, r, h); the permutation is its own inverse


def _gates(w: np.ndarray, axis: int) -> np.ndarray:
    blocks = np.split(w, 3, axis=axis)
    return np.concatenate([blocks[i] for i in _GRU_ORDER], axis=axis)


def _conv_to_keras(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 1, 0) if w.ndim == 3 else w.transpose(2, 3, 1, 0)


def _conv_to_torch(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 1, 0) if w.ndim == 3 else w.transpose(3, 2, 0, 1)


def _rnn_to_torch(cell: str, arrays: list, suffix: str) -> dict:
    kernel, recurrent, bias = arrays
    if cell == "gru":
        return {
            f"weight_ih{suffix}": _gates(kernel, 1).T,
            f"weight_hh{suffix}": _gates(recurrent, 1).T,
            f"bias_ih{suffix}": _gates(bias[0], 0),
            f"bias_hh{suffix}": _gates(bias[1], 0),
        }
    return {
        f"weight_ih{suffix}": kernel.T,
        f"weight_hh{suffix}": recurrent.T,
        f"bias_ih{suffix}": bias,
        f"bias_hh{suffix}": np.zeros_like(bias),
    }


def _rnn_to_keras(cell: str, w: dict, suffix: str) -> list:
    wi, wh, bi, bh = (w[f"{k}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    if cell == "gru":
        return [_gates(wi.T, 1), _gates(wh.T, 1), np.stack([_gates(bi, 0), _gates(bh, 0)])]
    return [wi.T, wh.T, bi + bh]


def to_canonical(kind: str, node, layer_list: list) -> dict:
    if kind == "rnn":
        out = {}
        for i, layer in enumerate(layer_list):
            arrays = layer.get_weights()
            out.update(_rnn_to_torch(node.cell, arrays[:3], f"_l{i}"))
            if node.bidirectional:
                out.update(_rnn_to_torch(node.cell, arrays[3:], f"_l{i}_reverse"))
        return out
    (layer,) = layer_list
    if hasattr(layer, "canonical"):  # the decoder's layers keep PyTorch's layouts and names
        return {k: np.asarray(v.numpy()) for k, v in layer.canonical.items()}
    a = layer.get_weights()
    if kind == "dense":
        return {"weight": a[0].T, **({"bias": a[1]} if len(a) > 1 else {})}
    if kind in ("conv", "patch_embed"):
        return {"weight": _conv_to_torch(a[0]), **({"bias": a[1]} if len(a) > 1 else {})}
    if kind == "batch_norm":
        return dict(zip(("weight", "bias", "running_mean", "running_var"), a))
    if kind == "layer_norm":
        return {"weight": a[0], "bias": a[1]}
    if kind == "attention":
        out = {"in_weight": a[0].T, "out_weight": a[1].T}
        if len(a) > 2:
            out.update(in_bias=a[2], out_bias=a[3])
        return out
    return {"weight": a[0]}  # embedding, position/token-type table, class token


def from_canonical(kind: str, node, layer_list: list, w: dict) -> None:
    if kind == "rnn":
        for i, layer in enumerate(layer_list):
            arrays = _rnn_to_keras(node.cell, w, f"_l{i}")
            if node.bidirectional:
                arrays += _rnn_to_keras(node.cell, w, f"_l{i}_reverse")
            layer.set_weights(arrays)
        return
    (layer,) = layer_list
    if hasattr(layer, "canonical"):
        for k, var in layer.canonical.items():
            var.assign(np.asarray(w[k], dtype=var.dtype))
        return
    if kind == "dense":
        arrays = [w["weight"].T] + ([w["bias"]] if "bias" in w else [])
    elif kind in ("conv", "patch_embed"):
        arrays = [_conv_to_keras(w["weight"])] + ([w["bias"]] if "bias" in w else [])
    elif kind == "batch_norm":
        arrays = [w["weight"], w["bias"], w["running_mean"], w["running_var"]]
    elif kind == "layer_norm":
        arrays = [w["weight"], w["bias"]]
    elif kind == "attention":
        arrays = [w["in_weight"].T, w["out_weight"].T]
        if "in_bias" in w:
            arrays += [w["in_bias"], w["out_bias"]]
    else:
        arrays = [w["weight"]]
    layer.set_weights(arrays)


def _nodes(graph: Graph) -> dict:
    """path -> node, for the leaves of the graph."""
    out = {}

    def visit(node, path):
        children = node.children()
        if not children:
            out[path] = node
            return
        if node.kind == "sequential":
            for i, child in enumerate(children):
                visit(child, f"{path}.{child.name or i}" if path else f"{child.name or i}")
        else:
            visit(node.body, f"{path}.body")
            visit(node.shortcut, f"{path}.shortcut")

    visit(graph.body, "")
    return out


def get_weights(model) -> Weights:
    nodes = _nodes(model.graph)
    return {
        path: to_canonical(nodes[path].kind, nodes[path], layer_list)
        for path, layer_list in model.leaves.items()
        if layer_list
    }


def set_weights(model, weights: Weights) -> None:
    nodes = _nodes(model.graph)
    for path, layer_list in model.leaves.items():
        if layer_list:
            from_canonical(nodes[path].kind, nodes[path], layer_list, weights[path])


def summary_rows(model):
    """(path, kind, out_shape, graph params for tensorflow, framework params) per leaf."""
    rows = []
    for r in cost(model.graph, "tensorflow").rows:
        if r.leaf:
            layer_list = model.leaves.get(r.path, [])
            framework = sum(
                int(np.prod(v.shape)) for layer in layer_list for v in layer.trainable_weights
            )
            rows.append((r.path, r.kind, r.out_shape, r.cost.params, framework))
    return rows

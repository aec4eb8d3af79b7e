"""PyTorch modules <-> canonical weights (PyTorch layouts, so mostly a renaming)."""

from __future__ import annotations

import torch

from ..base import Weights

# Module state names -> canonical names (see backends/base.py).
_RENAMES = {
    "qkv.weight": "in_weight",
    "qkv.bias": "in_bias",
    "out.weight": "out_weight",
    "out.bias": "out_bias",
    "proj.weight": "weight",
    "proj.bias": "bias",
}
_SKIP = ("num_batches_tracked",)


def _canonical(key: str) -> str:
    key = _RENAMES.get(key, key)
    return key.removeprefix("rnn.")


def get_weights(leaves: dict) -> Weights:
    out: Weights = {}
    for path, module in leaves.items():
        state = {
            _canonical(k): v.detach().cpu().float().numpy().copy()
            for k, v in module.state_dict().items()
            if not k.endswith(_SKIP)
        }
        if state:
            out[path] = state
    return out


def set_weights(leaves: dict, weights: Weights) -> None:
    for path, module in leaves.items():
        state = module.state_dict()
        if not any(not k.endswith(_SKIP) for k in state):
            continue
        given = weights[path]
        new = {}
        for key, current in state.items():
            if key.endswith(_SKIP):
                new[key] = current
                continue
            value = torch.as_tensor(given[_canonical(key)], dtype=current.dtype)
            if tuple(value.shape) != tuple(current.shape):
                raise ValueError(
                    f"{path}.{key}: shape {tuple(value.shape)} != {tuple(current.shape)}"
                )
            new[key] = value
        module.load_state_dict(new)

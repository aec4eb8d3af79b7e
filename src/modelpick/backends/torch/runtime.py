"""Devices, precisions, inputs, losses and the training step for PyTorch."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import UnavailableError
from ...graph import Graph

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def devices() -> tuple[str, ...]:
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def precisions() -> dict[str, tuple[str, ...]]:
    out = {"cpu": ("fp32", "bf16")}  # CPU autocast runs bf16 (fast only with AVX-512 BF16/AMX)
    if torch.cuda.is_available():
        bf16 = ("bf16",) if torch.cuda.is_bf16_supported() else ()
        out["cuda"] = ("fp32", *bf16, "fp16")
    return out


def check(device: str, precision: str) -> None:
    if device not in devices():
        cuda = "available" if torch.cuda.is_available() else "not available"
        raise UnavailableError(
            f"device {device!r} is not available to PyTorch here "
            f"(torch {torch.__version__}, CUDA {cuda})"
        )
    if precision not in precisions()[device]:
        raise UnavailableError(
            f"{precision} is not supported on {device} by this PyTorch; "
            f"use one of {', '.join(precisions()[device])}"
        )


def autocast(device: str, precision: str):
    """Mixed precision: fp32 weights, matmuls and convolutions in the reduced type."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=DTYPES[precision])


def make_inputs(graph: Graph, batch: int, device: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, *graph.input_shape)
    if graph.input_kind == "tokens":
        x = torch.randint(0, graph.vocab_size, shape, generator=gen)
    else:
        x = torch.randn(shape, generator=gen)
    x = x.to(device)
    if device == "cuda" and graph.layout == "image":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def make_targets(graph: Graph, batch: int, device: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed + 1)
    out_shape = graph.output_shape
    if graph.task == "regression":
        return torch.randn((batch, *out_shape), generator=gen).to(device)
    if out_shape[-1] == 1:  # one sigmoid unit for two classes
        return torch.randint(0, 2, (batch, *out_shape), generator=gen).float().to(device)
    return torch.randint(0, out_shape[-1], (batch, *out_shape[:-1]), generator=gen).to(device)


def loss_fn(graph: Graph, outputs, targets):
    outputs = outputs.float()
    if graph.task == "regression":
        return F.mse_loss(outputs, targets)
    final = graph.final_activation
    if outputs.shape[-1] == 1:
        if final == "sigmoid":
            return F.binary_cross_entropy(outputs.clamp(1e-7, 1 - 1e-7), targets)
        return F.binary_cross_entropy_with_logits(outputs, targets)
    flat = outputs.reshape(-1, outputs.shape[-1])
    if final == "softmax":  # the seeds end in softmax: cross-entropy on probabilities
        return F.nll_loss(torch.log(flat.clamp_min(1e-7)), targets.reshape(-1))
    return F.cross_entropy(flat, targets.reshape(-1))


def to_batch(graph: Graph, device: str, x, y=None):
    tokens = graph.input_kind == "tokens"
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64 if tokens else np.float32))
    xt = xt.to(device)
    if device == "cuda" and graph.layout == "image":
        xt = xt.contiguous(memory_format=torch.channels_last)
    if y is None:
        return xt, None
    out_shape = graph.output_shape
    y = np.asarray(y)
    if graph.task == "regression":
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32).reshape(len(y), *out_shape))
    elif out_shape[-1] == 1:  # one sigmoid unit for two classes
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32).reshape(len(y), 1))
    else:
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    return xt, yt.to(device)


CHECKPOINT = "model.pt"


def save_state(model, directory) -> str:
    directory = Path(directory)
    tmp = directory / (CHECKPOINT + ".partial")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, directory / CHECKPOINT)
    return CHECKPOINT


def load_state(model, directory, device: str) -> None:
    state = torch.load(Path(directory) / CHECKPOINT, map_location=device, weights_only=True)
    model.load_state_dict(state)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_memory_bytes(device: str) -> int | None:
    return int(torch.cuda.max_memory_allocated()) if device == "cuda" else None

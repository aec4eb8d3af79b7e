"""Devices, precisions, inputs, losses and the training step for TensorFlow (Keras 3)."""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ...errors import UnavailableError
from ...graph import Graph
from ..quiet import quiet_stderr

POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@functools.cache
def devices() -> tuple[str, ...]:
    with quiet_stderr():  # the first device query logs from C++ when no driver is found
        gpus = tf.config.list_physical_devices("GPU")
    return ("cpu", "cuda") if gpus else ("cpu",)


def precisions() -> dict[str, tuple[str, ...]]:
    out = {"cpu": ("fp32", "bf16")}
    if "cuda" in devices():
        out["cuda"] = ("fp32", "bf16", "fp16")
    return out


def check(device: str, precision: str) -> None:
    if device not in devices():
        raise UnavailableError(
            f"device {device!r} is not available to TensorFlow here "
            f"(tensorflow {tf.__version__}, no GPU visible)"
        )
    if precision not in precisions()[device]:
        raise UnavailableError(
            f"{precision} is not supported on {device} by this TensorFlow; "
            f"use one of {', '.join(precisions()[device])}"
        )


def placement(device: str):
    return tf.device("/GPU:0" if device == "cuda" else "/CPU:0")


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Mixed precision for the layers built inside: fp32 variables, reduced compute."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_inputs(graph: Graph, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = (batch, *graph.input_shape)
    if graph.input_kind == "tokens":
        return rng.integers(0, graph.vocab_size, shape).astype("int32")
    return rng.standard_normal(shape).astype("float32")


def make_targets(graph: Graph, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed + 1)
    out_shape = graph.output_shape
    if graph.task == "regression":
        return rng.standard_normal((batch, *out_shape)).astype("float32")
    if out_shape[-1] == 1:
        return rng.integers(0, 2, (batch, *out_shape)).astype("float32")
    return rng.integers(0, out_shape[-1], (batch, *out_shape[:-1])).astype("int32")


def loss_fn(graph: Graph):
    if graph.task == "regression":
        return keras.losses.MeanSquaredError()
    final = graph.final_activation
    if graph.output_shape[-1] == 1:
        return keras.losses.BinaryCrossentropy(from_logits=final != "sigmoid")
    return keras.losses.SparseCategoricalCrossentropy(from_logits=final != "softmax")


def to_batch(graph: Graph, x, y=None):
    tokens = graph.input_kind == "tokens"
    xt = tf.constant(np.asarray(x, dtype="int32" if tokens else "float32"))
    if y is None:
        return xt, None
    out_shape = graph.output_shape
    y = np.asarray(y)
    if graph.task == "regression":
        yt = y.astype("float32").reshape(len(y), *out_shape)
    elif out_shape[-1] == 1:  # one sigmoid unit for two classes
        yt = y.astype("float32").reshape(len(y), 1)
    else:
        yt = y.astype("int32")
    return xt, tf.constant(yt)


CHECKPOINT = "model.keras"


def save_state(model, directory) -> str:
    directory = Path(directory)
    tmp = directory / ("partial-" + CHECKPOINT)  # Keras wants the .keras suffix
    # Keras 3.x's own saving code trips numpy 2's __array__(copy=) DeprecationWarning; not ours
    with quiet_stderr(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="keras")
        model.save(tmp)
    os.replace(tmp, directory / CHECKPOINT)
    return CHECKPOINT


def load_state(model, directory) -> None:
    with quiet_stderr():
        model.load_weights(Path(directory) / CHECKPOINT)


def synchronize(device: str) -> None:
    if device == "cuda" and hasattr(tf.experimental, "sync_devices"):
        tf.experimental.sync_devices()


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory_bytes(device: str) -> int | None:
    if device != "cuda":
        return None
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])

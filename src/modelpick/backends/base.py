"""The Backend protocol: what `build` and `bench` need from a framework, and nothing more.

A backend is a mapping table (one builder per graph node kind, in its `layers.py`) plus the
runtime pieces below. Both backends keep the same module names (`layers`, `model`, `weights`,
`runtime`) and the same mapping keys, as Keras 3's backends do.

Weights cross between frameworks in one canonical form: for each graph node path, a dict of
numpy arrays in PyTorch's layouts (Linear weight (out, in); Conv weight (out, in/groups, *k);
RNN weights named and gate-ordered as torch.nn.LSTM/GRU/RNN name them; attention as one
in-projection (3D, D) and one out-projection (D, D)). Each backend converts to and from it.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple, Protocol

from ..graph import Graph

Weights = dict[str, dict[str, Any]]  # node path -> name -> numpy array (PyTorch layout)


class DeviceOutOfMemory(Exception):
    """The device ran out of memory; each backend translates its framework's OOM into this."""


@contextlib.contextmanager
def translate_oom(*framework_errors: type[BaseException]):
    """Raise DeviceOutOfMemory for the framework's out-of-memory errors (and MemoryError),
    "from None": a kept traceback would hold the failed step's tensors alive."""
    try:
        yield
    except (*framework_errors, MemoryError) as exc:
        raise DeviceOutOfMemory(str(exc)) from None


class LayerRow(NamedTuple):
    """One line of a built model's summary; the same fields for every backend."""

    path: str
    kind: str
    output_shape: tuple[int, ...]
    params_graph: int
    params_framework: int


class Built(NamedTuple):
    """A framework model made from a Graph, with what the runtime needs to drive it."""

    graph: Graph
    model: Any
    backend: str
    device: str
    precision: str


class Backend(Protocol):
    name: str
    framework: str  # the pip distribution that provides it
    DEVICES: tuple[str, ...]  # devices this build of the framework can use here
    PRECISIONS: dict[str, tuple[str, ...]]  # device -> precisions it supports

    def version(self) -> str: ...

    def build(self, graph: Graph, device: str = "cpu", precision: str = "fp32") -> Built: ...

    def count_params(self, built: Built) -> tuple[int, int]:
        """(trainable, non-trainable) parameters of the framework model."""
        ...

    def summary(self, built: Built) -> list[LayerRow]: ...

    def get_weights(self, built: Built) -> Weights: ...

    def set_weights(self, built: Built, weights: Weights) -> None: ...

    def make_inputs(self, built: Built, batch: int, seed: int = 0) -> Any: ...

    def make_targets(self, built: Built, batch: int, seed: int = 0) -> Any: ...

    def forward(self, built: Built, inputs: Any) -> Any:
        """Inference-mode forward pass at the built precision."""
        ...

    def to_numpy(self, outputs: Any) -> Any: ...

    def make_optimizer(self, built: Built) -> Any:
        """The optimizer the memory prediction assumes (AdamW)."""
        ...

    def train_step(self, built: Built, optimizer: Any, inputs: Any, targets: Any) -> float:
        """Loss, backward, optimizer step; returns the loss."""
        ...

    def synchronize(self, built: Built) -> None: ...

    def reset_peak_memory(self, built: Built) -> None: ...

    def peak_memory_bytes(self, built: Built) -> int | None:
        """The allocator's peak on a GPU; None where the framework cannot tell (CPU)."""
        ...

"""Layer node types: each knows its output shape and its own cost.

Shapes exclude the batch dimension. Convolutional tensors are channels-first, `(C, L)` or
`(C, H, W)`; sequences are `(L, D)`; token ids are `(L,)`. A backend that prefers another layout
converts inside itself; the graph does not change.

Counting conventions (docs/cost.md gives the derivations):
- `macs` counts multiply-accumulates of matrix products, convolutions, RNN gates and attention;
  `flops` = 2 × macs + element-wise work, with the per-element counts in `ELEMENTWISE_FLOPS`.
- `params` are trainable parameters *as the given backend creates them*; `buffers` are
  non-trainable state (BatchNorm running statistics), which Keras counts in `count_params()`
  and PyTorch keeps out of `parameters()`.
- `saved_elems` counts, per sample at fp32, what the node alone keeps for the backward pass
  (its input, statistics, indices, attention's Q/K/V). What a training step really holds
  depends on the neighbours and the precision (an in-place ReLU, a tensor two nodes keep, the
  casts of mixed precision): `train_saves` says what a node holds in context, and
  graph/memory.py follows the tensors through a whole step (docs/cost.md, docs/predictions.md).

This module holds the base `Node`, its cost record and the containers (`Sequential`,
`Residual`); the layer kinds live beside it: `core` (dense, normalisation, activation, dropout,
reshapes), `conv` (convolution, pooling), `embedding` (token, position and patch embeddings) and
`sequence` (attention, recurrent layers, sequence pooling).
"""

from __future__ import annotations

import math
from typing import NamedTuple

Shape = tuple[int, ...]

BACKENDS = ("torch", "tensorflow")

# FLOPs per element for element-wise work. Conventions, not measurements: transcendental
# functions count 4 (a common convention, e.g. in the roofline literature), GELU's tanh form 8.
ELEMENTWISE_FLOPS = {
    "identity": 0,
    "relu": 1,
    "sigmoid": 4,
    "tanh": 4,
    "gelu": 8,
    "softmax": 5,  # max-subtract, exp, sum, divide (+ exp counted 2)
    "layer_norm": 8,  # mean, centre, square, variance, rsqrt, scale, shift
    "batch_norm": 2,  # inference form: one fused scale and shift
    "add": 1,
}
ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh", "gelu", "softmax")


class ShapeError(ValueError):
    """Shapes that do not fit together; the message names the node."""


def numel(shape: Shape) -> int:
    return math.prod(shape) if shape else 1


class TrainContext(NamedTuple):
    """What a node's training-memory rule needs to know about where it runs (graph/memory.py).

    `in_bytes`: bytes per element of the tensor coming in; `in_grad`: whether that tensor needs
    a gradient (not the raw input batch); `prev`: the kind of the node before it in its
    Sequential ("" at the start), for PyTorch's in-place ReLU."""

    backend: str = "torch"
    device: str = "cpu"
    precision: str = "fp32"
    batch: int = 1
    in_bytes: int = 4
    in_grad: bool = True
    prev: str = ""

    @property
    def autocast(self) -> bool:
        """Mixed precision: matmuls and convolutions run in 2-byte types, weights stay fp32."""
        return self.precision in ("bf16", "fp16")

    @property
    def low_bytes(self) -> int:
        return 2 if self.autocast else 4


class Saves(NamedTuple):
    """What one node holds in a training step, as its backend runs it (all sizes in bytes, at
    the context's batch). graph/memory.py follows these through the step.

    out: "new" (a fresh output tensor of `out_bytes` per element), "view" (the output shares its
    input's storage: flatten, transpose, a slice) or "inplace" (the output overwrites the input).
    saves_input: keeps its input tensor for backward; `input_copy` > 0 instead keeps a copy of
    the input in that many bytes per element (mixed precision's cast). saves_output: keeps its
    output. `extra`: bytes of other tensors it keeps (weight casts, masks, pooling indices,
    statistics, attention's Q/K/V, recurrent workspaces). `backward_scratch`: bytes its
    backward holds beyond the incoming and outgoing gradients and the weight gradients.
    `param_tensors`: the element counts of its parameter tensors (for the optimizer).
    `out_storage`: where the output is a slice of a larger new tensor (an RNN's last step),
    the bytes of that tensor, which whoever keeps the slice keeps whole."""

    out: str = "new"
    out_bytes: int = 4
    saves_input: bool = False
    input_copy: int = 0
    saves_output: bool = False
    extra: int = 0
    backward_scratch: int = 0
    param_tensors: tuple[int, ...] = ()
    out_storage: int = 0  # bytes of the storage a "new" output keeps alive (0: its own size)


def matmul_saves(
    ctx: TrainContext, weight: int, tensors: tuple[int, ...], weight_always: bool
) -> Saves:
    """A matrix product or convolution in training: it keeps its input (for the weight
    gradient). Under mixed precision it runs in the 2-byte type: it keeps a 2-byte cast of an
    fp32 input instead, and the 2-byte cast of its weight (a convolution always; a matrix
    product only when its input needs a gradient), and its backward makes the weight gradient
    in 2 bytes before casting it to the fp32 `.grad`."""
    if not ctx.autocast:
        return Saves(out_bytes=4, saves_input=True, param_tensors=tensors)
    keep = dict(saves_input=True) if ctx.in_bytes == 2 else dict(input_copy=2)
    cast = 2 * weight if (weight_always or ctx.in_grad) else 0
    return Saves(
        out_bytes=2, extra=cast, backward_scratch=2 * sum(tensors), param_tensors=tensors, **keep
    )


class NodeCost(NamedTuple):
    params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    saved_elems: int = 0
    kernels: int = 1  # kernel launches per forward pass (0: a view, no work of its own)
    variant: str = ""  # a finer timing class within the kind (RNN cell, activation function)


def _class_defaults(cls) -> set[str]:
    """Fields that have a default somewhere in the class chain."""
    return {k for k in cls._fields if any(k in c.__dict__ for c in cls.__mro__)}


class Node:
    """Base of every layer node. Subclasses declare fields as annotated class attributes (a
    value is the default) and override `output_shape` and `cost`.

    Nodes are immutable value objects, like frozen dataclasses, but built by one shared
    `__init__`: a frozen dataclass costs ~1.5 ms per class to create, and there are twenty node
    classes on the path of every `modelpick recommend`. `name` is keyword-only.
    """

    _fields: tuple[str, ...] = ()
    kind = "node"
    name: str = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        own = [k for k in cls.__dict__.get("__annotations__", {}) if k not in ("name", "kind")]
        cls._fields = cls._fields + tuple(
            k for k in own if not k.startswith("_") and k not in cls._fields
        )

    def __init__(self, *args, name: str = "", **kwargs) -> None:
        cls = type(self)
        if len(args) > len(cls._fields):
            raise TypeError(f"{cls.__name__}() takes {len(cls._fields)} positional arguments")
        values = dict(zip(cls._fields, args))
        for key, value in kwargs.items():
            if key not in cls._fields or key in values:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        for key in cls._fields:
            if key not in values:
                if key not in _class_defaults(cls):
                    raise TypeError(f"{cls.__name__}() missing argument {key!r}")
                values[key] = getattr(cls, key)
        values["name"] = name
        self.__dict__.update(values)
        self.__post_init__()

    def __post_init__(self) -> None:
        pass

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple:
        return (type(self), self.name, *(self.__dict__[k] for k in self._fields))

    def __eq__(self, other) -> bool:
        return isinstance(other, Node) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={self.__dict__[k]!r}" for k in self._fields)
        named = f", name={self.name!r}" if self.name else ""
        return f"{type(self).__name__}({args}{named})"

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(kernels=0)

    def children(self) -> tuple[Node, ...]:
        return ()

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        """What this node holds in a training step (`Saves`); a node without its own rule
        passes its input through."""
        return Saves(out="view", out_bytes=ctx.in_bytes)


class Sequential(Node):
    nodes: tuple[Node, ...] = ()
    kind = "sequential"

    def output_shape(self, shape: Shape) -> Shape:
        for node in self.nodes:
            shape = node.output_shape(shape)
        return shape

    def children(self) -> tuple[Node, ...]:
        return self.nodes


class Residual(Node):
    """`body(x) + shortcut(x)`; an empty shortcut is the identity (He et al. 2016)."""

    body: Sequential
    shortcut: Sequential = Sequential()
    kind = "residual"

    def output_shape(self, shape: Shape) -> Shape:
        out = self.body.output_shape(shape)
        skip = self.shortcut.output_shape(shape)
        if out != skip:
            raise ShapeError(f"residual: body gives {out} but shortcut gives {skip}")
        return out

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        n = numel(self.output_shape(shape))
        return NodeCost(flops=ELEMENTWISE_FLOPS["add"] * n, saved_elems=0)

    def children(self) -> tuple[Node, ...]:
        return (self.body, self.shortcut)


def seq(*nodes: Node, name: str = "") -> Sequential:
    """Shorthand for a Sequential that flattens nested tuples of nodes."""
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, (list, tuple)):
            flat.extend(node)
        else:
            flat.append(node)
    return Sequential(nodes=tuple(flat), name=name)

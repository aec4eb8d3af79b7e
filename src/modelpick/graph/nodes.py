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
- `saved_elems` approximates what autograd keeps for the backward pass (output activations,
  plus gate and projection intermediates for RNNs and attention).
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


def _conv_out(n: int, kernel: int, stride: int, padding: int, who: str) -> int:
    out = (n + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ShapeError(
            f"{who}: input length {n} is too small for kernel {kernel}, stride {stride}"
        )
    return out


class Dense(Node):
    """Fully connected layer on the last axis (torch `nn.Linear`, Keras `Dense`)."""

    units: int
    bias: bool = True
    kind = "dense"

    def output_shape(self, shape: Shape) -> Shape:
        if not shape:
            raise ShapeError("dense: needs at least one axis")
        return (*shape[:-1], self.units)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        rows = numel(shape[:-1])
        macs = rows * shape[-1] * self.units
        return NodeCost(
            params=shape[-1] * self.units + (self.units if self.bias else 0),
            macs=macs,
            flops=2 * macs,
            saved_elems=rows * self.units,
        )


class Conv(Node):
    """N-d convolution, channels-first. `padding`: an int per side, "same" or "valid" (0)."""

    ndim: int
    filters: int
    kernel: int
    stride: int = 1
    padding: int | str = 0
    groups: int = 1
    bias: bool = True
    kind = "conv"

    def _pad(self) -> int:
        if self.padding == "same":
            return (self.kernel - 1) // 2
        if self.padding == "valid":
            return 0
        return int(self.padding)

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != self.ndim + 1:
            raise ShapeError(f"conv{self.ndim}d: expects (C, {self.ndim} spatial), got {shape}")
        if shape[0] % self.groups or self.filters % self.groups:
            raise ShapeError(f"conv{self.ndim}d: channels not divisible by groups {self.groups}")
        spatial = tuple(
            _conv_out(n, self.kernel, self.stride, self._pad(), f"conv{self.ndim}d")
            for n in shape[1:]
        )
        return (self.filters, *spatial)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        out = self.output_shape(shape)
        per_out = (shape[0] // self.groups) * self.kernel**self.ndim
        macs = numel(out) * per_out
        return NodeCost(
            params=self.filters * per_out + (self.filters if self.bias else 0),
            macs=macs,
            flops=2 * macs,
            saved_elems=numel(out),
        )


class Pool(Node):
    """Max or average pooling over the spatial axes of a channels-first tensor."""

    ndim: int
    op: str = "max"  # max | avg
    kernel: int = 2
    stride: int = 0  # 0: same as kernel
    padding: int = 0
    kind = "pool"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != self.ndim + 1:
            raise ShapeError(f"{self.op}pool{self.ndim}d: expects (C, spatial…), got {shape}")
        stride = self.stride or self.kernel
        who = f"{self.op}pool{self.ndim}d"
        return (
            shape[0],
            *(_conv_out(n, self.kernel, stride, self.padding, who) for n in shape[1:]),
        )

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        out = numel(self.output_shape(shape))
        return NodeCost(flops=out * self.kernel**self.ndim, saved_elems=out)


class GlobalPool(Node):
    """Mean or max over every spatial axis: (C, *spatial) -> (C,)."""

    op: str = "avg"
    kind = "global_pool"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) < 2:
            raise ShapeError(f"global_pool: expects (C, spatial…), got {shape}")
        return (shape[0],)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(flops=numel(shape), saved_elems=shape[0])


class SeqPool(Node):
    """Sequence to vector: (L, D) -> (D,) by mean, the first (class) token, or the last step."""

    op: str = "mean"  # mean | first | last
    kind = "seq_pool"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"seq_pool: expects (L, D), got {shape}")
        return (shape[1],)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(flops=numel(shape) if self.op == "mean" else 0, saved_elems=shape[1])


class BatchNorm(Node):
    """Batch normalisation over the channel axis (axis 0 of a channels-first tensor)."""

    kind = "batch_norm"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        c = shape[0]
        n = numel(shape)
        return NodeCost(
            params=2 * c,
            buffers=2 * c,
            flops=ELEMENTWISE_FLOPS["batch_norm"] * n,
            saved_elems=n,
        )


class LayerNorm(Node):
    """Layer normalisation over the last axis, with scale and shift."""

    eps: float = 1e-5
    kind = "layer_norm"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        n = numel(shape)
        return NodeCost(
            params=2 * shape[-1], flops=ELEMENTWISE_FLOPS["layer_norm"] * n, saved_elems=n
        )


class Activation(Node):
    fn: str = "relu"
    kind = "activation"

    def __post_init__(self) -> None:
        if self.fn not in ACTIVATIONS:
            raise ShapeError(f"activation: unknown function {self.fn!r}")

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        n = numel(shape)
        return NodeCost(
            flops=ELEMENTWISE_FLOPS[self.fn] * n,
            saved_elems=0 if self.fn == "identity" else n,
            variant=self.fn,  # relu and erf-based gelu differ far more than their FLOP counts
        )


class Dropout(Node):
    """Dropout: identity at inference; its mask is kept for backward in training."""

    rate: float = 0.1
    kind = "dropout"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        # Identity at inference (no kernel); its mask is kept for backward in training.
        return NodeCost(saved_elems=numel(shape) if self.rate > 0 else 0, kernels=0)


class Flatten(Node):
    kind = "flatten"

    def output_shape(self, shape: Shape) -> Shape:
        return (numel(shape),)


class SwapAxes(Node):
    """(L, D) <-> (D, L): between sequence layout and channels-first convolution layout."""

    kind = "swap_axes"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"swap_axes: expects two axes, got {shape}")
        return (shape[1], shape[0])


class Embedding(Node):
    """Token ids (L,) -> vectors (L, D)."""

    vocab_size: int
    dim: int
    kind = "embedding"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 1:
            raise ShapeError(f"embedding: expects token ids (L,), got {shape}")
        return (shape[0], self.dim)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(params=self.vocab_size * self.dim, saved_elems=0)


class PositionEmbedding(Node):
    """Learned absolute positions added to (L, D); L may be shorter than `max_len`."""

    max_len: int
    kind = "position_embedding"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"position_embedding: expects (L, D), got {shape}")
        if shape[0] > self.max_len:
            raise ShapeError(
                f"position_embedding: sequence of {shape[0]} exceeds max_len {self.max_len}"
            )
        return shape

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(params=self.max_len * shape[1], flops=numel(shape), saved_elems=0)


class TokenTypeEmbedding(Node):
    """BERT's segment embedding, for single-segment input: row 0 added to every position."""

    types: int = 2
    kind = "token_type_embedding"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(params=self.types * shape[-1], flops=numel(shape), saved_elems=0)


class ClassToken(Node):
    """Prepends one learned token: (L, D) -> (L + 1, D) (ViT, Dosovitskiy et al. 2021)."""

    kind = "class_token"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"class_token: expects (L, D), got {shape}")
        return (shape[0] + 1, shape[1])

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(params=shape[1], saved_elems=0, kernels=2)  # expand, concatenate


class PatchEmbed(Node):
    """Non-overlapping patches to tokens: (C, *spatial) -> (N, dim); a strided convolution."""

    ndim: int
    dim: int
    patch: int
    kind = "patch_embed"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != self.ndim + 1:
            raise ShapeError(f"patch_embed: expects (C, {self.ndim} spatial), got {shape}")
        counts = [n // self.patch for n in shape[1:]]
        if min(counts) < 1:
            raise ShapeError(
                f"patch_embed: input {shape[1:]} is smaller than one patch {self.patch}"
            )
        return (numel(tuple(counts)), self.dim)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        out = self.output_shape(shape)
        per_out = shape[0] * self.patch**self.ndim
        macs = numel(out) * per_out
        return NodeCost(
            params=self.dim * per_out + self.dim,
            macs=macs,
            flops=2 * macs,
            saved_elems=numel(out),
            kernels=2,  # the strided conv, then tokens-first (a copy)
        )


class Attention(Node):
    """Multi-head self-attention with Q, K, V and output projections (Vaswani et al. 2017).

    Counted in full: the four projections (4·L·D²) and the two products QKᵀ and AV (2·L²·D),
    which counters that only hook nn.Linear miss.
    """

    dim: int
    heads: int
    bias: bool = True
    kind = "attention"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2 or shape[1] != self.dim:
            raise ShapeError(f"attention: expects (L, {self.dim}), got {shape}")
        if self.dim % self.heads:
            raise ShapeError(f"attention: dim {self.dim} not divisible by {self.heads} heads")
        return shape

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        length, d = shape
        proj_macs = 4 * length * d * d
        attn_macs = 2 * length * length * d
        scores = self.heads * length * length
        macs = proj_macs + attn_macs
        return NodeCost(
            params=4 * d * d + (4 * d if self.bias else 0),
            macs=macs,
            flops=2 * macs + (ELEMENTWISE_FLOPS["softmax"] + 1) * scores,  # +1: the 1/sqrt(d) scale
            # q, k, v, attention output and the projection output; fused attention kernels
            # (scaled_dot_product_attention) keep no L×L matrix, so none is counted.
            saved_elems=5 * length * d,
            kernels=5,  # in-projection, fused attention, head merge (a copy), out-projection
        )


# Gates per cell and element-wise FLOPs per hidden unit per step (bias adds, gate nonlinearities
# at 4, products and sums at 1).
RNN_GATES = {"simple": 1, "lstm": 4, "gru": 3}
RNN_ELEMENTWISE = {"lstm": 28, "gru": 21}  # simple cells: bias add + their activation


def rnn_layer_params(cell: str, input_size: int, hidden: int, backend: str) -> int:
    """Parameters of one direction of one recurrent layer, as `backend` creates them.

    PyTorch (nn.RNN/LSTM/GRU docs): weight_ih (g·H×I), weight_hh (g·H×H), bias_ih and bias_hh
    (g·H each): two bias vectors for every cell. Keras 3: SimpleRNN and LSTM carry one bias of
    g·H; GRU with its default reset_after=True carries two (input and recurrent), like PyTorch.
    """
    g = RNN_GATES[cell]
    weights = g * hidden * (input_size + hidden)
    two_biases = backend == "torch" or cell == "gru"
    return weights + (2 if two_biases else 1) * g * hidden


class RNN(Node):
    """A stack of recurrent layers over (L, I), optionally bidirectional.

    Returns the whole sequence (L, H·dirs) or, with `return_sequences=False`, the last step's
    output (H·dirs,) (for a bidirectional layer the backward direction's output at step 0).
    """

    cell: str
    hidden: int
    layers: int = 1
    bidirectional: bool = False
    return_sequences: bool = False
    activation: str = "tanh"  # simple cells only
    kind = "rnn"

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"rnn: expects (L, features), got {shape}")
        if self.cell not in RNN_GATES:
            raise ShapeError(f"rnn: unknown cell {self.cell!r}")
        width = self.hidden * self.directions
        return (shape[0], width) if self.return_sequences else (width,)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        length, features = shape
        g, h, dirs = RNN_GATES[self.cell], self.hidden, self.directions
        params = macs = 0
        for layer in range(self.layers):
            inp = features if layer == 0 else h * dirs
            params += dirs * rnn_layer_params(self.cell, inp, h, backend)
            macs += dirs * length * g * h * (inp + h)
        per_unit = RNN_ELEMENTWISE.get(self.cell, 1 + ELEMENTWISE_FLOPS.get(self.activation, 4))
        elementwise = self.layers * dirs * length * h * per_unit
        return NodeCost(
            params=params,
            macs=macs,
            flops=2 * macs + elementwise,
            saved_elems=self.layers * dirs * length * h * (g + 1),
            # One recurrent step per time step, layer and direction: the sequential part that
            # no batch size hides (cuDNN/oneDNN fuse better; calibration absorbs the difference).
            kernels=self.layers * dirs * length,
            variant=self.cell,
        )


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

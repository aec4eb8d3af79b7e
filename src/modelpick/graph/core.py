"""Per-position layers: dense, normalisation, activation, dropout and reshapes."""

from __future__ import annotations

from .nodes import (
    ACTIVATIONS,
    ELEMENTWISE_FLOPS,
    Node,
    NodeCost,
    Saves,
    Shape,
    ShapeError,
    TrainContext,
    matmul_saves,
    numel,
)

# Kinds whose output PyTorch's backend lets a following ReLU overwrite (backends/torch/model.py).
TORCH_INPLACE_RELU_AFTER = ("conv", "dense", "batch_norm", "layer_norm", "residual")


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
            saved_elems=numel(shape),  # its input, kept for the weight gradient
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        weight = shape[-1] * self.units
        tensors = (weight, self.units) if self.bias else (weight,)
        return matmul_saves(ctx, weight, tensors, weight_always=False)


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
            saved_elems=n + 2 * c,  # its input, the batch mean and inverse deviation
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        c = shape[0]
        return Saves(out_bytes=ctx.in_bytes, saves_input=True, extra=8 * c, param_tensors=(c, c))


class LayerNorm(Node):
    """Layer normalisation over the last axis, with scale and shift."""

    eps: float = 1e-5
    kind = "layer_norm"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        n = numel(shape)
        rows = numel(shape[:-1])
        return NodeCost(  # saved: its input, a mean and an inverse deviation per row
            params=2 * shape[-1],
            flops=ELEMENTWISE_FLOPS["layer_norm"] * n,
            saved_elems=n + 2 * rows,
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        rows = numel(shape[:-1]) * ctx.batch
        d = shape[-1]
        return Saves(out_bytes=ctx.in_bytes, saves_input=True, extra=8 * rows, param_tensors=(d, d))


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
            # relu, sigmoid, tanh and softmax keep their output; gelu its input
            saved_elems=0 if self.fn == "identity" else n,
            variant=self.fn,  # relu and erf-based gelu differ far more than their FLOP counts
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        if self.fn == "identity":
            return Saves(out="view", out_bytes=ctx.in_bytes)
        if self.fn == "gelu":
            return Saves(out_bytes=ctx.in_bytes, saves_input=True)
        inplace = (
            self.fn == "relu" and ctx.backend == "torch" and ctx.prev in TORCH_INPLACE_RELU_AFTER
        )
        return Saves(out="inplace" if inplace else "new", out_bytes=ctx.in_bytes, saves_output=True)


class Dropout(Node):
    """Dropout: identity at inference; its mask is kept for backward in training."""

    rate: float = 0.1
    kind = "dropout"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        # Identity at inference (no kernel); its mask is kept for backward in training (on a
        # CPU PyTorch keeps it as a scaled noise tensor of the input's type).
        return NodeCost(saved_elems=numel(shape) if self.rate > 0 else 0, kernels=0)

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        if self.rate <= 0:
            return Saves(out="view", out_bytes=ctx.in_bytes)  # F.dropout(p=0) returns its input
        n = numel(shape) * ctx.batch
        # PyTorch on CUDA keeps a bool mask (native_dropout); on a CPU, input * noise keeps
        # the noise tensor, in the input's type.
        mask = n if (ctx.backend == "torch" and ctx.device == "cuda") else n * ctx.in_bytes
        return Saves(out_bytes=ctx.in_bytes, extra=mask)


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

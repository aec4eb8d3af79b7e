"""Per-position layers: dense, normalisation, activation, dropout and reshapes."""

from __future__ import annotations

from .nodes import ACTIVATIONS, ELEMENTWISE_FLOPS, Node, NodeCost, Shape, ShapeError, numel


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

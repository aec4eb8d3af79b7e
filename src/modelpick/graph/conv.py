"""Convolution and pooling over channels-first tensors, `(C, L)` or `(C, H, W)`.

Every spatial axis follows the formula PyTorch and Keras share, `(n + 2·padding − kernel) //
stride + 1` (`_conv_out`), and an axis that would shrink below one element is a `ShapeError`.
`GlobalPool` ends the spatial part of a network: `(C, *spatial)` -> `(C,)`.
"""

from __future__ import annotations

from .nodes import Node, NodeCost, Saves, Shape, ShapeError, TrainContext, matmul_saves, numel


def _conv_out(n: int, kernel: int, stride: int, padding: int, who: str) -> int:
    out = (n + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ShapeError(
            f"{who}: input length {n} is too small for kernel {kernel}, stride {stride}"
        )
    return out


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
            saved_elems=numel(shape),  # its input, kept for the weight gradient
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        weight = self.filters * (shape[0] // self.groups) * self.kernel**self.ndim
        tensors = (weight, self.filters) if self.bias else (weight,)
        s = matmul_saves(ctx, weight, tensors, weight_always=True)
        if ctx.backend == "torch" and ctx.device == "cpu":
            # oneDNN's backward reorders its input and the incoming gradient into its own
            # blocked layout, and makes the weight gradient in it before copying it out (under
            # autocast that copy is the 2-byte gradient `matmul_saves` already counts)
            b, eb = ctx.batch, s.out_bytes
            moved = b * eb * (numel(shape) + numel(self.output_shape(shape)))
            moved += 0 if ctx.autocast else 4 * weight
            s = s._replace(backward_scratch=s.backward_scratch + moved)
        return s


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
        # Its input; max pooling also the argmax indices (int64 in PyTorch: 2 elements' worth).
        indices = 2 * out if self.op == "max" else 0
        return NodeCost(flops=out * self.kernel**self.ndim, saved_elems=numel(shape) + indices)

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        out = numel(self.output_shape(shape)) * ctx.batch
        indices = 8 * out if self.op == "max" else 0
        return Saves(out_bytes=ctx.in_bytes, saves_input=True, extra=indices)


class GlobalPool(Node):
    """Mean or max over every spatial axis: (C, *spatial) -> (C,)."""

    op: str = "avg"
    kind = "global_pool"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) < 2:
            raise ShapeError(f"global_pool: expects (C, spatial…), got {shape}")
        return (shape[0],)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        # A mean keeps nothing (its backward needs only the shape); a max its input and output.
        saved = numel(shape) + shape[0] if self.op == "max" else 0
        return NodeCost(flops=numel(shape), saved_elems=saved)

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        keep = self.op == "max"
        return Saves(out_bytes=ctx.in_bytes, saves_input=keep, saves_output=keep)

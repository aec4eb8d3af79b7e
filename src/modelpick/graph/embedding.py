"""Embeddings: the layers that turn input into tokens `(L, D)` or add learned vectors to them.

`Embedding` maps token ids `(L,)` to vectors and `PatchEmbed` cuts a channels-first image or
waveform into patch tokens; `PositionEmbedding` and `TokenTypeEmbedding` add a learned table and
keep the shape; `ClassToken` prepends one learned token.
"""

from __future__ import annotations

from .nodes import Node, NodeCost, Saves, Shape, ShapeError, TrainContext, matmul_saves, numel


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

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        # Keeps the token ids, which are the batch itself; the lookup is fp32 under autocast.
        return Saves(out_bytes=4, param_tensors=(self.vocab_size * self.dim,))


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

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        return Saves(out_bytes=ctx.in_bytes, param_tensors=(self.max_len * shape[1],))


class TokenTypeEmbedding(Node):
    """BERT's segment embedding, for single-segment input: row 0 added to every position."""

    types: int = 2
    kind = "token_type_embedding"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(params=self.types * shape[-1], flops=numel(shape), saved_elems=0)

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        return Saves(out_bytes=ctx.in_bytes, param_tensors=(self.types * shape[-1],))


class ClassToken(Node):
    """Prepends one learned token: (L, D) -> (L + 1, D) (ViT, Dosovitskiy et al. 2021)."""

    kind = "class_token"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"class_token: expects (L, D), got {shape}")
        return (shape[0] + 1, shape[1])

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(params=shape[1], saved_elems=0, kernels=2)  # expand, concatenate

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        return Saves(out_bytes=ctx.in_bytes, param_tensors=(shape[1],))


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
            saved_elems=numel(shape),  # its input, kept for the weight gradient
            kernels=2,  # the strided conv, then tokens-first (a copy)
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        weight = self.dim * shape[0] * self.patch**self.ndim
        return matmul_saves(ctx, weight, (weight, self.dim), weight_always=True)

"""Decoder-only language-model layers: RMSNorm, grouped-query causal attention with rotary
positions and an optional sliding window, SwiGLU and mixture-of-experts feed-forwards, and the
language-model head (tied to the token embedding or not).

Parameter counts follow the Hugging Face `transformers` implementations that the canonical
catalog entries are tested against (GPT-2, Llama, Mistral, Mixtral, Qwen2), built on the `meta`
device (tests/graph/test_decoder.py). Counting conventions (docs/llm.md):

- causal attention over L tokens attends Σᵢ min(i, W) query-key pairs (W the sliding window, or
  L): the work a causal kernel does, not the L² a masked dense product would;
- rotary embeddings cost 3 FLOPs per element of Q and K (two products and a sum), no parameters;
- a mixture of experts counts every expert's parameters in `params` and only the
  `experts_per_token` experts a token visits (plus the router) in MACs; `active_params` says how
  many parameters one token uses.
"""

from __future__ import annotations

from .nodes import ELEMENTWISE_FLOPS, Node, NodeCost, Saves, Shape, ShapeError, TrainContext, numel

RMS_NORM_FLOPS = 4  # square, mean, rsqrt, scale (per element)
SILU_GATE_FLOPS = 5  # sigmoid (4) and the product with the up-projection (1)
ROPE_FLOPS = 3  # x·cos + rotate(x)·sin per element of Q and K


def causal_pairs(length: int, window: int = 0) -> int:
    """Query-key pairs of causal attention over `length` tokens, each query seeing at most
    `window` keys (itself included; 0: no window)."""
    if not window or window >= length:
        return length * (length + 1) // 2
    return window * (window + 1) // 2 + (length - window) * window


class RMSNorm(Node):
    """Root-mean-square normalisation with a learned scale, no shift (Zhang & Sennrich 2019;
    Llama's `LlamaRMSNorm`)."""

    eps: float = 1e-6
    kind = "rms_norm"

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        n = numel(shape)
        return NodeCost(
            params=shape[-1], flops=RMS_NORM_FLOPS * n, saved_elems=n + numel(shape[:-1])
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        rows = numel(shape[:-1]) * ctx.batch
        return Saves(
            out_bytes=ctx.in_bytes, saves_input=True, extra=4 * rows, param_tensors=(shape[-1],)
        )


class CausalAttention(Node):
    """Causal self-attention with `kv_heads` key/value heads shared by groups of query heads
    (grouped-query attention, Ainslie et al. 2023; `kv_heads == heads` is multi-head,
    1 is multi-query). `rope`: rotary positions on Q and K (Su et al. 2021). `window`: each
    token attends to at most that many previous tokens (Mistral's sliding window; 0 = none).
    Biases: `qkv_bias` on the Q/K/V projections (Qwen2, GPT-2), `out_bias` on the output
    projection (GPT-2)."""

    dim: int
    heads: int
    kv_heads: int
    head_dim: int
    qkv_bias: bool = False
    out_bias: bool = False
    rope: bool = True
    window: int = 0
    rope_theta: float = 10_000.0  # the rotary base (no cost; the backends need it)
    kind = "causal_attention"

    def __post_init__(self) -> None:
        if self.heads % self.kv_heads:
            raise ShapeError(
                f"causal_attention: {self.heads} heads are not a multiple of "
                f"{self.kv_heads} kv_heads"
            )

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2 or shape[1] != self.dim:
            raise ShapeError(f"causal_attention: expects (L, {self.dim}), got {shape}")
        return shape

    def param_count(self) -> int:
        d, q, kv = self.dim, self.q_dim, self.kv_dim
        weights = d * (q + 2 * kv) + q * d
        return weights + (q + 2 * kv if self.qkv_bias else 0) + (d if self.out_bias else 0)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        length, d = shape
        q, kv = self.q_dim, self.kv_dim
        pairs = causal_pairs(length, self.window)
        proj = length * d * (q + 2 * kv) + length * q * d
        attn = 2 * pairs * q  # QKᵀ and AV, every query head
        macs = proj + attn
        rope = ROPE_FLOPS * length * (q + kv) if self.rope else 0
        return NodeCost(
            params=self.param_count(),
            macs=macs,
            flops=2 * macs + (ELEMENTWISE_FLOPS["softmax"] + 1) * self.heads * pairs + rope,
            # its input, Q, K, V, the attention output, a log-sum-exp per head and position
            saved_elems=length * (d + 2 * q + 2 * kv) + self.heads * length,
            kernels=6 if self.rope else 5,
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        length, d = shape
        q, kv, b, lb = self.q_dim, self.kv_dim, ctx.batch, ctx.low_bytes
        tensors = [d * q, d * kv, d * kv, q * d]
        if self.qkv_bias:
            tensors += [q, kv, kv]
        if self.out_bias:
            tensors.append(d)
        kept = b * (length * (2 * q + 2 * kv) * lb + self.heads * length * 4)
        if not ctx.autocast:
            return Saves(out_bytes=4, saves_input=True, extra=kept, param_tensors=tuple(tensors))
        keep = dict(saves_input=True) if ctx.in_bytes == 2 else dict(input_copy=2)
        return Saves(
            out_bytes=2,
            extra=kept + 2 * (d * (q + 2 * kv) + q * d),
            backward_scratch=2 * sum(tensors),
            param_tensors=tuple(tensors),
            **keep,
        )


class GatedMLP(Node):
    """SwiGLU feed-forward: down(silu(gate(x)) · up(x)) (Shazeer 2020; Llama's `LlamaMLP`)."""

    dim: int
    ffn: int
    bias: bool = False
    kind = "gated_mlp"

    def output_shape(self, shape: Shape) -> Shape:
        if shape[-1] != self.dim:
            raise ShapeError(f"gated_mlp: expects last axis {self.dim}, got {shape}")
        return shape

    def param_count(self) -> int:
        return 3 * self.dim * self.ffn + (2 * self.ffn + self.dim if self.bias else 0)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        rows = numel(shape[:-1])
        macs = 3 * rows * self.dim * self.ffn
        return NodeCost(
            params=self.param_count(),
            macs=macs,
            flops=2 * macs + SILU_GATE_FLOPS * rows * self.ffn,
            saved_elems=rows * (self.dim + 3 * self.ffn),  # input, gate, up, their product
            kernels=4,
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        rows, b = numel(shape[:-1]), ctx.batch
        d, f = self.dim, self.ffn
        tensors = (d * f, d * f, f * d)
        return Saves(
            out_bytes=ctx.low_bytes,
            saves_input=True,
            extra=b * rows * 3 * f * ctx.low_bytes,
            param_tensors=tensors,
        )


class MoE(Node):
    """Mixture of SwiGLU experts with a linear router choosing `top_k` per token (Shazeer et al.
    2017; Mixtral, Jiang et al. 2024: 8 experts, 2 per token, router without bias)."""

    dim: int
    ffn: int
    experts: int
    top_k: int
    kind = "moe"

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= self.experts:
            raise ShapeError(f"moe: experts_per_token {self.top_k} not in 1..{self.experts}")

    def output_shape(self, shape: Shape) -> Shape:
        if shape[-1] != self.dim:
            raise ShapeError(f"moe: expects last axis {self.dim}, got {shape}")
        return shape

    def param_count(self) -> int:
        return self.experts * 3 * self.dim * self.ffn + self.dim * self.experts

    def active_param_count(self) -> int:
        return self.top_k * 3 * self.dim * self.ffn + self.dim * self.experts

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        rows = numel(shape[:-1])
        macs = rows * (self.dim * self.experts + self.top_k * 3 * self.dim * self.ffn)
        return NodeCost(
            params=self.param_count(),
            macs=macs,
            flops=2 * macs + rows * self.top_k * (SILU_GATE_FLOPS * self.ffn + self.dim),
            saved_elems=rows * (self.dim + self.experts + self.top_k * 3 * self.ffn),
            kernels=3 + 4 * self.experts,
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        rows, b = numel(shape[:-1]), ctx.batch
        d, f = self.dim, self.ffn
        tensors = (d * self.experts, *((d * f, d * f, f * d) * self.experts))
        return Saves(
            out_bytes=ctx.low_bytes,
            saves_input=True,
            extra=b * rows * (self.experts * 4 + self.top_k * (3 * f + d) * ctx.low_bytes),
            param_tensors=tensors,
        )


class LMHead(Node):
    """Logits over the vocabulary. `tied`: the token embedding's matrix is reused (GPT-2,
    Qwen2-0.5B), so the head adds no parameters; untied heads (Llama, Mistral) add vocab × dim."""

    vocab: int
    tied: bool = False
    kind = "lm_head"

    def output_shape(self, shape: Shape) -> Shape:
        return (*shape[:-1], self.vocab)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        rows = numel(shape[:-1])
        macs = rows * shape[-1] * self.vocab
        return NodeCost(
            params=0 if self.tied else shape[-1] * self.vocab,
            macs=macs,
            flops=2 * macs,
            saved_elems=numel(shape),
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        w = shape[-1] * self.vocab
        return Saves(
            out_bytes=4 if not ctx.autocast else 2,
            saves_input=True,
            param_tensors=() if self.tied else (w,),
        )

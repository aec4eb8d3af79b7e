"""Decoder-only language models (GPT-2, Llama, Mistral, Qwen2, Mixtral style), for the task
`generation`: token ids in, next-token logits out.

The hyperparameter names are a contract (docs/llm.md): `dim`, `depth`, `heads`, `kv_heads`,
`ffn`, `vocab`, `context`, `norm`, `mlp`, `positions`, `bias`, `qkv_bias`, `tie_embeddings`,
`sliding_window`, `experts`, `experts_per_token`. Pre-norm blocks (Radford et al. 2019 moved
the norm before each sub-block; Llama keeps it):

    x = embed(tokens) [+ learned positions]
    depth × { x = x + attention(norm(x));  x = x + mlp(norm(x)) }
    logits = lm_head(norm(x))
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..graph import Activation, Dense, Embedding, Graph, LayerNorm, Node, PositionEmbedding, seq
from ..graph.decoder import CausalAttention, GatedMLP, LMHead, MoE, RMSNorm
from ..graph.nodes import Residual
from .base import Auto, Depth, HParams, IOSpec, Unsupported, Width

Count = Annotated[int, Field(ge=0, le=2**24)]


class DecoderParams(HParams):
    dim: Width = 768
    depth: Depth = 12
    heads: Width = 12
    kv_heads: Auto = 0  # 0: = heads (multi-head attention)
    head_dim: Auto = 0  # 0: dim / heads
    ffn: Auto = 0  # 0: 4 × dim
    vocab: Auto = 0  # 0: the profile's input.vocab_size
    context: Auto = 0  # 0: the profile's input.seq_len; the longest context the model serves
    norm: Literal["layer", "rms"] = "rms"
    norm_eps: Annotated[float, Field(gt=0.0, lt=1.0)] = 1e-5
    mlp: Literal["gelu", "swiglu"] = "swiglu"
    positions: Literal["learned", "rope"] = "rope"
    rope_theta: Annotated[float, Field(gt=0.0, le=1e12)] = 10_000.0
    bias: bool = False  # biases in every linear layer (GPT-2)
    qkv_bias: bool = False  # biases on the Q/K/V projections only (Qwen2)
    tie_embeddings: bool = False
    sliding_window: Count = 0  # 0: full causal attention
    experts: Count = 0  # 0: a dense feed-forward; else a mixture of this many experts
    experts_per_token: Count = 0

    @model_validator(mode="after")
    def _consistent(self) -> DecoderParams:
        if self.heads % (self.kv_heads or self.heads):
            raise ValueError(f"heads {self.heads} must be a multiple of kv_heads {self.kv_heads}")
        if not self.head_dim and self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by {self.heads} heads")
        if self.experts and not 1 <= self.experts_per_token <= self.experts:
            raise ValueError("experts_per_token must be from 1 to experts")
        if not self.experts and self.experts_per_token:
            raise ValueError("experts_per_token needs experts")
        if self.experts and self.mlp != "swiglu":
            raise ValueError("experts are SwiGLU feed-forwards: set mlp: swiglu")
        return self

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def head_size(self) -> int:
        return self.head_dim or self.dim // self.heads

    @property
    def ffn_dim(self) -> int:
        return self.ffn or 4 * self.dim


def _norm(hp: DecoderParams, name: str) -> Node:
    if hp.norm == "rms":
        return RMSNorm(hp.norm_eps, name=name)
    return LayerNorm(hp.norm_eps, name=name)


def _mlp(hp: DecoderParams, i: int) -> list[Node]:
    if hp.experts:
        return [MoE(hp.dim, hp.ffn_dim, hp.experts, hp.experts_per_token, name=f"l{i}_moe")]
    if hp.mlp == "swiglu":
        return [GatedMLP(hp.dim, hp.ffn_dim, hp.bias, name=f"l{i}_mlp")]
    return [
        Dense(hp.ffn_dim, hp.bias, name=f"l{i}_fc"),
        Activation("gelu", name=f"l{i}_gelu"),
        Dense(hp.dim, hp.bias, name=f"l{i}_proj"),
    ]


def context_of(hp: DecoderParams, io: IOSpec) -> int:
    return hp.context or io.shape[0]


def build_graph(name: str, hp: DecoderParams, io: IOSpec) -> Graph:
    if io.layout != "tokens":
        raise Unsupported("a decoder reads token ids (domain text)")
    vocab = hp.vocab or io.vocab_size
    context = context_of(hp, io)
    if io.shape[0] > context:
        raise Unsupported(f"seq_len {io.shape[0]:,} is longer than its context of {context:,}")
    nodes: list[Node] = [Embedding(vocab, hp.dim, name="embed")]
    if hp.positions == "learned":
        nodes.append(PositionEmbedding(context, name="positions"))
    for i in range(hp.depth):
        attn = CausalAttention(
            hp.dim,
            hp.heads,
            hp.n_kv_heads,
            hp.head_size,
            qkv_bias=hp.bias or hp.qkv_bias,
            out_bias=hp.bias,
            rope=hp.positions == "rope",
            window=hp.sliding_window,
            rope_theta=hp.rope_theta,
            name=f"l{i}_attn",
        )
        nodes.append(Residual(seq(_norm(hp, f"l{i}_norm1"), attn), name=f"l{i}_attn_block"))
        nodes.append(Residual(seq(_norm(hp, f"l{i}_norm2"), *_mlp(hp, i)), name=f"l{i}_mlp_block"))
    nodes.append(_norm(hp, "final_norm"))
    nodes.append(LMHead(vocab, hp.tie_embeddings, name="lm_head"))
    return Graph(
        name=name,
        input_shape=io.shape,
        body=seq(nodes),
        input_kind="tokens",
        vocab_size=vocab,
        layout="tokens",
        task="generation",
    )

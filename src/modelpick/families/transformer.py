"""Transformer encoders (Vaswani et al. 2017) with a front end per input layout:

- tokens: token + learned position embeddings (BERT, Devlin et al. 2019);
- image: ViT patches, class token, learned positions (Dosovitskiy et al. 2021; torchvision's
  `vision_transformer.py`, whose parameter counts the canonical entries reproduce);
- waveform: non-overlapping frames embedded by a strided 1-D conv (as wav2vec-style encoders do
  with a conv stem; here one layer);
- sequence: patches of time steps (PatchTST, Nie et al. 2023), one step per token by default.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..graph import (
    Activation,
    Attention,
    ClassToken,
    Dense,
    Dropout,
    Embedding,
    Graph,
    LayerNorm,
    Node,
    PatchEmbed,
    PositionEmbedding,
    Residual,
    SeqPool,
    SwapAxes,
    TokenTypeEmbedding,
    seq,
)
from .base import Auto, Depth, Fraction, HParams, IOSpec, Unsupported, Width, head

# Attention is quadratic in length; past this many tokens an encoder without sparse or
# windowed attention is the wrong tool.
MAX_TOKENS = 8192


class TransformerParams(HParams):
    dim: Width = 256
    depth: Depth = 4
    heads: Auto = 0  # 0: dim / 64 (at least 1), the head size of BERT and ViT
    ffn: Auto = 0  # 0: 4 × dim
    norm: Literal["pre", "post"] = "pre"
    activation: Literal["gelu", "relu"] = "gelu"
    pool: Literal["cls", "mean"] = "cls"
    patch: Auto = 0  # 0: chosen from the input (see _patch)
    max_len: Auto = 0  # text: 0 = the profile's seq_len
    token_types: Annotated[int, Field(ge=0, le=1024)] = 0  # BERT's segment embeddings
    embed_norm: bool = False  # BERT: LayerNorm after the embeddings
    pooler: bool = False  # BERT: Dense + tanh on the first token
    norm_eps: Annotated[float, Field(gt=0.0, lt=1.0)] = 1e-6
    dropout: Fraction = 0.1

    @property
    def n_heads(self) -> int:
        return self.heads or max(1, self.dim // 64)

    @property
    def ffn_dim(self) -> int:
        return self.ffn or 4 * self.dim


def _patch(hp: TransformerParams, io: IOSpec) -> int:
    if hp.patch:
        return hp.patch
    if io.layout == "image":
        return 16 if min(io.shape[1:]) >= 128 else 4
    if io.layout == "waveform":
        return io.frame
    return 1 if io.shape[0] <= 512 else -(-io.shape[0] // 512)


def _front(hp: TransformerParams, io: IOSpec) -> list[Node]:
    drop = [Dropout(hp.dropout)] if hp.dropout else []
    if io.layout == "tokens":
        max_len = hp.max_len or io.shape[0]
        nodes: list[Node] = [Embedding(io.vocab_size, hp.dim, name="token_embedding")]
        if hp.token_types:
            nodes.append(TokenTypeEmbedding(hp.token_types))
        nodes.append(PositionEmbedding(max_len))
        if hp.embed_norm:
            nodes.append(LayerNorm(hp.norm_eps))
        return nodes + drop  # the tokenizer's first token ([CLS]) is the class token
    if io.layout == "vector":
        raise Unsupported(
            "a transformer encoder needs a sequence, an image or audio, not a feature vector"
        )
    if io.layout == "image":
        nodes = [PatchEmbed(2, hp.dim, _patch(hp, io))]
    else:
        nodes = [SwapAxes()] if io.layout == "sequence" else []
        nodes.append(PatchEmbed(1, hp.dim, _patch(hp, io)))
    return nodes


def _encoder_layer(hp: TransformerParams) -> list[Node]:
    def drop() -> list[Node]:
        return [Dropout(hp.dropout)] if hp.dropout else []

    attn = [Attention(hp.dim, hp.n_heads), *drop()]
    ffn = [Dense(hp.ffn_dim), Activation(hp.activation), *drop(), Dense(hp.dim), *drop()]
    if hp.norm == "pre":
        return [
            Residual(seq(LayerNorm(hp.norm_eps), *attn)),
            Residual(seq(LayerNorm(hp.norm_eps), *ffn)),
        ]
    return [
        Residual(seq(*attn)),
        LayerNorm(hp.norm_eps),
        Residual(seq(*ffn)),
        LayerNorm(hp.norm_eps),
    ]


def build_graph(name: str, hp: TransformerParams, io: IOSpec) -> Graph:
    if hp.dim % hp.n_heads:
        raise Unsupported(f"dim {hp.dim} is not divisible by {hp.n_heads} heads")
    nodes = _front(hp, io)
    if io.layout != "tokens":
        # Learned positions for patch/frame tokens; a class token first when pooling on it.
        tokens = nodes[-1].output_shape(_shape_before(nodes, io))[0]
        if hp.pool == "cls":
            nodes.append(ClassToken())
            tokens += 1
        nodes.append(PositionEmbedding(tokens))
        if hp.dropout:
            nodes.append(Dropout(hp.dropout))
    tokens = seq(*nodes).output_shape(io.shape)[0]
    if tokens > MAX_TOKENS:
        raise Unsupported(
            f"{tokens:,} tokens per sample is past {MAX_TOKENS:,}, where full self-attention's "
            "quadratic cost dominates; use a larger patch or a shorter input"
        )
    for _ in range(hp.depth):
        nodes += _encoder_layer(hp)
    if hp.norm == "pre":
        nodes.append(LayerNorm(hp.norm_eps, name="final_norm"))
    nodes.append(SeqPool("first" if hp.pool == "cls" else "mean"))
    if hp.pooler:
        nodes += [Dense(hp.dim, name="pooler"), Activation("tanh")]
    if hp.dropout and hp.pooler:
        nodes.append(Dropout(hp.dropout))
    nodes += head(hp, io)
    return Graph(
        name, io.shape, seq(*nodes), io.input_kind, io.vocab_size, layout=io.layout, task=io.task
    )


def _shape_before(nodes: list[Node], io: IOSpec):
    return seq(*nodes[:-1]).output_shape(io.shape)

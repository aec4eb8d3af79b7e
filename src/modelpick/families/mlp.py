"""Multi-layer perceptrons: tabular features, or any small input flattened; over tokens, a
bag of embeddings (fastText, Joulin et al. 2017)."""

from __future__ import annotations

from typing import Literal

from ..graph import (
    Activation,
    BatchNorm,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Graph,
    Node,
    SeqPool,
    seq,
)
from .base import Depth, HParams, IOSpec, Width, Widths, head


class MLPParams(HParams):
    # `hidden` lists the hidden layers' widths; when empty, `depth` layers of `width`.
    hidden: Widths | None = None
    width: Width = 256
    depth: Depth = 2
    activation: Literal["relu", "gelu", "tanh", "sigmoid"] = "relu"
    batch_norm: bool = False
    embed_dim: Width = 64

    @property
    def widths(self) -> tuple[int, ...]:
        return self.hidden if self.hidden is not None else (self.width,) * self.depth


def build_graph(name: str, hp: MLPParams, io: IOSpec) -> Graph:
    if io.layout == "tokens":
        nodes: list[Node] = [Embedding(io.vocab_size, hp.embed_dim), SeqPool("mean")]
    elif len(io.shape) > 1:
        nodes = [Flatten()]
    else:
        nodes = []
    for units in hp.widths:
        nodes.append(Dense(units, bias=not hp.batch_norm))
        if hp.batch_norm:
            nodes.append(BatchNorm())
        nodes.append(Activation(hp.activation))
        if hp.dropout:
            nodes.append(Dropout(hp.dropout))
    nodes += head(hp, io)
    return Graph(
        name, io.shape, seq(*nodes), io.input_kind, io.vocab_size, layout=io.layout, task=io.task
    )

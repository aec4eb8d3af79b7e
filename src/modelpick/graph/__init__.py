"""Backend-neutral layer graph: node types, shape inference and exact cost."""

from .cost import Graph, GraphCost, NodeRow, cost, walk
from .nodes import (
    ACTIVATIONS,
    BACKENDS,
    RNN,
    Activation,
    Attention,
    BatchNorm,
    ClassToken,
    Conv,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalPool,
    LayerNorm,
    Node,
    NodeCost,
    PatchEmbed,
    Pool,
    PositionEmbedding,
    Residual,
    SeqPool,
    Sequential,
    Shape,
    ShapeError,
    SwapAxes,
    TokenTypeEmbedding,
    numel,
    rnn_layer_params,
    seq,
)

__all__ = [
    "ACTIVATIONS", "BACKENDS", "RNN", "Activation", "Attention", "BatchNorm", "ClassToken",
    "Conv", "Dense", "Dropout", "Embedding", "Flatten", "GlobalPool", "Graph", "GraphCost",
    "LayerNorm", "Node", "NodeCost", "NodeRow", "PatchEmbed", "Pool", "PositionEmbedding",
    "Residual", "SeqPool", "Sequential", "Shape", "ShapeError", "SwapAxes", "TokenTypeEmbedding",
    "cost", "numel", "rnn_layer_params", "seq", "walk",
]

"""Backend-neutral layer graph: node types, shape inference and exact cost."""

from .conv import Conv, GlobalPool, Pool
from .core import Activation, BatchNorm, Dense, Dropout, Flatten, LayerNorm, SwapAxes
from .cost import Graph, GraphCost, NodeRow, cost, walk
from .embedding import ClassToken, Embedding, PatchEmbed, PositionEmbedding, TokenTypeEmbedding
from .memory import TrainMemory, train_memory
from .nodes import (
    ACTIVATIONS,
    BACKENDS,
    Node,
    NodeCost,
    Residual,
    Saves,
    Sequential,
    Shape,
    ShapeError,
    TrainContext,
    numel,
    seq,
)
from .sequence import RNN, Attention, SeqPool, rnn_layer_params

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "RNN",
    "Activation",
    "Attention",
    "BatchNorm",
    "ClassToken",
    "Conv",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalPool",
    "Graph",
    "GraphCost",
    "LayerNorm",
    "Node",
    "NodeCost",
    "NodeRow",
    "PatchEmbed",
    "Pool",
    "PositionEmbedding",
    "Residual",
    "Saves",
    "SeqPool",
    "Sequential",
    "Shape",
    "ShapeError",
    "SwapAxes",
    "TokenTypeEmbedding",
    "TrainContext",
    "TrainMemory",
    "cost",
    "numel",
    "rnn_layer_params",
    "seq",
    "train_memory",
    "walk",
]

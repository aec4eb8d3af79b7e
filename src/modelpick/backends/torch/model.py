"""Graph -> nn.Module: the node tree becomes a module tree of the same shape.

Every leaf module is registered under its graph path (dots become "/"-free names), so that
summaries, weight transfer and per-node timings all speak the graph's language.
"""

from __future__ import annotations

from torch import nn

from ...graph import Graph, Node, Residual, Sequential, Shape
from .layers import LAYERS


class SequentialModule(nn.Module):
    def __init__(self, children: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(children)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class ResidualModule(nn.Module):
    def __init__(self, body: nn.Module, shortcut: nn.Module):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class GraphModule(nn.Module):
    """The model for one Graph. `leaves` maps each graph path to its module."""

    def __init__(self, graph: Graph):
        super().__init__()
        self.graph_name = graph.name
        self.leaves: dict[str, nn.Module] = {}
        self.body = _build(graph.body, graph.input_shape, "", self.leaves)
        # a tied language-model head reads the token embedding's matrix
        heads = [m for m in self.leaves.values() if getattr(m, "tied", False)]
        embeddings = [m for m in self.leaves.values() if isinstance(m, nn.Embedding)]
        for head in heads:
            head._embedding.append(embeddings[0])

    def forward(self, x):
        return self.body(x)


# A ReLU may overwrite its input only when that input is a fresh tensor no one else reads and
# whose producer's backward does not need it (torchvision's habit: ReLU(inplace=True) after
# conv/BN and after the residual add). Saves one activation tensor per ReLU.
_FRESH_OUTPUT = ("conv", "dense", "batch_norm", "layer_norm", "residual")


def _build(node: Node, shape: Shape, path: str, leaves: dict) -> nn.Module:
    if isinstance(node, Sequential):
        mods = []
        previous = None
        for i, child in enumerate(node.nodes):
            label = child.name or f"{i}"
            mods.append(_build(child, shape, f"{path}.{label}" if path else label, leaves))
            if child.kind == "activation" and getattr(child, "fn", "") == "relu":
                mods[-1].inplace = previous in _FRESH_OUTPUT
            previous = child.kind
            shape = child.output_shape(shape)
        return SequentialModule(mods)
    if isinstance(node, Residual):
        body = _build(node.body, shape, f"{path}.body", leaves)
        shortcut = _build(node.shortcut, shape, f"{path}.shortcut", leaves)
        return ResidualModule(body, shortcut)
    try:
        builder = LAYERS[node.kind]
    except KeyError:
        raise NotImplementedError(
            f"the torch backend has no layer for node kind {node.kind!r}"
        ) from None
    module = builder(node, shape)
    leaves[path] = module
    return module


def build_module(graph: Graph) -> GraphModule:
    return GraphModule(graph)

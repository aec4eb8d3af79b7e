"""The Graph (an input spec and a tree of nodes) and its walk: shapes and cost, per node and
in total."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from .nodes import BACKENDS, Node, NodeCost, Sequential, Shape, ShapeError, numel


class Graph(NamedTuple):
    """A backend-neutral architecture: what `cost`, `predict` and every backend read.

    `input_kind` is "float" (features, pixels, samples) or "tokens" (integer ids < vocab_size).
    `layout` says what the input axes mean: "image" (C, H, W) and "waveform" (1, samples) are
    channels-first; "sequence" is (L, features), "tokens" (L,), "vector" (features,). Backends
    that keep tensors channels-last need it.
    """

    name: str
    input_shape: Shape
    body: Sequential
    input_kind: str = "float"
    vocab_size: int = 0
    notes: tuple[str, ...] = ()
    layout: str = "vector"
    task: str = "classification"  # what the output means: classes or regression targets

    @property
    def output_shape(self) -> Shape:
        return self.body.output_shape(self.input_shape)

    @property
    def final_activation(self) -> str:
        """The activation the graph ends in ("identity" for logits): what the loss must expect."""
        last = self.body.nodes[-1] if self.body.nodes else None
        return getattr(last, "fn", "identity") if last is not None else "identity"


class NodeRow(NamedTuple):
    """One node in the walk: where it is, what goes in and out, what it costs."""

    path: str
    kind: str
    depth: int
    in_shape: Shape
    out_shape: Shape
    cost: NodeCost
    leaf: bool


class GraphCost(NamedTuple):
    backend: str
    rows: tuple[NodeRow, ...]
    params: int
    buffers: int
    macs: int
    flops: int
    saved_elems: int
    input_elems: int
    output_shape: Shape
    graph: Graph | None = None  # what was costed: the training-memory walk needs the nodes

    @property
    def activation_elems(self) -> int:
        """Elements of every node output in one forward pass (batch 1)."""
        return sum(numel(r.out_shape) for r in self.rows if r.leaf)


def walk(graph: Graph, backend: str = "torch") -> Iterator[NodeRow]:
    """Yield a row per node, parents before their children, with inferred shapes.

    Raises ShapeError naming the node path when shapes do not fit.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    rows: list[NodeRow] = []
    _walk(graph.body, graph.input_shape, "", 0, backend, rows)
    yield from rows


def _walk(node: Node, shape: Shape, path: str, depth: int, backend: str, rows: list) -> Shape:
    """Append `node`'s row, then its children's, to `rows`; return its output shape.

    Children are walked before the parent's own shape is checked, so that a shape error names
    the innermost node at fault; a placeholder keeps the parent's row ahead of its children's.
    """
    children = node.children()
    slot = len(rows)
    if depth > 0 or not children:
        rows.append(None)
    if isinstance(node, Sequential):
        out = shape
        for i, child in enumerate(children):
            label = child.name or f"{i}"
            out = _walk(child, out, f"{path}.{label}" if path else label, depth + 1, backend, rows)
    else:
        for child, label in zip(children, ("body", "shortcut")):
            if child.children():
                _walk(child, shape, f"{path}.{label}", depth + 1, backend, rows)
        try:
            out = node.output_shape(shape)
        except ShapeError as exc:
            raise ShapeError(f"{path or 'graph'}: {exc}") from None
    try:
        own = node.cost(shape, backend)
    except ShapeError as exc:
        raise ShapeError(f"{path or 'graph'}: {exc}") from None
    if depth > 0 or not children:
        rows[slot] = NodeRow(path, node.kind, depth, shape, out, own, leaf=not children)
    return out


def cost(graph: Graph, backend: str = "torch") -> GraphCost:
    """Exact parameter count and FLOPs of `graph` as `backend` would build it, at batch 1."""
    rows = tuple(walk(graph, backend))
    total = NodeCost(
        params=sum(r.cost.params for r in rows),
        buffers=sum(r.cost.buffers for r in rows),
        macs=sum(r.cost.macs for r in rows),
        flops=sum(r.cost.flops for r in rows),
        saved_elems=sum(r.cost.saved_elems for r in rows),
    )
    return GraphCost(
        backend=backend,
        rows=rows,
        params=total.params,
        buffers=total.buffers,
        macs=total.macs,
        flops=total.flops,
        saved_elems=total.saved_elems,
        input_elems=numel(graph.input_shape),
        output_shape=_root_output(rows, graph.input_shape),
        graph=graph,
    )


def _root_output(rows: tuple[NodeRow, ...], input_shape: Shape) -> Shape:
    # The body's output is the output of its last top-level child (an empty body passes through).
    return next((r.out_shape for r in reversed(rows) if r.depth == 1), input_shape)

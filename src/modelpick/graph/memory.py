"""One training step's memory as a backend holds it: which tensors autograd keeps, when each is
freed, and the step's peak above what exists before it starts.

Each node says what it holds (`Node.train_saves` -> `Saves`, in its own module); this module
follows the tensors through the step, node by node in execution order:

- forward: every node makes its output (or overwrites or views its input); a tensor lives until
  its last reader has run, or, if any node keeps it for backward, into the backward pass;
- backward, in reverse: a node's backward holds the gradient of its output, makes the
  gradients of its inputs (where they need one) and of its weights (fp32, kept: they are the
  `.grad` the optimizer reads), then frees its output's gradient and every tensor that no
  earlier node keeps;
- the optimizer step holds every gradient and the model's output, plus AdamW's temporaries:
  PyTorch's per-parameter
  loop (its default on a CPU) makes two temporaries the size of the parameter it updates, so
  2 × the largest parameter tensor; its multi-tensor loop (the CUDA default) one per parameter.

Storages are counted once (a view or an in-place ReLU shares its input's), as an allocator sees
them. Sizes are bytes at the given batch. What the step holds before it starts (weights,
buffers, optimizer state, the batch) is the caller's (advise/predict.py, `train_memory`).
"""

from __future__ import annotations

from typing import NamedTuple

from .cost import Graph
from .nodes import Node, Residual, Sequential, Shape, TrainContext, numel

# Bytes per element of a batch: token ids are int64, features float32.
INPUT_BYTES = {"tokens": 8, "float": 4}


class TrainMemory(NamedTuple):
    saved_bytes: int  # kept for backward when forward ends, beyond weights and the batch
    forward_peak_bytes: int  # the most the forward pass holds above the starting state
    backward_peak_bytes: int  # the most the backward pass holds (gradients so far included)
    optimizer_peak_bytes: int  # every gradient plus the optimizer's temporaries
    gradients_bytes: int  # the weights' gradients (fp32)
    param_tensors: int  # parameter tensors (AdamW keeps a step counter for each)
    largest_param_elems: int
    rows: tuple[tuple[str, int], ...]  # (node path, bytes it keeps for backward)

    @property
    def peak_bytes(self) -> int:
        """The step's peak above its starting state: the worst of its three phases."""
        return max(self.forward_peak_bytes, self.backward_peak_bytes, self.optimizer_peak_bytes)

    @property
    def phase(self) -> str:
        peaks = (self.forward_peak_bytes, self.backward_peak_bytes, self.optimizer_peak_bytes)
        return ("forward", "backward", "optimizer")[peaks.index(max(peaks))]


class _Storage:
    __slots__ = ("nbytes", "born", "last_use", "savers", "path")

    def __init__(self, nbytes: int, born: int, path: str):
        self.nbytes = nbytes
        self.born = born
        self.last_use = born
        self.savers: list[int] = []
        self.path = path


class _Value:
    """A tensor as autograd sees it (one per node output), backed by a storage."""

    __slots__ = ("nbytes", "storage", "grad", "eb")

    def __init__(self, nbytes: int, storage: _Storage | None, grad: bool, eb: int = 4):
        self.nbytes = nbytes
        self.storage = storage  # None: the batch, which the caller counts
        self.grad = grad  # whether it needs a gradient
        self.eb = eb  # bytes per element


class _Step(NamedTuple):
    inputs: tuple[_Value, ...]
    output: _Value
    param_bytes: int  # fp32 weight gradients it makes
    scratch: int
    shared_grad: bool  # a residual add: both inputs get the same gradient tensor


class _Walk:
    def __init__(self, backend: str, device: str, precision: str, batch: int):
        self.ctx = TrainContext(backend, device, precision, batch)
        self.steps: list[_Step] = []
        self.storages: list[_Storage] = []
        self.param_tensors: list[int] = []

    def _new(self, nbytes: int, path: str) -> _Storage:
        s = _Storage(nbytes, len(self.steps), path)
        self.storages.append(s)
        return s

    def _use(self, value: _Value) -> None:
        if value.storage is not None:
            value.storage.last_use = len(self.steps)

    def node(self, node: Node, shape: Shape, x: _Value, prev: str, path: str) -> _Value:
        if isinstance(node, Sequential):
            kind = prev
            for i, child in enumerate(node.nodes):
                label = child.name or f"{i}"
                x = self.node(child, shape, x, kind, f"{path}.{label}" if path else label)
                shape = child.output_shape(shape)
                kind = child.kind
            return x
        if isinstance(node, Residual):
            body = self.node(node.body, shape, x, "", f"{path}.body")
            skip = self.node(node.shortcut, shape, x, "", f"{path}.shortcut")
            out_shape = node.output_shape(shape)
            eb = max(body.eb, skip.eb)  # fp32 + bf16 is fp32
            nbytes = numel(out_shape) * self.ctx.batch * eb
            self._use(body)
            self._use(skip)
            out = _Value(nbytes, self._new(nbytes, path), body.grad or skip.grad, eb)
            self.steps.append(_Step((body, skip), out, 0, 0, True))
            return out
        return self.leaf(node, shape, x, prev, path)

    def leaf(self, node: Node, shape: Shape, x: _Value, prev: str, path: str) -> _Value:
        b = self.ctx.batch
        s = node.train_saves(shape, self.ctx._replace(in_bytes=x.eb, in_grad=x.grad, prev=prev))
        i = len(self.steps)
        self._use(x)
        if s.saves_input and x.storage is not None:
            x.storage.savers.append(i)
        if s.input_copy:
            self._new(numel(shape) * b * s.input_copy, path).savers.append(i)
        if s.extra:
            self._new(s.extra, path).savers.append(i)
        out_elems = numel(node.output_shape(shape)) * b
        grad = x.grad or bool(s.param_tensors)
        if s.out == "new":
            storage = self._new(s.out_storage or out_elems * s.out_bytes, path)
        else:  # a view or an in-place update: the input's storage
            storage = x.storage
        out = _Value(out_elems * s.out_bytes, storage, grad, s.out_bytes)
        if s.saves_output and storage is not None:
            storage.savers.append(i)
        self.param_tensors += s.param_tensors
        params = 4 * sum(s.param_tensors)
        self.steps.append(_Step((x,), out, params, s.backward_scratch, False))
        return out

    def loss(self, graph: Graph, out: _Value) -> None:
        """The loss on fp32 outputs: a log-softmax (cross-entropy) or the clamped probabilities
        and their log (the softmax and sigmoid heads) are kept for backward."""
        self._use(out)
        n = out.nbytes // out.eb * 4
        kept = 2 * n if graph.final_activation in ("softmax", "sigmoid") else n
        self._new(kept, "loss").savers.append(len(self.steps))
        # Its backward makes the fp32 gradient of the log-probabilities and of the fp32 logits
        # before handing the output its gradient (cast to the output's type under autocast):
        # one fp32 tensor the size of the output beyond that, two under autocast. Negligible
        # for a classifier's few outputs; a language model's logits (tokens × vocabulary)
        # make it the peak (benchmarks/llm_memory.py).
        scratch = n * (2 if self.ctx.autocast else 1)
        self.steps.append(_Step((out,), _Value(4, None, True), 0, scratch, False))


def train_memory(
    graph: Graph,
    backend: str = "torch",
    device: str = "cpu",
    precision: str = "fp32",
    batch: int = 1,
) -> TrainMemory:
    """Follow one training step of `graph` at `batch` (see the module doc)."""
    walk = _Walk(backend, device, precision, batch)
    x = _Value(0, None, False, INPUT_BYTES.get(graph.input_kind, 4))
    out = walk.node(graph.body, graph.input_shape, x, "", "")
    walk.loss(graph, out)
    steps, storages = walk.steps, walk.storages
    n = len(steps)

    # forward: a storage lives from its birth to its last reader, or into backward if kept
    forward_peak = 0
    births = [0] * (n + 1)
    deaths = [0] * (n + 2)
    for s in storages:
        births[s.born] += s.nbytes
        if not s.savers:
            deaths[s.last_use + 1] += s.nbytes
    live = 0
    for i in range(n):
        live += births[i] - deaths[i]
        forward_peak = max(forward_peak, live)
    saved = sum(s.nbytes for s in storages if s.savers)

    # backward, in reverse: kept storages are freed after the earliest node that keeps them
    freed_at: dict[int, int] = {}
    for s in storages:
        if s.savers:
            freed_at[min(s.savers)] = freed_at.get(min(s.savers), 0) + s.nbytes
    alive = saved
    pending: dict[int, int] = {id(out): out.nbytes}
    grads = 0
    backward_peak = 0
    for i in range(n - 1, -1, -1):
        step = steps[i]
        g_out = pending.pop(id(step.output), 0)
        made = 0 if step.shared_grad else sum(v.nbytes for v in step.inputs if v.grad)
        now = alive + grads + sum(pending.values()) + g_out + made + step.param_bytes
        backward_peak = max(backward_peak, now + step.scratch)
        grads += step.param_bytes
        for k, v in enumerate(step.inputs):
            if v.grad:
                shared = step.shared_grad and k > 0
                pending[id(v)] = max(pending.get(id(v), 0), 0 if shared else v.nbytes)
        alive -= freed_at.get(i, 0)

    largest = max(walk.param_tensors, default=0)
    if backend == "torch" and device == "cuda":
        temporaries = 4 * sum(walk.param_tensors)  # foreach AdamW: a sqrt per parameter
    else:
        temporaries = 2 * 4 * largest
    rows: dict[str, int] = {}
    for s in storages:
        if s.savers:
            rows[s.path] = rows.get(s.path, 0) + s.nbytes
    return TrainMemory(
        saved_bytes=saved,
        forward_peak_bytes=forward_peak,
        backward_peak_bytes=backward_peak,
        # the step still holds the model's output (and the loss) while the optimizer runs
        optimizer_peak_bytes=grads + temporaries + out.nbytes,
        gradients_bytes=grads,
        param_tensors=len(walk.param_tensors),
        largest_param_elems=largest,
        rows=tuple(rows.items()),
    )

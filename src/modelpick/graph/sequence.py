"""Layers over sequences `(L, D)`: self-attention, recurrent stacks and sequence pooling."""

from __future__ import annotations

from .nodes import (
    ELEMENTWISE_FLOPS,
    Node,
    NodeCost,
    Saves,
    Shape,
    ShapeError,
    TrainContext,
    numel,
)


class Attention(Node):
    """Multi-head self-attention with Q, K, V and output projections (Vaswani et al. 2017).

    Counted in full: the four projections (4·L·D²) and the two products QKᵀ and AV (2·L²·D),
    which counters that only hook nn.Linear miss.
    """

    dim: int
    heads: int
    bias: bool = True
    kind = "attention"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2 or shape[1] != self.dim:
            raise ShapeError(f"attention: expects (L, {self.dim}), got {shape}")
        if self.dim % self.heads:
            raise ShapeError(f"attention: dim {self.dim} not divisible by {self.heads} heads")
        return shape

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        length, d = shape
        proj_macs = 4 * length * d * d
        attn_macs = 2 * length * length * d
        scores = self.heads * length * length
        macs = proj_macs + attn_macs
        return NodeCost(
            params=4 * d * d + (4 * d if self.bias else 0),
            macs=macs,
            flops=2 * macs + (ELEMENTWISE_FLOPS["softmax"] + 1) * scores,  # +1: the 1/sqrt(d) scale
            # Its input (for the Q/K/V projection), Q/K/V (one tensor), the attention output
            # and a log-sum-exp per head and position; fused attention kernels
            # (scaled_dot_product_attention) keep no L×L matrix, so none is counted.
            saved_elems=5 * length * d + self.heads * length,
            kernels=5,  # in-projection, fused attention, head merge (a copy), out-projection
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        length, d = shape
        b, lb = ctx.batch, ctx.low_bytes
        tensors = (3 * d * d, 3 * d, d * d, d) if self.bias else (3 * d * d, d * d)
        # Q/K/V (one 3·L·D tensor) and the attention output, in the compute type; the
        # log-sum-exp of every head and position, fp32 (the fused kernels' backward needs it).
        kept = b * (4 * length * d * lb + self.heads * length * 4)
        if not ctx.autocast:
            return Saves(out_bytes=4, saves_input=True, extra=kept, param_tensors=tensors)
        keep = dict(saves_input=True) if ctx.in_bytes == 2 else dict(input_copy=2)
        return Saves(
            out_bytes=2,
            extra=kept + 2 * 4 * d * d,  # and the 2-byte casts of both projection weights
            backward_scratch=2 * sum(tensors),
            param_tensors=tensors,
            **keep,
        )


# Gates per cell and element-wise FLOPs per hidden unit per step (bias adds, gate nonlinearities
# at 4, products and sums at 1).
RNN_GATES = {"simple": 1, "lstm": 4, "gru": 3}
RNN_ELEMENTWISE = {"lstm": 28, "gru": 21}  # simple cells: bias add + their activation


def rnn_layer_params(cell: str, input_size: int, hidden: int, backend: str) -> int:
    """Parameters of one direction of one recurrent layer, as `backend` creates them.

    PyTorch (nn.RNN/LSTM/GRU docs): weight_ih (g·H×I), weight_hh (g·H×H), bias_ih and bias_hh
    (g·H each): two bias vectors for every cell. Keras 3: SimpleRNN and LSTM carry one bias of
    g·H; GRU with its default reset_after=True carries two (input and recurrent), like PyTorch.
    """
    g = RNN_GATES[cell]
    weights = g * hidden * (input_size + hidden)
    two_biases = backend == "torch" or cell == "gru"
    return weights + (2 if two_biases else 1) * g * hidden


# PyTorch's oneDNN LSTM on a CPU keeps a workspace per layer and direction (gates and states of
# every step). Fitted to torch 2.13's sizes over L in 16…400, batch 1…32, input 8…300, hidden
# 64…256: 4 bytes × (6·(L+1)·B·ld + 9.5·L·B·H), ld = max(input, hidden) rounded up to 16;
# within 2.5 % wherever L·B ≥ 400 (pages and padding dominate below).
LSTM_WORKSPACE_STATES = 6
LSTM_WORKSPACE_GATES = 9.5
# Its backward holds about 6.5·L·B·H fp32 (gate and state gradients) and 1.5× the layer's
# weights (their gradients in oneDNN's layout): fitted to the catalog's LSTMs over the example
# profiles (hidden 64…256, L 50…1000, batch 8), within 3 % of the measured step peaks.
LSTM_BACKWARD_STEPS = 6.5
LSTM_BACKWARD_WEIGHTS = 1.5


def lstm_workspace_bytes(length: int, batch: int, inputs: int, hidden: int) -> int:
    ld = -(-max(inputs, hidden) // 16) * 16
    states = LSTM_WORKSPACE_STATES * (length + 1) * batch * ld
    return int(4 * (states + LSTM_WORKSPACE_GATES * length * batch * hidden))


class RNN(Node):
    """A stack of recurrent layers over (L, I), optionally bidirectional.

    Returns the whole sequence (L, H·dirs) or, with `return_sequences=False`, the last step's
    output (H·dirs,) (for a bidirectional layer the backward direction's output at step 0).
    """

    cell: str
    hidden: int
    layers: int = 1
    bidirectional: bool = False
    return_sequences: bool = False
    activation: str = "tanh"  # simple cells only
    kind = "rnn"

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"rnn: expects (L, features), got {shape}")
        if self.cell not in RNN_GATES:
            raise ShapeError(f"rnn: unknown cell {self.cell!r}")
        width = self.hidden * self.directions
        return (shape[0], width) if self.return_sequences else (width,)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        length, features = shape
        g, h, dirs = RNN_GATES[self.cell], self.hidden, self.directions
        params = macs = 0
        for layer in range(self.layers):
            inp = features if layer == 0 else h * dirs
            params += dirs * rnn_layer_params(self.cell, inp, h, backend)
            macs += dirs * length * g * h * (inp + h)
        per_unit = RNN_ELEMENTWISE.get(self.cell, 1 + ELEMENTWISE_FLOPS.get(self.activation, 4))
        elementwise = self.layers * dirs * length * h * per_unit
        return NodeCost(
            params=params,
            macs=macs,
            flops=2 * macs + elementwise,
            saved_elems=self.layers * dirs * length * h * (g + 1),
            # One recurrent step per time step, layer and direction: the sequential part that
            # no batch size hides (cuDNN/oneDNN fuse better; calibration absorbs the difference).
            kernels=self.layers * dirs * length,
            variant=self.cell,
        )

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        """Recurrent layers run in fp32 in PyTorch on a CPU, under autocast too
        (backends/torch/layers.py). Each layer keeps its input sequence (the first a
        time-major copy of the batch-first input) and its output sequence; per direction,
        oneDNN's LSTM keeps a workspace (`lstm_workspace_bytes`) and its states; the
        step-by-step GRU keeps 7·H per step (hidden projection 3·H, gates and previous
        state), a simple cell its activation (H per step)."""
        length, features = shape
        g, h, dirs, b = RNN_GATES[self.cell], self.hidden, self.directions, ctx.batch
        fp32 = ctx.backend == "torch" and ctx.device == "cpu"
        eb = 4 if fp32 else ctx.low_bytes
        tensors: list[int] = []
        extra = b * length * features * eb  # the first layer's time-major input
        scratch = 0
        onednn = ctx.backend == "torch" and self.cell == "lstm" and ctx.device == "cpu"
        for layer in range(self.layers):
            inp = features if layer == 0 else h * dirs
            tensors += [g * h * inp, g * h * h, g * h, g * h] * dirs
            if layer < self.layers - 1:
                extra += b * length * h * dirs * eb  # an inner layer's output sequence
            if onednn:
                per_dir = lstm_workspace_bytes(length, b, inp, h) + 4 * b * h * eb
                # its backward: gate and state gradients of every step, and the weight
                # gradients in oneDNN's layout before they are copied out (fitted, see above)
                back = LSTM_BACKWARD_STEPS * length * b * h * eb
                back += LSTM_BACKWARD_WEIGHTS * g * h * (inp + h) * eb
            else:
                if ctx.backend == "torch":  # step by step: the GRU's 7·H, a simple cell's H
                    per_dir = (7 if self.cell == "gru" else 1) * length * b * h * eb
                else:  # Keras's loop: gate pre-activations and the state of every step
                    per_dir = (g + 1) * length * b * h * eb
                # its backward: the input projections' gradients of every step, gathered
                # into one tensor at the end (fitted like the LSTM's, within 8 %)
                back = (g + 1 if self.cell == "gru" else g) * length * b * h * eb
            extra += dirs * per_dir
            # layers run their backward one after another: the largest one's scratch counts,
            # and above the first layer, the gradient of the sequence coming in
            inner_grad = b * length * h * dirs * eb if layer > 0 and onednn else 0
            scratch = max(scratch, int(dirs * back + inner_grad))
        full = b * length * h * dirs * eb  # the last layer's output sequence
        # oneDNN's LSTM keeps its output sequence for backward; the others leave it to the
        # next layer (a last-step readout is a view that keeps the whole sequence alive).
        keeps = onednn
        common = dict(out_bytes=eb, backward_scratch=scratch, param_tensors=tuple(tensors))
        if self.return_sequences:
            return Saves(saves_output=keeps, extra=extra, **common)
        if not self.bidirectional:
            return Saves(out_storage=full, saves_output=keeps, extra=extra, **common)
        # bidirectional last step: both directions' ends joined into a new tensor
        return Saves(extra=extra + (full if keeps else 0), **common)


class SeqPool(Node):
    """Sequence to vector: (L, D) -> (D,) by mean, the first (class) token, or the last step."""

    op: str = "mean"  # mean | first | last
    kind = "seq_pool"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"seq_pool: expects (L, D), got {shape}")
        return (shape[1],)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(flops=numel(shape) if self.op == "mean" else 0, saved_elems=0)

    def train_saves(self, shape: Shape, ctx: TrainContext) -> Saves:
        if self.op == "mean":
            return Saves(out_bytes=ctx.in_bytes)  # a mean's backward needs only the shape
        return Saves(out="view", out_bytes=ctx.in_bytes)  # one step: a view of the sequence

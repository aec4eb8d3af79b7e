"""Layers over sequences `(L, D)`: self-attention, recurrent stacks and sequence pooling."""

from __future__ import annotations

from .nodes import ELEMENTWISE_FLOPS, Node, NodeCost, Shape, ShapeError, numel


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
            # q, k, v, attention output and the projection output; fused attention kernels
            # (scaled_dot_product_attention) keep no L×L matrix, so none is counted.
            saved_elems=5 * length * d,
            kernels=5,  # in-projection, fused attention, head merge (a copy), out-projection
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


class SeqPool(Node):
    """Sequence to vector: (L, D) -> (D,) by mean, the first (class) token, or the last step."""

    op: str = "mean"  # mean | first | last
    kind = "seq_pool"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2:
            raise ShapeError(f"seq_pool: expects (L, D), got {shape}")
        return (shape[1],)

    def cost(self, shape: Shape, backend: str = "torch") -> NodeCost:
        return NodeCost(flops=numel(shape) if self.op == "mean" else 0, saved_elems=shape[1])

"""The Keras 3 (TensorFlow) mapping table: one builder per graph node kind, the same keys as
backends/torch/layers.py.

Layout: the graph is channels-first; Keras convolutions are channels-last. Each builder gets
and returns a flag `cl` saying whether the tensor it handles is a channels-first graph tensor
stored channels-last. Builders return `(output, cl, weighted_layers)`; the weighted layers are
what weight transfer reads and writes for the node.
"""

from __future__ import annotations

import keras
from keras import layers, ops


class Pool(keras.layers.Layer):
    """Max/avg pooling with PyTorch's symmetric padding (-inf for max, zeros for avg, as
    count_include_pad=True); Keras's "same" pads asymmetrically."""

    def __init__(self, ndim, op, kernel, stride, padding, **kw):
        super().__init__(**kw)
        self.ndim, self.op, self.kernel, self.stride, self.padding = (
            ndim,
            op,
            kernel,
            stride,
            padding,
        )

    def call(self, x):
        if self.padding:
            pad = [[0, 0]] + [[self.padding, self.padding]] * self.ndim + [[0, 0]]
            fill = float("-inf") if self.op == "max" else 0.0
            x = ops.pad(x, pad, constant_values=fill)
        fn = ops.max_pool if self.op == "max" else ops.average_pool
        return fn(x, self.kernel, self.stride, padding="valid", data_format="channels_last")


class Reduce(keras.layers.Layer):
    """Mean or max over axes, or a single index of axis 1 (first / last sequence step)."""

    def __init__(self, op, axes=(), **kw):
        super().__init__(**kw)
        self.op, self.axes = op, tuple(axes)

    def call(self, x):
        if self.op in ("avg", "mean"):
            return ops.mean(x, axis=self.axes)
        if self.op == "max":
            return ops.max(x, axis=self.axes)
        return x[:, 0] if self.op == "first" else x[:, -1]


class AddWeight(keras.layers.Layer):
    """A learned table added to the input: positions (rows 0..L-1), a token type (row 0)."""

    def __init__(self, rows, dim, mode, **kw):
        super().__init__(**kw)
        self.rows, self.dim, self.mode = rows, dim, mode

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.table = self.add_weight(shape=(self.rows, self.dim), initializer=init, name="table")

    def call(self, x):
        table = ops.cast(self.table, x.dtype)
        if self.mode == "position":
            return x + table[None, : ops.shape(x)[1]]
        return x + table[0]


class ClassToken(keras.layers.Layer):
    def __init__(self, dim, **kw):
        super().__init__(**kw)
        self.dim = dim

    def build(self, input_shape):
        self.token = self.add_weight(shape=(self.dim,), initializer="zeros", name="token")

    def call(self, x):
        token = ops.cast(self.token, x.dtype)[None, None, :]
        token = ops.broadcast_to(token, (ops.shape(x)[0], 1, self.dim))
        return ops.concatenate([token, x], axis=1)


class Attention(keras.layers.Layer):
    """Self-attention with one in-projection and one out-projection, as the torch backend."""

    def __init__(self, dim, heads, bias=True, **kw):
        super().__init__(**kw)
        self.dim, self.heads, self.bias = dim, heads, bias

    def build(self, input_shape):
        d = self.dim
        self.qkv_kernel = self.add_weight(
            shape=(d, 3 * d), initializer="glorot_uniform", name="qkv_kernel"
        )
        self.out_kernel = self.add_weight(
            shape=(d, d), initializer="glorot_uniform", name="out_kernel"
        )
        if self.bias:
            self.qkv_bias = self.add_weight(shape=(3 * d,), initializer="zeros", name="qkv_bias")
            self.out_bias = self.add_weight(shape=(d,), initializer="zeros", name="out_bias")

    def call(self, x):
        n, length = ops.shape(x)[0], ops.shape(x)[1]
        h, hd = self.heads, self.dim // self.heads
        qkv = ops.matmul(x, ops.cast(self.qkv_kernel, x.dtype))
        if self.bias:
            qkv = qkv + ops.cast(self.qkv_bias, x.dtype)
        qkv = ops.transpose(ops.reshape(qkv, (n, length, 3, h, hd)), (2, 0, 1, 3, 4))
        y = ops.dot_product_attention(qkv[0], qkv[1], qkv[2])  # (N, L, heads, head_dim)
        y = ops.matmul(ops.reshape(y, (n, length, self.dim)), ops.cast(self.out_kernel, x.dtype))
        return y + ops.cast(self.out_bias, x.dtype) if self.bias else y


class TorchLayout(keras.layers.Layer):
    """A layer whose weights are kept in PyTorch's layouts under their canonical names (the
    decoder's layers): weight transfer is a copy, and the maths reads `x @ W.T`."""

    def _add(self, name, shape, init="glorot_uniform"):
        if not hasattr(self, "canonical"):
            self.canonical = {}
        var = self.add_weight(shape=shape, initializer=init, name=name.replace(".", "_"))
        self.canonical[name] = var
        return var

    def _linear(self, x, name, bias=False):
        key = f"{name}.weight" if name else "weight"
        y = ops.matmul(x, ops.transpose(ops.cast(self.canonical[key], x.dtype)))
        if bias:
            y = y + ops.cast(self.canonical[f"{name}.bias"], x.dtype)
        return y


class RMSNorm(TorchLayout):
    def __init__(self, dim, eps, **kw):
        super().__init__(**kw)
        self.dim, self.eps = dim, eps

    def build(self, input_shape):
        self._add("weight", (self.dim,), "ones")

    def call(self, x):
        h = ops.cast(x, "float32")
        h = h * ops.rsqrt(ops.mean(ops.square(h), axis=-1, keepdims=True) + self.eps)
        return ops.cast(h * self.canonical["weight"], x.dtype)


def rotary(x, theta):
    """Rotary positions on (N, heads, L, head_dim), half-split as the torch backend."""
    hd, length = x.shape[-1], ops.shape(x)[-2]
    inv = 1.0 / (theta ** (ops.arange(0, hd, 2, dtype="float32") / hd))
    freqs = ops.outer(ops.arange(length, dtype="float32"), inv)
    emb = ops.concatenate([freqs, freqs], axis=-1)
    cos, sin = ops.cast(ops.cos(emb), x.dtype), ops.cast(ops.sin(emb), x.dtype)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + ops.concatenate([-x2, x1], axis=-1) * sin


class CausalSelfAttention(TorchLayout):
    """Grouped-query causal attention, rotary positions, an optional window (as the torch
    backend's, written out: scores, mask, softmax in fp32, weighted sum)."""

    def __init__(self, node, **kw):
        super().__init__(**kw)
        self.node = node

    def build(self, input_shape):
        n = self.node
        for name, rows, cols, bias in (
            ("q", n.q_dim, n.dim, n.qkv_bias),
            ("k", n.kv_dim, n.dim, n.qkv_bias),
            ("v", n.kv_dim, n.dim, n.qkv_bias),
            ("o", n.dim, n.q_dim, n.out_bias),
        ):
            self._add(f"{name}.weight", (rows, cols))
            if bias:
                self._add(f"{name}.bias", (rows,), "zeros")

    def call(self, x):
        node = self.node
        n, length, hd = ops.shape(x)[0], ops.shape(x)[1], node.head_dim

        def heads(y, count):
            return ops.transpose(ops.reshape(y, (n, length, count, hd)), (0, 2, 1, 3))

        q = heads(self._linear(x, "q", node.qkv_bias), node.heads)
        k = heads(self._linear(x, "k", node.qkv_bias), node.kv_heads)
        v = heads(self._linear(x, "v", node.qkv_bias), node.kv_heads)
        if node.rope:
            q, k = rotary(q, node.rope_theta), rotary(k, node.rope_theta)
        group = node.heads // node.kv_heads
        if group > 1:
            k, v = ops.repeat(k, group, axis=1), ops.repeat(v, group, axis=1)
        scores = ops.matmul(
            ops.cast(q, "float32"), ops.transpose(ops.cast(k, "float32"), (0, 1, 3, 2))
        )
        scores = scores / (hd**0.5)
        i = ops.arange(length)
        allowed = i[None, :] <= i[:, None]
        if node.window:
            allowed = ops.logical_and(allowed, (i[:, None] - i[None, :]) < node.window)
        scores = ops.where(allowed[None, None], scores, -1e30)
        y = ops.matmul(ops.softmax(scores, axis=-1), ops.cast(v, "float32"))
        y = ops.reshape(ops.transpose(ops.cast(y, x.dtype), (0, 2, 1, 3)), (n, length, node.q_dim))
        return self._linear(y, "o", node.out_bias)


class GatedMLP(TorchLayout):
    def __init__(self, dim, ffn, bias=False, prefix="", **kw):
        super().__init__(**kw)
        self.dim, self.ffn, self.bias, self.prefix = dim, ffn, bias, prefix

    def build(self, input_shape):
        self.make(self, self.prefix)

    def make(self, owner, prefix):
        for name, rows, cols in (
            ("gate", self.ffn, self.dim),
            ("up", self.ffn, self.dim),
            ("down", self.dim, self.ffn),
        ):
            owner._add(f"{prefix}{name}.weight", (rows, cols))
            if self.bias:
                owner._add(f"{prefix}{name}.bias", (rows,), "zeros")

    def call(self, x):
        return _swiglu(self, x, "", self.bias)


def _swiglu(owner, x, prefix, bias=False):
    gate = owner._linear(x, f"{prefix}gate", bias)
    up = owner._linear(x, f"{prefix}up", bias)
    return owner._linear(ops.silu(gate) * up, f"{prefix}down", bias)


class MoE(TorchLayout):
    """Top-k routed SwiGLU experts (Mixtral's routing). Keras computes every expert for every
    token and weights the unchosen by zero: the same result, not the same cost."""

    def __init__(self, node, **kw):
        super().__init__(**kw)
        self.node = node

    def build(self, input_shape):
        n = self.node
        self._add("router.weight", (n.experts, n.dim))
        for e in range(n.experts):
            GatedMLP(n.dim, n.ffn).make(self, f"experts.{e}.")

    def call(self, x):
        n = self.node
        probs = ops.softmax(ops.cast(self._linear(x, "router"), "float32"), axis=-1)
        top, chosen = ops.top_k(probs, n.top_k)
        top = top / ops.sum(top, axis=-1, keepdims=True)
        weights = ops.sum(ops.one_hot(chosen, n.experts) * top[..., None], axis=-2)
        out = 0
        for e in range(n.experts):
            y = _swiglu(self, x, f"experts.{e}.")
            out = out + y * ops.cast(weights[..., e : e + 1], x.dtype)
        return out


_EMBEDDINGS: list = []  # the model being built's token embedding, for a tied head


class LMHead(TorchLayout):
    def __init__(self, dim, vocab, tied, **kw):
        super().__init__(**kw)
        self.dim, self.vocab, self.tied = dim, vocab, tied
        self.embedding = _EMBEDDINGS[-1] if tied else None

    def build(self, input_shape):
        if not self.tied:
            self._add("weight", (self.vocab, self.dim))

    def call(self, x):
        if self.tied:
            table = self.embedding.embeddings
            return ops.matmul(x, ops.transpose(ops.cast(table, x.dtype)))
        return self._linear(x, "")


ACTIVATIONS = {
    "identity": "linear",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "gelu",
    "softmax": "softmax",
}


def _spatial_axes(rank: int) -> tuple[int, ...]:
    return tuple(range(1, rank - 1))  # channels-last: (N, *spatial, C)


def dense(node, shape, x, cl, name):
    layer = layers.Dense(node.units, use_bias=node.bias, name=name)
    return layer(x), cl, [layer]


def conv(node, shape, x, cl, name):
    pad = node._pad()
    if pad:
        zp = layers.ZeroPadding2D(pad) if node.ndim == 2 else layers.ZeroPadding1D(pad)
        x = zp(x)
    cls = layers.Conv2D if node.ndim == 2 else layers.Conv1D
    layer = cls(
        node.filters,
        node.kernel,
        strides=node.stride,
        padding="valid",
        groups=node.groups,
        use_bias=node.bias,
        name=name,
    )
    return layer(x), True, [layer]


def pool(node, shape, x, cl, name):
    layer = Pool(
        node.ndim, node.op, node.kernel, node.stride or node.kernel, node.padding, name=name
    )
    return layer(x), True, []


def global_pool(node, shape, x, cl, name):
    return Reduce(node.op, _spatial_axes(len(shape) + 1), name=name)(x), False, []


def seq_pool(node, shape, x, cl, name):
    return Reduce(node.op, (1,), name=name)(x), False, []


def batch_norm(node, shape, x, cl, name):
    axis = -1 if (cl or len(shape) == 1) else 1
    layer = layers.BatchNormalization(axis=axis, epsilon=1e-5, momentum=0.9, name=name)
    return layer(x), cl, [layer]


def layer_norm(node, shape, x, cl, name):
    layer = layers.LayerNormalization(epsilon=node.eps, name=name)
    return layer(x), cl, [layer]


def activation(node, shape, x, cl, name):
    return layers.Activation(ACTIVATIONS[node.fn], name=name)(x), cl, []


def dropout(node, shape, x, cl, name):
    return layers.Dropout(node.rate, name=name)(x), cl, []


def flatten(node, shape, x, cl, name):
    if cl and len(shape) >= 2:  # back to channels-first order, so weights after it match
        rank = len(shape)
        x = layers.Permute((rank, *range(1, rank)))(x)
    return layers.Flatten(name=name)(x), False, []


def swap_axes(node, shape, x, cl, name):
    # (L, D) stored as is *is* (D, L) stored channels-last: no data moves, only the meaning.
    return x, not cl, []


def embedding(node, shape, x, cl, name):
    layer = layers.Embedding(node.vocab_size, node.dim, name=name)
    _EMBEDDINGS.append(layer)
    return layer(x), False, [layer]


def _torch_layout(make):
    def builder(node, shape, x, cl, name):
        layer = make(node, shape, name)
        return layer(x), False, [layer] if not getattr(layer, "tied", False) else []

    return builder


def position_embedding(node, shape, x, cl, name):
    layer = AddWeight(node.max_len, shape[-1], "position", name=name)
    return layer(x), False, [layer]


def token_type_embedding(node, shape, x, cl, name):
    layer = AddWeight(node.types, shape[-1], "token_type", name=name)
    return layer(x), False, [layer]


def class_token(node, shape, x, cl, name):
    layer = ClassToken(shape[-1], name=name)
    return layer(x), False, [layer]


def patch_embed(node, shape, x, cl, name):
    cls = layers.Conv2D if node.ndim == 2 else layers.Conv1D
    layer = cls(node.dim, node.patch, strides=node.patch, padding="valid", name=name)
    y = layer(x)  # (N, *grid, D): row-major grid order, as torch's flatten(2)
    return layers.Reshape((-1, node.dim))(y), False, [layer]


def attention(node, shape, x, cl, name):
    layer = Attention(node.dim, node.heads, node.bias, name=name)
    return layer(x), False, [layer]


def rnn(node, shape, x, cl, name):
    cls = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[node.cell]
    made = []
    for i in range(node.layers):
        seqs = node.return_sequences or i < node.layers - 1
        kwargs = {"activation": node.activation} if node.cell == "simple" else {}
        cell = cls(node.hidden, return_sequences=seqs, name=f"{name}_l{i}", **kwargs)
        layer = layers.Bidirectional(cell, name=f"{name}_l{i}_bi") if node.bidirectional else cell
        x = layer(x)
        made.append(layer)
    return x, False, made


LAYERS = {
    "dense": dense,
    "conv": conv,
    "pool": pool,
    "global_pool": global_pool,
    "seq_pool": seq_pool,
    "batch_norm": batch_norm,
    "layer_norm": layer_norm,
    "activation": activation,
    "dropout": dropout,
    "flatten": flatten,
    "swap_axes": swap_axes,
    "embedding": embedding,
    "position_embedding": position_embedding,
    "token_type_embedding": token_type_embedding,
    "class_token": class_token,
    "patch_embed": patch_embed,
    "attention": attention,
    "rnn": rnn,
    "rms_norm": _torch_layout(lambda node, shape, name: RMSNorm(shape[-1], node.eps, name=name)),
    "causal_attention": _torch_layout(
        lambda node, shape, name: CausalSelfAttention(node, name=name)
    ),
    "gated_mlp": _torch_layout(
        lambda node, shape, name: GatedMLP(node.dim, node.ffn, node.bias, name=name)
    ),
    "moe": _torch_layout(lambda node, shape, name: MoE(node, name=name)),
    "lm_head": _torch_layout(
        lambda node, shape, name: LMHead(shape[-1], node.vocab, node.tied, name=name)
    ),
}
DECODER_KINDS = ("rms_norm", "causal_attention", "gated_mlp", "moe", "lm_head")

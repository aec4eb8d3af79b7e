"""The PyTorch mapping table: one builder per graph node kind.

Each builder takes the node and its input shape (batch excluded, channels-first, as in the
graph) and returns an nn.Module whose parameters are exactly those the graph counts for
`torch`. The keys are the same as in backends/tensorflow/layers.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ... import graph as g
from ...graph import decoder as gd

ACTIVATIONS = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,  # exact (erf) form, as keras.activations.gelu's default
    "softmax": lambda: nn.Softmax(dim=-1),
}


class GlobalPool(nn.Module):
    def __init__(self, op: str):
        super().__init__()
        self.op = op

    def forward(self, x):
        dims = tuple(range(2, x.dim()))
        return x.mean(dims) if self.op == "avg" else x.amax(dims)


class SeqPool(nn.Module):
    def __init__(self, op: str):
        super().__init__()
        self.op = op

    def forward(self, x):
        if self.op == "mean":
            return x.mean(1)
        return x[:, 0] if self.op == "first" else x[:, -1]


class SwapAxes(nn.Module):
    def forward(self, x):
        return x.transpose(1, 2)


class PositionEmbedding(nn.Module):
    def __init__(self, max_len: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, dim) * 0.02)

    def forward(self, x):
        return x + self.weight[: x.shape[1]].to(x.dtype)


class TokenTypeEmbedding(nn.Module):
    """BERT's segment embedding for single-segment input: row 0 added everywhere."""

    def __init__(self, types: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(types, dim) * 0.02)

    def forward(self, x):
        return x + self.weight[0].to(x.dtype)


class ClassToken(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        token = self.weight.to(x.dtype).expand(x.shape[0], 1, -1)
        return torch.cat([token, x], dim=1)


class PatchEmbed(nn.Module):
    def __init__(self, ndim: int, channels: int, dim: int, patch: int):
        super().__init__()
        conv = nn.Conv2d if ndim == 2 else nn.Conv1d
        self.proj = conv(channels, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (N, D, *grid) -> (N, tokens, D)


class Attention(nn.Module):
    """Self-attention through F.scaled_dot_product_attention (fused kernels where available).

    Weights laid out as nn.MultiheadAttention's: one in-projection (3D, D), one out (D, D).
    """

    def __init__(self, dim: int, heads: int, bias: bool = True):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x):
        n, length, d = x.shape
        qkv = self.qkv(x).view(n, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.out(y.transpose(1, 2).reshape(n, length, d))


class RMSNorm(nn.Module):
    """x / rms(x) · weight, computed in fp32 (Llama's LlamaRMSNorm)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * self.weight).to(x.dtype)


def rotary(x, theta: float):
    """Rotary position embedding on (N, heads, L, head_dim), the half-split layout of GPT-NeoX
    and Llama in Hugging Face transformers (Su et al. 2021)."""
    hd, length = x.shape[-1], x.shape[-2]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, device=x.device, dtype=torch.float32) / hd))
    freqs = torch.outer(torch.arange(length, device=x.device, dtype=torch.float32), inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class CausalSelfAttention(nn.Module):
    """Grouped-query causal attention with separate Q, K, V, O projections (Llama's layout),
    rotary positions and an optional sliding window, through scaled_dot_product_attention."""

    def __init__(self, node: gd.CausalAttention):
        super().__init__()
        self.node = node
        d, q, kv = node.dim, node.q_dim, node.kv_dim
        self.q = nn.Linear(d, q, bias=node.qkv_bias)
        self.k = nn.Linear(d, kv, bias=node.qkv_bias)
        self.v = nn.Linear(d, kv, bias=node.qkv_bias)
        self.o = nn.Linear(q, d, bias=node.out_bias)

    def forward(self, x):
        node = self.node
        n, length, _ = x.shape
        hd = node.head_dim
        q = self.q(x).view(n, length, node.heads, hd).transpose(1, 2)
        k = self.k(x).view(n, length, node.kv_heads, hd).transpose(1, 2)
        v = self.v(x).view(n, length, node.kv_heads, hd).transpose(1, 2)
        if node.rope:
            q, k = rotary(q, node.rope_theta), rotary(k, node.rope_theta)
        gqa = node.kv_heads != node.heads
        if node.window and node.window < length:
            i = torch.arange(length, device=x.device)
            mask = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < node.window)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        return self.o(y.transpose(1, 2).reshape(n, length, node.q_dim))


class GatedMLP(nn.Module):
    """down(silu(gate(x)) · up(x)) (Llama's LlamaMLP)."""

    def __init__(self, dim: int, ffn: int, bias: bool = False):
        super().__init__()
        self.gate = nn.Linear(dim, ffn, bias=bias)
        self.up = nn.Linear(dim, ffn, bias=bias)
        self.down = nn.Linear(ffn, dim, bias=bias)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class MoE(nn.Module):
    """Top-k routed SwiGLU experts; the chosen experts' softmax weights renormalised to sum to
    one (Mixtral's MixtralSparseMoeBlock)."""

    def __init__(self, node: gd.MoE):
        super().__init__()
        self.top_k = node.top_k
        self.router = nn.Linear(node.dim, node.experts, bias=False)
        self.experts = nn.ModuleList(GatedMLP(node.dim, node.ffn) for _ in range(node.experts))

    def forward(self, x):
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        probs = F.softmax(self.router(flat).float(), dim=-1)
        weight, chosen = probs.topk(self.top_k, dim=-1)
        weight = (weight / weight.sum(-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if len(rows):
                out.index_add_(0, rows, expert(flat[rows]) * weight[rows, slot, None])
        return out.reshape(shape)


class LMHead(nn.Module):
    """Logits over the vocabulary; a tied head reads the token embedding's matrix (set by
    model.GraphModule once the embedding is built)."""

    def __init__(self, dim: int, vocab: int, tied: bool):
        super().__init__()
        self.tied = tied
        self.proj = None if tied else nn.Linear(dim, vocab, bias=False)
        self._embedding: list[nn.Embedding] = []  # a list: not registered a second time

    def forward(self, x):
        if self.tied:
            return F.linear(x, self._embedding[0].weight)
        return self.proj(x)


class Recurrent(nn.Module):
    """nn.RNN/LSTM/GRU, batch-first, returning the sequence or the last step.

    For a bidirectional stack, "the last step" is the forward direction at step L-1 joined to
    the backward direction at step 0, as Keras's Bidirectional(return_sequences=False) does.
    """

    def __init__(self, node: g.RNN, features: int):
        super().__init__()
        kwargs = dict(num_layers=node.layers, bidirectional=node.bidirectional, batch_first=True)
        if node.cell == "simple":
            self.rnn = nn.RNN(features, node.hidden, nonlinearity=node.activation, **kwargs)
        else:
            cls = nn.LSTM if node.cell == "lstm" else nn.GRU
            self.rnn = cls(features, node.hidden, **kwargs)
        self.return_sequences = node.return_sequences
        self.hidden = node.hidden
        self.bidirectional = node.bidirectional

    def forward(self, x):
        if x.is_cpu:
            # oneDNN has no reduced-precision LSTM kernel on CPUs without AVX-512 BF16 and
            # fails at run time; recurrent layers run in fp32 there (mixed precision's usual
            # fallback for ops without a low-precision kernel).
            with torch.autocast("cpu", enabled=False):
                out, _ = self.rnn(x.float())
        else:
            out, _ = self.rnn(x)
        if self.return_sequences:
            return out
        if not self.bidirectional:
            return out[:, -1]
        return torch.cat([out[:, -1, : self.hidden], out[:, 0, self.hidden :]], dim=-1)


def _conv(node: g.Conv, shape):
    cls = nn.Conv2d if node.ndim == 2 else nn.Conv1d
    return cls(
        shape[0],
        node.filters,
        node.kernel,
        node.stride,
        node._pad(),
        groups=node.groups,
        bias=node.bias,
    )


def _pool(node: g.Pool, shape):
    stride = node.stride or node.kernel
    if node.op == "max":
        cls = nn.MaxPool2d if node.ndim == 2 else nn.MaxPool1d
    else:
        cls = nn.AvgPool2d if node.ndim == 2 else nn.AvgPool1d
    return cls(node.kernel, stride, node.padding)


def _batch_norm(node, shape):
    return nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])


LAYERS = {
    "dense": lambda node, shape: nn.Linear(shape[-1], node.units, bias=node.bias),
    "conv": _conv,
    "pool": _pool,
    "global_pool": lambda node, shape: GlobalPool(node.op),
    "seq_pool": lambda node, shape: SeqPool(node.op),
    "batch_norm": _batch_norm,
    "layer_norm": lambda node, shape: nn.LayerNorm(shape[-1], eps=node.eps),
    "activation": lambda node, shape: ACTIVATIONS[node.fn](),
    "dropout": lambda node, shape: nn.Dropout(node.rate),
    "flatten": lambda node, shape: nn.Flatten(),
    "swap_axes": lambda node, shape: SwapAxes(),
    "embedding": lambda node, shape: nn.Embedding(node.vocab_size, node.dim),
    "position_embedding": lambda node, shape: PositionEmbedding(node.max_len, shape[-1]),
    "token_type_embedding": lambda node, shape: TokenTypeEmbedding(node.types, shape[-1]),
    "class_token": lambda node, shape: ClassToken(shape[-1]),
    "patch_embed": lambda node, shape: PatchEmbed(node.ndim, shape[0], node.dim, node.patch),
    "attention": lambda node, shape: Attention(node.dim, node.heads, node.bias),
    "rnn": lambda node, shape: Recurrent(node, shape[-1]),
    "rms_norm": lambda node, shape: RMSNorm(shape[-1], node.eps),
    "causal_attention": lambda node, shape: CausalSelfAttention(node),
    "gated_mlp": lambda node, shape: GatedMLP(node.dim, node.ffn, node.bias),
    "moe": lambda node, shape: MoE(node),
    "lm_head": lambda node, shape: LMHead(shape[-1], node.vocab, node.tied),
}

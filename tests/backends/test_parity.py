"""One graph, two frameworks: parameter and numerical parity between the PyTorch and Keras
builds, node type by node type and for every catalog entry.

The evidence that the adapter layer is backend-agnostic: random weights are made once, loaded
into both builds through the canonical weight format, and the two give the same outputs in
eval mode at float32 within a relative error of 1e-4 (max |Δ| / max |y|).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from modelpick.advise.catalog import build_for, load_catalog  # noqa: E402
from modelpick.backends import get_backend  # noqa: E402
from modelpick.graph import (  # noqa: E402
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
    Graph,
    LayerNorm,
    PatchEmbed,
    Pool,
    PositionEmbedding,
    Residual,
    SeqPool,
    SwapAxes,
    TokenTypeEmbedding,
    cost,
    seq,
)
from modelpick.graph.decoder import CausalAttention, GatedMLP, LMHead, MoE, RMSNorm

TORCH = get_backend("torch")
KERAS = get_backend("tensorflow")
RTOL = 1e-4


def _random_weights(weights: dict, seed: int) -> dict:
    """Fresh random weights of the same shapes, scaled like an initialiser (1/sqrt(fan-in)), so
    that deep or long-recurrent models stay out of the chaotic regime where float rounding,
    not the adapter, would decide the comparison."""
    rng = np.random.default_rng(seed)
    out = {}
    for path, arrays in weights.items():
        out[path] = {}
        for name, a in arrays.items():
            fan_in = int(np.prod(a.shape[1:])) if a.ndim > 1 else 10
            r = rng.standard_normal(a.shape).astype("float32") / np.sqrt(fan_in)
            if name == "running_var":
                r = rng.uniform(0.5, 2.0, a.shape).astype("float32")  # variances are positive
            out[path][name] = r
    return out


def _relative_error(a, b) -> float:
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12))


def _check_parity(graph: Graph, seed: int = 0, batch: int = 2) -> None:
    t = TORCH.build(graph)
    k = KERAS.build(graph)
    # Parameter parity, each against the graph's count for its own framework.
    assert TORCH.count_params(t) == (cost(graph, "torch").params, cost(graph, "torch").buffers)
    tf_cost = cost(graph, "tensorflow")
    assert KERAS.count_params(k) == (tf_cost.params, tf_cost.buffers)
    # Weights made once, loaded into both.
    weights = _random_weights(TORCH.get_weights(t), seed)
    TORCH.set_weights(t, weights)
    KERAS.set_weights(k, weights)
    x = TORCH.make_inputs(t, batch, seed)
    y_torch = TORCH.to_numpy(TORCH.forward(t, x))
    y_keras = KERAS.to_numpy(KERAS.forward(k, x.numpy()))
    assert y_torch.shape == y_keras.shape == (batch, *graph.output_shape)
    assert _relative_error(y_torch, y_keras) < RTOL
    # And back: Keras weights -> canonical -> a fresh torch build gives the same outputs.
    t2 = TORCH.build(graph)
    TORCH.set_weights(t2, KERAS.get_weights(k))
    assert _relative_error(y_torch, TORCH.to_numpy(TORCH.forward(t2, x))) < RTOL


def G(shape, *nodes, kind="float", vocab=0, layout="vector"):  # noqa: N802 - a test shorthand
    return Graph("case", shape, seq(*nodes), kind, vocab, layout=layout)


NODE_CASES = {
    "dense": G((12,), Dense(7)),
    "dense-no-bias-on-sequence": G((5, 12), Dense(7, bias=False), layout="sequence"),
    "conv2d-pad-stride": G((3, 17, 15), Conv(2, 8, 3, stride=2, padding=1), layout="image"),
    "conv2d-valid-groups": G((4, 9, 9), Conv(2, 8, 3, groups=2, padding="valid"), layout="image"),
    "conv1d-waveform": G((1, 400), Conv(1, 6, 80, stride=4), layout="waveform"),
    "maxpool-padded": G((4, 11, 11), Pool(2, "max", 3, 2, 1), layout="image"),
    "avgpool": G((4, 10, 10), Pool(2, "avg", 2), layout="image"),
    "maxpool1d": G((1, 64), Conv(1, 3, 5), Pool(1, "max", 4), layout="waveform"),
    "global-avg": G((5, 6, 7), GlobalPool("avg"), layout="image"),
    "global-max": G((5, 6, 7), GlobalPool("max"), layout="image"),
    "seq-pool": G((6, 8), SeqPool("mean"), layout="sequence"),
    "seq-first": G((6, 8), SeqPool("first"), layout="sequence"),
    "seq-last": G((6, 8), SeqPool("last"), layout="sequence"),
    "batch-norm-2d": G((6, 5, 5), BatchNorm(), layout="image"),
    "batch-norm-vector": G((9,), BatchNorm()),
    "layer-norm": G((4, 16), LayerNorm(1e-6), layout="sequence"),
    **{
        f"activation-{fn}": G((10,), Activation(fn))
        for fn in ("identity", "relu", "sigmoid", "tanh", "gelu", "softmax")
    },
    "dropout-is-identity-in-eval": G((10,), Dropout(0.5)),
    "flatten-channels-first-order": G((3, 4, 5), Flatten(), Dense(6), layout="image"),
    "swap-axes-conv1d": G(
        (20, 4), SwapAxes(), Conv(1, 6, 3, padding="same"), GlobalPool(), layout="sequence"
    ),
    "embedding": G((7,), Embedding(50, 8), kind="tokens", vocab=50, layout="tokens"),
    "position-embedding": G(
        (7,), Embedding(50, 8), PositionEmbedding(16), kind="tokens", vocab=50, layout="tokens"
    ),
    "token-type": G(
        (7,), Embedding(50, 8), TokenTypeEmbedding(2), kind="tokens", vocab=50, layout="tokens"
    ),
    "class-token": G((5, 8), ClassToken(), layout="sequence"),
    "patch-embed-2d": G((3, 32, 32), PatchEmbed(2, 16, 8), layout="image"),
    "patch-embed-1d": G((2, 40), PatchEmbed(1, 16, 8), layout="waveform"),
    "attention": G((9, 32), Attention(32, 4), layout="sequence"),
    "residual": G(
        (6, 16), Residual(seq(LayerNorm(), Dense(16), Activation("gelu"))), layout="sequence"
    ),
    "residual-conv-shortcut": G(
        (4, 8, 8),
        Residual(
            seq(Conv(2, 8, 3, stride=2, padding=1), BatchNorm()),
            seq(Conv(2, 8, 1, stride=2, bias=False)),
        ),
        layout="image",
    ),
    "rnn-simple-relu-sequences": G(
        (6, 5), RNN("simple", 8, activation="relu", return_sequences=True), layout="sequence"
    ),
    "rnn-lstm-last": G((6, 5), RNN("lstm", 8), layout="sequence"),
    "rnn-gru-stacked": G((6, 5), RNN("gru", 8, layers=2), layout="sequence"),
    "rnn-lstm-bidirectional-last": G((6, 5), RNN("lstm", 8, bidirectional=True), layout="sequence"),
    "rnn-gru-bidirectional-stacked-seq": G(
        (6, 5),
        RNN("gru", 8, layers=2, bidirectional=True, return_sequences=True),
        layout="sequence",
    ),
    # the decoder's layers (families/decoder.py), small: GQA with rotary positions, a window,
    # biases, the gated and mixture feed-forwards, heads tied and untied
    "rms-norm": G((6, 16), RMSNorm(1e-5), layout="sequence"),
    "causal-gqa-rope": G((9, 32), CausalAttention(32, 4, 2, 8), layout="sequence"),
    "causal-window-biases": G(
        (9, 32),
        CausalAttention(32, 4, 4, 8, qkv_bias=True, out_bias=True, rope=False, window=3),
        layout="sequence",
    ),
    "gated-mlp": G((5, 16), GatedMLP(16, 24), layout="sequence"),
    "moe-4-experts-top-2": G((5, 16), MoE(16, 24, 4, 2), layout="sequence"),
    "lm-head-tied": G(
        (7,), Embedding(50, 8), LMHead(50, tied=True), kind="tokens", vocab=50, layout="tokens"
    ),
    "lm-head-untied": G((5, 8), LMHead(30), layout="sequence"),
}


@pytest.mark.parametrize("case", list(NODE_CASES), ids=list(NODE_CASES))
def test_node_parity(case):
    _check_parity(NODE_CASES[case], seed=hash(case) % 1000)


def test_every_node_kind_is_covered():
    from modelpick.backends.tensorflow.layers import LAYERS as TF_LAYERS
    from modelpick.backends.torch.layers import LAYERS as TORCH_LAYERS

    kinds = {r.kind for g in NODE_CASES.values() for r in cost(g).rows if r.leaf}
    assert set(TORCH_LAYERS) == set(TF_LAYERS) == kinds


# --- every catalog entry --------------------------------------------------------------------

CATALOG = load_catalog()
BIG = 20_000_000


def _small(arch, io):
    """The entry as it is, or, where it is huge, the same entry with fewer layers."""
    built = build_for(arch, io)
    if built.cost.params <= BIG:
        return built.graph
    field = "layers" if arch.family == "cnn" else "depth"
    value = (1, 1, 1, 1) if field == "layers" else 2
    small = arch._replace(hparams=arch.hparams.model_copy(update={field: value}))
    return build_for(small, io).graph


def _cases():
    from test_catalog import CASES, _io_for  # the same per-domain tasks as the catalog tests

    # decoders: the canonical ones are billions of parameters; small ones are in NODE_CASES
    return [(a, d, _io_for(a, d)) for a, d in CASES if a.family != "decoder"]


CATALOG_CASES = _cases()


@pytest.mark.parametrize(
    "arch,domain,io", CATALOG_CASES, ids=[f"{a.name}-{d}" for a, d, _ in CATALOG_CASES]
)
def test_catalog_entry_parity(arch, domain, io):
    _check_parity(_small(arch, io), seed=7)


def test_canonical_entries_build_full_size_with_exact_params():
    # The huge ones at full size, parameters only (no forward pass), in both frameworks.
    from modelpick.advise.catalog import reference_io

    for name in ("resnet50", "vit_b_16"):
        arch = CATALOG.get(name)
        graph = build_for(arch, reference_io(arch)).graph
        assert TORCH.count_params(TORCH.build(graph))[0] == arch.entry.reference_params
        assert KERAS.count_params(KERAS.build(graph))[0] == arch.entry.reference_params

"""Calibration: learn per-device corrections to the roofline from measurements, and keep them.

The prediction for a forward pass is linear in the unknowns once the roofline terms are known:

    t  ≈  C  +  Σ_nodes o_kind · kernels  +  Σ_nodes (c_kind · compute + m_kind · memory)

(C: the cost of one framework call; o_kind: a node's fixed cost per kernel, module dispatch and
launch; compute and memory: the node's FLOPs at peak and bytes at peak bandwidth; c and m: the
factors this device puts on them). So a least-squares fit of relative errors, with a weak pull
of every factor towards 1 and non-negativity, recovers them from timings of the reference
suite. The result is stored per device fingerprint and backend in the user's cache directory,
written atomically; a corrupt or foreign file is ignored with a warning.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path
from typing import NamedTuple

from ..advise.hardware import DeviceProfile
from ..advise.predict import roofline_parts, timing_key
from ..errors import InputError
from ..graph import GraphCost
from ..safeio import atomic_write_text, load_json_file

FORMAT_VERSION = 2  # 2: compute and memory factors per kind (1 had one roofline factor)
PRIOR_WEIGHT = 0.05  # how strongly a factor without data stays at 1


class Sample(NamedTuple):
    """One measurement: a graph's cost, the batch, the precision and the measured seconds."""

    cost: GraphCost
    batch: int
    precision: str
    seconds: float


class Calibration(NamedTuple):
    fingerprint: str
    backend: str
    device_key: str
    created: str
    compute_scale: dict[str, float]
    memory_scale: dict[str, float]
    launch_overhead_s: float
    call_overhead_s: float
    samples: int
    train_overhead_s: float = 0.0
    node_overhead_s: dict[str, float] = {}  # noqa: RUF012
    median_error_pct: float | None = None  # on held-out architectures
    p90_error_pct: float | None = None
    held_out: int = 0
    # per reduced precision the device supports: its time over fp32's, measured on the same
    # models, {"bf16": {"latency": batch-1 forward, "train": training step at batch 16}}
    precision_ratio: dict[str, dict[str, float]] = {}  # noqa: RUF012
    # bytes/s of a batch-1 product with a weight matrix far larger than the caches: how fast
    # this device streams weights, what decoding a language model is bound by (docs/llm.md)
    weight_stream_bytes_per_s: float = 0.0


def fingerprint(device: DeviceProfile, detail: str = "") -> str:
    """A stable name for this device: kind, model and (for GPUs) the driver."""
    text = f"{device.kind}-{device.name}-{detail}".lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:120]


def cache_dir() -> Path:
    if os.environ.get("MODELPICK_CACHE_DIR"):
        return Path(os.environ["MODELPICK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelpick"


def _path(fp: str, backend: str) -> Path:
    return cache_dir() / f"calibration-{fp}-{backend}.json"


def save_calibration(cal: Calibration) -> Path:
    """Write atomically (temp file + rename in the same directory, interrupts held back for the
    write): the previous calibration or the new one, never half a file."""
    path = _path(cal.fingerprint, cal.backend)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT_VERSION, **cal._asdict()}
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return path


MAX_CALIBRATION_BYTES = 1_000_000
_TEXT = ("fingerprint", "backend", "device_key", "created")
_SECONDS = ("launch_overhead_s", "call_overhead_s", "train_overhead_s")
_TABLES = ("compute_scale", "memory_scale", "node_overhead_s")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_calibration(doc: object, fp: str, backend: str) -> Calibration:
    """A Calibration from an untrusted document; ValueError naming the first bad field."""
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT_VERSION:
        shown = repr(doc.get("format"))
        raise ValueError(
            f"format {shown if len(shown) < 30 else '(long)'}, expected {FORMAT_VERSION}"
        )
    known = set(Calibration._fields)
    unknown = sorted(str(k)[:40] for k in doc if k != "format" and k not in known)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    defaults = Calibration._field_defaults
    missing = [f for f in Calibration._fields if f not in doc and f not in defaults]
    if missing:
        raise ValueError(f"{missing[0]}: missing")
    for f in _TEXT:
        if not isinstance(doc[f], str) or len(doc[f]) > 200:
            raise ValueError(f"{f}: expected a short string")
    for f in _SECONDS:
        value = doc.get(f, 0.0)
        if not _number(value) or not 0 <= value < 10:
            raise ValueError(f"{f} is not a time in seconds (0 to 10)")
    for f in ("samples", "held_out"):
        value = doc.get(f, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**9:
            raise ValueError(f"{f}: expected a count")
    for f in ("median_error_pct", "p90_error_pct"):
        value = doc.get(f)
        if value is not None and (not _number(value) or not 0 <= value < 1e9):
            raise ValueError(f"{f}: expected a percentage")
    for f in _TABLES:
        table = doc.get(f, {})
        if not isinstance(table, dict) or len(table) > 1000:
            raise ValueError(f"{f}: expected a mapping of node kinds to numbers")
        for k, v in table.items():
            if len(k) > 200 or not _number(v) or not 0 <= v < 1e6:
                raise ValueError(f"{f}: expected non-negative numbers below 1e6")
    ratios = doc.get("precision_ratio", {})
    if not isinstance(ratios, dict) or not all(
        k in ("bf16", "fp16")
        and isinstance(v, dict)
        and set(v) == {"latency", "train"}
        and all(_number(x) and 0.01 <= x <= 100 for x in v.values())
        for k, v in ratios.items()
    ):
        raise ValueError(
            "precision_ratio: expected {precision: {latency: ratio, train: ratio}} with "
            "ratios from 0.01 to 100"
        )
    stream = doc.get("weight_stream_bytes_per_s", 0.0)
    if not _number(stream) or not 0 <= stream < 1e15:
        raise ValueError("weight_stream_bytes_per_s: expected bytes per second")
    cal = Calibration(**{k: v for k, v in doc.items() if k != "format"})
    if cal.fingerprint != fp or cal.backend != backend:
        raise ValueError(f"it belongs to {cal.fingerprint} / {cal.backend}")
    return cal


def load_calibration(fp: str, backend: str) -> tuple[Calibration | None, list[str]]:
    """The stored calibration for this device and backend, or None; warnings say why not.

    The file is untrusted (anyone could have written it): a fifo, a device, a huge, deep or
    malformed file, or any field of the wrong type, is ignored with one warning."""
    path = _path(fp, backend)
    if not os.path.lexists(path):
        return None, []
    try:
        doc = load_json_file(path, InputError, "calibration file", MAX_CALIBRATION_BYTES)
        return check_calibration(doc, fp, backend), []
    except InputError as exc:
        return None, [f"ignoring calibration file: {exc}"]
    except (ValueError, TypeError) as exc:
        return None, [f"ignoring calibration file {path}: {exc}"]


def apply_calibration(device: DeviceProfile, cal: Calibration) -> DeviceProfile:
    quality = ""
    if cal.median_error_pct is not None:
        quality = (
            f"; held-out latency error median {cal.median_error_pct:.0f}%, "
            f"p90 {cal.p90_error_pct:.0f}%"
        )
    return device._replace(
        compute_scale=dict(cal.compute_scale),
        memory_scale=dict(cal.memory_scale),
        launch_overhead_s=cal.launch_overhead_s,
        call_overhead_s=cal.call_overhead_s,
        train_overhead_s=cal.train_overhead_s,
        node_overhead_s=dict(cal.node_overhead_s),
        # measured ratios replace assumed ones; a precision not measured keeps its roofline
        precision_ratio={
            **device.precision_ratio,
            **{k: dict(v) for k, v in cal.precision_ratio.items()},
        },
        weight_stream_bytes_per_s=cal.weight_stream_bytes_per_s or device.weight_stream_bytes_per_s,
        precision_ratio_source=(
            f"measured by calibration on {cal.created}"
            if cal.precision_ratio
            else device.precision_ratio_source
        ),
        calibration=(
            f"calibrated with {cal.backend} on {cal.created} ({cal.samples} timings{quality})"
        ),
    )


def terms(
    sample: Sample, device: DeviceProfile, eager: bool = True
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per node kind: the count of fixed costs, and the compute and memory seconds of one
    sample at the device's peaks. These are the regressors. An eager framework pays a module
    call even for a node that launches nothing (a view, a container, inference-time dropout):
    max(1, kernels) per node; a graph executor pays per kernel only."""
    counts: dict[str, float] = {}
    compute: dict[str, float] = {}
    memory: dict[str, float] = {}
    for row in sample.cost.rows:
        key = timing_key(row)
        n = max(1, row.cost.kernels) if eager else row.cost.kernels
        counts[key] = counts.get(key, 0.0) + n
        if not row.leaf and row.kind != "residual":
            continue
        c, m = roofline_parts(row, sample.batch, device, sample.precision)
        if c or m:
            compute[key] = compute.get(key, 0.0) + c
            memory[key] = memory.get(key, 0.0) + m
    return counts, compute, memory


# Graph-executing backends (TensorFlow's tf.function) run every op through one executor: their
# per-node cost is nearly the same whatever the op, and fitting one per kind over-fits (tried:
# held-out median error 37 %, p90 236 % per kind against 22 %, 58 % shared). Recurrent steps
# (a while-loop iteration each) and attention (Keras builds it from 22 ops, two of them
# einsums) keep their own, and kinds that launch no kernel (views, containers, inference-time
# dropout) cost nothing: the graph has compiled them away.
SHARED_FIXED_COST = ("tensorflow",)
OWN_FIXED_COST = ("rnn", "attention")  # kinds that keep their own fixed cost when shared


def _share(counts: dict[str, float], free: set[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, n in counts.items():
        k = key if key.startswith(OWN_FIXED_COST) or key in free else "*"
        out[k] = out.get(k, 0.0) + n
    return out


def fit_calibration(
    samples: list[Sample], device: DeviceProfile, backend: str, fp: str
) -> Calibration:
    """Least squares on relative error, non-negative, with every scale pulled weakly to 1."""
    import numpy as np

    shared = backend in SHARED_FIXED_COST
    rows = [terms(s, device, eager=not shared) for s in samples]
    free: set[str] = set()  # kinds that never launch a kernel: no fixed cost in a graph
    if shared:
        seen = {k for counts, _, _ in rows for k in counts}
        free = {k for k in seen if all(counts.get(k, 0.0) == 0 for counts, _, _ in rows)}
        rows = [(_share(counts, free), comp, mem) for counts, comp, mem in rows]
    fixed = sorted({k for counts, _, _ in rows for k in counts} - free)
    kinds = sorted({k for _, comp, _ in rows for k in comp})
    names = ["call", *(f"fixed:{k}" for k in fixed), *kinds, *kinds]
    a, b = [], []
    for (counts, comp, mem), s in zip(rows, samples):
        a.append(
            [
                1.0,
                *(counts.get(k, 0.0) for k in fixed),
                *(comp.get(k, 0.0) for k in kinds),
                *(mem.get(k, 0.0) for k in kinds),
            ]
        )
        b.append(s.seconds)
    a_m = np.array(a) / np.array(b)[:, None]  # relative error: every timing counts alike
    b_v = np.ones(len(b))
    first = 1 + len(fixed)
    n_scales = 2 * len(kinds)
    prior_a = np.zeros((n_scales, len(names)))
    for i in range(n_scales):
        prior_a[i, first + i] = PRIOR_WEIGHT
    a_m = np.vstack([a_m, prior_a])
    b_v = np.concatenate([b_v, np.full(n_scales, PRIOR_WEIGHT)])
    x = _nnls(a_m, b_v)
    mem0 = first + len(kinds)
    return Calibration(
        fingerprint=fp,
        backend=backend,
        device_key=device.key,
        created=date.today().isoformat(),
        compute_scale={k: float(x[first + i]) for i, k in enumerate(kinds)},
        memory_scale={k: float(x[mem0 + i]) for i, k in enumerate(kinds)},
        node_overhead_s={
            **{k: float(x[1 + i]) for i, k in enumerate(fixed)},
            **dict.fromkeys(sorted(free), 0.0),
        },
        launch_overhead_s=float(np.median(x[1:first])) if fixed else 0.0,
        call_overhead_s=float(x[0]) or 1e-7,
        samples=len(samples),
    )


def _nnls(a, b, iterations: int = 50):
    """Non-negative least squares by an active set: solve, drop negative unknowns, repeat."""
    import numpy as np

    free = np.ones(a.shape[1], dtype=bool)
    x = np.zeros(a.shape[1])
    for _ in range(iterations):
        sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
        if (sol >= 0).all():
            x[:] = 0
            x[free] = sol
            return x
        idx = np.flatnonzero(free)
        free[idx[sol < 0]] = False
    x[:] = 0
    x[free] = np.clip(np.linalg.lstsq(a[:, free], b, rcond=None)[0], 0, None)
    return x


def fit_train_overhead(pairs: list[tuple[float, float]]) -> float:
    """The fixed training-step cost: the median of (measured - predicted) over
    (measured, predicted-without-overhead) pairs, never negative."""
    import statistics

    return max(0.0, statistics.median(m - p for m, p in pairs)) if pairs else 0.0


# --- the reference suite ----------------------------------------------------------------------


def reference_suite(backend: str = "torch") -> list:
    """Single-node graphs over node kinds and sizes, plus chains of tiny nodes (launch cost).
    The decoder's nodes only for backends that build them.

    Small enough to time in well under a minute on a laptop CPU; each is timed at batch 1 and
    at batch 16.
    """
    from ..graph import (
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
        seq,
    )

    def g(name, shape, *nodes, layout="vector", kind="float", vocab=0):
        return Graph(name, shape, seq(*nodes), kind, vocab, layout=layout)

    suite = [g(f"chain-{n}", (8,), *[Activation("relu") for _ in range(n)]) for n in (1, 8, 32)]
    suite += [g(f"dense-{i}x{o}", (i,), Dense(o)) for i, o in ((64, 64), (512, 512), (2048, 1024))]
    suite += [
        g(f"conv-{c}to{f}-{s}px", (c, s, s), Conv(2, f, 3, padding=1), layout="image")
        for c, f, s in ((3, 32, 32), (32, 64, 32), (64, 128, 16))
    ]
    suite += [
        g("conv1d-32to64-L256", (32, 256), Conv(1, 64, 3, padding=1), layout="waveform"),
        g("attention-L64-D128", (64, 128), Attention(128, 2), layout="sequence"),
        g("attention-L128-D256", (128, 256), Attention(256, 4), layout="sequence"),
        g("lstm-h64-L16", (16, 32), RNN("lstm", 64), layout="sequence"),
        g("lstm-h64-L64", (64, 32), RNN("lstm", 64), layout="sequence"),
        g("gru-h128-L32", (32, 64), RNN("gru", 128), layout="sequence"),
        g("gru-h64-L64", (64, 16), RNN("gru", 64), layout="sequence"),
        g("rnn-h64-L32", (32, 16), RNN("simple", 64), layout="sequence"),
        # Recurrent layers over wider inputs (an embedding's) and a stacked pair: the input
        # projection and the recurrence scale differently.
        g("lstm-h48-L32-i96", (32, 96), RNN("lstm", 48), layout="sequence"),
        g("lstm-h192-L32-i96", (32, 96), RNN("lstm", 192), layout="sequence"),
        g("lstm2-h96-L64-i9", (64, 9), RNN("lstm", 96, layers=2), layout="sequence"),
        g("gru-h96-L32-i96", (32, 96), RNN("gru", 96), layout="sequence"),
        g("gru-h192-L64-i9", (64, 9), RNN("gru", 192), layout="sequence"),
        g("layernorm-128x256", (128, 256), LayerNorm(), layout="sequence"),
        g("batchnorm-32x32x32", (32, 32, 32), BatchNorm(), layout="image"),
        g("batchnorm-128", (128,), BatchNorm()),
        g("batchnorm-64xL128", (64, 128), BatchNorm(), layout="waveform"),
        # Nodes that launch nothing still cost a module call each in an eager framework.
        g("dropout-8", (64,), *[Dropout(0.1) for _ in range(8)]),
        g("flatten-16x8x8", (16, 8, 8), Flatten(), layout="image"),
        g("swap-axes-32x16", (32, 16), SwapAxes(), layout="sequence"),
        # The transformer family's small nodes: positions, segments, class token, pooling,
        # patches.
        g("position-embedding-32x96", (32, 96), PositionEmbedding(64), layout="sequence"),
        g("token-type-32x96", (32, 96), TokenTypeEmbedding(), layout="sequence"),
        g("class-token-64x96", (64, 96), ClassToken(), layout="sequence"),
        g("seq-pool-mean-32x96", (32, 96), SeqPool("mean"), layout="sequence"),
        g("patch-embed-32px-p4-d96", (3, 32, 32), PatchEmbed(2, 96, 4), layout="image"),
        g("gelu-64k", (65536,), Activation("gelu")),
        g("gelu-16x384", (16, 384), Activation("gelu"), layout="sequence"),
        g("tanh-256", (256,), Activation("tanh")),
        g("sigmoid-16", (16,), Activation("sigmoid")),
        g("softmax-10", (10,), Activation("softmax")),
        g("maxpool-32x32x32", (32, 32, 32), Pool(2, "max", 2), layout="image"),
        g("globalpool-64x16x16", (64, 16, 16), GlobalPool(), layout="image"),
        g(
            "embedding-10k-128",
            (64,),
            Embedding(10000, 128),
            layout="tokens",
            kind="tokens",
            vocab=10000,
        ),
    ]
    # Small composite graphs (not catalog entries): module-call overhead of nested containers.
    block = seq(
        Conv(2, 16, 3, padding=1, bias=False),
        BatchNorm(),
        Activation("relu"),
        Conv(2, 16, 3, padding=1, bias=False),
        BatchNorm(),
    )
    ffn = seq(LayerNorm(), Dense(256), Activation("gelu"), Dense(64))
    suite += [
        g("mlp-4x128", (128,), *[n for _ in range(4) for n in (Dense(128), Activation("relu"))]),
        g(
            "residual-convs-4",
            (16, 16, 16),
            *[seq(Residual(block), Activation("relu")) for _ in range(4)],
            layout="image",
        ),
        g(
            "encoder-2x64-L16",
            (16, 64),
            *[
                n
                for _ in range(2)
                for n in (Residual(seq(LayerNorm(), Attention(64, 1))), Residual(ffn))
            ],
            layout="sequence",
        ),
    ]
    if backend == "torch":  # the decoder's layers (PyTorch only so far, docs/llm.md)
        from ..graph.decoder import CausalAttention, GatedMLP, LMHead, MoE, RMSNorm

        tok = dict(layout="tokens")
        suite += [
            g("rms-norm-128x256", (128, 256), RMSNorm(), **tok),
            g("causal-gqa-rope-L128-D256", (128, 256), CausalAttention(256, 4, 2, 64), **tok),
            g("causal-mha-L64-D128", (64, 128), CausalAttention(128, 2, 2, 64, rope=False), **tok),
            g("gated-mlp-64x128-f352", (64, 128), GatedMLP(128, 352), **tok),
            g("moe-32x128-e4k2", (32, 128), MoE(128, 256, 4, 2), **tok),
            g("lm-head-32x128-v5000", (32, 128), LMHead(5000), **tok),
        ]
    return suite


# Held-out architectures: catalog entries the fit never sees, on small tasks.
HELD_OUT = (
    ("seed-keras-cnn", "vision", (1, 28, 28), 10),
    ("cnn-w16-d3", "vision", (1, 28, 28), 10),
    ("cnn-w32-d2", "vision", (3, 32, 32), 10),
    ("resnet-w16-1x1x1x1", "vision", (3, 32, 32), 10),
    ("mlp-w256-d2", "tabular", (20,), 2),
    ("mlp-w1024-d1", "tabular", (64,), 5),
    ("lstm-h64-l1", "text", (32,), 2),
    ("gru-h128-l1", "timeseries", (64, 9), 6),
    ("cnn1d-w32-d2", "timeseries", (128, 9), 6),
    ("transformer-d128-l2", "text", (32,), 4),
)


def held_out_io(domain: str, shape: tuple[int, ...], outputs: int):
    """The classification task a HELD_OUT entry is judged on (a 5,000-word vocabulary for text)."""
    from ..families import IOSpec

    layout = {"vision": "image", "tabular": "vector", "text": "tokens"}.get(domain, "sequence")
    vocab = 5000 if layout == "tokens" else 0
    return IOSpec(domain, "classification", layout, shape, outputs, vocab_size=vocab)

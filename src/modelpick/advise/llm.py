"""Large-language-model sizing: memory per use, how many GPUs, tokens per second.

Everything is computed from the decoder's hyperparameters (families/decoder.py), whose
parameter count the graph makes exact. Each formula names its source; docs/llm.md derives them
and works an example from GPT-2 (124M) to GPT-3 (175B).

Memory (bytes):
- model states of mixed-precision AdamW: 16 per parameter, 2 (bf16 weights) + 2 (bf16
  gradients) + 12 (fp32 master weights, first and second moments) (Rajbhandari et al. 2020,
  "ZeRO", §3.1, K = 12);
- activations per layer, bf16, with a fused (flash) attention kernel and no dropout: the
  tensors each sub-block keeps for backward, derived per architecture below; for GPT-3's shape
  (q = kv = h, ffn 4h, GELU) it is 32·s·b·h, Korthikanti et al. 2022 (eq. 2) 34·s·b·h less
  the two dropout masks, and without their 5·a·s²·b attention term, which flash attention does
  not store (Dao et al. 2022); with full activation checkpointing each layer keeps only its
  input, 2·s·b·h (Chen et al. 2016; Korthikanti et al. 2022 §4);
- LoRA (Hu et al. 2021): the frozen base in bf16, adapters of rank r on every linear layer of
  every block (what QLoRA found necessary to match full fine-tuning, Dettmers et al. 2023 §4)
  with fp32 weights, gradients and AdamW moments (16 bytes each);
- QLoRA (Dettmers et al. 2023): the blocks' linear weights in 4-bit NF4 (0.5 byte) plus
  double-quantised constants (0.127 bit per parameter, §3), the rest (embeddings, head, norms)
  in bf16, adapters as LoRA;
- inference: weights at bf16 (2 bytes), int8 (1 byte and an fp16 scale per output row,
  LLM.int8(), Dettmers et al. 2022) or int4 (0.5 byte and an fp16 scale per group of 128,
  GPTQ/AWQ's common layout), embeddings and norms in bf16, plus the KV cache,
  layers × 2 × kv_heads × head_dim × min(context, window) × batch × 2 bytes, plus one
  layer's transient at prefill and the last position's logits.
- several GPUs: ZeRO stage 1 shards the optimizer states (4Ψ + 12Ψ/N per GPU), stage 2 also
  the gradients (2Ψ + 14Ψ/N), stage 3 / FSDP full sharding also the weights (16Ψ/N)
  (Rajbhandari et al. 2020, Figure 1); tensor parallelism (Megatron-LM, Shoeybi et al. 2019,
  with sequence parallelism, Korthikanti et al. 2022) divides states and activations by its
  degree. Each GPU keeps its own micro-batch's activations.

Speed: decoding a token reads every weight and the KV cache once (memory-bound at small
batch); prefill and training are compute-bound: 2·N FLOPs per token forward, 6·N for training
(Kaplan et al. 2020), 8·N with activation recomputation, 4·N for LoRA (no weight gradients of
the frozen base). Efficiencies: MODEL_FLOPS_UTILISATION and DECODE_BANDWIDTH_EFFICIENCY.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .hardware import DeviceProfile

GiB = 2**30
STATE_BYTES_PER_PARAM = 16  # mixed-precision AdamW (ZeRO's 2 + 2 + 12)
ADAPTER_STATE_BYTES = 16  # fp32 adapter weight, gradient, two moments
NF4_BYTES = 0.5
NF4_CONSTANT_BITS = 0.127  # double quantisation (Dettmers et al. 2023, §3)
WEIGHT_BYTES = {"bf16": 2.0, "int8": 1.0, "int4": 0.5}
INT4_GROUP = 128
KV_BYTES = 2  # the cache in bf16
# Fraction of a GPU's memory a job can use: the CUDA context, the allocator's fragmentation and
# framework workspaces take the rest (a round figure; measured peaks on this project's runs sit
# within it).
USABLE_MEMORY = 0.9
# Sustained fraction of dense peak FLOP/s in training and prefill: large-model training runs
# report 40-55 % model FLOPs utilisation (Chowdhery et al. 2022, PaLM: 46 %; Korthikanti et al.
# 2022: 54-56 % on A100s with recomputation); 0.4 leaves room for a single-node, untuned run.
MODEL_FLOPS_UTILISATION = 0.4
# Sustained fraction of peak memory bandwidth while decoding at small batch, before `bench`
# measures how fast the device streams weights.
DECODE_BANDWIDTH_EFFICIENCY = 0.6
# Decoding's share of that measured weight-streaming rate (a batch-1 product with a 256 MiB
# matrix, calibration): measured 0.75-0.85 here (benchmarks/llm_decode.py; the per-layer
# kernels, the KV cache reads and the Python step add to the pure stream).
DECODE_STREAM_EFFICIENCY = 0.8


def decode_bandwidth(device: DeviceProfile) -> tuple[float, str]:
    """Bytes/s a decoding step reads at, and where the figure comes from."""
    if device.weight_stream_bytes_per_s:
        return (
            device.weight_stream_bytes_per_s * DECODE_STREAM_EFFICIENCY,
            f"{DECODE_STREAM_EFFICIENCY:g} × the weight streaming rate calibration measured",
        )
    return (
        device.bandwidth_bytes_per_s * DECODE_BANDWIDTH_EFFICIENCY,
        f"{DECODE_BANDWIDTH_EFFICIENCY:g} × the peak bandwidth (uncalibrated)",
    )


METHODS = ("full", "lora", "qlora")
ZERO_STAGES = (0, 1, 2, 3)


class Shape(NamedTuple):
    """What the formulas need from a decoder (families/decoder.DecoderParams, resolved)."""

    dim: int
    depth: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    context: int
    mlp: str  # gelu | swiglu
    sliding_window: int
    experts: int
    experts_per_token: int
    params: int  # exact, from the graph
    active_params: int  # per token (= params without experts)
    block_linear_params: int  # the blocks' linear weights (what LoRA adapts, QLoRA quantises)
    linear_layers: tuple[tuple[int, int], ...]  # (in, out) of every block linear, one layer
    tied: bool = False  # the head reuses the token embedding


def shape_of(hp, graph_cost) -> Shape:
    """Resolve a DecoderParams against its built graph's exact cost."""
    d, q, kv, f = hp.dim, hp.heads * hp.head_size, hp.n_kv_heads * hp.head_size, hp.ffn_dim
    linears = [(d, q), (d, kv), (d, kv), (q, d)]
    if hp.experts:
        linears += [(d, f), (d, f), (f, d)] * hp.experts
    elif hp.mlp == "swiglu":
        linears += [(d, f), (d, f), (f, d)]
    else:
        linears += [(d, f), (f, d)]
    inactive = hp.depth * (hp.experts - hp.experts_per_token) * 3 * d * f if hp.experts else 0
    return Shape(
        dim=d,
        depth=hp.depth,
        heads=hp.heads,
        kv_heads=hp.n_kv_heads,
        head_dim=hp.head_size,
        ffn=f,
        vocab=graph_cost.graph.vocab_size,
        context=hp.context or graph_cost.graph.input_shape[0],
        mlp=hp.mlp,
        sliding_window=hp.sliding_window,
        experts=hp.experts,
        experts_per_token=hp.experts_per_token,
        params=graph_cost.params,
        active_params=graph_cost.params - inactive,
        block_linear_params=hp.depth * sum(i * o for i, o in linears),
        linear_layers=tuple(linears),
        tied=hp.tie_embeddings,
    )


# --- memory -----------------------------------------------------------------------------------


def kv_cache_bytes(s: Shape, context: int, batch: int = 1) -> int:
    """K and V of every layer for `context` tokens of `batch` sequences (a sliding window caps
    the tokens kept)."""
    kept = min(context, s.sliding_window) if s.sliding_window else context
    return s.depth * 2 * s.kv_heads * s.head_dim * kept * batch * KV_BYTES


def layer_activation_elems(s: Shape) -> int:
    """Elements one layer keeps for backward, per token (bf16 unless noted)."""
    q, kv, h, f = s.heads * s.head_dim, s.kv_heads * s.head_dim, s.dim, s.ffn
    # the norm's input, the Q/K/V projections' input, Q, K, V, the attention output (the
    # out-projection's input)
    attention = h + h + q + 2 * kv + q
    if s.experts:
        # the experts' input, the router logits, and per chosen expert its input, gate, up,
        # activation and product
        mlp = h + h + s.experts + s.experts_per_token * (h + 4 * f)
    elif s.mlp == "swiglu":
        mlp = h + h + 4 * f  # the norm's input, the input; gate, silu(gate), up, their product
    else:
        mlp = h + h + 2 * f  # the norm's input, the input; the GELU's input and output
    return attention + mlp


def activation_bytes(s: Shape, tokens: int, checkpointing: bool = False) -> int:
    """Activations of a training step over `tokens` (= sequence length × micro-batch)."""
    lse = 4 * s.heads  # flash attention's fp32 log-sum-exp per head and token
    per_layer = tokens * (2 * layer_activation_elems(s) + lse)
    # the logits: bf16, and the loss's fp32 log-softmax kept for backward; at the loss's
    # backward, the fp32 gradients of both and the bf16 one handed back (measured:
    # benchmarks/llm_memory.py)
    logits = tokens * s.vocab * (2 + 4 + 4 + 2)
    final = tokens * s.dim * 2
    if checkpointing:
        return s.depth * tokens * s.dim * 2 + per_layer + logits + final
    return s.depth * per_layer + logits + final


class Breakdown(NamedTuple):
    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def to_dict(self) -> dict:
        return {**self._asdict(), "total": self.total}


def lora_params(s: Shape, rank: int) -> int:
    return s.depth * sum(rank * (i + o) for i, o in s.linear_layers)


def train_memory(s: Shape, seq_len: int, batch: int, checkpointing: bool = False) -> Breakdown:
    """Full training or fine-tuning with mixed-precision AdamW, one GPU."""
    n = s.params
    return Breakdown(
        weights=2 * n,
        gradients=2 * n,
        optimizer=12 * n,
        activations=activation_bytes(s, seq_len * batch, checkpointing),
    )


def finetune_memory(
    s: Shape, method: str, seq_len: int, batch: int, rank: int = 16, checkpointing: bool = False
) -> Breakdown:
    if method == "full":
        return train_memory(s, seq_len, batch, checkpointing)
    adapters = lora_params(s, rank)
    if method == "lora":
        base = 2 * s.params
    elif method == "qlora":
        rest = s.params - s.block_linear_params
        base = math.ceil(s.block_linear_params * (NF4_BYTES + NF4_CONSTANT_BITS / 8) + 2 * rest)
    else:
        raise ValueError(f"unknown method {method!r}")
    # the adapters' own activations: each linear's r-wide bottleneck, per token
    lora_acts = seq_len * batch * s.depth * len(s.linear_layers) * rank * 2
    return Breakdown(
        weights=base + 4 * adapters,
        gradients=4 * adapters,
        optimizer=8 * adapters,
        activations=activation_bytes(s, seq_len * batch, checkpointing) + lora_acts,
    )


def weight_bytes(s: Shape, precision: str) -> int:
    """Serving weights: the blocks' linear weights at `precision`, the rest in bf16."""
    rest = s.params - s.block_linear_params
    lin = s.block_linear_params
    if precision == "bf16":
        return 2 * s.params
    if precision == "fp32":  # serving unconverted, as CPUs often do
        return 4 * s.params
    if precision == "int8":
        rows = s.depth * sum(o for _, o in s.linear_layers)
        return lin + 2 * rows + 2 * rest
    if precision == "int4":
        return math.ceil(lin * (0.5 + 2 / INT4_GROUP)) + 2 * rest
    raise ValueError(f"unknown weight precision {precision!r}")


def inference_memory(s: Shape, precision: str, context: int, batch: int = 1) -> int:
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    transient = context * batch * max(q + 2 * kv, (2 if s.mlp == "gelu" else 3) * s.ffn) * 2
    logits = batch * s.vocab * 4
    return weight_bytes(s, precision) + kv_cache_bytes(s, context, batch) + transient + logits


def _largest(fits, limit: int) -> int:
    """The largest n in 1..limit with fits(n) (fits is monotone); 0 if not even 1."""
    if not fits(1):
        return 0
    lo, hi = 1, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def max_context(s: Shape, precision: str, memory_bytes: int, batch: int = 1) -> int:
    """The longest context (up to the model's) whose inference memory fits."""
    budget = memory_bytes * USABLE_MEMORY
    return _largest(lambda n: inference_memory(s, precision, n, batch) <= budget, s.context)


def max_batch(s: Shape, precision: str, memory_bytes: int, context: int) -> int:
    """The largest serving batch at `context` whose inference memory fits (up to 2^20)."""
    budget = memory_bytes * USABLE_MEMORY
    return _largest(lambda n: inference_memory(s, precision, context, n) <= budget, 2**20)


def per_gpu_train_bytes(b: Breakdown, n_gpus: int, zero: int = 0, tensor_parallel: int = 1) -> int:
    """One GPU's share of a training job's memory (ZeRO stage `zero`, tensor parallelism)."""
    states = (b.weights, b.gradients, b.optimizer)
    w, g, o = (x / tensor_parallel for x in states)
    dp = max(1, n_gpus // tensor_parallel)
    if zero >= 1:
        o /= dp
    if zero >= 2:
        g /= dp
    if zero >= 3:
        w /= dp
    return math.ceil(w + g + o + b.activations / tensor_parallel)


def gpus_needed(
    b: Breakdown, device_bytes: int, zero: int = 0, tensor_parallel: bool = False, limit=4096
) -> int | None:
    """The fewest GPUs of `device_bytes` that hold the job (None: not even `limit`): any count
    up to 8 (one node), then powers of two. With `tensor_parallel` the model is split across
    all of them (no data parallelism)."""
    usable = device_bytes * USABLE_MEMORY
    counts = [*range(1, 9), *(2**k for k in range(4, 13))]
    for n in counts:
        if n > limit:
            break
        if tensor_parallel and n & (n - 1):
            continue  # tensor-parallel degrees divide the heads: powers of two
        if per_gpu_train_bytes(b, n, zero, n if tensor_parallel else 1) <= usable:
            return n
    return None


# --- speed ----------------------------------------------------------------------------------


def decode_bytes(s: Shape, precision: str, context: int, batch: int = 1) -> int:
    """Bytes one decoding step reads: every weight but the token embedding (a lookup reads one
    row of it; a tied head reads it whole, as the head), and each sequence's KV cache."""
    lookup = 0 if s.tied else (4 if precision == "fp32" else 2) * s.vocab * s.dim
    weights = weight_bytes(s, precision) - lookup
    if s.experts:
        # a step reads only the experts its tokens chose: with B tokens each picking k of E,
        # E·(1 − (1 − k/E)^B) distinct experts per layer on average
        touched = 1 - (1 - s.experts_per_token / s.experts) ** batch
        per_expert = s.depth * 3 * s.dim * s.ffn * {**WEIGHT_BYTES, "fp32": 4.0}[precision]
        weights -= s.experts * per_expert * (1 - touched)
    return int(weights) + kv_cache_bytes(s, context, batch)


def serve_gpus(s: Shape, precision: str, memory_bytes: int, context: int, batch: int = 1):
    """GPUs a model needs to be served (tensor parallelism splits weights and cache evenly)."""
    need = inference_memory(s, precision, context, batch)
    n = max(1, math.ceil(need / (memory_bytes * USABLE_MEMORY)))
    return 1 << (n - 1).bit_length()  # a tensor-parallel degree: a power of two


def decode_tokens_per_s(
    s: Shape, device: DeviceProfile, precision: str, context: int, batch: int = 1, gpus: int = 1
) -> float:
    """Tokens per second over `batch` sequences at `context`: each step reads the weights once
    and every sequence's KV cache; bound by compute where a large batch makes it so. Over
    `gpus` (tensor parallel) the bandwidth and FLOP/s add up (communication not counted)."""
    moved = decode_bytes(s, precision, context, batch)
    t_mem = moved / (gpus * decode_bandwidth(device)[0])
    peak = device.peak_flops.get("bf16") or device.peak_flops["fp32"]
    t_compute = 2 * s.active_params * batch / (gpus * peak * MODEL_FLOPS_UTILISATION)
    return batch / max(t_mem, t_compute)


def prefill_tokens_per_s(s: Shape, device: DeviceProfile, context: int) -> float:
    peak = device.peak_flops.get("bf16") or device.peak_flops["fp32"]
    attn = 2 * 2 * s.depth * s.heads * s.head_dim * (context / 2)  # causal QKᵀ and AV per token
    return peak * MODEL_FLOPS_UTILISATION / (2 * s.active_params + attn)


TRAIN_FLOPS_PER_PARAM = {"full": 6, "lora": 4, "qlora": 4}


def train_tokens_per_s(
    s: Shape, device: DeviceProfile, method: str = "full", checkpointing: bool = False
) -> float:
    peak = device.peak_flops.get("bf16") or device.peak_flops["fp32"]
    per_param = TRAIN_FLOPS_PER_PARAM[method] + (2 if checkpointing else 0)
    return peak * MODEL_FLOPS_UTILISATION / (per_param * s.active_params)


# --- one decoder, one profile: what `estimate` reports -----------------------------------------


def sizing(hp, graph_cost, profile, device: DeviceProfile) -> dict:
    """The large-model questions for one decoder: memory per use, GPUs needed, tokens per
    second, time and cost of fine-tuning on the profile's data. Keys carry their units."""
    s = shape_of(hp, graph_cost)
    gen = profile.generation
    seq, batch = profile.input.seq_len, profile.budget.batch_size
    context = min(gen.context or seq, s.context)
    mem = device.memory_bytes
    rank, ckpt = gen.lora_rank, gen.checkpointing
    methods = {m: finetune_memory(s, m, seq, batch, rank, ckpt) for m in METHODS}
    tokens = profile.data.train_samples * seq * gen.epochs
    train_speed = {m: train_tokens_per_s(s, device, m, ckpt) for m in METHODS}
    gpus = {}
    for m, b in methods.items():
        gpus[m] = {f"zero{z}": gpus_needed(b, mem, zero=z) for z in ZERO_STAGES}
        gpus[m]["tensor_parallel"] = gpus_needed(b, mem, tensor_parallel=True)
    finetune = {}
    for m in METHODS:
        n = max(profile.budget.gpus, min((g for g in gpus[m].values() if g), default=0) or 0)
        hours = tokens / (train_speed[m] * max(n, 1)) / 3600
        finetune[m] = {
            "gpus": n or None,
            "hours": hours,
            "usd": hours * n * device.usd_per_hour if device.usd_per_hour and n else None,
        }
    rate, rate_source = decode_bandwidth(device)
    serving = {p: serve_gpus(s, p, mem, context, gen.serve_batch) for p in WEIGHT_BYTES}
    decode = {
        p: decode_tokens_per_s(s, device, p, context, gen.serve_batch, serving[p])
        for p in WEIGHT_BYTES
    }
    return {
        "params": s.params,
        "active_params": s.active_params,
        "context": context,
        "seq_len": seq,
        "micro_batch": batch,
        "train_memory_bytes": train_memory(s, seq, batch, checkpointing=False).to_dict(),
        "train_memory_checkpointed_bytes": train_memory(
            s, seq, batch, checkpointing=True
        ).to_dict(),
        "finetune_memory_bytes": {m: b.to_dict() for m, b in methods.items()},
        "lora_params": lora_params(s, rank),
        "kv_cache_bytes": kv_cache_bytes(s, context, gen.serve_batch),
        "kv_cache_bytes_per_token": kv_cache_bytes(s, 1, 1),
        "inference_memory_bytes": {
            p: inference_memory(s, p, context, gen.serve_batch) for p in WEIGHT_BYTES
        },
        "max_context": {p: max_context(s, p, mem, gen.serve_batch) for p in WEIGHT_BYTES},
        "max_batch": {p: max_batch(s, p, mem, context) for p in WEIGHT_BYTES},
        "gpus_needed": gpus,
        "serve_gpus": serving,
        "decode_tokens_per_s": decode,
        "decode_ms_per_token": {p: 1e3 * gen.serve_batch / v for p, v in decode.items()},
        "prefill_tokens_per_s": prefill_tokens_per_s(s, device, context),
        "train_tokens_per_s": train_speed,
        "finetune_tokens": tokens,
        "finetune": finetune,
        "usd_per_hour": device.usd_per_hour,
        "price_source": device.price_source,
        "assumptions": {
            "usable_memory_fraction": USABLE_MEMORY,
            "model_flops_utilisation": MODEL_FLOPS_UTILISATION,
            "decode_bytes_per_s": rate,
            "decode_bytes_per_s_source": rate_source,
            "lora_rank": rank,
            "activation_checkpointing": ckpt,
        },
    }

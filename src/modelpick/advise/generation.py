"""`recommend` for a generation profile: decoder × fine-tuning method × serving weight
precision, judged by the large-model formulas of `llm.py` against the budget.

Hard limits (each with its ratio, as for every other profile):
- `memory_gb` × `gpus`: the fine-tuning job must fit `budget.gpus` GPUs of `memory_gb` each
  (ZeRO stage 3 / FSDP where it takes more than one), and serving must fit the same GPUs;
- `latency_ms`: milliseconds per generated token while serving (decode);
- `train_minutes`: the fine-tuning time on `budget.gpus` GPUs;
- `usd`: the fine-tuning cost at the device's on-demand price;
- `max_params`.

Ranking (preferences from the literature, set by hand, labelled as such): a larger model is
better — loss falls as N^-0.076 with the parameter count (Kaplan et al. 2020), so the score's
size term is (N / N_largest)^0.076; full fine-tuning ≥ LoRA (on par in Hu et al. 2021) ≥ QLoRA
(matching 16-bit LoRA in Dettmers et al. 2023) by small factors; bf16 ≥ int8 (no degradation,
Dettmers et al. 2022) ≥ int4 (a small perplexity cost, Frantar et al. 2023) likewise. Every
factor is shown with its reason.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from . import llm
from .catalog import Built, Rejection
from .hardware import DeviceProfile
from .scoring import nearest_misses

SIZE_EXPONENT = 0.076  # Kaplan et al. 2020: L(N) ∝ N^-0.076
METHOD_FACTOR = {"full": 1.0, "lora": 0.995, "qlora": 0.99}
WEIGHTS_FACTOR = {"bf16": 1.0, "int8": 0.998, "int4": 0.985}
METHOD_WHY = {
    "full": "full fine-tuning: every weight trained",
    "lora": "LoRA matches full fine-tuning on most tasks (Hu et al. 2021)",
    "qlora": "QLoRA matches 16-bit LoRA (Dettmers et al. 2023)",
}
WEIGHTS_WHY = {
    "bf16": "bf16 weights: the trained model as it is",
    "int8": "int8 weights lose nothing measurable (LLM.int8(), Dettmers et al. 2022)",
    "int4": "int4 weights cost a little perplexity (GPTQ, Frantar et al. 2023)",
}


class Option(NamedTuple):
    """One decoder, fine-tuned one way, served at one weight precision."""

    built: Built
    method: str
    weights: str
    facts: dict  # what the formulas say (memory, GPUs, speed, time, cost)
    factors: tuple[tuple[str, float, str], ...]  # (criterion, factor, why)
    score: float
    rank: int = 0

    @property
    def name(self) -> str:
        return self.built.arch.name


class GenerationRanking(NamedTuple):
    ranked: tuple[Option, ...]
    rejected: tuple[Rejection, ...]
    relax: tuple[str, ...]
    device: DeviceProfile
    notes: tuple[str, ...]


def _facts(s: llm.Shape, profile, device: DeviceProfile, method: str, weights: str) -> dict:
    gen, b = profile.generation, profile.budget
    seq = profile.input.seq_len
    context = min(gen.context or seq, s.context)
    per_gpu = b.memory_gb * 2**30
    job = llm.finetune_memory(s, method, seq, b.batch_size, gen.lora_rank, gen.checkpointing)
    zero = 0 if b.gpus == 1 else 3
    train_gpu_bytes = llm.per_gpu_train_bytes(job, b.gpus, zero)
    serve = llm.inference_memory(s, weights, context, gen.serve_batch)
    serve_gpus = llm.serve_gpus(s, weights, per_gpu, context, gen.serve_batch)
    decode = llm.decode_tokens_per_s(s, device, weights, context, gen.serve_batch, serve_gpus)
    tokens = profile.data.train_samples * seq * gen.epochs
    hours = tokens / (llm.train_tokens_per_s(s, device, method, gen.checkpointing) * b.gpus) / 3600
    usd = hours * b.gpus * device.usd_per_hour if device.usd_per_hour else None
    return {
        "params": s.params,
        "active_params": s.active_params,
        "context": context,
        "train_bytes_per_gpu": train_gpu_bytes,
        "zero_stage": zero,
        "gpus_needed": llm.gpus_needed(job, per_gpu, zero=3),
        "serve_bytes": serve,
        "serve_gpus": serve_gpus,
        "max_context": llm.max_context(s, weights, per_gpu * b.gpus, gen.serve_batch),
        "decode_ms_per_token": 1e3 * gen.serve_batch / decode,
        "finetune_hours": hours,
        "finetune_usd": usd,
    }


def _misses(f: dict, built: Built, profile) -> list[tuple[str, float, str]]:
    b = profile.budget
    usable = b.memory_gb * 2**30 * llm.USABLE_MEMORY
    out = []
    if b.max_params and f["params"] > b.max_params:
        r = f["params"] / b.max_params
        out.append(("max_params", r, f"{f['params']:,} params exceed max_params ({r:.2f}×)"))
    if f["train_bytes_per_gpu"] > usable:
        r = f["train_bytes_per_gpu"] / usable
        need = f["gpus_needed"]
        more = f"; {need} GPUs with ZeRO-3 would hold it" if need and need > b.gpus else ""
        out.append(
            (
                "memory_gb",
                r,
                f"fine-tuning needs {f['train_bytes_per_gpu'] / 2**30:.3g} GiB per GPU on "
                f"{b.gpus} GPU(s), {usable / 2**30:.3g} GiB usable ({r:.2f}×){more}",
            )
        )
    if f["serve_bytes"] > usable * b.gpus:
        r = f["serve_bytes"] / (usable * b.gpus)
        out.append(
            (
                "memory_gb",
                r,
                f"serving at {f['context']:,} tokens needs {f['serve_bytes'] / 2**30:.3g} GiB "
                f"({r:.2f}× what {b.gpus} GPU(s) hold); "
                + (
                    f"the longest context that fits is {f['max_context']:,}"
                    if f["max_context"]
                    else "the weights alone do not fit"
                ),
            )
        )
    if b.latency_ms and f["decode_ms_per_token"] > b.latency_ms:
        r = f["decode_ms_per_token"] / b.latency_ms
        out.append(
            (
                "latency_ms",
                r,
                f"{f['decode_ms_per_token']:.3g} ms per token exceeds latency_ms "
                f"{b.latency_ms:g} ({r:.2f}×)",
            )
        )
    minutes = f["finetune_hours"] * 60
    if minutes > b.train_minutes:
        r = minutes / b.train_minutes
        out.append(
            (
                "train_minutes",
                r,
                f"fine-tuning takes {minutes:.3g} min on {b.gpus} GPU(s); train_minutes is "
                f"{b.train_minutes:g} ({r:.2f}×)",
            )
        )
    if b.usd and f["finetune_usd"] is not None and f["finetune_usd"] > b.usd:
        r = f["finetune_usd"] / b.usd
        out.append(("usd", r, f"fine-tuning costs ${f['finetune_usd']:,.2f}; usd is {b.usd:g}"))
    return out


def rank_generation(profile, built: list[Built], rejected, skipped, device, notes):
    gen = profile.generation
    notes = list(notes)
    if device.usd_per_hour is None:
        notes.append(f"no price for {device.name} in the device table: costs not computed")
    decoders = [b for b in built if b.arch.family == "decoder"]
    largest = max((b.cost.params for b in decoders), default=1)
    options: list[Option] = []
    rejected = list(rejected)
    for b in decoders:
        shape = llm.shape_of(b.arch.hparams, b.cost)
        for method in gen.methods:
            for weights in gen.weight_precisions:
                f = _facts(shape, profile, device, method, weights)
                label = f"{method}, {weights} weights"
                misses = _misses(f, b, profile)
                if misses:
                    worst = max(misses, key=lambda m: m[1])
                    rejected.append(
                        Rejection(
                            b.arch.name,
                            b.arch.family,
                            "; ".join(m[2] for m in misses),
                            label,
                            worst[0] if len(misses) == 1 else "several",
                            worst[1],
                            f["params"],
                            tuple((m[0], m[1]) for m in misses),
                        )
                    )
                    continue
                size = (f["params"] / largest) ** SIZE_EXPONENT
                factors = (
                    (
                        "size",
                        size,
                        f"{f['params'] / 1e9:.3g}B params: loss falls as N^-0.076 "
                        "(Kaplan et al. 2020)",
                    ),
                    ("method", METHOD_FACTOR[method], METHOD_WHY[method]),
                    ("weights", WEIGHTS_FACTOR[weights], WEIGHTS_WHY[weights]),
                )
                score = round(math.prod(x for _, x, _ in factors), 6)
                options.append(Option(b, method, weights, f, factors, score))
    if gen.rank_by == "cost":
        inf = float("inf")
        options.sort(
            key=lambda o: (
                o.facts["finetune_usd"] if o.facts["finetune_usd"] is not None else inf,
                -o.score,
                o.name,
                o.method,
                o.weights,
            )
        )
    else:
        options.sort(key=lambda o: (-o.score, o.name, o.method, o.weights))
    ranked = tuple(o._replace(rank=i + 1) for i, o in enumerate(options))
    rejected.sort(key=lambda r: (r.constraint == "input", r.miss_ratio, r.name, r.precision or ""))
    return GenerationRanking(ranked, tuple(rejected), tuple(_relax(rejected)), device, tuple(notes))


def _relax(rejected: list[Rejection]) -> list[str]:
    """The nearest misses and what to change: per limit, the option that misses only it by
    the least."""
    single, several = nearest_misses(rejected)
    advice = {
        "memory_gb": "more GPUs (budget.gpus), a bigger GPU, QLoRA instead of LoRA, int4 "
        "weights or a shorter context",
        "latency_ms": "int4 or int8 weights, a smaller model or a faster GPU",
        "train_minutes": "more GPUs or fewer epochs",
        "usd": "a cheaper GPU or fewer epochs",
        "max_params": "a larger max_params",
    }
    lines = [
        f"{c}: {r.name} ({r.precision}) misses it by {r.miss_ratio:.2f}×: {advice.get(c, '')}"
        for c, r in sorted(single.items(), key=lambda kv: kv[1].miss_ratio)
    ]
    if not lines and several:
        r = min(several, key=lambda r: math.prod(m for _, m in r.misses))
        worst: dict[str, float] = {}
        for c, m in r.misses:
            worst[c] = max(worst.get(c, 0.0), m)
        both = " and ".join(f"{c} {m:.2f}×" for c, m in worst.items())
        hints = "; ".join(advice[c] for c in worst if c in advice)
        lines.append(f"{r.name} ({r.precision}) misses {both} together: {hints}")
    return lines

"""Frozen copy of `modelpick.advise.scoring` before the fitted prior (commit 09e40a4): the
hand-set weights that benchmarks/fit_prior.py compares the fitted prior against.

Hard constraints reject; soft criteria rank. Every criterion's value is kept per candidate.

docs/scoring.md explains each criterion with its sources. Same input, same output: candidates
are sorted by score, then by name and precision, and nothing here depends on time or order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from modelpick.advise.catalog import Built, Rejection
from modelpick.advise.hardware import DeviceProfile
from modelpick.advise.predict import TARGET_EPOCHS, Prediction, predict

# How well a family suits a domain, before size and budget (0..1). The literature behind each
# figure is in docs/scoring.md; a family missing from a domain's row (none is offered by the
# default catalog) scores OTHER_SUITABILITY.
SUITABILITY = {
    "vision": {"cnn": 1.0, "transformer": 0.85, "mlp": 0.35},
    "text": {"transformer": 1.0, "rnn": 0.8, "cnn": 0.75, "mlp": 0.6},
    "audio": {"cnn": 1.0, "transformer": 0.85, "rnn": 0.7},
    "timeseries": {"cnn": 0.9, "rnn": 0.85, "transformer": 0.8, "mlp": 0.75},
    "tabular": {"mlp": 1.0},
}
OTHER_SUITABILITY = 0.3
SUITABILITY_WHY = {
    ("vision", "cnn"): "convolutions are the proven default for images (He et al. 2016)",
    (
        "vision",
        "transformer",
    ): "vision transformers match CNNs given enough data (Dosovitskiy et al. 2021)",
    ("vision", "mlp"): "an MLP ignores spatial structure; fine only for tiny images",
    ("text", "transformer"): "self-attention is the state of the art for text (Devlin et al. 2019)",
    ("text", "rnn"): "LSTMs are a solid, cheaper text baseline (Hochreiter & Schmidhuber 1997)",
    ("text", "cnn"): "1-D CNNs are a fast text classifier (Kim 2014)",
    ("text", "mlp"): "a bag of embeddings is a strong cheap baseline (Joulin et al. 2017)",
    (
        "audio",
        "cnn",
    ): "CNNs on waveforms or spectrograms lead audio classification (Hershey et al. 2017)",
    ("audio", "transformer"): "audio transformers win with large data (Gong et al. 2021)",
    ("audio", "rnn"): "recurrent nets handle frame sequences but train slowly",
    ("timeseries", "cnn"): "temporal CNNs match or beat LSTMs (Bai et al. 2018)",
    ("timeseries", "rnn"): "LSTMs/GRUs are the classic sequence model",
    ("timeseries", "transformer"): "patch transformers are strong on long series (Nie et al. 2023)",
    ("timeseries", "mlp"): "simple linear/MLP models are hard to beat (Zeng et al. 2023)",
    ("tabular", "mlp"): "MLPs are the neural default for tables (Gorishniy et al. 2021)",
}
WEIGHTS = {
    "suitability": 0.30,
    "data_fit": 0.30,
    "latency": 0.15,
    "epochs": 0.20,
    "precision": 0.05,
}
# The data-fit anchor, parameters per training sample: ResNet-50 on ImageNet has ~20 per image.
# A table row carries far less information than an image or a sentence; MLPs that do well on
# typical tabular benchmarks (Gorishniy et al. 2021) sit near 1-10 per row.
PARAMS_PER_SAMPLE = {"vision": 20, "text": 20, "audio": 20, "timeseries": 10, "tabular": 2}
# bf16 mixed precision is the standard recipe where the hardware has it (GPUs with bf16 tensor
# cores); on CPUs fp32 stays the safe default. fp16 needs loss scaling (Micikevicius et al. 2018).
PRECISION_SCORE = {
    "cuda": {"bf16": 1.0, "fp32": 0.97, "fp16": 0.92},
    "cpu": {"fp32": 1.0, "bf16": 0.95, "fp16": 0.9},
}
PRECISION_WHY = {
    "fp32": "full precision, no numerical risk",
    "bf16": "bf16 keeps fp32's range; mixed precision rarely costs accuracy",
    "fp16": "fp16 needs loss scaling (Micikevicius et al. 2018)",
}
EMBEDDING_KINDS = ("embedding", "position_embedding", "token_type_embedding")


class Criterion(NamedTuple):
    name: str
    score: float  # 0..1
    weight: float
    value: str  # the measured quantity behind the score, for humans
    why: str


class Scored(NamedTuple):
    built: Built
    prediction: Prediction
    criteria: tuple[Criterion, ...]
    score: float
    rank: int = 0

    @property
    def name(self) -> str:
        return self.built.arch.name


class Ranking(NamedTuple):
    ranked: tuple[Scored, ...]
    rejected: tuple[Rejection, ...]
    skipped: int
    device: DeviceProfile
    precisions: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def relaxations(self) -> list[str]:
        """What to relax so that a candidate fits, smallest change first.

        Per limit, the candidate that misses only that limit by the least; where every
        candidate misses several, the one whose misses multiply to the least, all named.
        """
        single: dict[str, Rejection] = {}
        several: list[Rejection] = []
        for r in self.rejected:
            if len(r.misses) == 1:
                c = r.misses[0][0]
                if c not in single or r.miss_ratio < single[c].miss_ratio:
                    single[c] = r
            elif r.misses:
                several.append(r)
        lines = [
            f"{c}: raise it {_up(r.miss_ratio)}× (then {r.name} at {r.precision} fits)"
            for c, r in sorted(single.items(), key=lambda kv: kv[1].miss_ratio)
        ]
        if not lines and several:
            r = min(several, key=lambda r: math.prod(m for _, m in r.misses))
            both = " and ".join(f"{c} {_up(m)}×" for c, m in r.misses)
            lines.append(f"raise {both} together (then {r.name} at {r.precision} fits)")
        return lines


def _up(ratio: float) -> str:
    """A ratio rounded up to 2 decimals: raising a limit by the printed amount must suffice."""
    return f"{math.ceil(ratio * 100 - 1e-9) / 100:.2f}"


def choose_precisions(requested, device: DeviceProfile) -> tuple[tuple[str, ...], list[str]]:
    notes = []
    if requested:
        usable = tuple(p for p in requested if device.supports(p))
        for p in requested:
            if p not in usable:
                notes.append(f"{p} is not supported by {device.name}; not considered")
        return usable, notes
    reduced = next((p for p in ("bf16", "fp16") if device.supports(p)), None)
    return ("fp32",) + ((reduced,) if reduced else ()), notes


def _human(n: float) -> str:
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def _non_embedding_params(built: Built) -> int:
    emb = sum(r.cost.params for r in built.cost.rows if r.kind in EMBEDDING_KINDS)
    return max(1, built.cost.params - emb)


def _data_fit(built: Built, profile) -> Criterion:
    samples = profile.data.train_samples
    params = _non_embedding_params(built)
    target = PARAMS_PER_SAMPLE[profile.domain] * samples
    decades = math.log10(params / target)
    # From target/30 to 3× target a gentle slope towards the anchor; beyond, half the score is
    # lost per decade.
    excess = max(0.0, decades - math.log10(3), -math.log10(30) - decades)
    score = (1 - 0.08 * min(abs(decades), 1.5)) * 0.5**excess
    why = f"{_human(params)} non-embedding params for {samples:,} samples (anchor {_human(target)})"
    if excess > 0:
        why += ": too large, risks over-fitting" if decades > 0 else ": may under-fit"
    if built.arch.family == "transformer" and profile.domain == "vision":
        # ViT trails ResNets on ImageNet-1k (1.3M) from scratch, matches at 14M, wins at 300M
        # images (Dosovitskiy et al. 2021, Fig. 3).
        hunger = min(1.0, max(0.1, 0.3 + 0.7 * math.log10(samples / 1e5) / math.log10(140)))
        score *= hunger
        if hunger < 1:
            why += f"; ViTs need ~14M images to match CNNs (×{hunger:.2f})"
    return Criterion("data_fit", score, WEIGHTS["data_fit"], _human(params), why)


def _latency(pred: Prediction, limit_ms: float | None) -> Criterion:
    if limit_ms:
        ratio = pred.latency_p95_ms / limit_ms
        score = min(1.0, max(0.0, (1 - ratio) / 0.5))
        why = f"p95 {pred.latency_p95_ms:.3g} ms of a {limit_ms:g} ms limit ({ratio:.0%})"
        return Criterion("latency", score, WEIGHTS["latency"], f"{pred.latency_p95_ms:.3g} ms", why)
    score = min(1.0, max(0.0, 1 - math.log10(max(pred.latency_ms, 0.1) / 0.1) / 4))
    why = f"{pred.latency_ms:.3g} ms at batch 1 (no limit set: faster is better, log scale)"
    return Criterion("latency", score, WEIGHTS["latency"] / 2, f"{pred.latency_ms:.3g} ms", why)


def _epochs(pred: Prediction) -> Criterion:
    e = pred.epochs_in_budget
    score = min(1.0, max(0.0, math.log(e) / math.log(TARGET_EPOCHS))) if e > 1 else 0.0
    why = f"{e:.3g} epochs fit the budget ({pred.epoch_s:.3g} s each; {TARGET_EPOCHS}+ scores full)"
    return Criterion("epochs", score, WEIGHTS["epochs"], f"{e:.3g}", why)


def _criteria(built: Built, pred: Prediction, profile, device_kind: str) -> tuple[Criterion, ...]:
    fam, dom = built.arch.family, profile.domain
    suit = SUITABILITY[dom].get(fam, OTHER_SUITABILITY)
    return (
        Criterion(
            "suitability",
            suit,
            WEIGHTS["suitability"],
            f"{fam} for {dom}",
            SUITABILITY_WHY.get((dom, fam), ""),
        ),
        _data_fit(built, profile),
        _latency(pred, profile.budget.latency_ms),
        _epochs(pred),
        Criterion(
            "precision",
            PRECISION_SCORE[device_kind][pred.precision],
            WEIGHTS["precision"],
            pred.precision,
            PRECISION_WHY[pred.precision],
        ),
    )


def _violations(built: Built, pred: Prediction, profile) -> list[tuple[str, float, str]]:
    b = profile.budget
    out = []
    if b.max_params and built.cost.params > b.max_params:
        r = built.cost.params / b.max_params
        out.append(
            (
                "max_params",
                r,
                f"{built.cost.params:,} params exceed max_params {b.max_params:,} ({r:.2f}×)",
            )
        )
    mem = pred.train_memory_bytes
    limit = b.memory_gb * 2**30
    if mem > limit:
        r = mem / limit
        out.append(
            (
                "memory_gb",
                r,
                f"training memory {mem / 2**30:.3g} GiB at batch {pred.batch_size} exceeds "
                f"memory_gb {b.memory_gb:g} ({r:.2f}×)",
            )
        )
    if b.latency_ms and pred.latency_p95_ms > b.latency_ms:
        r = pred.latency_p95_ms / b.latency_ms
        out.append(
            (
                "latency_ms",
                r,
                f"p95 latency {pred.latency_p95_ms:.3g} ms exceeds latency_ms "
                f"{b.latency_ms:g} ({r:.2f}×)",
            )
        )
    if pred.epochs_in_budget < 1:
        r = 1 / pred.epochs_in_budget
        out.append(
            (
                "train_minutes",
                r,
                f"one epoch takes {pred.epoch_s / 60:.3g} min; train_minutes is "
                f"{b.train_minutes:g} ({r:.2f}×)",
            )
        )
    return out


def rank(
    profile,
    built: list[Built],
    rejected: list[Rejection],
    skipped: int,
    device: DeviceProfile,
    notes: list[str],
) -> Ranking:
    """Predict every candidate at every precision, reject what breaks a limit, rank the rest."""
    precisions, pnotes = choose_precisions(profile.preferences.precisions, device)
    notes = [*notes, *pnotes]
    if profile.budget.memory_gb * 2**30 > device.memory_bytes:
        notes.append(
            f"memory_gb {profile.budget.memory_gb:g} is more than {device.name} has "
            f"({device.memory_bytes / 2**30:.0f} GiB)"
        )
    scored: list[Scored] = []
    rejected = list(rejected)
    for b in built:
        for precision in precisions:
            pred = predict(
                b.cost,
                device,
                precision,
                profile.budget.batch_size,
                profile.data.train_samples,
                profile.budget.train_minutes,
            )
            violations = _violations(b, pred, profile)
            if violations:
                worst = max(violations, key=lambda v: v[1])
                rejected.append(
                    Rejection(
                        b.arch.name,
                        b.arch.family,
                        "; ".join(v[2] for v in violations),
                        precision,
                        worst[0] if len(violations) == 1 else "several",
                        worst[1],
                        b.cost.params,
                        tuple((v[0], v[1]) for v in violations),
                    )
                )
                continue
            crit = _criteria(b, pred, profile, device.kind)
            total = sum(c.score * c.weight for c in crit) / sum(c.weight for c in crit)
            scored.append(Scored(b, pred, crit, round(total, 6)))
    scored.sort(key=lambda s: (-s.score, s.name, precisions.index(s.prediction.precision)))
    ranked = tuple(
        Scored(s.built, s.prediction, s.criteria, s.score, i + 1) for i, s in enumerate(scored)
    )
    rejected.sort(key=lambda r: (r.constraint == "input", r.miss_ratio, r.name, r.precision or ""))
    return Ranking(ranked, tuple(rejected), skipped, device, precisions, tuple(notes))

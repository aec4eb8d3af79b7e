"""Hard constraints reject; a fitted prior ranks. Every criterion's value is kept per candidate.

The rank comes from `prior.py`: the expected gap, in accuracy points, to the best candidate,
fitted to measured training runs (docs/scoring.md). Its terms add in log(1 + gap). Latency and
precision add small preferences on top, set by hand and labelled as such. Same input, same
output: candidates are sorted by score, then by name and precision, and nothing here depends
on time or order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from . import prior as _prior
from .catalog import Built, Rejection
from .hardware import DeviceProfile
from .predict import Prediction, predict

# What the literature says about a family for a domain: context for the measured family term,
# not a score (docs/scoring.md).
FAMILY_NOTE = {
    ("vision", "cnn"): "convolutions are the default for images (He et al. 2016)",
    ("vision", "transformer"): "ViTs need far more images than CNNs (Dosovitskiy et al. 2021)",
    ("vision", "mlp"): "an MLP ignores spatial structure",
    ("text", "transformer"): "attention shines when pretrained (Devlin et al. 2019)",
    ("text", "rnn"): "LSTMs are a solid text baseline (Hochreiter & Schmidhuber 1997)",
    ("text", "cnn"): "1-D CNNs are fast text classifiers (Kim 2014)",
    ("text", "mlp"): "a bag of embeddings is strong and cheap (Joulin et al. 2017)",
    ("audio", "cnn"): "CNNs lead audio classification (Hershey et al. 2017)",
    ("audio", "transformer"): "audio transformers rely on pretraining (Gong et al. 2021)",
    ("audio", "rnn"): "recurrent nets read frame sequences, slowly",
    ("timeseries", "cnn"): "temporal CNNs match or beat LSTMs (Bai et al. 2018)",
    ("timeseries", "rnn"): "LSTMs/GRUs forget over long series (Bai et al. 2018)",
    ("timeseries", "transformer"): "patch transformers need long series (Nie et al. 2023)",
    ("timeseries", "mlp"): "simple linear/MLP models are hard to beat (Zeng et al. 2023)",
    ("tabular", "mlp"): "MLPs are the neural default for tables (Gorishniy et al. 2021)",
}
# Preferences, not fitted, in the prior's unit, log(1 + gap): at most ×1.05 on (1 + gap) for a
# slow candidate (latency), ×1.03 for numerical risk (precision). They break near-ties only.
LATENCY_TERM = 0.05
PRECISION_TERM = {
    "cuda": {"bf16": 0.0, "fp32": 0.0, "fp16": 0.03},
    "cpu": {"fp32": 0.0, "bf16": 0.01, "fp16": 0.03},
}
PRECISION_WHY = {
    "fp32": "full precision, no numerical risk",
    "bf16": "bf16 keeps fp32's range; mixed precision rarely costs accuracy",
    "fp16": "fp16 needs loss scaling (Micikevicius et al. 2018)",
}
EMBEDDING_KINDS = ("embedding", "position_embedding", "token_type_embedding")


class Criterion(NamedTuple):
    name: str
    term: float  # this term's share of log(1 + expected gap to the best, accuracy points)
    value: str  # the quantity behind the term, for humans
    why: str
    source: str = "fitted"  # "fitted" (configs/prior.json) or "preference" (set by hand)


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
    # classic models worth trying beside the nets, with their standing on the reference suite
    baselines: tuple[dict, ...] = ()

    def relaxations(self) -> list[str]:
        """What to relax so that a candidate fits, smallest change first.

        Per limit, the candidate that misses only that limit by the least; where every
        candidate misses several, the one whose misses multiply to the least, all named.
        """
        single, several = nearest_misses(self.rejected)
        lines = [
            f"{c}: raise it {_up(r.miss_ratio)}× (then {r.name} at {r.precision} fits)"
            for c, r in sorted(single.items(), key=lambda kv: kv[1].miss_ratio)
        ]
        if not lines and several:
            r = min(several, key=lambda r: math.prod(m for _, m in r.misses))
            both = " and ".join(f"{c} {_up(m)}×" for c, m in r.misses)
            lines.append(f"raise {both} together (then {r.name} at {r.precision} fits)")
        return lines


def nearest_misses(rejected) -> tuple[dict[str, Rejection], list[Rejection]]:
    """Per limit, the rejection that misses only that limit (perhaps more than once) by the
    least; and the rejections that miss several limits."""
    single: dict[str, Rejection] = {}
    several: list[Rejection] = []
    for r in rejected:
        limits = {c for c, _ in r.misses}
        if len(limits) == 1:
            (c,) = limits
            if c not in single or r.miss_ratio < single[c].miss_ratio:
                single[c] = r
        elif limits:
            several.append(r)
    return single, several


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
    reduced, slow = None, []
    for p in ("bf16", "fp16"):
        if not device.supports(p):
            continue
        ratio = device.precision_ratio.get(p)
        if ratio and ratio["train"] >= 0.95 and ratio["latency"] >= 0.95:
            slow.append(p)  # not faster on this device: it would only add numerical risk
            continue
        reduced = p
        break
    if slow and not reduced:
        notes.append(
            f"{' and '.join(slow)} not considered: on {device.name} not faster than fp32 "
            f"({device.precision_ratio_source or 'measured'}); ask for it with "
            "preferences.precisions"
        )
    return ("fp32",) + ((reduced,) if reduced else ()), notes


def _human(n: float) -> str:
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def _non_embedding_params(built: Built) -> int:
    emb = sum(r.cost.params for r in built.cost.rows if r.kind in EMBEDDING_KINDS)
    return max(1, built.cost.params - emb)


def input_len(profile) -> tuple[int | None, str]:
    """What the prior's input-size term reads: pixels per image, or steps per sequence."""
    inp = profile.input
    if profile.domain == "vision":
        return inp.height * inp.width, f"{inp.height}×{inp.width} pixels"
    first = "tokens" if profile.domain == "text" else "steps"
    for name, unit in (("seq_len", first), ("frames", "frames"), ("sample_rate", "samples")):
        v = getattr(inp, name, None)
        if v:
            n = int(v * inp.seconds) if name == "sample_rate" else int(v)
            return n, f"{n:,} {unit}"
    return None, ""


def _family_why(prior: _prior.Prior, dom: str, fam: str) -> str:
    stats = prior.family_stats.get(_prior.family_key(dom, fam))
    if stats:
        why = (
            f"on the reference suite, {fam} runs on {_prior.GROUP[dom]} data ended "
            f"{stats['mean_gap']:.1f} points below the best on average "
            f"({stats['runs']} runs, {stats['datasets']} data sets)"
        )
    else:
        why = f"{fam} was not measured on {_prior.GROUP[dom]} data; charged the worst family"
    note = FAMILY_NOTE.get((dom, fam))
    return f"{why}; {note}" if note else why


def _fitted(built: Built, pred: Prediction, profile, prior: _prior.Prior) -> list[Criterion]:
    fam, dom = built.arch.family, profile.domain
    samples = profile.data.train_samples
    params = _non_embedding_params(built)
    length, length_text = input_len(profile)
    pooled = _prior.pooled_positions(built.cost)
    feats = _prior.features(dom, fam, params, samples, pred.epochs_in_budget, length, pooled)
    pts = _prior.terms_by_criterion(prior, feats)
    best = _prior.best_params_per_sample(prior, dom)
    fit_why = f"{_human(params)} non-embedding params for {samples:,} samples"
    fit_why += f" ({params / samples:.3g} per sample"
    fit_why += f"; the suite's best fit is near {best:.3g})" if best else ")"
    out = [
        Criterion("family", pts["family"], f"{fam} for {dom}", _family_why(prior, dom, fam)),
        Criterion("data_fit", pts.get("data_fit", 0.0), _human(params), fit_why),
        Criterion(
            "epochs",
            pts.get("epochs", 0.0),
            f"{pred.epochs_in_budget:.3g}",
            f"{pred.epochs_in_budget:.3g} epochs fit the budget ({pred.epoch_s:.3g} s each)",
        ),
    ]
    if "input_size" in pts:
        out.append(
            Criterion("input_size", pts["input_size"], length_text, f"{fam} over {length_text}")
        )
    if "pooling" in pts:
        out.append(
            Criterion(
                "pooling",
                pts["pooling"],
                f"{pooled:,} positions",
                f"the global pool averages {pooled:,} positions (on the suite, wide pools marked "
                "nets too shallow for their input)",
            )
        )
    return out


def _latency(pred: Prediction, limit_ms: float | None) -> Criterion:
    if limit_ms:
        ratio = pred.latency_p95_ms / limit_ms
        score = min(1.0, max(0.0, (1 - ratio) / 0.5))
        why = f"p95 {pred.latency_p95_ms:.3g} ms of a {limit_ms:g} ms limit ({ratio:.0%})"
        return Criterion(
            "latency",
            LATENCY_TERM * (1 - score),
            f"{pred.latency_p95_ms:.3g} ms",
            why,
            "preference",
        )
    score = min(1.0, max(0.0, 1 - math.log10(max(pred.latency_ms, 0.1) / 0.1) / 4))
    why = f"{pred.latency_ms:.3g} ms at batch 1 (no limit set: faster is better, log scale)"
    return Criterion(
        "latency", LATENCY_TERM / 2 * (1 - score), f"{pred.latency_ms:.3g} ms", why, "preference"
    )


def _criteria(
    built: Built, pred: Prediction, profile, device_kind: str, prior: _prior.Prior
) -> tuple[Criterion, ...]:
    return (
        *_fitted(built, pred, profile, prior),
        _latency(pred, profile.budget.latency_ms),
        Criterion(
            "precision",
            PRECISION_TERM[device_kind][pred.precision],
            pred.precision,
            PRECISION_WHY[pred.precision],
            "preference",
        ),
    )


def expected_gap(criteria) -> float:
    """Accuracy points below the best candidate: exp(Σ terms) − 1."""
    return _prior.gap_points(sum(c.term for c in criteria))


def total_score(criteria) -> float:
    """1 minus the expected gap to the best candidate as a fraction: 0.97 expects 3 accuracy
    points less than the best. The linear model can predict a gap a little below zero for a
    candidate it expects to beat the typical best: the score is then a little above 1, so that
    such candidates still rank among themselves."""
    return round(max(0.0, 1 - expected_gap(criteria) / 100), 6)


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
    prior: _prior.Prior | None = None,
) -> Ranking:
    """Predict every candidate at every precision, reject what breaks a limit, rank the rest.
    `prior`: the fitted prior (default configs/prior.json)."""
    prior = prior or _prior.load_prior()
    notes = [*notes, *_prior.coverage_notes(prior, profile)]
    if profile.budget.usd and device.usd_per_hour:
        # every candidate trains for the same train_minutes: the cost does not rank them
        usd = profile.budget.train_minutes / 60 * device.usd_per_hour * profile.budget.gpus
        verdict = "within" if usd <= profile.budget.usd else "ABOVE"
        notes.append(
            f"train_minutes {profile.budget.train_minutes:g} on {profile.budget.gpus} × "
            f"{device.name} at ${device.usd_per_hour:g}/h costs ${usd:,.2f}, {verdict} "
            f"budget.usd {profile.budget.usd:g}"
        )
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
            crit = _criteria(b, pred, profile, device.kind, prior)
            scored.append(Scored(b, pred, crit, total_score(crit)))
    scored.sort(key=lambda s: (-s.score, s.name, precisions.index(s.prediction.precision)))
    ranked = tuple(
        Scored(s.built, s.prediction, s.criteria, s.score, i + 1) for i, s in enumerate(scored)
    )
    rejected.sort(key=lambda r: (r.constraint == "input", r.miss_ratio, r.name, r.precision or ""))
    return Ranking(
        ranked,
        tuple(rejected),
        skipped,
        device,
        precisions,
        tuple(notes),
        contenders(prior, profile),
    )


def contenders(prior: _prior.Prior, profile) -> tuple[dict, ...]:
    """The classic models that were serious contenders on the suite's data sets of this kind:
    within a point of the best net, or better, on at least a third of them."""
    if profile.task != "classification":
        return ()
    rows = prior.baselines.get(_prior.GROUP[profile.domain]) or []
    out = []
    for b in rows:
        if b["close_or_better"] * 3 < b["datasets"]:
            continue
        out.append(
            {
                **b,
                "why": (
                    f"{b['label']}: on {b['datasets']} reference data sets of this kind it was "
                    f"{_signed_gap(b['mean_gap'])} the best net on average, within a point or "
                    f"better on {b['close_or_better']} of them ({b['wins']} outright wins)"
                ),
            }
        )
    return tuple(out)


def _signed_gap(gap: float) -> str:
    """gap = best net minus baseline, in points."""
    if abs(gap) < 0.05:
        return "level with"
    return f"{abs(gap):.1f} points {'below' if gap > 0 else 'above'}"

"""The fitted prior: how far below the best candidate a candidate is expected to land.

`configs/prior.json` holds a linear model fitted by `benchmarks/fit_prior.py` to measured
training runs (the reference suite, `configs/prior_measurements.json`): every candidate of
every suite data set trained for the same CPU budget. The target is log(1 + gap), the gap to
the best trained candidate of that data set in accuracy points: a log, so that the few runs
that failed by 30 points do not outweigh the ordering near the top, which is what a pick
needs. The features are what the analytic side knows before training (`features`): the
domain group and family, non-embedding parameters per training sample, the epochs the budget
affords, the input size, and for convolutional nets how many positions the global pool
averages (a net too shallow for its input pools a wide map of small receptive fields).

Evaluating it is a dot product in pure Python (numpy fits it). Each term is reported as a
criterion (`terms_by_criterion`), with its value and reason: terms add in log(1 + gap), so
each multiplies the expected (1 + gap) by exp(term).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import NamedTuple

from ..errors import InputError

FORMAT = 1
# Domains the suite measures together: audio inputs (spectrogram frames) and time series are
# both long sequences of short vectors to the model.
GROUP = {
    "vision": "vision",
    "text": "text",
    "timeseries": "sequence",
    "audio": "sequence",
    "tabular": "tabular",
}
EPOCHS_RANGE = (0.3, 300.0)  # beyond 300 passes more budget buys nothing measurable here
# which criterion each kind of term belongs to
CRITERION_OF = {
    "family": "family",
    "size": "data_fit",
    "size2": "data_fit",
    "epochs": "epochs",
    "input": "input_size",
    "pooled": "pooling",
}


class Prior(NamedTuple):
    coefficients: dict[str, float]  # term -> gap points per unit of the feature
    intercept: float
    family_stats: dict[str, dict]  # "group/family" -> measured mean gap, runs, data sets
    baselines: dict[str, list[dict]]  # group -> classic models with their suite standing
    meta: dict  # date, machine, command, rows, cross-validation summary


def features(
    domain: str,
    family: str,
    non_embedding_params: int,
    samples: int,
    epochs_in_budget: float,
    input_len: int | None,
    pooled: int | None = None,
) -> dict[str, float]:
    """The named features of one candidate (missing names are 0). `input_len`: pixels per
    image (vision), tokens or time steps or frames per sample (text, sequences); tabular none.
    `pooled`: positions a convolutional net's global pool averages (`pooled_positions`).
    """
    g = GROUP[domain]
    x = math.log10(max(non_embedding_params, 1) / max(samples, 1))
    lo, hi = EPOCHS_RANGE
    e = math.log10(min(max(epochs_in_budget, lo), hi))
    out = {
        f"family:{g}/{family}": 1.0,
        f"size:{g}": x,
        f"size2:{g}": x * x,
        f"epochs:{g}": e,
    }
    if input_len and g != "tabular":
        out[f"input:{g}/{family}"] = math.log10(input_len)
    if pooled:  # one coefficient for images and series alike: the same failure in both
        out["pooled"] = math.log10(pooled)
    return out


def pooled_positions(graph_cost) -> int | None:
    """How many positions the global average pool of a convolutional net averages: the
    spatial size of the map it reads (None without one)."""
    for row in graph_cost.rows:
        if row.kind == "global_pool":
            return max(1, math.prod(row.in_shape[1:]))
    return None


def family_key(domain: str, family: str) -> str:
    return f"{GROUP[domain]}/{family}"


def default_path() -> Path:
    import importlib.resources

    try:
        return Path(str(importlib.resources.files("modelpick.configs") / "prior.json"))
    except ModuleNotFoundError:  # a source tree without installing
        return Path(__file__).resolve().parents[2] / "configs" / "prior.json"


def parse_prior(doc: object, label: str) -> Prior:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{label}: expected a prior of format {FORMAT}")
    coef = doc.get("coefficients")
    if not isinstance(coef, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and math.isfinite(v)
        for k, v in coef.items()
    ):
        raise InputError(f"{label}: coefficients: expected a mapping of term to number")
    intercept = doc.get("intercept")
    if not isinstance(intercept, (int, float)) or not math.isfinite(intercept):
        raise InputError(f"{label}: intercept: expected a number")
    return Prior(
        {k: float(v) for k, v in coef.items()},
        float(intercept),
        dict(doc.get("family_stats") or {}),
        dict(doc.get("baselines") or {}),
        {k: v for k, v in doc.items() if k not in ("coefficients", "family_stats", "baselines")},
    )


@cache
def load_prior(path: str | None = None) -> Prior:
    p = Path(path) if path else default_path()
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read the prior ({exc})") from None
    return parse_prior(doc, str(p))


def contributions(prior: Prior, feats: dict[str, float]) -> dict[str, float]:
    """Each term's share of log(1 + gap) (positive: further below the best). A family the
    suite never measured in this group is charged the group's worst measured family term."""
    out = {}
    ranges = prior.meta.get("ranges") or {}
    feats = dict(feats)
    for name in list(feats):
        # the size parabola is not trusted beyond the sizes the suite measured
        if name.startswith("size:") and name in ranges:
            lo, hi = ranges[name]
            x = min(max(feats[name], lo), hi)
            feats[name] = x
            feats["size2:" + name.split(":", 1)[1]] = x * x
    for name, value in feats.items():
        if name in prior.coefficients:
            out[name] = prior.coefficients[name] * value
        elif name.startswith("family:"):
            group = name.split(":", 1)[1].split("/", 1)[0]
            known = [v for k, v in prior.coefficients.items() if k.startswith(f"family:{group}/")]
            out[name] = max(known) if known else 0.0
        # an unknown size/epochs/length term (a group the suite lacks) contributes nothing
    return out


def predicted_log_gap(prior: Prior, feats: dict[str, float]) -> float:
    """log(1 + expected gap in accuracy points)."""
    return prior.intercept + sum(contributions(prior, feats).values())


def gap_points(log_gap: float) -> float:
    return math.expm1(log_gap)


def terms_by_criterion(prior: Prior, feats: dict[str, float]) -> dict[str, float]:
    """log(1 + gap) per criterion; the intercept is carried by `family`."""
    out: dict[str, float] = {"family": prior.intercept}
    for name, pts in contributions(prior, feats).items():
        crit = CRITERION_OF[name.split(":", 1)[0]]
        out[crit] = out.get(crit, 0.0) + pts
    return out


def best_params_per_sample(prior: Prior, domain: str) -> float | None:
    """Where the fitted size parabola is lowest (params per sample), if it opens upwards."""
    g = GROUP[domain]
    a, b = prior.coefficients.get(f"size2:{g}", 0.0), prior.coefficients.get(f"size:{g}", 0.0)
    if a <= 0:
        return None
    x = -b / (2 * a)
    lo, hi = (prior.meta.get("ranges") or {}).get(f"size:{g}", (x, x))
    return 10**x if lo <= x <= hi else None  # a vertex outside the measured sizes says nothing


def coverage_notes(prior: Prior, profile) -> list[str]:
    """Say so when the profile lies outside what the suite measured."""
    span = (prior.meta.get("coverage") or {}).get(GROUP[profile.domain])
    if not span:
        return [
            f"the prior has no {profile.domain} data set in its suite: the ranking "
            "extrapolates from other domains; run `modelpick trial` before trusting it"
        ]
    lo, hi = span["samples"]
    n = profile.data.train_samples
    if not lo / 3 <= n <= hi * 3:
        return [
            f"the prior was fitted on {GROUP[profile.domain]} data sets of {lo:,}-{hi:,} "
            f"training samples; {n:,} is outside that range, so the ranking extrapolates "
            "(`modelpick trial` measures instead)"
        ]
    return []

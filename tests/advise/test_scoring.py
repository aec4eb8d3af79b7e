"""Scoring: constraints reject with reasons, criteria rank as documented, the output is stable."""

from __future__ import annotations

import math

import pytest

from modelpick.advise.catalog import Rejection, expand_candidates, load_catalog
from modelpick.advise.hardware import load_devices
from modelpick.advise.profile import parse_profile
from modelpick.advise.scoring import Ranking, choose_precisions, rank

CATALOG = load_catalog()
DEVICES = load_devices()


def _profile(**over):
    base = {
        "name": "t",
        "domain": "vision",
        "task": "classification",
        "input": {"channels": 3, "height": 224, "width": 224},
        "outputs": 1000,
        "data": {"train_samples": 1_281_167},
        "budget": {"device": "cuda", "gpu": "a100-80gb", "memory_gb": 80, "train_minutes": 4320},
    }
    for key, value in over.items():
        if isinstance(value, dict) and key in ("budget", "data"):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return parse_profile(base)


def _rank(profile, device_key=None):
    device = DEVICES[device_key or profile.budget.gpu]
    built, rejected, skipped = expand_candidates(CATALOG, profile)
    return rank(profile, built, rejected, skipped, device, [])


def _criterion(ranking, name, precision, criterion):
    s = next(s for s in ranking.ranked if s.name == name and s.prediction.precision == precision)
    return next(c for c in s.criteria if c.name == criterion)


def _synthetic(**coef):
    """A prior with chosen coefficients: the mechanics, whatever the shipped fit says."""
    from modelpick.advise.prior import Prior

    base = {  # in log(1 + gap) units
        "family:vision/cnn": 0.0,
        "family:vision/mlp": 0.5,
        "family:vision/transformer": 1.0,
        "size:vision": 0.0,
        "size2:vision": 0.1,
        "epochs:vision": -0.2,
        "input:vision/cnn": 0.05,
        "input:vision/mlp": 0.2,
        "input:vision/transformer": 0.1,
        "pooled": 0.02,
    }
    return Prior(
        {**base, **coef},
        0.1,
        {"vision/cnn": {"mean_gap": 1.5, "runs": 20, "datasets": 3}},
        {
            "tabular": [
                {
                    "name": "hist-gradient-boosting",
                    "label": "gradient-boosted trees",
                    "mean_gap": -0.5,
                    "wins": 4,
                    "close_or_better": 6,
                    "datasets": 8,
                },
                {
                    "name": "logistic-regression",
                    "label": "logistic regression",
                    "mean_gap": 4.0,
                    "wins": 0,
                    "close_or_better": 1,
                    "datasets": 8,
                },
            ]
        },
        {"coverage": {"vision": {"samples": [400, 5000], "runs": 4}}},
    )


def _rank_with(profile, prior, device_key=None):
    device = DEVICES[device_key or profile.budget.gpu]
    built, rejected, skipped = expand_candidates(CATALOG, profile)
    return rank(profile, built, rejected, skipped, device, [], prior=prior)


def test_score_is_one_minus_the_expected_gap_and_every_term_is_shown():
    from modelpick.advise.prior import features, pooled_positions, predicted_log_gap
    from modelpick.advise.scoring import _non_embedding_params, input_len

    p = _profile(data={"train_samples": 2_000})
    prior = _synthetic()
    r = _rank_with(p, prior)
    for s in r.ranked[:10]:
        names = [c.name for c in s.criteria]
        assert names[:4] == ["family", "data_fit", "epochs", "input_size"]
        assert names[-2:] == ["latency", "precision"]
        assert names[4:-2] == (["pooling"] if s.built.arch.family == "cnn" else [])
        assert {c.source for c in s.criteria[:-2]} == {"fitted"}
        assert {c.source for c in s.criteria[-2:]} == {"preference"}
        gap = math.expm1(sum(c.term for c in s.criteria))
        assert s.score == pytest.approx(max(0.0, 1 - gap / 100), abs=1e-6)
        # the fitted part is exactly the prior's prediction
        f = features(
            "vision",
            s.built.arch.family,
            _non_embedding_params(s.built),
            2_000,
            s.prediction.epochs_in_budget,
            input_len(p)[0],
            pooled_positions(s.built.cost),
        )
        fitted = [c for c in s.criteria if c.source == "fitted"]
        assert sum(c.term for c in fitted) == pytest.approx(predicted_log_gap(prior, f))


def test_family_term_follows_the_prior_and_says_what_was_measured():
    p = _profile(data={"train_samples": 2_000})
    r = _rank_with(p, _synthetic())
    cnn = next(s for s in r.ranked if s.built.arch.family == "cnn")
    vit = next(s for s in r.ranked if s.built.arch.family == "transformer")
    fam = {s.built.arch.family: s.criteria[0] for s in (cnn, vit)}
    assert fam["cnn"].term == pytest.approx(0.1)  # intercept + 0
    assert fam["transformer"].term == pytest.approx(1.1)
    assert "1.5 points below the best" in fam["cnn"].why and "20 runs" in fam["cnn"].why
    assert "not measured" not in fam["cnn"].why
    # swap the measured order and the ranking follows
    flipped = _rank_with(p, _synthetic(**{"family:vision/cnn": 2.0}))
    assert flipped.ranked[0].built.arch.family != "cnn"


def test_the_size_parabola_is_clipped_to_the_measured_range():
    from modelpick.advise.prior import contributions

    prior = _synthetic()._replace(meta={"ranges": {"size:vision": [-1.0, 2.0]}})
    inside = contributions(prior, {"size:vision": 1.0, "size2:vision": 1.0})
    far = contributions(prior, {"size:vision": 6.0, "size2:vision": 36.0})
    assert inside["size2:vision"] == pytest.approx(0.1)
    assert far["size2:vision"] == pytest.approx(0.4)  # clipped at 2 decades


def test_a_family_the_suite_never_measured_is_charged_the_worst_measured():
    from modelpick.advise.prior import contributions

    got = contributions(_synthetic(), {"family:vision/rnn": 1.0})
    assert got["family:vision/rnn"] == pytest.approx(1.0)


def test_outside_the_suite_the_ranking_says_it_extrapolates():
    small = _rank_with(_profile(data={"train_samples": 2_000}), _synthetic())
    big = _rank_with(_profile(data={"train_samples": 1_281_167}), _synthetic())
    assert not any("extrapolates" in n for n in small.notes)
    assert any("400-5,000" in n and "1,281,167" in n for n in big.notes)


def test_classic_contenders_are_named_with_their_suite_standing():
    p = _profile(
        domain="tabular",
        input={"features": 20},
        outputs=2,
        data={"train_samples": 1_000},
    )
    r = _rank_with(p, _synthetic(), "t4")
    (b,) = r.baselines  # logistic regression was close on 1 of 8: not a contender
    assert b["name"] == "hist-gradient-boosting"
    assert "0.5 points above the best net" in b["why"] and "4 outright wins" in b["why"]
    reg = _rank_with(p.model_copy(update={"task": "regression"}), _synthetic(), "t4")
    assert reg.baselines == ()


def test_hard_limits_reject_with_the_limit_and_ratio():
    p = _profile(budget={"latency_ms": 1.0, "max_params": 15_000_000, "memory_gb": 1})
    r = _rank(p)
    assert all(s.built.cost.params <= 15_000_000 for s in r.ranked)
    assert all(s.prediction.latency_p95_ms <= 1.0 for s in r.ranked)
    assert all(s.prediction.train_memory_bytes <= 2**30 for s in r.ranked)
    by_limit = {m for rej in r.rejected for m, _ in rej.misses}
    assert {"max_params", "latency_ms", "memory_gb"} <= by_limit
    rej = next(x for x in r.rejected if x.name == "resnet50")
    assert "exceed max_params 15,000,000" in rej.reason
    assert rej.miss_ratio == pytest.approx(max(m for _, m in rej.misses))


def test_ranking_is_sorted_and_stable():
    p = _profile(data={"train_samples": 50_000})
    a, b = _rank(p), _rank(p)
    keys = [(s.name, s.prediction.precision, s.score) for s in a.ranked]
    assert keys == [(s.name, s.prediction.precision, s.score) for s in b.ranked]
    scores = [s.score for s in a.ranked]
    assert scores == sorted(scores, reverse=True)
    assert [s.rank for s in a.ranked] == list(range(1, len(a.ranked) + 1))


def test_precisions_follow_the_device():
    assert choose_precisions(None, DEVICES["a100-80gb"])[0] == ("fp32", "bf16")
    assert choose_precisions(None, DEVICES["t4"])[0] == ("fp32", "fp16")  # no bf16 on Turing
    usable, notes = choose_precisions(["bf16"], DEVICES["t4"])
    assert usable == () and "not supported" in notes[0]


def _rej(name, misses):
    worst = max(misses, key=lambda m: m[1])
    return Rejection(
        name,
        "mlp",
        "…",
        "fp32",
        worst[0] if len(misses) == 1 else "several",
        worst[1],
        1,
        tuple(misses),
    )


def test_relaxations_single_limit_first():
    r = Ranking(
        (),
        (
            _rej("a", [("latency_ms", 3.0)]),
            _rej("b", [("latency_ms", 1.5)]),
            _rej("c", [("memory_gb", 1.2)]),
            _rej("d", [("memory_gb", 1.1), ("latency_ms", 1.01)]),
        ),
        0,
        DEVICES["t4"],
        ("fp32",),
    )
    assert r.relaxations() == [
        "memory_gb: raise it 1.20× (then c at fp32 fits)",
        "latency_ms: raise it 1.50× (then b at fp32 fits)",
    ]


def test_relaxations_when_every_candidate_misses_several():
    r = Ranking(
        (),
        (
            _rej("a", [("memory_gb", 2.0), ("latency_ms", 2.0)]),
            _rej("b", [("memory_gb", 1.5), ("train_minutes", 1.2)]),
        ),
        0,
        DEVICES["t4"],
        ("fp32",),
    )
    (line,) = r.relaxations()
    assert line.startswith("raise memory_gb 1.50× and train_minutes 1.20× together") and "b" in line


def test_relax_ratio_rounds_up():
    r = Ranking((), (_rej("a", [("latency_ms", 1.4213)]),), 0, DEVICES["t4"], ("fp32",))
    assert r.relaxations() == ["latency_ms: raise it 1.43× (then a at fp32 fits)"]


def test_a_dollar_budget_is_checked_against_the_time_budget():
    p = _profile(data={"train_samples": 2_000}, budget={"train_minutes": 600, "usd": 10})
    r = _rank_with(p, _synthetic())
    (note,) = [n for n in r.notes if "budget.usd" in n]
    price = DEVICES["a100-80gb"].usd_per_hour
    assert f"${10 * price:,.2f}" in note and ("ABOVE" in note) == (10 * price > 10)

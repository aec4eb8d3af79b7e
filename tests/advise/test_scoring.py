"""Scoring: constraints reject with reasons, criteria rank as documented, the output is stable."""

from __future__ import annotations

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


def test_imagenet_on_a100_prefers_resnets_and_bf16():
    r = _rank(_profile())
    top = r.ranked[0]
    assert top.built.arch.family == "cnn" and top.name.startswith("resnet")
    assert top.prediction.precision == "bf16"


def test_vits_are_marked_down_on_small_data_not_on_large():
    small = _rank(_profile(data={"train_samples": 50_000}))
    large = _rank(_profile(data={"train_samples": 300_000_000}, budget={"train_minutes": 10**6}))
    s = _criterion(small, "vit_b_16", "bf16", "data_fit")
    g = _criterion(large, "vit_b_16", "bf16", "data_fit")
    assert "ViTs need" in s.why and s.score < 0.5
    assert "ViTs need" not in g.why
    # ResNet-50 gets no such penalty on the same small data.
    assert _criterion(small, "resnet50", "bf16", "data_fit").score > s.score


def test_text_prefers_attention_then_recurrence():
    p = _profile(
        domain="text",
        input={"seq_len": 128, "vocab_size": 30000},
        outputs=4,
        data={"train_samples": 100_000},
    )
    r = _rank(p)
    fam = {s.built.arch.family: s for s in reversed(r.ranked)}  # best of each family
    suit = {f: next(c.score for c in s.criteria if c.name == "suitability") for f, s in fam.items()}
    assert suit["transformer"] > suit["rnn"] > suit["mlp"]


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

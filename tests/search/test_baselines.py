"""The classic baselines: each applies where it should and learns what a classic model can."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from modelpick.search.baselines import features, run_baselines


class _Split:
    def __init__(self, x, y):
        self.x, self.labels = x, y

    def __len__(self):
        return len(self.x)

    def batch(self, idx):
        return self.x[idx], self.labels[idx]


def _data(x, y, xv, yv):
    return SimpleNamespace(train=_Split(x, y), val=_Split(xv, yv))


def _tokens(n, rng):
    """Two classes told apart by which of two word sets they use, padded with 0."""
    x = np.zeros((n, 12), dtype=np.int32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        k = rng.integers(3, 12)
        words = rng.integers(2, 20, k) + (20 * y[i])
        x[i, :k] = words
    return x, y


def test_text_gets_tfidf_logistic_regression_and_padding_is_not_a_word():
    rng = np.random.default_rng(0)
    (x, y), (xv, yv) = _tokens(300, rng), _tokens(100, rng)
    m = features(x, "tokens", 50)
    assert m.nnz == int((x > 0).sum() - 0) - _repeats(x) and 0 not in m.indices
    graph = SimpleNamespace(layout="tokens", vocab_size=50)
    (only,) = run_baselines(_data(x, y, xv, yv), graph, "classification", time.monotonic() + 60)
    assert only["name"] == "tfidf-logistic-regression" and only["status"] == "ok"
    assert only["metric"] > 0.95


def _repeats(x):
    return sum(len(r[r > 0]) - len(set(r[r > 0])) for r in x)


def test_series_get_one_nearest_neighbour_on_the_raw_series():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 64)

    def make(n):
        y = rng.integers(0, 2, n)
        x = np.stack([np.sin(2 * np.pi * (3 + 2 * c) * t) for c in y])[:, :, None]
        return (x + 0.3 * rng.standard_normal(x.shape)).astype("float32"), y

    (x, y), (xv, yv) = make(40), make(40)
    graph = SimpleNamespace(layout="sequence", vocab_size=0)
    out = run_baselines(_data(x, y, xv, yv), graph, "classification", time.monotonic() + 60)
    names = [b["name"] for b in out]
    assert names == ["logistic-regression", "1-nearest-neighbour"]
    nn = out[1]
    assert nn["status"] == "ok" and nn["metric"] > 0.9


def test_tables_get_gradient_boosted_trees():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((400, 5)).astype("float32")
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)  # XOR: trees yes, a line no
    graph = SimpleNamespace(layout="vector", vocab_size=0)
    out = run_baselines(
        _data(x[:300], y[:300], x[300:], y[300:]), graph, "classification", time.monotonic() + 60
    )
    got = {b["name"]: b["metric"] for b in out}
    assert got["hist-gradient-boosting"] > 0.9 > got["logistic-regression"]

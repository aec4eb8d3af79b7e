"""The recipe's schedule and the numpy validation metrics, against their definitions and the
frameworks' own loss functions."""

import math

import numpy as np
import pytest

from modelpick.train import metrics
from modelpick.train.recipe import Recipe


def test_warmup_is_linear_then_cosine_reaches_zero():
    r = Recipe(lr=1e-3, warmup_fraction=0.1)
    assert r.lr_at(0.05) == pytest.approx(0.5e-3)
    assert r.lr_at(0.1) == pytest.approx(1e-3)
    # halfway through the decay the cosine is at half the peak
    assert r.lr_at(0.55) == pytest.approx(0.5e-3)
    assert r.lr_at(1.0) == pytest.approx(0.0, abs=1e-15)
    assert r.lr_at(2.0) == pytest.approx(0.0, abs=1e-15)  # past the limit: stays at the floor
    decay = [r.lr_at(0.1 + 0.9 * i / 50) for i in range(51)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert r.lr_at(0.0) > 0  # the first step moves the weights, if only a little


def test_min_lr_floor_and_early_stopping_threshold():
    r = Recipe(lr=1.0, min_lr_fraction=0.1, min_delta=0.01)
    assert r.lr_at(1.0) == pytest.approx(0.1)
    assert r.improved(1.0, None)
    assert r.improved(0.98, 1.0)
    assert not r.improved(0.995, 1.0)  # less than 1 % better: not an improvement
    doc = r.to_dict()
    assert doc["optimizer"] == "AdamW" and doc["early_stopping"]["restore_best"]


torch = pytest.importorskip("torch")
F = torch.nn.functional


def test_cross_entropy_matches_torch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 7)).astype("float32") * 3
    y = rng.integers(0, 7, 64)
    got = metrics.classification(logits, y, "identity")
    want = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    assert got["loss"] == pytest.approx(want, rel=1e-5)
    assert got["accuracy"] == pytest.approx(float((logits.argmax(1) == y).mean()))
    probs = torch.softmax(torch.from_numpy(logits), 1).numpy()
    got = metrics.classification(probs, y, "softmax")
    assert got["loss"] == pytest.approx(want, rel=1e-4)


def test_binary_losses_match_torch():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(50, 1)).astype("float32") * 4
    y = rng.integers(0, 2, 50)
    yt = torch.from_numpy(y.astype("float32")).reshape(-1, 1)
    want = F.binary_cross_entropy_with_logits(torch.from_numpy(z), yt).item()
    assert metrics.classification(z, y, "identity")["loss"] == pytest.approx(want, rel=1e-5)
    p = torch.sigmoid(torch.from_numpy(z))
    want = F.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), yt).item()
    assert metrics.classification(p.numpy(), y, "sigmoid")["loss"] == pytest.approx(want, rel=1e-4)
    assert metrics.probabilities(z, "identity")[:, 1] == pytest.approx(p.numpy()[:, 0], rel=1e-5)


def test_regression_metrics_match_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    y = rng.normal(size=(40, 3))
    out = y + rng.normal(scale=0.5, size=(40, 3))
    got = metrics.regression(out, y)
    assert got["loss"] == pytest.approx(sk.mean_squared_error(y, out))
    assert got["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(y, out)))
    assert got["r2"] == pytest.approx(sk.r2_score(y, out))

"""The training loop over the Split protocol (train/data): learning, early stopping with the
best weights restored, the time budget, Ctrl-C, a diverging loss. The data here are in-memory
arrays (scikit-learn's digits, which ship inside the package); the loaders have their own
tests."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

import modelpick as mp  # noqa: E402
from modelpick.advise.catalog import build_named  # noqa: E402
from modelpick.train.loop import StopFlag, fit  # noqa: E402
from modelpick.train.recipe import Recipe  # noqa: E402


class ArraySplit:
    def __init__(self, x, y):
        self.x, self.labels = x, y

    def __len__(self):
        return len(self.x)

    def batch(self, idx):
        return self.x[idx], self.labels[idx]


class Data(NamedTuple):
    train: ArraySplit
    val: ArraySplit


PROFILE = {
    "name": "digits",
    "domain": "vision",
    "task": "classification",
    "input": {"channels": 1, "height": 8, "width": 8},
    "outputs": 10,
    "data": {"train_samples": 1400},
    "budget": {"device": "cpu", "memory_gb": 4, "train_minutes": 1, "batch_size": 64},
}


def digits(shuffle_val_labels: bool = False) -> Data:
    d = datasets.load_digits()
    x = (d.images / 16.0).astype("float32")[:, None]
    y = d.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    yv = y[1400:].copy()
    if shuffle_val_labels:  # validation labels that have nothing to do with the images
        np.random.default_rng(1).shuffle(yv)
    return Data(ArraySplit(x[:1400], y[:1400]), ArraySplit(x[1400:], yv))


def built_model(arch: str = "mlp-w64-d1", backend: str = "torch"):
    prof = mp.load_profile(PROFILE)
    graph = build_named(mp.load_catalog(), arch, prof).graph
    be = mp.get_backend(backend)
    be.seed(0)
    return be, be.build(graph)


def test_learns_digits_and_keeps_the_best_epoch(tmp_path):
    be, built = built_model("mlp-w256-d2")
    seen = []
    result = fit(be, built, digits(), tmp_path, batch_size=64, max_epochs=8, on_epoch=seen.append)
    assert result.stopped == "epochs"
    assert len(result.epochs) == 8 and seen == result.epochs
    best = result.epochs[result.best_epoch - 1]
    assert best["val_accuracy"] > 0.9  # chance is 0.1
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"] / 2
    assert result.checkpoint == "model.pt" and (tmp_path / "model.pt").exists()
    assert all(e["lr_end"] >= 0 for e in result.epochs)
    assert result.epochs[-1]["lr_end"] < 1e-4  # the cosine reached (almost) zero at the limit


def test_early_stopping_restores_the_best_weights(tmp_path):
    be, built = built_model()
    data = digits(shuffle_val_labels=True)  # val loss can only get worse as training fits
    recipe = Recipe(patience=2, patience_steps=0)
    result = fit(be, built, data, tmp_path, batch_size=64, max_epochs=40, recipe=recipe)
    assert result.stopped == "early_stopping"
    assert len(result.epochs) == result.best_epoch + 2
    # the model left in `built` is the best epoch's: its validation loss is the best one
    from modelpick.train.loop import evaluate

    again = evaluate(be, built, data.val, 64)
    assert again["loss"] == pytest.approx(
        result.epochs[result.best_epoch - 1]["val_loss"], rel=1e-5
    )


def test_patience_also_counts_steps(tmp_path):
    """Tiny data: an epoch is a few steps, and patience waits for patience_steps as well."""
    be, built = built_model()
    data = digits(shuffle_val_labels=True)
    steps = -(-len(data.train) // 64)
    recipe = Recipe(patience=2, patience_steps=5 * steps)  # 5 epochs' worth of steps
    result = fit(be, built, data, tmp_path, batch_size=64, max_epochs=40, recipe=recipe)
    assert result.stopped == "early_stopping"
    assert len(result.epochs) == result.best_epoch + 5


class FakeClock:
    """Advances a fixed step per reading: the budget logic is then deterministic."""

    def __init__(self, tick: float):
        self.t, self.tick = 1000.0, tick

    def __call__(self) -> float:
        self.t += self.tick
        return self.t


def test_time_budget_ends_evaluated_and_saved_just_before_the_deadline(tmp_path):
    be, built = built_model()
    clock = FakeClock(0.003)
    start = clock.t
    deadline = start + 2.0
    result = fit(
        be,
        built,
        digits(),
        tmp_path,
        batch_size=64,
        deadline=deadline,
        clock=clock,
    )
    assert result.stopped == "time_budget"
    end = clock.t
    assert end <= deadline
    assert end - start >= 0.95 * (deadline - start)
    assert result.epochs[-1]["val_loss"] is not None  # the last (partial) epoch was validated
    assert result.epochs[-1]["lr_end"] < 0.05 * 1e-3  # the schedule ran to the deadline


def test_stop_request_ends_after_the_current_batch_and_keeps_a_checkpoint(tmp_path):
    be, built = built_model()
    stop = StopFlag()

    def on_batch(p):
        if p.epoch == 2 and p.step == 3:
            stop.request()

    result = fit(
        be, built, digits(), tmp_path, batch_size=64, max_epochs=5, stop=stop, on_batch=on_batch
    )
    assert result.stopped == "interrupted"
    assert [e["epoch"] for e in result.epochs] == [1, 2]
    assert result.epochs[1]["steps"] == 3 and result.epochs[1]["val_loss"] is None
    assert result.best_epoch == 1 and (tmp_path / "model.pt").exists()


def test_interrupted_before_any_validation_still_saves_the_weights(tmp_path):
    be, built = built_model()
    stop = StopFlag()
    result = fit(
        be,
        built,
        digits(),
        tmp_path,
        batch_size=64,
        max_epochs=5,
        stop=stop,
        on_batch=lambda p: stop.request(),
    )
    assert result.stopped == "interrupted" and result.best_epoch is None
    assert result.checkpoint == "model.pt" and (tmp_path / "model.pt").exists()


def test_a_diverging_loss_stops_with_the_step_named(tmp_path):
    be, built = built_model()

    class Diverging:
        def __init__(self, inner):
            self.inner, self.steps = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def train_step(self, *args):
            self.steps += 1
            loss = self.inner.train_step(*args)
            return float("nan") if self.steps == 30 else loss

    result = fit(Diverging(be), built, digits(), tmp_path, batch_size=64, max_epochs=5)
    assert result.stopped == "diverged"
    assert "epoch 2, step 8" in result.message  # 22 steps per epoch: step 30 is epoch 2's 8th
    assert result.best_epoch == 1
    json.dumps(result.epochs, allow_nan=False)  # a NaN loss never reaches the curves

"""Both backends, same numbers (the issue's requirement 3).

1. Same starting weights (moved between frameworks in the canonical layout), same batches in
   the same order, no dropout: the two frameworks run the same arithmetic up to float32
   rounding, so every epoch's training loss agrees to 1 % and validation accuracy to 2 points.
   This pins the loop, the loss, AdamW's settings and the schedule to the same meaning.
2. Each framework from its own initialisation (same seed, different random generators), with
   dropout: the issue's "comparable validation metrics". digits' validation split has 397
   images; at ~95 % accuracy one standard error is ~1.1 points, and reruns with other seeds
   move a small CNN by 1-2 points, so the bound is 5 points (about four standard errors), with
   both far above chance.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

from test_train_loop import PROFILE, digits  # noqa: E402

import modelpick as mp  # noqa: E402
from modelpick.advise.catalog import build_named  # noqa: E402
from modelpick.train.loop import fit  # noqa: E402

CATALOG = """
architectures:
  - name: parity-mlp
    family: mlp
    domains: [vision]
    hparams: {width: 128, depth: 2, dropout: 0.0}
  - name: parity-cnn
    family: cnn
    domains: [vision]
    hparams: {channels: [16, 32], pool: each, batch_norm: false, classifier: flatten, dropout: 0.1}
"""


def _graph(tmp_path, name):
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    return build_named(mp.load_catalog(path), name, mp.load_profile(PROFILE)).graph


def test_same_start_same_curves(tmp_path):
    graph = _graph(tmp_path, "parity-mlp")
    torch_be, tf_be = mp.get_backend("torch"), mp.get_backend("tensorflow")
    torch_be.seed(0)
    a = torch_be.build(graph)
    tf_be.seed(0)
    b = tf_be.build(graph)
    tf_be.set_weights(b, torch_be.get_weights(a))
    data = digits()
    runs = []
    for be, built, out in ((torch_be, a, tmp_path / "t"), (tf_be, b, tmp_path / "k")):
        out.mkdir()
        runs.append(fit(be, built, data, out, batch_size=64, max_epochs=4, seed=0))
    t, k = runs
    for et, ek in zip(t.epochs, k.epochs):
        assert ek["train_loss"] == pytest.approx(et["train_loss"], rel=0.01)
        assert ek["val_loss"] == pytest.approx(et["val_loss"], rel=0.02)
        assert abs(ek["val_accuracy"] - et["val_accuracy"]) <= 0.02
    assert t.epochs[-1]["val_accuracy"] > 0.8  # chance is 0.1
    x = data.val.x[:32]
    np.testing.assert_allclose(
        torch_be.predict_numpy(a, x), tf_be.predict_numpy(b, x), rtol=0.05, atol=0.05
    )


def test_own_initialisation_comparable_accuracy(tmp_path):
    graph = _graph(tmp_path, "parity-cnn")
    data = digits()
    acc = {}
    for name in ("torch", "tensorflow"):
        be = mp.get_backend(name)
        be.seed(0)
        built = be.build(graph)
        out = tmp_path / name
        out.mkdir()
        result = fit(be, built, data, out, batch_size=64, max_epochs=12, seed=0)
        acc[name] = result.epochs[result.best_epoch - 1]["val_accuracy"]
    assert min(acc.values()) > 0.9, acc  # chance is 0.1
    assert abs(acc["torch"] - acc["tensorflow"]) <= 0.05, acc

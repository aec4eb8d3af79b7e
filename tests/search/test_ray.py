"""`trial --executor ray`: two tiny candidates on 8×8 digits under Ray Tune on a local Ray
instance; the jobs land in the same Optuna store as the local executor's, the leaderboard and
`report` read them, the winner's run directory predicts, and the time limit holds. Ray is
imported only by this executor (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

BUDGET_MIN = 0.7
# Ray stops its actors and itself after the last trial; the search leaves it a margin
# (5% of what is left, at least 2 s) inside the budget, so the whole call ends in time:
TOLERANCE_S = 3.0

CATALOG = """\
replace: true
architectures:
  - name: "mlp-w{width}-d{depth}"
    family: mlp
    domains: [vision]
    description: tiny MLP
    source: test
    hparams: {activation: relu, dropout: 0.1}
    grid: {width: [64], depth: [1]}
  - name: "cnn-w{width}-d{depth}"
    family: cnn
    domains: [vision]
    description: tiny CNN
    source: test
    hparams: {kind: plain, pool: each, batch_norm: true, classifier: global_avg}
    grid: {width: [16], depth: [2]}
"""


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    sklearn = pytest.importorskip("sklearn.datasets")
    d = tmp_path_factory.mktemp("digits")
    x, y = sklearn.load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    np.savez(d / "digits.npz", x=x, y=y.astype(np.int64))
    (d / "catalog.yaml").write_text(CATALOG)
    profile = {
        "name": "digits-ray",
        "domain": "vision",
        "task": "classification",
        "input": {"channels": 1, "height": 8, "width": 8},
        "outputs": 10,
        "data": {"train_samples": 1437, "path": str(d / "digits.npz")},
        "budget": {"device": "cpu", "memory_gb": 2, "train_minutes": 1, "batch_size": 64},
    }
    return d, profile


def test_ray_executor_fills_the_store_and_keeps_the_budget(digits, tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    pytest.importorskip("optuna")
    pytest.importorskip("torch")
    import modelpick.api as api
    from modelpick.search.store import Store, store_url
    from modelpick.search.worker import leaderboard

    d, profile = digits
    out = tmp_path / "search"
    t0 = time.monotonic()
    result = api.trial(
        profile,
        top=2,
        minutes=BUDGET_MIN,
        executor="ray",
        output=out,
        catalog=d / "catalog.yaml",
        backend="torch",
        device="cpu",
        warn=lambda m: None,
    )
    elapsed = time.monotonic() - t0
    doc = result.to_dict()
    assert elapsed <= 60 * BUDGET_MIN + TOLERANCE_S, elapsed
    assert doc["interrupted"] is False

    nets = {r["name"]: r for r in doc["leaderboard"] if r["kind"] == "net"}
    assert set(nets) == {"mlp-w64-d1", "cnn-w16-d2"}
    for row in nets.values():
        assert row["status"] == "ok", row
        assert 0.0 <= row["metric"] <= 1.0
        assert row["rungs"] and row["rungs"][0]["rung"] == 0
        assert row["latency_ms_p50"] > 0 and row["run_dir"]
    # the digits are easy: some net learns them
    assert max(r["metric"] for r in nets.values()) > 0.5

    # the store holds the jobs, and a fresh reading of it gives the same leaderboard
    url = store_url(out / "trial.db")
    assert doc["store"] == url
    (st,) = Store.open_existing(url)
    records = st.records()
    assert {r["candidate"] for r in records} == set(nets)
    assert all(r["state"] == "complete" and r.get("executor") == "ray" for r in records)
    assert all(r["curve"] and r["epochs"] >= 1 for r in records)
    ladder = st.ladder()
    for name in nets:
        assert ladder.stopped_at(name) is not None
    again = leaderboard(st)
    assert [r["name"] for r in again["leaderboard"]] == [r["name"] for r in doc["leaderboard"]]
    reported = api.trial_report(out / "trial.db").to_dict()
    assert reported["winner"]["name"] == doc["winner"]["name"]

    # the winner (a net or a baseline) is usable; a net's run directory predicts
    winner = doc["winner"]
    assert winner is not None
    best_net = min(nets.values(), key=lambda r: r["measured_rank"])
    x = np.load(d / "digits.npz")["x"][:5]
    np.savez(tmp_path / "inputs.npz", x=x)
    pred = api.predict(best_net["run_dir"], tmp_path / "inputs.npz").to_dict()
    assert len(pred["predictions"]) == 5
    metrics = json.loads((out / best_net["name"] / "metrics.json").read_text())
    assert metrics["files"]["checkpoint"]


def test_ctrl_c_stops_ray_and_keeps_what_finished(digits, tmp_path, monkeypatch):
    """The first Ctrl-C reaches Tune, which stops the trials; run_ray says it was interrupted,
    and the rung that had been reported is in the store."""
    pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    pytest.importorskip("optuna")
    pytest.importorskip("torch")
    import os
    import signal

    import modelpick.api as api
    from modelpick.search import ray_exec
    from modelpick.search.store import Store, store_url

    record = ray_exec._Recorder.job

    def job_then_ctrl_c(self, doc):
        record(self, doc)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ray_exec._Recorder, "job", job_then_ctrl_c)
    d, profile = digits
    out = tmp_path / "search"
    t0 = time.monotonic()
    doc = api.trial(
        profile,
        top=2,
        minutes=BUDGET_MIN,
        executor="ray",
        output=out,
        catalog=d / "catalog.yaml",
        backend="torch",
        device="cpu",
        warn=lambda m: None,
    ).to_dict()
    assert doc["interrupted"] is True
    assert time.monotonic() - t0 < 60 * BUDGET_MIN
    (st,) = Store.open_existing(store_url(out / "trial.db"))
    records = st.records()
    assert records and all(r["state"] == "complete" for r in records)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_recorder_writes_jobs_the_leaderboard_reads(tmp_path):
    """The driver's side, without Ray: a reported rung is a COMPLETE job, a candidate's own
    failure and a crashed trial are FAIL jobs with a reason, a repeat is not recorded twice."""
    pytest.importorskip("optuna")
    from modelpick.search import ray_exec
    from modelpick.search.store import SCHEMA, Store, store_url
    from modelpick.search.worker import leaderboard

    cands = [
        {"name": n, "family": "mlp", "analytic_rank": i + 1, "analytic_score": 1.0, "params": 10}
        for i, n in enumerate(["a", "b", "c"])
    ]
    config = {
        "schema": SCHEMA,
        "key": "k",
        "profile": "p",
        "task": "classification",
        "metric_name": "val_accuracy",
        "maximize": True,
        "candidates": cands,
        "eta": 3,
        "rungs_s": [1.0, 3.0],
        "budget_s": 10.0,
        "seed": 0,
        "limits": {},
    }
    st = Store.create(store_url(tmp_path / "t.db"), "s", config, resume=False)
    events = []
    rec = ray_exec._Recorder(st, lambda kind, info: events.append((kind, info)))
    attrs = {"seconds": 2.0, "epochs": 3, "run_dir": "/x/a", "curve": [{"epoch": 1}]}
    rec.job({"candidate": "a", "rung": 0, "value": 0.5, "failed": "", "attrs": attrs})
    rec.job({"candidate": "a", "rung": 0, "value": 0.5, "failed": "", "attrs": attrs})
    rec.job({"candidate": "a", "rung": 1, "value": 0.75, "failed": "", "attrs": attrs})
    rec.job({"candidate": "b", "rung": 0, "failed": "out of memory", "attrs": {"seconds": 1.0}})
    rec.crashed("c", "RayActorError: the actor died")
    rows = {r["name"]: r for r in leaderboard(st)["leaderboard"]}
    assert rows["a"]["metric"] == 0.75 and rows["a"]["stopped_at_rung"] is None
    assert [q["rung"] for q in rows["a"]["rungs"]] == [0, 1]
    assert rows["b"]["status"] == "failed" and rows["b"]["reason"] == "out of memory"
    assert rows["c"]["status"] == "failed" and "actor died" in rows["c"]["reason"]
    assert len(st.jobs()) == 4 and st.spent_s == 5.0
    assert [k for k, _ in events] == ["done"] * 4
    # a resumed search (same store) skips what is there, and re-records nothing
    again = ray_exec._Recorder(st, lambda kind, info: None)
    again.job({"candidate": "a", "rung": 1, "value": 0.75, "failed": "", "attrs": attrs})
    assert len(st.jobs()) == 4


def test_ray_is_imported_only_by_the_ray_executor():
    code = (
        "import sys, modelpick.api, modelpick.search.worker, modelpick.search.store;"
        "import modelpick.cli.app;"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_missing_ray_is_one_line_naming_the_extra(monkeypatch):
    import builtins

    from modelpick.errors import UnavailableError
    from modelpick.search import ray_exec

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(UnavailableError, match=r"modelpick\[ray\]"):
        ray_exec._ray()

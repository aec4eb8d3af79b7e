"""`modelpick trial` end to end on scikit-learn's digits (shipped inside the package): three
tiny candidates and a baseline within a small budget; the leaderboard's promises; the
winner's run usable by `predict`; the evidence fed back to `recommend`."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("optuna")
datasets = pytest.importorskip("sklearn.datasets")

import modelpick as mp  # noqa: E402
from modelpick.cli.app import run  # noqa: E402

PROFILE = """\
name: digits-trial
domain: vision
task: classification
input: {{channels: 1, height: 8, width: 8}}
outputs: 10
data:
  train_samples: 1438
  path: {path}
budget:
  device: cpu
  memory_gb: 4
  train_minutes: 1
  batch_size: 64
preferences:
  families: [cnn, mlp]
"""

BUDGET_MIN = 0.6


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    d = tmp_path_factory.mktemp("trial")
    data = datasets.load_digits()
    np.savez(d / "digits.npz", x=data.images[:, None].astype("float32"), y=data.target)
    np.savez(d / "new.npz", x=data.images[:10, None].astype("float32"))
    (d / "task.yaml").write_text(PROFILE.format(path="digits.npz"))
    out = d / "search"
    events = []
    result = mp.trial(
        d / "task.yaml",
        top=3,
        minutes=BUDGET_MIN,
        output=out,
        warn=lambda m: None,
        on_event=lambda kind, info: events.append((kind, info)),
    )
    return d, out, result, events


def test_the_leaderboard_keeps_its_promises(searched):
    _, out, result, events = searched
    doc = result.to_dict()
    for key in (
        "leaderboard",
        "winner",
        "spearman_analytic_vs_measured",
        "budget_seconds",
        "elapsed_seconds",
    ):
        assert key in doc
    rows = doc["leaderboard"]
    nets = [r for r in rows if r["kind"] == "net"]
    assert {r["family"] for r in nets} == {"cnn", "mlp"}  # the best of every family is tried
    assert any(r["kind"] == "baseline" for r in rows)
    for r in rows:
        for key in (
            "name",
            "family",
            "metric",
            "metric_name",
            "epochs",
            "train_seconds",
            "stopped_at_rung",
            "analytic_rank",
            "measured_rank",
        ):
            assert key in r
    measured = [r for r in rows if r["metric"] is not None]
    assert [r["measured_rank"] for r in measured] == list(range(1, len(measured) + 1))
    assert all(a["metric"] >= b["metric"] for a, b in zip(measured, measured[1:]))
    assert doc["winner"]["name"] == measured[0]["name"]
    assert max(r["metric"] for r in nets if r["metric"] is not None) > 0.8  # chance is 0.1
    # the whole search, evaluation included, inside the budget
    assert doc["elapsed_seconds"] <= doc["budget_seconds"]
    assert json.loads((out / "leaderboard.json").read_text()) == doc
    assert any(kind == "done" for kind, _ in events)


def test_the_winning_net_is_a_usable_train_run(searched):
    d, _, result, _ = searched
    best_net = next(r for r in result.leaderboard if r["kind"] == "net" and r["run_dir"])
    pred = mp.predict(best_net["run_dir"], d / "new.npz")
    truth = datasets.load_digits().target[:10]
    assert sum(int(r["label"]) == t for r, t in zip(pred.rows, truth)) >= 7


def test_report_renders_the_store_and_recommend_shows_the_evidence(searched, capsys, monkeypatch):
    d, out, result, _ = searched
    assert run(["report", str(out / "trial.db"), "--format", "json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in stored["leaderboard"]] == [r["name"] for r in result.leaderboard]
    assert run(["report", str(out / "trial.db"), "--format", "markdown"]) == 0
    assert "winner" in capsys.readouterr().out
    rec = mp.recommend(d / "task.yaml", top=10, trials=out)
    tried = {r["name"]: r["metric"] for r in result.leaderboard if r["kind"] == "net"}
    shown = {c["name"]: c["measured"] for c in rec.to_dict()["candidates"] if c["measured"]}
    assert shown and all(shown[n]["metric"] == tried[n] for n in shown)
    assert rec.to_dict()["evidence"]["source"].endswith("leaderboard.json")


def test_a_second_search_in_the_same_store_needs_resume(searched, capsys):
    d, out, _, _ = searched
    code = run(
        [
            "trial",
            str(d / "task.yaml"),
            "--top",
            "3",
            "--minutes",
            str(BUDGET_MIN),
            "--store",
            str(out / "trial.db"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--resume" in err and err.count("\n") == 1


def test_resume_goes_on_without_redoing_a_finished_rung(searched):
    d, out, result, _ = searched
    import optuna

    storage = f"sqlite:///{out / 'trial.db'}"
    before = optuna.load_study(study_name="modelpick-digits-trial", storage=storage).trials
    done_before = {
        (t.params["candidate"], t.params["rung"]) for t in before if t.state.name == "COMPLETE"
    }
    mp.trial(
        d / "task.yaml",
        top=3,
        minutes=BUDGET_MIN,
        store=out / "trial.db",
        resume=True,
        warn=lambda m: None,
    )
    after = optuna.load_study(study_name="modelpick-digits-trial", storage=storage).trials
    complete = [
        (t.params["candidate"], t.params["rung"]) for t in after if t.state.name == "COMPLETE"
    ]
    assert len(complete) == len(set(complete))  # no job finished twice
    assert done_before <= set(complete)
    new = [t for t in after[len(before) :] if t.state.name == "COMPLETE"]
    assert all((t.params["candidate"], t.params["rung"]) not in done_before for t in new)


def test_a_budget_too_small_is_one_line_exit_1(searched, tmp_path, capsys):
    d, _, _, _ = searched
    code = run(
        ["trial", str(d / "task.yaml"), "--minutes", "0.001", "--output", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "raise --minutes" in err


def test_rungs_in_epochs(searched, tmp_path):
    """--rungs epochs: rung k is η^k epochs in all, whatever the time each takes."""
    d, _, _, _ = searched
    result = mp.trial(
        d / "task.yaml",
        top=2,
        minutes=1,
        rungs="epochs",
        eta=3,
        output=tmp_path / "ep",
        warn=lambda m: None,
    )
    doc = result.to_dict()
    assert doc["plan"]["rung_unit"] == "epochs"
    rungs = doc["plan"]["rungs_s"]
    for row in doc["leaderboard"]:
        for r in row["rungs"]:  # each finished rung ended at its epoch count (or early stopping)
            assert r["epochs"] <= rungs[r["rung"]]
    top = [r for r in doc["leaderboard"] if r["kind"] == "net" and r["stopped_at_rung"] is None]
    assert top and top[0]["rungs"][-1]["epochs"] == rungs[-1]


def test_rungs_in_epochs_are_refused_with_ray(searched, capsys):
    d, _, _, _ = searched
    code = run(["trial", str(d / "task.yaml"), "--rungs", "epochs", "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 2 and "--rungs" in err and err.count("\n") == 1

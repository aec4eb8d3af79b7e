"""The store for real: two `modelpick trial` workers sharing one study in PostgreSQL, and a
search stopped by Ctrl-C that `--resume` finishes without redoing a finished rung (SQLite).

Data: scikit-learn's digits (tests/search/conftest.py). Each worker is a separate process
running the real command line; a wrapper tags every job a worker claims with the worker's
name (a user attribute), so that the test can tell who ran what without changing the store.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import pytest

pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")

from modelpick.cli.app import run  # noqa: E402

# The worker: the real CLI, with Store.claim wrapped to record which worker took each job.
WORKER = """\
import os, sys
from modelpick.search import store

_claim = store.Store.claim

def claim(self, job):
    got = _claim(self, job)
    if got is not None:
        got[0].set_user_attr("test_worker", os.environ["MODELPICK_TEST_WORKER"])
        got[0].set_user_attr("test_pid", os.getpid())
    return got

store.Store.claim = claim
from modelpick.cli.app import main
sys.argv = ["modelpick", *sys.argv[1:]]
main()
"""


def _env(worker: str) -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MODELPICK_TEST_WORKER": worker,
        "PYTHONUNBUFFERED": "1",
    }


def _start(args: list, worker: str, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, "trial", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        env=_env(worker),
        cwd=cwd,
        text=True,
    )


def _jobs(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("job") == 1]


def _complete_per_job(study) -> collections.Counter:
    done = optuna.trial.TrialState.COMPLETE
    return collections.Counter(
        (t.params["candidate"], t.params["rung"]) for t in _jobs(study) if t.state == done
    )


def _wait_for_study(url: str, name: str, first: subprocess.Popen, log: Path, limit_s=90.0):
    """Until the first worker has created the study and stored its whole configuration."""
    storage = optuna.storages.RDBStorage(url)
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if first.poll() is not None:
            pytest.fail(f"the first worker ended ({first.returncode}): {log.read_text()[-2000:]}")
        if name in optuna.get_all_study_names(storage):
            config = optuna.load_study(study_name=name, storage=storage).user_attrs.get("config")
            if isinstance(config, dict) and "out_dir" in config:
                return
        time.sleep(0.25)
    pytest.fail(f"no study {name!r} after {limit_s:g} s: {log.read_text()[-2000:]}")


class TwoWorkers(NamedTuple):
    url: str
    study_name: str
    returncodes: tuple
    stdout: tuple
    stderr: tuple
    seconds: float


@pytest.fixture(scope="module")
def two_workers(postgres_db, make_digits_profile, tmp_path_factory) -> TwoWorkers:
    """Worker a starts the search; worker b joins it with --resume once the study is there;
    both write their runs into one output folder."""
    name = f"digits-{uuid.uuid4().hex[:8]}"  # a fresh study, even on a shared server
    profile = make_digits_profile(name)
    tmp_path = tmp_path_factory.mktemp("two-workers")
    args = [profile, "--top", "3", "--minutes", "0.8", "--store", postgres_db]
    args += ["--output", tmp_path / "runs", "--json"]
    logs = {w: tmp_path / f"{w}.err" for w in ("a", "b")}
    t0 = time.monotonic()
    a = _start(args, "a", tmp_path, logs["a"])
    b = None
    try:
        _wait_for_study(postgres_db, f"modelpick-{name}", a, logs["a"])
        time.sleep(1.0)
        b = _start([*args, "--resume"], "b", tmp_path, logs["b"])
        out_a, _ = a.communicate(timeout=150)
        out_b, _ = b.communicate(timeout=150)
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    return TwoWorkers(
        postgres_db,
        f"modelpick-{name}",
        (a.returncode, b.returncode),
        (out_a, out_b),
        (logs["a"].read_text(), logs["b"].read_text()),
        time.monotonic() - t0,
    )


def test_two_workers_share_one_study_in_postgres(two_workers, capsys):
    w = two_workers
    assert w.returncodes == (0, 0), w.stderr
    assert all("Traceback" not in err for err in w.stderr), w.stderr
    for out in w.stdout:
        assert json.loads(out)["store"] == w.url  # --json: the record only
    assert w.seconds < 150

    study = optuna.load_study(study_name=w.study_name, storage=w.url)
    names = [c["name"] for c in study.user_attrs["config"]["candidates"]]
    per_job = _complete_per_job(study)
    assert per_job, "no job finished"
    twice = {job: n for job, n in per_job.items() if n > 1}
    assert not twice, f"jobs run more than once: {twice}"
    assert {c for c, r in per_job if r == 0} == set(names)  # every candidate ran its rung 0
    done = optuna.trial.TrialState.COMPLETE
    by_worker = collections.Counter(
        t.user_attrs.get("test_worker") for t in _jobs(study) if t.state == done
    )
    assert by_worker["a"] >= 1 and by_worker["b"] >= 1, by_worker
    assert set(by_worker) <= {"a", "b"}, by_worker

    code = run(["report", w.url, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    assert doc["store"] == w.url and doc["study"] == w.study_name
    board = {r["name"]: r for r in doc["leaderboard"]}
    assert set(names) <= set(board)
    assert all(board[n]["status"] == "ok" and board[n]["metric"] is not None for n in names)
    assert any(r["kind"] == "baseline" for r in board.values())  # worker a's, stored
    assert doc["winner"] is not None


def test_a_promotion_goes_on_from_the_rung_below_whichever_worker_ran_it(two_workers):
    """A promoted job's curve starts at the epoch after the last one of the rung below."""
    w = two_workers
    assert w.returncodes == (0, 0), w.stderr
    study = optuna.load_study(study_name=w.study_name, storage=w.url)
    done = optuna.trial.TrialState.COMPLETE
    finished = {
        (t.params["candidate"], t.params["rung"]): t for t in _jobs(study) if t.state == done
    }
    for (cand, rung), t in finished.items():
        below = finished.get((cand, rung - 1))
        if rung and below is not None and t.user_attrs["curve"]:
            who = f"{cand}: rung {rung - 1} by worker {below.user_attrs.get('test_worker')}, "
            who += f"rung {rung} by worker {t.user_attrs.get('test_worker')}"
            assert t.user_attrs["curve"][0]["epoch"] == below.user_attrs["epochs"] + 1, who


def _sqlite_complete(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked for a moment
        return 0


def test_interrupted_search_resumes_without_redoing_a_finished_rung(digits_profile, tmp_path):
    db = tmp_path / "search.db"
    args = [digits_profile, "--top", "3", "--minutes", "0.6", "--store", db]
    log = tmp_path / "first.err"
    first = _start(args, "first", tmp_path, log)
    try:
        t0 = time.monotonic()
        while _sqlite_complete(db) < 1:
            assert first.poll() is None, f"ended early: {log.read_text()[-2000:]}"
            assert time.monotonic() - t0 < 90, "no job finished in 90 s"
            time.sleep(0.2)
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    said = log.read_text()
    assert first.returncode == 130, said
    assert "Traceback" not in said
    assert "--resume goes on" in said  # stderr is not a terminal: no live view, the ending only

    study = optuna.load_study(study_name="modelpick-digits", storage=f"sqlite:///{db}")
    done = optuna.trial.TrialState.COMPLETE
    before = {
        (t.params["candidate"], t.params["rung"]): t.number for t in _jobs(study) if t.state == done
    }
    assert before
    out_dir = Path(study.user_attrs["config"]["out_dir"])
    assert out_dir.is_dir()  # the default output folder, stored for --resume

    log2 = tmp_path / "resume.err"
    second = _start([*args, "--resume"], "second", tmp_path, log2)
    try:
        second.communicate(timeout=120)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    said = log2.read_text()
    assert second.returncode == 0, said
    assert "Traceback" not in said

    study = optuna.load_study(study_name="modelpick-digits", storage=f"sqlite:///{db}")
    per_job = _complete_per_job(study)
    twice = {job: n for job, n in per_job.items() if n > 1}
    assert not twice, f"jobs run more than once: {twice}"
    after = {
        (t.params["candidate"], t.params["rung"]): t.number for t in _jobs(study) if t.state == done
    }
    assert all(after[job] == number for job, number in before.items())  # kept, not redone
    assert len(after) > len(before)
    assert {t.user_attrs.get("test_worker") for t in _jobs(study) if t.state == done} == {
        "first",
        "second",
    }
    names = [c["name"] for c in study.user_attrs["config"]["candidates"]]
    assert {c for c, r in after if r == 0} == set(names)
    # the job the interrupt cut short is recorded as abandoned, and was run again
    cut = [t for t in _jobs(study) if t.user_attrs.get("abandoned")]
    for t in cut:
        assert (t.params["candidate"], t.params["rung"]) in after
    board = json.loads((out_dir / "leaderboard.json").read_text())
    assert board["interrupted"] is False
    assert {r["name"] for r in board["leaderboard"]} >= set(names)

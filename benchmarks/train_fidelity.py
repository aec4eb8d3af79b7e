"""Predicted vs measured training cost on this machine, and the time budget honoured.

Part 1, cost: for the seed entries and a few grid points, each on the example profile it was
written for, `modelpick train` runs a few epochs on synthetic data of the profile's shape
(random inputs and labels: this measures cost, not learning) and reports, from its
metrics.json, the predicted and measured training step, epoch time and peak training memory
(the memory oracle's allocator peak; see docs/cost.md).

Part 2, budget: `modelpick train --minutes M` on digits (written as .npz), early stopping off,
timed from outside with a stopwatch around the whole process; the issue's bound is 5 % of M.

    python benchmarks/train_fidelity.py            # both parts (about 6 minutes on 2 cores)
    python benchmarks/train_fidelity.py --quick    # fewer pairs, shorter budgets
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

PAIRS = [
    ("mnist-laptop-cpu", "seed-cnn"),
    ("mnist-laptop-cpu", "seed-keras-cnn"),
    ("mnist-laptop-cpu", "cnn-w32-d2"),
    ("mnist-laptop-cpu", "mlp-w256-d2"),
    ("mnist-laptop-cpu", "resnet-w16-1x1x1x1"),
    ("mnist-laptop-cpu", "transformer-d128-l2"),
    ("sentence-sentiment", "seed-lstm"),
    ("sentence-sentiment", "seed-transformer"),
    ("sentence-sentiment", "cnn1d-w64-d2"),
    ("sentence-sentiment", "lstm_2layer"),
    ("sensor-steps-seed-rnn", "cnn1d-w32-d2"),
    ("sensor-steps-seed-rnn", "mlp-w64-d2"),
    ("xor-tabular", "seed-mlp"),
    ("linear-regression-1d", "seed-linear"),
]
QUICK = {"seed-cnn", "cnn-w32-d2", "seed-lstm", "cnn1d-w32-d2", "seed-mlp"}


def synthetic(profile: dict, n: int, rng) -> dict:
    inp, outputs = profile["input"], profile["outputs"]
    domain = profile["domain"]
    if domain == "vision":
        x = rng.random((n, inp["channels"], inp["height"], inp["width"]), dtype=np.float32)
    elif domain == "text":
        x = rng.integers(2, inp["vocab_size"], (n, inp["seq_len"])).astype(np.int32)
    elif domain == "timeseries":
        x = rng.standard_normal((n, inp["seq_len"], inp["features"])).astype(np.float32)
    else:
        x = rng.standard_normal((n, inp["features"])).astype(np.float32)
    if profile["task"] == "regression":
        y = rng.standard_normal((n, outputs)).astype(np.float32)
    else:
        y = np.arange(n) % outputs
    return {"x": x, "y": y}


def cost_part(pairs, samples: int, epochs: int, backend: str, workdir: Path) -> list[dict]:
    import modelpick as mp

    rows = []
    rng = np.random.default_rng(0)
    for profile_name, arch in pairs:
        profile = yaml.safe_load((EXAMPLES / f"{profile_name}.yaml").read_text())
        data = workdir / f"{profile_name}.npz"
        if not data.exists():
            np.savez(data, **synthetic(profile, samples, rng))
        profile["data"] = {"train_samples": int(samples * 0.8), "path": str(data)}
        profile["budget"]["device"] = "cpu"
        profile["budget"].pop("gpu", None)
        profile["preferences"] = {"backend": backend}
        out = workdir / f"{profile_name}-{arch}-{backend}"
        try:
            run = mp.train_model(
                profile,
                arch,
                backend=backend,
                device="cpu",
                epochs=epochs,
                patience=1000,
                minutes=30,
                output=out,
                warn=lambda m: None,
            )
        except mp.ModelpickError as exc:
            rows.append({"profile": profile_name, "arch": arch, "error": str(exc)})
            continue
        c = run.to_dict()["cost"]
        rows.append(
            {
                "profile": profile_name,
                "arch": arch,
                "backend": backend,
                "params": run.to_dict()["params"],
                "batch": run.to_dict()["batch_size"],
                **{
                    f"{k}_{part}": c[k][part]
                    for k in ("train_step_ms", "epoch_s", "peak_memory_bytes")
                    for part in ("predicted", "measured", "error_pct")
                },
                "memory_source": c["peak_memory_bytes"].get("source"),
            }
        )
    return rows


def _pct(x):
    return "–" if x is None else f"{x:+.0f}%"


def _num(x, spec):
    return "–" if x is None else format(x, spec)


def print_cost(rows: list[dict]) -> None:
    print(
        "| profile | architecture | backend | params | step ms pred / meas | err | "
        "epoch s pred / meas | err | peak MiB pred / meas | err |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['profile']} | {r['arch']} | – | – | {r['error']} | | | | | |")
            continue
        mib = lambda b: _num(None if b is None else b / 2**20, ".2f")  # noqa: E731
        print(
            f"| {r['profile']} | {r['arch']} | {r['backend']} | {r['params']:,} | "
            f"{_num(r['train_step_ms_predicted'], '.3g')} / "
            f"{_num(r['train_step_ms_measured'], '.3g')} | {_pct(r['train_step_ms_error_pct'])} | "
            f"{_num(r['epoch_s_predicted'], '.3g')} / {_num(r['epoch_s_measured'], '.3g')} | "
            f"{_pct(r['epoch_s_error_pct'])} | "
            f"{mib(r['peak_memory_bytes_predicted'])} / {mib(r['peak_memory_bytes_measured'])} | "
            f"{_pct(r['peak_memory_bytes_error_pct'])} |"
        )
    mem = [r for r in rows if r.get("peak_memory_bytes_error_pct") is not None]
    within = sum(abs(r["peak_memory_bytes_error_pct"]) <= 10 for r in mem)
    step = [abs(r["train_step_ms_error_pct"]) for r in rows if r.get("train_step_ms_error_pct")]
    print(f"\npeak training memory within ±10 % of the measured peak: {within} of {len(mem)}")
    if step:
        print(f"train step: median |error| {np.median(step):.0f} %, worst {max(step):.0f} %")


def budget_part(minutes_list, workdir: Path) -> list[dict]:
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(workdir / "digits.npz", x=d.images[:, None].astype("float32"), y=d.target)
    (workdir / "digits.yaml").write_text(
        "name: digits\ndomain: vision\ntask: classification\n"
        "input: {channels: 1, height: 8, width: 8}\noutputs: 10\n"
        "data: {train_samples: 1438, path: digits.npz}\n"
        "budget: {device: cpu, memory_gb: 4, train_minutes: 60, batch_size: 64}\n"
    )
    rows = []
    exe = [sys.executable, "-m", "modelpick"]
    for m in minutes_list:
        out = workdir / f"budget-{m}"
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                *exe,
                "train",
                str(workdir / "digits.yaml"),
                "--arch",
                "cnn-w32-d3",
                "--minutes",
                str(m),
                "--patience",
                "100000",
                "--output",
                str(out),
                "--json",
            ],
            capture_output=True,
            text=True,
            env={**os.environ},
        )
        wall = time.monotonic() - t0
        doc = json.loads(proc.stdout) if proc.returncode == 0 else {}
        rows.append(
            {
                "minutes": m,
                "budget_s": 60 * m,
                "wall_s": wall,
                "inside_s": doc.get("wall_s"),
                "epochs": len(doc.get("epochs", [])),
                "stopped": doc.get("stopped", proc.stderr.strip()[-200:]),
            }
        )
    return rows


def print_budget(rows: list[dict]) -> None:
    print("| --minutes | budget s | stopwatch s | off by | inside the run s | epochs | stopped |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        off = 100 * (r["wall_s"] - r["budget_s"]) / r["budget_s"]
        print(
            f"| {r['minutes']} | {r['budget_s']:.0f} | {r['wall_s']:.2f} | {off:+.1f}% | "
            f"{_num(r['inside_s'], '.2f')} | {r['epochs']} | {r['stopped']} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--skip-budget", action="store_true")
    args = ap.parse_args()
    pairs = [p for p in PAIRS if p[1] in QUICK] if args.quick else PAIRS
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"## Cost: predicted vs measured ({args.backend}, cpu, fp32, 3 epochs)\n")
        print_cost(cost_part(pairs, 1280 if not args.quick else 640, 3, args.backend, work))
        if not args.skip_budget:
            print("\n## Time budget: --minutes M against a stopwatch\n")
            print_budget(budget_part([0.25, 1.0] if args.quick else [0.25, 0.5, 1.0, 2.0], work))


if __name__ == "__main__":
    main()

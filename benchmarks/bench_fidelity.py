"""Does `modelpick bench` time what torch.utils.benchmark times?

    python benchmarks/bench_fidelity.py [--arch NAME ...] [--rounds 80] [--runs 10]

For each model, bench's batch-1 latency (the median of single runs by
modelpick.measure.bench.measure around the torch backend's forward, synchronised) is compared
with torch.utils.benchmark.Timer
on the same built model and the same input, at the same statistic: the median of single calls
(`Timer.timeit(1)`). The two alternate in many short windows (`--runs` calls each, which goes
first alternating too), and each side's figure is the median over windows: on a shared machine
whose speed drifts over seconds, long windows taken one after the other compare the machine's
moods rather than the timers. They must agree within 5 %.

The last column is Timer's own headline statistic, the mean of a block of calls
(`Timer.timeit(runs)`, as `blocked_autorange` reports): a mean sits above a median wherever
the machine adds occasional slow calls, so it is shown for information, not judged.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
from torch.utils import benchmark

from modelpick.advise.catalog import build_for, load_catalog
from modelpick.backends import get_backend
from modelpick.families import IOSpec
from modelpick.measure.bench import Settings, measure

TASKS = {
    "seed-keras-cnn": IOSpec("vision", "classification", "image", (1, 28, 28), 10),
    "cnn-w32-d3": IOSpec("vision", "classification", "image", (3, 32, 32), 10),
    "mlp-w256-d2": IOSpec("tabular", "classification", "vector", (64,), 2),
    "lstm-h128-l1": IOSpec("text", "classification", "tokens", (64,), 2, vocab_size=5000),
    "transformer-d128-l2": IOSpec("text", "classification", "tokens", (64,), 4, vocab_size=5000),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="*", default=list(TASKS))
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--runs", type=int, default=10, help="runs per window")
    args = parser.parse_args()
    torch_backend = get_backend("torch")
    catalog = load_catalog()
    settings = Settings(warmup=1, min_runs=args.runs, min_time_s=0.0)
    print(
        f"{'model':<22} {'bench p50 ms':>13} {'Timer p50 ms':>13} {'diff':>7}"
        f" {'Timer block mean ms':>20} {'diff':>7}"
    )
    worst = 0.0
    for name in args.arch:
        graph = build_for(catalog.get(name), TASKS[name]).graph
        built = torch_backend.build(graph)
        x = torch_backend.make_inputs(built, 1)
        # Timer runs single-threaded unless told otherwise; bench uses torch's setting.
        timer = benchmark.Timer(
            num_threads=torch.get_num_threads(),
            stmt="f(b, x)",
            globals={"f": torch_backend.forward, "b": built, "x": x},
        )
        timer.timeit(args.runs)  # warm-up
        ours, single, block = [], [], []
        for r in range(args.rounds):
            for side in (0, 1) if r % 2 else (1, 0):
                if side == 0:
                    st = measure(
                        lambda b=built, x=x: torch_backend.forward(b, x),
                        lambda b=built: torch_backend.synchronize(b),
                        settings,
                    )
                    ours.append(st.p50_s)
                else:
                    calls = [timer.timeit(1).median for _ in range(args.runs)]
                    single.append(statistics.median(calls))
                    block.append(timer.timeit(args.runs).median)
        a, b, c = statistics.median(ours), statistics.median(single), statistics.median(block)
        diff = 100 * (a - b) / b
        worst = max(worst, abs(diff))
        print(
            f"{name:<22} {a * 1e3:>13.4f} {b * 1e3:>13.4f} {diff:>+6.1f}%"
            f" {c * 1e3:>20.4f} {100 * (a - c) / c:>+6.1f}%"
        )
    verdict = "met" if worst <= 5 else "NOT met"
    print(f"\nworst |difference|: {worst:.1f}% (goal: within 5%: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

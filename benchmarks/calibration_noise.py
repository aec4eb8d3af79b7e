"""How reproducible are calibration timings on this machine, timed in long rounds or in bursts?

    python benchmarks/calibration_noise.py [--backend torch] [--rounds 6] [--cycles 40]

Builds the calibration's reference suite and held-out architectures once, then times every item
two ways:

- rounds: `bench.measure` (10 runs and 0.3 s at least) per item, item after item, the whole
  set `--rounds` times over (the scheme calibration used before bursts);
- bursts: `bench.interleaved_times`, one untimed call and 5 timed runs per item, cycling over
  all items `--cycles` times (the scheme calibration uses now).

For each scheme, each item's figure is computed twice from disjoint halves of its measurements
(odd against even rounds or cycles, the median of each half), and the table gives how far the
halves disagree over all items. A fit and its held-out test can be no better than this: it is
the error of measurement against measurement.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from modelpick.advise.catalog import build_for, load_catalog
from modelpick.backends import get_backend
from modelpick.measure.bench import CALIBRATION_BURST, DEFAULT_SETTINGS, interleaved_times, measure
from modelpick.measure.calibration import HELD_OUT, held_out_io, reference_suite


def _items(backend) -> list[tuple[str, object, object]]:
    catalog = load_catalog()
    graphs = list(reference_suite())
    for name, domain, shape, outputs in HELD_OUT:
        io = held_out_io(domain, shape, outputs)
        graphs.append(build_for(catalog.get(name), io, backend.name).graph)
    items = []
    for graph in graphs:
        built = backend.build(graph, "cpu", "fp32")
        x = backend.make_inputs(built, 1)
        items.append(
            (
                graph.name,
                lambda b=built, x=x: backend.forward(b, x),
                lambda b=built: backend.synchronize(b),
            )
        )
    return items


def _disagreement(per_item_halves: list[tuple[list[float], list[float]]]) -> list[float]:
    return sorted(
        abs(statistics.median(a) / statistics.median(b) - 1) * 100 for a, b in per_item_halves
    )


def _row(scheme: str, seconds: float, d: list[float]) -> str:
    p90 = d[round(0.9 * (len(d) - 1))]
    within = sum(x <= 15 for x in d) / len(d) * 100
    return (
        f"{scheme:<8} {seconds:>8.1f} {statistics.median(d):>9.1f}% {p90:>7.1f}% {within:>10.0f}%"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--cycles", type=int, default=40)
    args = parser.parse_args()
    backend = get_backend(args.backend)
    items = _items(backend)

    start = time.perf_counter()
    rounds: list[list[float]] = [[] for _ in items]
    for _ in range(args.rounds):
        for i, (_, fn, sync) in enumerate(items):
            rounds[i].append(measure(fn, sync, DEFAULT_SETTINGS).p50_s)
    rounds_s = time.perf_counter() - start

    start = time.perf_counter()
    bursts = interleaved_times(items, args.cycles, CALIBRATION_BURST)
    bursts_s = time.perf_counter() - start
    b = CALIBRATION_BURST
    burst_halves = [
        (
            [t for c in range(0, args.cycles, 2) for t in ts[c * b : (c + 1) * b]],
            [t for c in range(1, args.cycles, 2) for t in ts[c * b : (c + 1) * b]],
        )
        for ts in bursts
    ]

    print(f"{len(items)} graphs at batch 1, {args.backend}")
    print(f"{'scheme':<8} {'time s':>8} {'median':>10} {'p90':>8} {'within 15%':>11}")
    print(_row("rounds", rounds_s, _disagreement([(r[0::2], r[1::2]) for r in rounds])))
    print(_row("bursts", bursts_s, _disagreement(burst_halves)))
    print("(disagreement between two halves of the same item's measurements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

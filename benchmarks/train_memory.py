"""Is the training-memory prediction right? Predicted peak against the allocator's peak.

    python benchmarks/train_memory.py [--precision fp32 bf16] [--batch 8] [--max-gflop 30]
                                      [--save FILE] [--load FILE]

For every catalog architecture that `recommend` would consider for each example profile
(examples/*.yaml), at batch 8: the torch backend builds it on this CPU and
`measure_step_memory` runs one steady-state AdamW training step (the backend's own step),
reporting the allocator's peak (torch.profiler's record of the CPU allocator; on CUDA the
caching allocator's max_memory_allocated) beside `advise.predict.train_memory`'s predicted
peak. Pairs whose training step costs more than --max-gflop GFLOP (3 × forward FLOPs × batch)
are skipped, and counted, as too slow for a small CPU. --save keeps the measurements as JSON;
--load compares a saved set against the current prediction without measuring again.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

from modelpick.advise.predict import train_memory
from modelpick.graph import cost
from modelpick.measure.memory import example_pairs, measure_step_memory

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE_PCT = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-gflop", type=float, default=30.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--load", type=Path)
    args = parser.parse_args()

    pairs = example_pairs(sorted((ROOT / "examples").glob("*.yaml")))
    stored = json.loads(args.load.read_text()) if args.load else {}
    measured: dict[str, dict] = dict(stored)
    backend = None
    if not args.load:
        from modelpick.backends import get_backend

        backend = get_backend("torch")
    print(
        f"{'architecture':<22} {'profile':<28} {'prec':<5} {'predicted':>13} {'measured':>13}"
        f" {'error':>7}  phase"
    )
    summary = {}
    for precision in args.precision:
        within = total = skipped = 0
        errors = []
        for pair in pairs:
            gc_ = cost(pair.graph, "torch")
            key = f"{pair.arch}|{pair.profile}|{precision}|{args.batch}"
            if 3 * gc_.flops * args.batch > args.max_gflop * 1e9:
                skipped += 1
                continue
            if key not in measured:
                if backend is None:
                    continue
                built = backend.build(pair.graph, args.device, precision)
                start = time.perf_counter()
                m = measure_step_memory(backend, built, args.batch)
                measured[key] = {**m._asdict(), "seconds": time.perf_counter() - start}
                del built
                gc.collect()
            peak = measured[key]["peak_bytes"]
            pred = train_memory(gc_, args.batch, precision, args.device)
            err = 100.0 * (pred.total_bytes - peak) / peak
            errors.append(err)
            total += 1
            within += abs(err) <= TOLERANCE_PCT
            print(
                f"{pair.arch:<22} {pair.profile:<28} {precision:<5} {pred.total_bytes:>13,}"
                f" {peak:>13,} {err:>+6.1f}%  {pred.peak_phase}",
                flush=True,
            )
        summary[precision] = (within, total, skipped, errors)
    print()
    for precision, (within, total, skipped, errors) in summary.items():
        worst = max(errors, key=abs) if errors else 0.0
        print(
            f"{precision}: predicted peak within ±{TOLERANCE_PCT:.0f}% of the allocator's peak: "
            f"{within}/{total} ({100 * within / max(1, total):.0f}%); worst {worst:+.1f}%; "
            f"{skipped} pairs skipped (training step above {args.max_gflop:g} GFLOP)"
        )
    if args.save:
        args.save.write_text(json.dumps(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())

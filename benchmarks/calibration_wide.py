"""How good is a fresh calibration on the wider catalog, beyond its ten held-out architectures?

    python benchmarks/calibration_wide.py [--backend torch] [--quick]

Runs a calibration exactly as `modelpick bench --device cpu` does (the reference suite and the
held-out architectures timed together in interleaved bursts), with the held-out set widened to
every small catalog size grid entry that the fit never sees: the conv, ResNet, 1-D conv,
recurrent, transformer and MLP grids at small inputs. Nothing is saved; the user's cache is not
touched. Prints each architecture's predicted and measured batch-1 latency, then the summary
for the standard ten and for the rest.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from modelpick.advise.catalog import load_catalog
from modelpick.advise.hardware import resolve_device
from modelpick.backends import get_backend
from modelpick.measure.bench import DEFAULT_SETTINGS, Settings, calibrate
from modelpick.measure.calibration import HELD_OUT

TASKS = {
    "image28": ("vision", (1, 28, 28), 10),
    "image32": ("vision", (3, 32, 32), 10),
    "tab20": ("tabular", (20,), 2),
    "tab64": ("tabular", (64,), 5),
    "text32": ("text", (32,), 2),
    "ts64": ("timeseries", (64, 9), 6),
    "ts128": ("timeseries", (128, 9), 6),
}


def _task(name: str) -> str | None:
    """The small task each grid entry is judged on; None for entries too big for a quick run."""
    if name.startswith("cnn-"):
        return "image28" if "w64" in name else "image32"
    if name.startswith("resnet-w"):
        return None if name.startswith("resnet-w64-2x2") else "image32"
    if name.startswith("cnn1d"):
        return "ts128"
    if name.startswith(("lstm-", "gru-")):
        return "text32" if name.endswith("l1") else "ts64"
    if name.startswith("transformer-d") and "d512" not in name and "l6" not in name:
        return "text32"
    if name.startswith("mlp-"):
        return "tab20" if "w1024" in name else "tab64"
    return None


def _summary(label: str, errors: list[float]) -> str:
    e = sorted(abs(x) for x in errors)
    p90 = e[round(0.9 * (len(e) - 1))]
    within = sum(x <= 15 for x in e)
    return (
        f"{label}: {len(e)} architectures, median {statistics.median(e):.1f}%, "
        f"p90 {p90:.1f}%, within ±15%: {within} of {len(e)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    backend = get_backend(args.backend)
    device, _ = resolve_device("cpu", None)
    standard = {name for name, *_ in HELD_OUT}
    wide = list(HELD_OUT)
    for arch in load_catalog().architectures:
        task = _task(arch.name)
        if task and arch.name not in standard:
            domain, shape, outputs = TASKS[task]
            wide.append((arch.name, domain, shape, outputs))
    quick = Settings(min_runs=5, min_time_s=0.1, train_steps=3)
    settings = quick if args.quick else DEFAULT_SETTINGS
    _, rows = calibrate(backend, device, "fp32", settings, held_out=tuple(wide))
    print(f"{'architecture':<24} {'predicted ms':>13} {'measured ms':>12} {'error':>7}")
    errors: dict[bool, list[float]] = {True: [], False: []}
    for name, predicted, measured in rows:
        err = 100 * (predicted - measured) / measured
        errors[name in standard].append(err)
        mark = "" if name in standard else "  (wider set)"
        print(f"{name:<24} {predicted * 1e3:>13.3f} {measured * 1e3:>12.3f} {err:>+6.0f}%{mark}")
    print(_summary("standard held-out set", errors[True]))
    print(_summary("wider set", errors[False]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Is bf16 (or fp16) faster than fp32 on this machine? Measured, per model, with PyTorch.

For a few catalog models at the sizes `recommend` ranks (a text transformer like issue #12's,
a 1-D CNN, an MLP, a CNN), times a batch-1 forward and a batch-32 training step at fp32 and at
each reduced precision the device supports, interleaved (`bench.precision_ratios`, the routine
calibration uses), and prints the ratio to fp32 beside what the uncalibrated prediction assumes.

    python benchmarks/precision_speed.py            # CPU (torch)
    python benchmarks/precision_speed.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import time

MODELS = [
    ("transformer-d256-l4", {"domain": "text", "input": {"seq_len": 64, "vocab_size": 10000}}),
    ("cnn1d-w64-d4", {"domain": "timeseries", "input": {"seq_len": 256, "features": 1}}),
    ("mlp-w1024-d3", {"domain": "tabular", "input": {"features": 64}}),
    ("cnn-w32-d3", {"domain": "vision", "input": {"channels": 1, "height": 28, "width": 28}}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--cycles", type=int, default=24)
    args = ap.parse_args()

    from modelpick.advise.catalog import build_named, load_catalog
    from modelpick.advise.hardware import resolve_device
    from modelpick.advise.predict import predict
    from modelpick.advise.profile import parse_profile
    from modelpick.backends import get_backend
    from modelpick.graph import cost
    from modelpick.measure.bench import precision_ratios

    be = get_backend("torch")
    device, _ = resolve_device(args.device, None)
    # time every reduced precision the hardware has, whatever the prediction assumes
    reduced = [p for p in ("bf16", "fp16") if device.supports(p)]
    print(f"device: {device.name}; reduced precisions supported: {reduced or 'none'}")
    if device.precision_ratio:
        print(
            f"uncalibrated assumption: {device.precision_ratio} ({device.precision_ratio_source})"
        )
    rows = []
    cat = load_catalog()
    for name, spec in MODELS:
        prof = parse_profile(
            {
                "name": "p",
                "task": "classification",
                "outputs": 2,
                "data": {"train_samples": 10_000},
                "budget": {"device": args.device, "memory_gb": 8, "train_minutes": 10},
                **spec,
            }
        )
        graph = build_named(cat, name, prof).graph
        gc = cost(graph, "torch")
        t0 = time.monotonic()
        got = precision_ratios(be, device, "fp32", [graph], args.cycles)
        for prec, r in got.items():
            f32 = predict(gc, device._replace(precision_ratio={}), "fp32", 32, 10_000, 10)
            raw = predict(gc, device._replace(precision_ratio={}), prec, 32, 10_000, 10)
            rows.append(
                {
                    "model": name,
                    "precision": prec,
                    "measured_train_ratio": r["train"],
                    "measured_latency_ratio": r["latency"],
                    "roofline_train_ratio": round(raw.train_step_ms / f32.train_step_ms, 3),
                    "roofline_latency_ratio": round(raw.latency_ms / f32.latency_ms, 3),
                    "seconds": round(time.monotonic() - t0, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(
        "\n| model | precision | training step vs fp32 (measured) | batch-1 latency vs fp32 "
        "(measured) | roofline without a measured ratio (train / latency) |"
    )
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['precision']} | ×{r['measured_train_ratio']:.2f} | "
            f"×{r['measured_latency_ratio']:.2f} | ×{r['roofline_train_ratio']:.2f} / "
            f"×{r['roofline_latency_ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()

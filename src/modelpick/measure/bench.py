"""The timing harness: build a graph through a Backend and measure it properly.

Every timed run is synchronised (the backend's `synchronize`, CUDA's on a GPU) before the clock
is read; runs repeat until both a minimum count and a minimum time are reached; the first runs
are warm-up and are thrown away. Out of memory marks the batch as not fitting and searches for
the largest batch that does. Nothing here imports a framework: the backend does.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from ..advise.hardware import DeviceProfile
from ..advise.predict import predict
from ..backends.base import DeviceOutOfMemory
from ..errors import UnavailableError
from ..graph import Graph, cost
from .memory import measure_step_memory


class Stats(NamedTuple):
    p50_s: float
    p90_s: float
    p99_s: float
    mean_s: float
    stdev_s: float
    runs: int

    @property
    def spread_pct(self) -> float:
        """(p90 - p50) / p50: how far the slow tail sits from the median."""
        return 100 * (self.p90_s - self.p50_s) / self.p50_s if self.p50_s else 0.0


class Settings(NamedTuple):
    warmup: int = 3
    min_runs: int = 10
    min_time_s: float = 0.3
    max_runs: int = 10_000
    max_time_s: float = 20.0
    train_steps: int = 5


DEFAULT_SETTINGS = Settings()
# Calibration times every item in short bursts (one untimed call, then BURST timed runs), cycling
# over all items: each item's median then pools runs from every part of the calibration, so a
# machine whose speed drifts over seconds (shared VMs, thermal limits) slows every item alike.
# Measured on this project's shared 2-core VM: two halves of one calibration's runs (odd against
# even passes) agree to a median of 0.8 % and p90 3.0 % per graph; long rounds, one graph after
# another, agreed to 12.7 % and 46.5 % (benchmarks/calibration_noise.py).
CALIBRATION_CYCLES = 40
CALIBRATION_CYCLES_QUICK = 8  # --quick
CALIBRATION_BURST = 5


def _percentile(sorted_values: list[float], q: float) -> float:
    idx = (len(sorted_values) - 1) * q
    lo, hi = math.floor(idx), math.ceil(idx)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (idx - lo)


def measure(
    fn: Callable[[], Any],
    sync: Callable[[], None],
    settings: Settings = DEFAULT_SETTINGS,
    clock: Callable[[], float] = time.perf_counter,
) -> Stats:
    """Time `fn` (synchronised) until min_runs and min_time_s are both reached."""
    for _ in range(settings.warmup):
        fn()
    sync()
    times: list[float] = []
    spent = 0.0
    while len(times) < settings.max_runs and spent < settings.max_time_s:
        if len(times) >= settings.min_runs and spent >= settings.min_time_s:
            break
        start = clock()
        fn()
        sync()
        elapsed = clock() - start
        times.append(elapsed)
        spent += elapsed
    ordered = sorted(times)
    return Stats(
        p50_s=_percentile(ordered, 0.5),
        p90_s=_percentile(ordered, 0.9),
        p99_s=_percentile(ordered, 0.99),
        mean_s=statistics.fmean(times),
        stdev_s=statistics.stdev(times) if len(times) > 1 else 0.0,
        runs=len(times),
    )


class Result(NamedTuple):
    """One candidate's measurement beside its prediction (the `bench --json` row)."""

    arch: str
    backend: str
    device: str
    precision: str
    batch_size: int
    status: str  # ok | does_not_fit | error | interrupted
    latency_ms_p50: float | None = None
    latency_ms_p90: float | None = None
    latency_ms_p99: float | None = None
    latency_spread_pct: float | None = None
    throughput_samples_per_s: float | None = None
    train_step_ms: float | None = None
    train_samples_per_s: float | None = None
    peak_memory_bytes: int | None = None
    peak_memory_source: str = ""
    achieved_flops_per_s: float | None = None
    peak_flops_fraction: float | None = None
    predicted_latency_ms: float | None = None
    predicted_train_step_ms: float | None = None
    predicted_memory_bytes: int | None = None
    latency_error_pct: float | None = None
    train_step_error_pct: float | None = None
    memory_error_pct: float | None = None
    largest_batch_that_fits: int | None = None
    note: str = ""


def _error_pct(predicted: float | None, measured: float | None) -> float | None:
    if predicted is None or not measured:
        return None
    return 100.0 * (predicted - measured) / measured


def fits(backend, built, batch: int) -> bool:
    """Whether one training step at `batch` fits in device memory."""
    try:
        opt = backend.make_optimizer(built)
        backend.train_step(
            built, opt, backend.make_inputs(built, batch), backend.make_targets(built, batch)
        )
        backend.synchronize(built)
        return True
    except DeviceOutOfMemory:
        return False


def largest_batch(backend, built, failed: int) -> int:
    """The largest batch below `failed` whose training step fits: halve, then bisect."""
    lo, hi = 0, failed
    probe = failed // 2
    while probe >= 1 and not fits(backend, built, probe):
        hi, probe = probe, probe // 2
    if probe < 1:
        return 0
    lo = probe
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(backend, built, mid) else (lo, mid)
    return lo


def _release(backend, built) -> None:
    """Let the framework give back what a failed attempt held (caches, the allocator's pool)."""
    import gc

    gc.collect()
    release = getattr(backend, "release_memory", None)
    if release is not None:
        release(built)


def bench_graph(
    backend,
    graph: Graph,
    device: DeviceProfile,
    precision: str,
    batch: int,
    settings: Settings = DEFAULT_SETTINGS,
    memory_probe: Callable[[], int] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Result:
    """Build and measure one graph: batch-1 latency, throughput and a training step at
    `batch`, peak memory. The peak is the allocator's: on a GPU the backend's own figure over
    the timed steps; on a CPU, `measure_step_memory`'s (one more step, recorded by the
    framework's profiler), which is what the predicted training memory means. Where neither
    can tell (TensorFlow on a CPU), `memory_probe` (the process's resident bytes) gives the
    growth of the process over the timed steps instead."""
    gc_ = cost(graph, backend.name)
    base = dict(
        arch=graph.name,
        backend=backend.name,
        device=device.kind,
        precision=precision,
        batch_size=batch,
    )
    pred = None
    if device.supports(precision):  # no peak figure for it (bf16 on most CPUs): no prediction
        pred = predict(gc_, device, precision, batch, 1, 1.0)
        base.update(
            predicted_latency_ms=pred.latency_ms,
            predicted_train_step_ms=pred.train_step_ms,
            predicted_memory_bytes=pred.train_memory_bytes,
        )
    rss_before = memory_probe() if memory_probe else None
    built = None
    out_of_memory = False
    peak_rss = [0]
    try:
        built = backend.build(graph, device.kind, precision)
        sync = lambda: backend.synchronize(built)  # noqa: E731
        x1 = backend.make_inputs(built, 1)
        latency = measure(lambda: backend.forward(built, x1), sync, settings, clock)
        xb = backend.make_inputs(built, batch)
        yb = backend.make_targets(built, batch)
        throughput = measure(lambda: backend.forward(built, xb), sync, settings, clock)
        backend.reset_peak_memory(built)
        opt = backend.make_optimizer(built)

        def step():
            backend.train_step(built, opt, xb, yb)
            if memory_probe:
                peak_rss[0] = max(peak_rss[0], memory_probe())

        train = measure(
            step, sync, settings._replace(warmup=1, min_runs=settings.train_steps), clock
        )
        peak = backend.peak_memory_bytes(built)
        oracle = None
        if peak is None:  # a CPU: the oracle reads the allocator's peak of one step
            opt = None  # noqa: F841 - the timed steps' optimizer state is no longer needed
            oracle = measure_step_memory(backend, built, batch)
    except DeviceOutOfMemory:
        out_of_memory = True  # handled below, outside this block: its traceback holds tensors
    if out_of_memory:
        xb = yb = opt = None  # noqa: F841 - drop what the failed attempt held
        if built is None:
            return Result(
                **base, status="does_not_fit", note="does not fit in memory even to build"
            )
        _release(backend, built)
        fit = largest_batch(backend, built, batch)
        return Result(
            **base,
            status="does_not_fit",
            largest_batch_that_fits=fit,
            note=f"does not fit at batch {batch}; largest batch that fits: {fit}",
        )
    source = "allocator peak"
    if peak is None and oracle is not None and oracle.peak_bytes is not None:
        peak, source = oracle.peak_bytes, f"allocator peak ({oracle.peak_source})"
    if peak is None and memory_probe and rss_before is not None:
        peak, source = max(0, peak_rss[0] - rss_before), "process RSS growth"
    flops_per_s = gc_.flops * batch / throughput.p50_s
    peak_flops = device.peak_flops.get(precision)
    return Result(
        **base,
        status="ok",
        latency_ms_p50=latency.p50_s * 1e3,
        latency_ms_p90=latency.p90_s * 1e3,
        latency_ms_p99=latency.p99_s * 1e3,
        latency_spread_pct=latency.spread_pct,
        throughput_samples_per_s=batch / throughput.p50_s,
        train_step_ms=train.p50_s * 1e3,
        train_samples_per_s=batch / train.p50_s,
        peak_memory_bytes=peak,
        peak_memory_source=source if peak is not None else "",
        achieved_flops_per_s=flops_per_s,
        peak_flops_fraction=flops_per_s / peak_flops if peak_flops else None,
        latency_error_pct=_error_pct(pred and pred.latency_ms, latency.p50_s * 1e3),
        train_step_error_pct=_error_pct(pred and pred.train_step_ms, train.p50_s * 1e3),
        memory_error_pct=_error_pct(pred and pred.train_memory_bytes, peak),
    )


def bench_many(
    backend,
    graphs: list[Graph],
    device: DeviceProfile,
    precision: str,
    batch: int,
    settings: Settings = DEFAULT_SETTINGS,
    memory_probe=None,
    on_result=None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[Result], bool]:
    """Bench each graph in turn. A failure in one never loses the others; Ctrl-C stops and
    keeps what was measured. Returns the results and whether it was interrupted."""
    results: list[Result] = []
    interrupted = False
    for graph in graphs:
        try:
            result = bench_graph(
                backend, graph, device, precision, batch, settings, memory_probe, clock
            )
        except KeyboardInterrupt:
            interrupted = True
            results.append(
                Result(
                    graph.name,
                    backend.name,
                    device.kind,
                    precision,
                    batch,
                    "interrupted",
                    note="interrupted (Ctrl-C)",
                )
            )
            break
        except Exception as exc:  # one candidate's failure is reported, not fatal
            result = Result(
                graph.name,
                backend.name,
                device.kind,
                precision,
                batch,
                "error",
                note=f"{type(exc).__name__}: {exc}"[:300],
            )
        results.append(result)
        if on_result:
            on_result(result)
    return results, interrupted


# --- calibration run ------------------------------------------------------------------------


def interleaved_times(
    items: list[tuple[str, Callable[[], Any], Callable[[], None]]],
    cycles: int,
    burst: int,
    clock: Callable[[], float] = time.perf_counter,
    on_step: Callable[[str], None] | None = None,
) -> list[list[float]]:
    """Run times of every (label, fn, sync) item, measured in `cycles` passes over all items,
    each pass one untimed call (it warms the caches the previous item evicted) then `burst`
    timed, synchronised runs."""
    times: list[list[float]] = [[] for _ in items]
    for c in range(cycles):
        if on_step:
            on_step(f"timing pass {c + 1}/{cycles} over {len(items)} graphs")
        for i, (_, fn, sync) in enumerate(items):
            fn()
            sync()
            for _ in range(burst):
                start = clock()
                fn()
                sync()
                times[i].append(clock() - start)
    return times


def calibrate(
    backend,
    device: DeviceProfile,
    precision: str = "fp32",
    settings: Settings = DEFAULT_SETTINGS,
    clock: Callable[[], float] = time.perf_counter,
    on_step: Callable[[str], None] | None = None,
    held_out: tuple[tuple[str, str, tuple[int, ...], int], ...] | None = None,
):
    """Time the reference suite, fit the corrections, then judge them on held-out catalog
    architectures (`held_out`, default calibration.HELD_OUT: name, domain, input shape,
    outputs). Returns the Calibration and the held-out rows (name, predicted, measured)."""
    from ..advise.catalog import build_for, load_catalog
    from ..advise.predict import (
        BACKWARD_FACTOR,
        MEMORY_EFFICIENCY,
        OPTIMIZER_BYTES_PER_PARAM,
        forward_time_s,
    )
    from .calibration import (
        HELD_OUT,
        Sample,
        apply_calibration,
        fingerprint,
        fit_calibration,
        fit_train_overhead,
        held_out_io,
        reference_suite,
    )

    # Build everything first, then time it all in interleaved bursts: a shared machine drifts,
    # and the fit and its held-out test must see the same machine.
    catalog = load_catalog()
    timed: list[tuple] = []  # (label, graph cost, batch, forward fn, sync fn, role)
    trained: list[tuple] = []
    ratio_graphs: list = []  # the graphs whose training step is timed: the precision ratios'
    for graph in reference_suite(backend.name):
        if on_step:
            on_step(f"building {graph.name}")
        built = backend.build(graph, device.kind, precision)
        sync = lambda b=built: backend.synchronize(b)  # noqa: E731
        gc = cost(graph, backend.name)
        for batch in (1, 16):
            x = backend.make_inputs(built, batch)
            timed.append(
                (graph.name, gc, batch, lambda b=built, x=x: backend.forward(b, x), sync, "suite")
            )
        if gc.params and graph.name.startswith(("dense", "conv-", "lstm")):
            x, y = backend.make_inputs(built, 16), backend.make_targets(built, 16)
            opt = backend.make_optimizer(built)
            st = measure(
                lambda b=built, o=opt, x=x, y=y: backend.train_step(b, o, x, y),
                sync,
                settings._replace(warmup=2, min_runs=settings.train_steps),
                clock,
            )
            trained.append((gc, st.p50_s))
            ratio_graphs.append(graph)
    for name, domain, shape, outputs in held_out or HELD_OUT:
        io = held_out_io(domain, shape, outputs)
        graph = build_for(catalog.get(name), io, backend.name).graph
        built = backend.build(graph, device.kind, precision)
        x = backend.make_inputs(built, 1)
        timed.append(
            (
                name,
                cost(graph, backend.name),
                1,
                lambda b=built, x=x: backend.forward(b, x),
                lambda b=built: backend.synchronize(b),
                "held_out",
            )
        )
    quick = settings.min_runs < DEFAULT_SETTINGS.min_runs
    cycles = CALIBRATION_CYCLES_QUICK if quick else CALIBRATION_CYCLES
    items = [(label, fn, sync) for label, _, _, fn, sync, _ in timed]
    times = interleaved_times(items, cycles, CALIBRATION_BURST, clock, on_step)
    measured = [statistics.median(t) for t in times]
    samples = [
        Sample(gc, batch, precision, m)
        for (_, gc, batch, _, _, role), m in zip(timed, measured)
        if role == "suite"
    ]

    fp = fingerprint(device)
    cal = fit_calibration(samples, device, backend.name, fp)
    tuned = apply_calibration(device, cal)
    pairs = []
    for gc, train_s in trained:
        fwd, _ = forward_time_s(gc, 16, tuned, precision)
        opt_s = (
            gc.params
            * OPTIMIZER_BYTES_PER_PARAM
            / (device.bandwidth_bytes_per_s * MEMORY_EFFICIENCY)
        )
        pairs.append((train_s, fwd * (1 + BACKWARD_FACTOR) + opt_s))
    cal = cal._replace(train_overhead_s=fit_train_overhead(pairs))
    tuned = apply_calibration(device, cal)
    rows = [
        (label, forward_time_s(gc, 1, tuned, precision)[0], m)
        for (label, gc, _, _, _, role), m in zip(timed, measured)
        if role == "held_out"
    ]
    errors = sorted(abs(p - m) / m * 100 for _, p, m in rows)
    cal = cal._replace(
        median_error_pct=statistics.median(errors),
        p90_error_pct=_percentile(errors, 0.9),
        held_out=len(rows),
        precision_ratio=precision_ratios(
            backend, device, precision, ratio_graphs, cycles, clock, on_step
        ),
        weight_stream_bytes_per_s=weight_stream(backend, device, settings, clock, on_step),
    )
    return cal, rows


STREAM_WIDTH = 8192  # an 8192 × 8192 fp32 matrix: 256 MiB, beyond any CPU or GPU cache


def weight_stream(
    backend, device, settings=DEFAULT_SETTINGS, clock=time.perf_counter, on_step=None
):
    """Bytes per second of a batch-1 product with a 256 MiB weight matrix: how fast the device
    streams weights from memory, which bounds decoding (docs/llm.md). 0.0 if it cannot be
    built here (not enough memory)."""
    from ..graph import Dense, Graph, seq

    if on_step:
        on_step("timing weight streaming")
    graph = Graph("weight-stream", (STREAM_WIDTH,), seq(Dense(STREAM_WIDTH, bias=False)))
    try:
        built = backend.build(graph, device.kind, "fp32")
    except (MemoryError, DeviceOutOfMemory):
        return 0.0
    x = backend.make_inputs(built, 1)
    st = measure(
        lambda: backend.forward(built, x),
        lambda: backend.synchronize(built),
        settings._replace(warmup=2, min_runs=max(5, settings.train_steps)),
        clock,
    )
    return 4 * STREAM_WIDTH * STREAM_WIDTH / st.p50_s


def precision_ratios(
    backend,
    device: DeviceProfile,
    base: str,
    graphs: list,
    cycles: int,
    clock: Callable[[], float] = time.perf_counter,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Per reduced precision the device supports: the median over `graphs` of its batch-1
    forward time and its batch-16 training-step time over `base`'s, timed interleaved on the
    same models. What the hardware really gains, which no peak figure says (docs/scoring.md)."""
    out: dict[str, dict[str, float]] = {}
    for prec in ("bf16", "fp16"):
        if prec == base or not device.supports(prec) or not graphs:
            continue
        if on_step:
            on_step(f"timing {prec} against {base}")
        items: list[tuple] = []
        try:
            builds = [
                (graph, p, backend.build(graph, device.kind, p))
                for graph in graphs
                for p in (base, prec)
            ]
        except UnavailableError:
            continue  # the hardware has it, this framework build does not (fp16 on CPU torch)
        for graph, p, built in builds:
            sync = lambda b=built: backend.synchronize(b)  # noqa: E731
            x1 = backend.make_inputs(built, 1)
            x, y = backend.make_inputs(built, 16), backend.make_targets(built, 16)
            opt = backend.make_optimizer(built)
            items.append((f"{graph.name}@{p}", lambda b=built, x=x1: backend.forward(b, x), sync))
            items.append(
                (
                    f"{graph.name}@{p} train",
                    lambda b=built, o=opt, x=x, y=y: backend.train_step(b, o, x, y),
                    sync,
                )
            )
        times = interleaved_times(items, max(2, cycles // 4), CALIBRATION_BURST, clock)
        med = [statistics.median(t) for t in times]
        lat = [med[i + 2] / med[i] for i in range(0, len(med), 4)]
        train = [med[i + 3] / med[i + 1] for i in range(0, len(med), 4)]
        out[prec] = {
            "latency": round(min(100.0, max(0.01, statistics.median(lat))), 4),
            "train": round(min(100.0, max(0.01, statistics.median(train))), 4),
        }
    return out

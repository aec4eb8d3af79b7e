"""The bench harness and the calibration, driven by a fake pure-Python backend with a fake
clock: deterministic timings, simulated out-of-memory, simulated Ctrl-C."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelpick.advise.hardware import DeviceProfile
from modelpick.advise.predict import forward_time_s, roofline_s, timing_key
from modelpick.backends.base import Built, DeviceOutOfMemory
from modelpick.graph import Conv, Dense, Graph, cost, seq
from modelpick.measure import calibration as cal_mod
from modelpick.measure.bench import Settings, bench_graph, bench_many, largest_batch, measure
from modelpick.measure.calibration import (
    Calibration,
    Sample,
    apply_calibration,
    fingerprint,
    fit_calibration,
    load_calibration,
    reference_suite,
    save_calibration,
)

DEVICE = DeviceProfile(
    key="fake",
    name="Fake Device",
    kind="cpu",
    memory_bytes=2**34,
    bandwidth_bytes_per_s=1e10,
    peak_flops={"fp32": 1e11},
    launch_overhead_s=1e-5,
    source="test",
    detected=True,
)
FAST = Settings(warmup=2, min_runs=5, min_time_s=0.0, train_steps=3)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeBackend:
    """Takes `seconds_per_sample × batch + 1 ms` of fake time per forward pass; a training step
    takes three times that; runs out of memory above `max_batch`."""

    name = "torch"
    DEVICES = ("cpu",)
    PRECISIONS = {"cpu": ("fp32",)}

    def __init__(
        self, clock, seconds_per_sample=1e-3, max_batch=10**9, interrupt_on=None, fail_on=None
    ):
        self.clock, self.spp, self.max_batch = clock, seconds_per_sample, max_batch
        self.interrupt_on, self.fail_on = interrupt_on, fail_on
        self.forward_calls = 0

    def version(self):
        return "fake 1.0"

    def build(self, graph, device="cpu", precision="fp32"):
        if graph.name == self.interrupt_on:
            raise KeyboardInterrupt
        if graph.name == self.fail_on:
            raise RuntimeError("the framework said no")
        return Built(graph, object(), self.name, device, precision)

    def make_inputs(self, built, batch, seed=0):
        return batch

    def make_targets(self, built, batch, seed=0):
        return batch

    def forward(self, built, batch):
        self.forward_calls += 1
        self.clock.now += self.spp * batch + 1e-3

    def make_optimizer(self, built):
        return None

    def train_step(self, built, opt, batch, targets):
        if batch > self.max_batch:
            raise DeviceOutOfMemory(f"batch {batch}")
        self.clock.now += 3 * (self.spp * batch + 1e-3)

    def synchronize(self, built):
        pass

    def reset_peak_memory(self, built):
        pass

    def peak_memory_bytes(self, built):
        return 123_456


GRAPH = Graph("tiny", (16,), seq(Dense(32), Dense(4)))


def test_measure_runs_to_both_minimums_and_reports_percentiles():
    clock = Clock()
    steps = iter([1.0, 2.0, 3.0, 4.0] * 100)

    def fn():
        clock.now += next(steps) * 1e-3

    stats = measure(fn, lambda: None, Settings(warmup=2, min_runs=8, min_time_s=0.02), clock)
    # Warm-up consumed 1 and 2 ms; timed runs cycle 3,4,1,2 ms ...: 20 ms needs 8 runs here.
    assert stats.runs == 8
    assert stats.p50_s == pytest.approx(2.5e-3)
    assert stats.p90_s == pytest.approx(4e-3) and stats.p99_s == pytest.approx(4e-3)
    assert stats.mean_s == pytest.approx(2.5e-3)


def test_measure_keeps_going_until_min_time():
    clock = Clock()
    stats = measure(
        lambda: setattr(clock, "now", clock.now + 1e-3),
        lambda: None,
        Settings(warmup=0, min_runs=3, min_time_s=0.05),
        clock,
    )
    assert stats.runs == 50


def test_bench_graph_measures_beside_predictions():
    clock = Clock()
    fake = FakeBackend(clock)
    r = bench_graph(fake, GRAPH, DEVICE, "fp32", 32, FAST, clock=clock)
    assert r.status == "ok"
    assert r.latency_ms_p50 == pytest.approx(2.0)  # 1 ms + 1 sample × 1 ms
    assert r.throughput_samples_per_s == pytest.approx(32 / 33e-3)
    assert r.train_step_ms == pytest.approx(99.0)
    assert r.peak_memory_bytes == 123_456
    gc = cost(GRAPH, "torch")
    assert r.achieved_flops_per_s == pytest.approx(gc.flops * 32 / 33e-3)
    assert r.predicted_latency_ms > 0
    assert r.latency_error_pct == pytest.approx(100 * (r.predicted_latency_ms - 2.0) / 2.0)


def test_out_of_memory_finds_the_largest_batch_and_goes_on():
    clock = Clock()
    fake = FakeBackend(clock, max_batch=37)
    results, interrupted = bench_many(
        fake, [GRAPH, GRAPH._replace(name="second")], DEVICE, "fp32", 256, FAST, clock=clock
    )
    assert not interrupted and len(results) == 2
    assert all(r.status == "does_not_fit" for r in results)
    assert results[0].largest_batch_that_fits == 37
    assert "does not fit at batch 256; largest batch that fits: 37" in results[0].note
    assert largest_batch(fake, Built(GRAPH, None, "torch", "cpu", "fp32"), 2) == 1


def test_a_failure_never_loses_the_other_results():
    clock = Clock()
    fake = FakeBackend(clock, fail_on="bad")
    graphs = [GRAPH._replace(name="a"), GRAPH._replace(name="bad"), GRAPH._replace(name="c")]
    results, interrupted = bench_many(fake, graphs, DEVICE, "fp32", 8, FAST, clock=clock)
    assert [r.status for r in results] == ["ok", "error", "ok"]
    assert "the framework said no" in results[1].note


def test_ctrl_c_stops_and_keeps_what_was_measured():
    clock = Clock()
    fake = FakeBackend(clock, interrupt_on="b")
    graphs = [GRAPH._replace(name=n) for n in "abc"]
    results, interrupted = bench_many(fake, graphs, DEVICE, "fp32", 8, FAST, clock=clock)
    assert interrupted
    assert [r.status for r in results] == ["ok", "interrupted"]


# --- calibration ----------------------------------------------------------------------------


def test_fit_recovers_known_factors():
    # Synthetic timings from known truths: call 40 µs, fixed costs per kind, and factors on the
    # compute and memory times per kind.
    truth_compute = {"dense": 0.5, "conv": 2.0, "activation:relu": 1.5, "rnn:lstm": 3.0}
    truth_memory = {"dense": 1.4, "conv": 0.6, "activation:relu": 1.5, "rnn:lstm": 2.0}
    truth_fixed = {"dense": 8e-6, "conv": 12e-6, "activation:relu": 4e-6, "rnn:lstm": 6e-6}
    truth = DEVICE._replace(
        compute_scale=truth_compute,
        memory_scale=truth_memory,
        node_overhead_s=truth_fixed,
        call_overhead_s=4e-5,
    )
    samples = []
    for graph in reference_suite():
        gc = cost(graph, "torch")
        kinds = {timing_key(r) for r in gc.rows}
        if not kinds <= set(truth_fixed):
            continue
        for batch in (1, 16):
            t, _ = forward_time_s(gc, batch, truth, "fp32")
            samples.append(Sample(gc, batch, "fp32", t))
    assert len(samples) >= 10
    fit = fit_calibration(samples, DEVICE, "torch", "fp")
    assert fit.call_overhead_s == pytest.approx(4e-5, rel=0.05)
    # Dense and conv layers move weights and activations in different proportions to their
    # FLOPs across the suite's sizes and batches, so both factors are identifiable.
    # (The conv's memory time is small beside its compute, so the weak pull towards 1 moves its
    # factor a little.)
    for kind, tol in (("dense", 0.05), ("conv", 0.1)):
        assert fit.compute_scale[kind] == pytest.approx(truth_compute[kind], rel=0.05), kind
        assert fit.memory_scale[kind] == pytest.approx(truth_memory[kind], rel=tol), kind
    for kind, value in truth_fixed.items():
        assert fit.node_overhead_s[kind] == pytest.approx(value, rel=0.1), kind
    # And the fitted device predicts the synthetic timings back.
    tuned = apply_calibration(DEVICE, fit)
    for s in samples:
        assert forward_time_s(s.cost, s.batch, tuned, "fp32")[0] == pytest.approx(
            s.seconds, rel=0.02
        )


def _cal(fp="cpu-fake", backend="torch"):
    return Calibration(
        fp,
        backend,
        "fake",
        "2026-11-23",
        {"dense": 0.5},
        {"dense": 1.5},
        1e-5,
        2e-5,
        12,
        node_overhead_s={"dense": 1e-5},
        median_error_pct=10.0,
        p90_error_pct=20.0,
        held_out=3,
    )


def test_calibration_round_trip_is_atomic(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELPICK_CACHE_DIR", str(tmp_path))
    path = save_calibration(_cal())
    assert path.parent == tmp_path and not list(tmp_path.glob(".calibration-*"))
    loaded, warnings = load_calibration("cpu-fake", "torch")
    assert loaded == _cal() and warnings == []
    assert load_calibration("cpu-fake", "tensorflow") == (None, [])


@pytest.mark.parametrize(
    "content,why",
    [
        ("{not json", "Expecting property name"),
        ('{"format": 99}', "format 99"),
        ("[]", "ignoring"),
        ("", "ignoring"),
        ("SCALAR", "not a time in seconds"),
    ],
)
def test_corrupt_calibration_is_ignored_with_a_warning(tmp_path, monkeypatch, content, why):
    monkeypatch.setenv("MODELPICK_CACHE_DIR", str(tmp_path))
    if content == "SCALAR":  # a well-formed file with one nonsense number in it
        doc = {"format": cal_mod.FORMAT_VERSION, **_cal()._asdict(), "launch_overhead_s": "oops"}
        content = json.dumps(doc)
    (tmp_path / "calibration-cpu-fake-torch.json").write_text(content)
    cal, warnings = load_calibration("cpu-fake", "torch")
    assert cal is None and len(warnings) == 1 and why in warnings[0]


def test_foreign_calibration_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELPICK_CACHE_DIR", str(tmp_path))
    other = _cal(fp="cuda-some-other-gpu")
    doc = {"format": cal_mod.FORMAT_VERSION, **other._asdict()}
    (tmp_path / "calibration-cpu-fake-torch.json").write_text(json.dumps(doc))
    cal, warnings = load_calibration("cpu-fake", "torch")
    assert cal is None and "belongs to cuda-some-other-gpu" in warnings[0]


def test_recommend_uses_a_stored_calibration_and_says_so(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from modelpick.advise.hardware import resolve_device
    from modelpick.cli import app

    monkeypatch.setenv("MODELPICK_CACHE_DIR", str(tmp_path))
    example = str(Path(__file__).parents[2] / "examples" / "mnist-laptop-cpu.yaml")
    runner = CliRunner()
    before = json.loads(runner.invoke(app, ["recommend", example, "--json"]).stdout)
    assert not before["device"]["calibrated"]
    # The same candidate before and after (the ranking itself may change with the factors,
    # and which candidates lead depends on this machine's CPU).
    estimate = ["estimate", example, "--arch", "seed-cnn", "--json"]
    lat = json.loads(runner.invoke(app, estimate).stdout)["predictions"][0]["latency_ms"]
    cpu, _ = resolve_device("cpu", None)
    save_calibration(_cal(fp=fingerprint(cpu))._replace(compute_scale={"conv": 50.0}))
    after = json.loads(runner.invoke(app, ["recommend", example, "--json"]).stdout)
    assert after["device"]["calibrated"]
    assert any(n.startswith("calibrated with torch") for n in after["notes"])
    lat2 = json.loads(runner.invoke(app, estimate).stdout)["predictions"][0]["latency_ms"]
    assert lat2 != lat
    # A corrupt file: a warning on stderr, the uncalibrated answer, exit 0.
    next(tmp_path.glob("calibration-*.json")).write_text("garbage")
    result = runner.invoke(app, ["recommend", example, "--json"])
    assert result.exit_code == 0 and "warning: ignoring calibration file" in result.stderr
    assert not json.loads(result.stdout)["device"]["calibrated"]


def test_reference_suite_covers_the_main_kinds():
    kinds = {r.kind for g in reference_suite() for r in cost(g).rows}
    assert {
        "dense",
        "conv",
        "attention",
        "rnn",
        "layer_norm",
        "batch_norm",
        "pool",
        "embedding",
        "residual",
    } <= kinds


def test_roofline_terms_are_positive_for_work():
    g = Graph("c", (3, 32, 32), seq(Conv(2, 8, 3, padding=1)), layout="image")
    row = cost(g).rows[0]
    assert roofline_s(row, 1, DEVICE, "fp32")[0] > 0
    assert os.environ["MODELPICK_CACHE_DIR"]  # the session never touches the user's cache


def test_graph_executing_backends_share_one_fixed_cost():
    # TensorFlow: one fixed cost for every kind ("*"), recurrent steps and attention apart; a
    # node that launches no kernel (a view, a container, inference-time dropout) costs nothing.
    free = {"dropout": 0.0, "flatten": 0.0, "sequential": 0.0, "swap_axes": 0.0}
    truth = DEVICE._replace(
        compute_scale={"dense": 0.7},
        node_overhead_s={"*": 5e-6, "rnn:lstm": 2e-5, **free},
        call_overhead_s=6e-4,
    )
    samples = []
    for graph in reference_suite("tensorflow"):
        gc = cost(graph, "tensorflow")
        for batch in (1, 16):
            samples.append(Sample(gc, batch, "fp32", forward_time_s(gc, batch, truth, "fp32")[0]))
    fit = fit_calibration(samples, DEVICE, "tensorflow", "fp")
    own = {"rnn:lstm", "rnn:gru", "rnn:simple", "attention"}
    assert set(fit.node_overhead_s) == {"*", *own, *free}
    assert all(fit.node_overhead_s[k] == 0.0 for k in free)
    assert fit.node_overhead_s["*"] == pytest.approx(5e-6, rel=0.1)
    assert fit.node_overhead_s["attention"] == pytest.approx(5e-6, rel=0.1)
    assert fit.node_overhead_s["rnn:lstm"] == pytest.approx(2e-5, rel=0.1)
    assert fit.call_overhead_s == pytest.approx(6e-4, rel=0.02)


def test_calibration_timings_interleave_every_item_in_bursts():
    # Each pass visits every item once: one untimed call, then `burst` timed runs.
    from modelpick.measure.bench import interleaved_times

    clock = Clock()
    calls: list[str] = []

    def item(name: str, seconds: float):
        def fn():
            calls.append(name)
            clock.now += seconds

        return (name, fn, lambda: None)

    times = interleaved_times([item("a", 1e-3), item("b", 2e-3)], cycles=3, burst=2, clock=clock)
    assert calls == ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3
    assert times == [[pytest.approx(1e-3)] * 6, [pytest.approx(2e-3)] * 6]


def test_reference_suite_times_every_node_class_the_catalog_uses():
    # A class without a timing of its own falls back to the median fixed cost of a node that
    # launches kernels: for a pass-through module (dropout at inference) that over-predicted
    # small MLPs by 20-75 %. Every class the catalog builds must be in the suite.
    from modelpick.advise.catalog import build_for, load_catalog, reference_io
    from modelpick.families import IOSpec
    from modelpick.families.base import Unsupported
    from modelpick.graph import ShapeError

    suite = {timing_key(r) for g in reference_suite() for r in cost(g, "torch").rows}
    tasks = [
        IOSpec("vision", "classification", "image", (3, 32, 32), 10),
        IOSpec("text", "classification", "tokens", (32,), 2, vocab_size=5000),
        IOSpec("timeseries", "classification", "sequence", (64, 9), 6),
        IOSpec("tabular", "classification", "vector", (20,), 2),
    ]
    used: dict[str, str] = {}
    for arch in load_catalog().architectures:
        for io in [reference_io(arch), *tasks]:
            if io is None:
                continue
            try:
                graph = build_for(arch, io, "torch").graph
            except (Unsupported, ShapeError):
                continue
            for row in cost(graph, "torch").rows:
                used.setdefault(timing_key(row), arch.name)
    assert len(used) >= 20
    missing = {k: v for k, v in used.items() if k not in suite}
    assert not missing, f"node classes with no timing in the reference suite: {missing}"


class _PrecisionBackend:
    """Forward and training step cost virtual seconds that depend on the precision."""

    COST = {
        ("fwd", "fp32"): 1.0,
        ("fwd", "bf16"): 2.0,
        ("train", "fp32"): 10.0,
        ("train", "bf16"): 6.0,
    }

    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def build(self, graph, kind, precision):
        if precision == "fp16":
            from modelpick.errors import UnavailableError

            raise UnavailableError("fp16 is not supported on cpu by this PyTorch")
        return precision

    def make_inputs(self, built, batch):
        return batch

    def make_targets(self, built, batch):
        return batch

    def make_optimizer(self, built):
        return None

    def forward(self, built, x):
        self.now += self.COST[("fwd", built)]

    def train_step(self, built, opt, x, y):
        self.now += self.COST[("train", built)]

    def synchronize(self, built):
        pass


def test_calibration_measures_what_a_reduced_precision_really_gains():
    from types import SimpleNamespace

    from modelpick.advise.hardware import resolve_device
    from modelpick.measure.bench import precision_ratios

    be = _PrecisionBackend()
    cpu, _ = resolve_device("cpu", None)
    # the hardware has both; the framework runs bf16 only (fp16 on CPU torch): skipped
    dev = cpu._replace(peak_flops={"fp32": 1e11, "bf16": 1e11, "fp16": 1e11})
    graphs = [SimpleNamespace(name="dense-a"), SimpleNamespace(name="conv-b")]
    got = precision_ratios(be, dev, "fp32", graphs, 8, be.clock)
    assert got == {"bf16": {"latency": 2.0, "train": 0.6}}
    # stored, read back, and applied: predictions follow the measured ratio
    cal = _cal()._replace(precision_ratio=got)
    doc = {"format": cal_mod.FORMAT_VERSION, **cal._asdict()}
    back = cal_mod.check_calibration(json.loads(json.dumps(doc)), "cpu-fake", "torch")
    assert back.precision_ratio == got
    tuned = cal_mod.apply_calibration(dev, back)
    assert tuned.precision_ratio["bf16"] == {"latency": 2.0, "train": 0.6}
    assert "measured by calibration" in tuned.precision_ratio_source


@pytest.mark.parametrize(
    "bad",
    [
        {"int8": {"latency": 1.0, "train": 1.0}},
        {"bf16": {"latency": 1.0}},
        {"bf16": {"latency": 0.0, "train": 1.0}},
        {"bf16": {"latency": "fast", "train": 1.0}},
        ["bf16"],
    ],
)
def test_a_bad_precision_ratio_in_a_calibration_file_is_refused(bad):
    doc = {"format": cal_mod.FORMAT_VERSION, **_cal()._asdict(), "precision_ratio": bad}
    with pytest.raises(ValueError, match="precision_ratio"):
        cal_mod.check_calibration(doc, "cpu-fake", "torch")


def test_weight_streaming_is_bytes_over_the_batch_one_time():
    from modelpick.advise.hardware import resolve_device
    from modelpick.measure.bench import STREAM_WIDTH, weight_stream

    class Stream(_PrecisionBackend):
        def forward(self, built, x):
            self.now += 0.01  # 10 ms per product

    be = Stream()
    cpu, _ = resolve_device("cpu", None)
    got = weight_stream(be, cpu, clock=be.clock)
    assert got == pytest.approx(4 * STREAM_WIDTH**2 / 0.01)
    doc = {"format": cal_mod.FORMAT_VERSION, **_cal()._asdict(), "weight_stream_bytes_per_s": got}
    back = cal_mod.check_calibration(doc, "cpu-fake", "torch")
    assert cal_mod.apply_calibration(cpu, back).weight_stream_bytes_per_s == got
    with pytest.raises(ValueError, match="weight_stream"):
        cal_mod.check_calibration({**doc, "weight_stream_bytes_per_s": -1}, "cpu-fake", "torch")

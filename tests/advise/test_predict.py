"""Predictions: the memory arithmetic, and the roofline's behaviour on a known device."""

from __future__ import annotations

import pytest

from modelpick.advise.hardware import DeviceProfile
from modelpick.advise.predict import (
    BACKWARD_FACTOR,
    MEMORY_EFFICIENCY,
    MODULE_CALL_S,
    OPTIMIZER_BYTES_PER_PARAM,
    forward_time_s,
    inference_memory,
    predict,
    train_memory,
)
from modelpick.graph import RNN, Dense, Flatten, Graph, cost, seq

# A made-up device with round numbers, so that expected times can be worked out by hand.
GPU = DeviceProfile(
    key="toy",
    name="Toy GPU",
    kind="cuda",
    memory_bytes=16 * 2**30,
    bandwidth_bytes_per_s=1e12,
    peak_flops={"fp32": 1e13, "bf16": 1e14},
    launch_overhead_s=5e-6,
    source="test",
)


def _mlp(width: int = 4096) -> Graph:
    return Graph("mlp", (width,), seq(Dense(width), Dense(width), Dense(10)))


def test_training_memory_is_adamw_arithmetic():
    gc = cost(_mlp(1024))
    mem = train_memory(gc, batch=32, precision="bf16")
    assert mem.weights_bytes == 4 * gc.params  # fp32 master weights
    assert mem.gradients_bytes == 4 * gc.params
    # two fp32 moments, and a one-element step count per parameter tensor (3 weights, 3 biases)
    assert mem.optimizer_bytes == 8 * gc.params + 6 * 4
    assert mem.inputs_bytes == 32 * (1024 * 4 + 8)  # fp32 features, an int64 label
    assert mem.state_bytes == 4 * gc.params + mem.optimizer_bytes + mem.inputs_bytes
    # Here the peak falls in AdamW's update: every gradient, the model's bf16 output, and
    # PyTorch's two temporaries for the largest tensor (1024 × 1024) on a CPU.
    assert mem.peak_phase == "optimizer"
    temporaries = 2 * 4 * 1024 * 1024
    assert mem.total_bytes == mem.state_bytes + 4 * gc.params + temporaries + 32 * 10 * 2


def test_bf16_activations_by_hand():
    # Under autocast each Linear keeps a bf16 copy of its input (the first casts the fp32
    # batch; later ones get bf16 already) and, where its input needs a gradient, a bf16 copy of
    # its weight; cross-entropy keeps a log-softmax of the fp32 logits. Checked against
    # torch's saved tensors in tests/measure/test_memory_oracle.py.
    gc = cost(_mlp(1024))
    mem = train_memory(gc, batch=32, precision="bf16")
    inputs = 32 * 1024 * 2 * 3  # the three Linears' inputs, bf16
    weights = 2 * (1024 * 1024 + 1024 * 10)  # the casts of the second and third weights
    assert mem.activations_bytes == inputs + weights + 32 * 10 * 4


def test_a_cost_without_its_graph_falls_back_to_the_node_counts():
    gc = cost(_mlp(64))._replace(graph=None)
    mem = train_memory(gc, batch=4, precision="fp32")
    assert mem.activations_bytes == 4 * (gc.saved_elems + gc.input_elems) * 4
    assert mem.total_bytes == mem.parts_bytes


def test_bf16_inference_keeps_fp32_weights():
    gc = cost(_mlp(256))
    fp32 = inference_memory(gc, "fp32")
    bf16 = inference_memory(gc, "bf16")
    assert fp32 == 4 * gc.params + 4 * (256 + 256)
    # fp32 weights, the largest layer's bf16 cast, activations in 2 bytes
    assert bf16 == 4 * gc.params + 2 * (256 * 256 + 256) + 2 * (256 + 256)


def test_one_dense_layer_time_by_hand():
    # Batch 1, 4096×4096 fp32 matmul: 33.5 MFLOP (compute 5.6 µs at 60 % of 10 TFLOP/s) against
    # 64 MiB of weights to read (96 µs at 70 % of 1 TB/s): memory-bound.
    g = Graph("one", (4096,), seq(Dense(4096, bias=False)))
    t, compute_share = forward_time_s(cost(g), 1, GPU, "fp32")
    moved = (4096 + 4096) * 4 + 4096 * 4096 * 4
    # + one launch, one module call, the framework call
    expected = moved / (1e12 * MEMORY_EFFICIENCY) + 5e-6 + MODULE_CALL_S + 50e-6
    assert t == pytest.approx(expected, rel=1e-9)
    assert compute_share == 0.0


def test_large_batch_becomes_compute_bound_and_bf16_is_faster():
    gc = cost(_mlp())
    t1, _ = forward_time_s(gc, 1, GPU, "fp32")
    t4k, share = forward_time_s(gc, 4096, GPU, "fp32")
    assert share > 0.9
    assert t4k / 4096 < t1  # batching amortises the weight reads
    tb, _ = forward_time_s(gc, 4096, GPU, "bf16")
    assert tb < t4k / 3


def test_views_cost_only_their_module_call():
    with_view = Graph("v", (8, 512), seq(Flatten(), Dense(10)))
    without = Graph("w", (4096,), seq(Dense(10)))
    a, _ = forward_time_s(cost(with_view), 1, GPU, "fp32")
    b, _ = forward_time_s(cost(without), 1, GPU, "fp32")
    assert a == pytest.approx(b + MODULE_CALL_S)  # no launch, no memory traffic


def test_rnn_pays_one_launch_per_step():
    short = Graph("s", (10, 16), seq(RNN("lstm", 32, layers=2)))
    long = Graph("l", (100, 16), seq(RNN("lstm", 32, layers=2)))
    ts, _ = forward_time_s(cost(short), 1, GPU, "fp32")
    tl, _ = forward_time_s(cost(long), 1, GPU, "fp32")
    # Tiny cells are launch-bound: 2 layers × 90 more steps × 5 µs.
    assert tl - ts == pytest.approx(2 * 90 * 5e-6, rel=0.05)


def test_training_step_and_epochs():
    gc = cost(_mlp())
    p = predict(gc, GPU, "fp32", batch_size=256, train_samples=10_000, train_minutes=10)
    fwd, _ = forward_time_s(gc, 256, GPU, "fp32")
    opt = gc.params * OPTIMIZER_BYTES_PER_PARAM / (1e12 * MEMORY_EFFICIENCY)
    step = fwd * (1 + BACKWARD_FACTOR) + opt + 10 * 5e-6
    assert p.train_step_ms == pytest.approx(step * 1e3)
    assert p.epoch_s == pytest.approx(40 * step)  # ceil(10000 / 256) = 40 steps
    assert p.epochs_in_budget == pytest.approx(600 / p.epoch_s)
    assert p.latency_p95_ms > p.latency_ms > 0
    assert p.throughput_samples_per_s == pytest.approx(256 / fwd)


def _dense_parts(batch: int, i: int, o: int) -> tuple[float, float]:
    """A dense layer's compute and memory seconds on the toy GPU, worked out by hand: 2 FLOPs
    per multiply-add at 60 % of 1e13 FLOP/s; activations in and out plus weights and bias,
    4 bytes each, at 70 % of 1e12 B/s."""
    compute = batch * 2 * i * o / (1e13 * 0.6)
    memory = (batch * (i + o) + i * o + o) * 4 / (1e12 * 0.7)
    return compute, memory


def test_uncalibrated_nodes_take_the_roofline_max():
    gc = cost(_mlp())
    t, _ = forward_time_s(gc, 4096, GPU, "fp32")
    layers = [(4096, 4096), (4096, 4096), (4096, 10)]
    roof = sum(max(_dense_parts(4096, i, o)) for i, o in layers)
    fixed = 3 * (5e-6 + MODULE_CALL_S) + 50e-6  # three dense nodes and the default call
    assert t == pytest.approx(roof + fixed)


def test_calibration_scales_compute_and_memory_and_sets_overheads():
    gc = cost(_mlp())
    tuned = GPU._replace(
        compute_scale={"dense": 2.0},
        memory_scale={"dense": 0.5},
        node_overhead_s={"dense": 1e-4},
        call_overhead_s=1e-3,
    )
    layers = [(4096, 4096), (4096, 4096), (4096, 10)]
    for batch in (1, 4096):  # memory-bound and compute-bound
        t, _ = forward_time_s(gc, batch, tuned, "fp32")
        parts = [_dense_parts(batch, i, o) for i, o in layers]
        expected = sum(2.0 * c + 0.5 * m for c, m in parts) + 3 * 1e-4 + 1e-3
        assert t == pytest.approx(expected)
    assert predict(gc, tuned, "fp32", 32, 100, 1).calibrated
    assert not predict(gc, GPU, "fp32", 32, 100, 1).calibrated


def test_unsupported_precision_is_refused():
    with pytest.raises(ValueError, match="does not support fp16"):
        predict(cost(_mlp(64)), GPU, "fp16", 32, 100, 1)

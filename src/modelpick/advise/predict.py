"""Graph cost + DeviceProfile -> latency, throughput, memory and training time.

Latency is a per-node roofline (Williams et al. 2009): each node takes the longer of its
compute time (FLOPs at the device's peak for the precision, times a default efficiency for its
node kind) and its memory time (bytes moved at peak bandwidth, times a memory efficiency), plus a
fixed launch overhead per kernel. Kernel-level latency predictors (nn-Meter, Zhang et al. 2021)
work this way and learn per-kind corrections from measurements; calibration (`modelpick bench`)
fills `DeviceProfile.compute_scale` and `memory_scale` (per kind, factors on the compute and
memory times, which a calibrated prediction adds rather than takes the larger of), the per-node
fixed costs and `call_overhead_s` with exactly those.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..graph import GraphCost, NodeRow, numel
from ..graph import train_memory as _train_walk
from .hardware import DeviceProfile

BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}

# Fraction of peak FLOP/s a node kind reaches when compute-bound, before calibration. Dense
# matrix products come closest to peak; convolutions and attention a little less; recurrent
# cells run small sequential matmuls. Round numbers, replaced by measured ones after `bench`.
DEFAULT_COMPUTE_EFFICIENCY = {
    "dense": 0.6,
    "conv": 0.5,
    "patch_embed": 0.5,
    "attention": 0.45,
    "rnn": 0.25,
}
DEFAULT_ELEMENTWISE_EFFICIENCY = 0.25  # element-wise kinds rarely vectorise fully
MEMORY_EFFICIENCY = 0.7  # achievable fraction of peak bandwidth (STREAM-like)
FRAMEWORK_CALL_S = {"cpu": 30e-6, "cuda": 50e-6}  # Python + dispatcher cost of one forward call
# Eager frameworks pay Python for every module call, leaf or container (a few µs in PyTorch);
# calibration measures it per backend (graph-compiled Keras pays almost none).
MODULE_CALL_S = 3e-6
BACKWARD_FACTOR = 2.0  # backward ≈ 2 × forward FLOPs (Kaplan et al. 2020: training ≈ 6·N·D)
OPTIMIZER = "AdamW"
# AdamW per parameter, fp32: read param, grad, exp_avg, exp_avg_sq; write param and both moments.
OPTIMIZER_BYTES_PER_PARAM = 7 * 4
P95_OVER_P50 = 1.15  # assumed spread of batch-1 latency until `bench` measures it
TARGET_EPOCHS = 30
# Table lookups read the rows they gather, not the whole table.
LOOKUP_KINDS = ("embedding", "position_embedding", "token_type_embedding", "class_token")


class MemoryBreakdown(NamedTuple):
    """One training step's memory with AdamW (docs/predictions.md, "Memory").

    The parts are what the step holds at one time or another; `peak_bytes` is the most it
    holds at once (the allocator's peak): less than their sum, because backward frees
    activations as gradients appear, plus the temporaries of backward and the optimizer.
    `total_bytes` is that peak, what a memory limit is checked against."""

    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int  # kept for backward when the forward pass ends
    buffers_bytes: int
    inputs_bytes: int = 0  # the batch: inputs and targets
    peak_bytes: int = 0  # the step's peak; 0 where it was not modelled
    peak_phase: str = ""  # forward | backward | optimizer: where the peak falls

    @property
    def parts_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.gradients_bytes
            + self.optimizer_bytes
            + self.activations_bytes
            + self.buffers_bytes
            + self.inputs_bytes
        )

    @property
    def state_bytes(self) -> int:
        """Held before a step starts: weights, buffers, optimizer state and the batch."""
        return self.weights_bytes + self.buffers_bytes + self.optimizer_bytes + self.inputs_bytes

    @property
    def total_bytes(self) -> int:
        return self.peak_bytes or self.parts_bytes


class Prediction(NamedTuple):
    device: str
    precision: str
    batch_size: int
    latency_ms: float  # batch 1, median
    latency_p95_ms: float
    throughput_samples_per_s: float  # inference at batch_size
    train_step_ms: float
    train_samples_per_s: float
    epoch_s: float
    epochs_in_budget: float
    train_memory: MemoryBreakdown
    inference_memory_bytes: int
    compute_bound_fraction: float  # share of batch-1 time in compute-bound nodes
    calibrated: bool
    optimizer: str = OPTIMIZER
    notes: tuple[str, ...] = ()

    @property
    def train_memory_bytes(self) -> int:
        return self.train_memory.total_bytes


def roofline_parts(
    row: NodeRow, batch: int, device: DeviceProfile, precision: str
) -> tuple[float, float]:
    """The node's compute time (FLOPs at the device's peak, times a default efficiency for its
    kind) and memory time (bytes moved at peak bandwidth, times a memory efficiency)."""
    c = row.cost
    if c.kernels == 0 and c.flops == 0:
        return 0.0, 0.0  # a view (flatten, swap_axes) or inference-time identity (dropout)
    act_bytes = BYTES[precision]
    moved = batch * (numel(row.in_shape) + numel(row.out_shape)) * act_bytes
    if row.kind in LOOKUP_KINDS:
        moved += batch * numel(row.out_shape) * act_bytes  # only the rows gathered are read
    else:
        moved += (c.params + c.buffers) * act_bytes
    if c.macs:
        eff = DEFAULT_COMPUTE_EFFICIENCY.get(row.kind, 0.5)
    else:
        eff = DEFAULT_ELEMENTWISE_EFFICIENCY
    compute = batch * c.flops / (device.peak_flops[precision] * eff)
    memory = moved / (device.bandwidth_bytes_per_s * MEMORY_EFFICIENCY)
    return compute, memory


def roofline_s(
    row: NodeRow, batch: int, device: DeviceProfile, precision: str
) -> tuple[float, bool]:
    """The node's uncalibrated roofline time (no launch overhead) and whether compute-bound."""
    return _roofline(*roofline_parts(row, batch, device, precision))


def _roofline(compute: float, memory: float) -> tuple[float, bool]:
    return max(compute, memory), compute >= memory and compute > 0


def node_time_s(
    row: NodeRow, batch: int, device: DeviceProfile, precision: str
) -> tuple[float, bool]:
    """A node's time beyond its fixed cost, and whether compute dominates it.

    Uncalibrated: the roofline, max(compute, memory). Calibrated: c·compute + m·memory with
    per-kind factors fitted on this device. The sum fits measured small-batch timings better
    than the max: on a CPU, and for the small kernels of batch 1, loading the operands and
    computing on them overlap little, and the two factors absorb what overlap there is.
    """
    compute, memory = roofline_parts(row, batch, device, precision)
    if not device.calibrated:
        return _roofline(compute, memory)
    c = compute * _lookup(device.compute_scale, row, 1.0)
    m = memory * _lookup(device.memory_scale, row, 1.0)
    return c + m, c >= m and c > 0


def train_overhead_s(device: DeviceProfile) -> float:
    """Fixed cost of a training step beyond 3× forward: zeroing grads, the optimizer's own
    kernel launches (about ten before calibration measures it)."""
    return device.train_overhead_s or device.launch_overhead_s * 10


def module_overhead_s(device: DeviceProfile) -> float:
    return device.module_overhead_s if device.module_overhead_s >= 0 else MODULE_CALL_S


def call_overhead_s(device: DeviceProfile) -> float:
    return device.call_overhead_s or FRAMEWORK_CALL_S.get(device.kind, 30e-6)


def forward_time_s(
    gc: GraphCost, batch: int, device: DeviceProfile, precision: str
) -> tuple[float, float]:
    """Forward time at `batch` and the share of it spent in compute-bound nodes."""
    total = call_overhead_s(device)
    compute_bound = 0.0
    for row in gc.rows:
        total += fixed_overhead_s(row, device)
        if not row.leaf and row.kind != "residual":
            continue
        t, is_compute = node_time_s(row, batch, device, precision)
        total += t
        compute_bound += t if is_compute else 0.0
    return total, (compute_bound / total if total else 0.0)


def timing_key(row: NodeRow) -> str:
    """The class a node is calibrated in: its kind, refined by a variant (the RNN cell)."""
    return f"{row.kind}:{row.cost.variant}" if row.cost.variant else row.kind


def _lookup(table: dict[str, float], row: NodeRow, default: float) -> float:
    """The most specific entry: kind:variant, then kind, then "*" (all kinds), then default."""
    for key in (timing_key(row), row.kind, "*"):
        if key in table:
            return table[key]
    return default


def fixed_overhead_s(row: NodeRow, device: DeviceProfile) -> float:
    """What a node costs whatever its size: module call and kernel launches. Calibrated, per
    node kind and kernel; before calibration, one module call plus a launch per kernel."""
    if device.node_overhead_s:
        per = _lookup(device.node_overhead_s, row, device.launch_overhead_s)
        return per * max(1, row.cost.kernels)
    return module_overhead_s(device) + row.cost.kernels * device.launch_overhead_s


def train_memory(gc: GraphCost, batch: int, precision: str, device: str = "cpu") -> MemoryBreakdown:
    """One AdamW training step's memory on `device` ("cpu" or "cuda"): fp32 master weights,
    fp32 gradients, two fp32 moments (and a step counter per parameter tensor), the batch,
    the tensors autograd keeps for backward as the backend runs each node (in the compute
    precision where the backend computes in it: mixed precision keeps fp32 weights and casts
    on the fly, Micikevicius et al. 2018), and the step's peak (graph/memory.py)."""
    p = gc.params
    walk = _train_walk(gc.graph, gc.backend, device, precision, batch) if gc.graph else None
    if walk is None:  # a cost without its graph: the activations as the nodes count them
        return MemoryBreakdown(
            weights_bytes=4 * p,
            gradients_bytes=4 * p,
            optimizer_bytes=8 * p,
            activations_bytes=batch * (gc.saved_elems + gc.input_elems) * BYTES[precision],
            buffers_bytes=4 * gc.buffers,
        )
    mem = MemoryBreakdown(
        weights_bytes=4 * p,
        gradients_bytes=walk.gradients_bytes,
        optimizer_bytes=8 * p + 4 * walk.param_tensors,
        activations_bytes=walk.saved_bytes,
        buffers_bytes=4 * gc.buffers + _counter_bytes(gc),
        inputs_bytes=batch * (gc.input_elems * _input_bytes(gc) + _target_bytes(gc)),
        peak_phase=walk.phase,
    )
    return mem._replace(peak_bytes=mem.state_bytes + walk.peak_bytes)


def _input_bytes(gc: GraphCost) -> int:
    return 8 if gc.graph is not None and gc.graph.input_kind == "tokens" else 4


def _target_bytes(gc: GraphCost) -> int:
    """A sample's targets: regression values or one sigmoid unit's labels in fp32, class
    indices in int64 (one per output position)."""
    g = gc.graph
    out = gc.output_shape
    if g is None:
        return 0
    if g.task == "regression" or out[-1] == 1:
        return 4 * numel(out)
    return 8 * numel(out[:-1])


def _counter_bytes(gc: GraphCost) -> int:
    """PyTorch's BatchNorm keeps an int64 count of batches seen, besides its statistics."""
    if gc.backend != "torch":
        return 0
    return 8 * sum(1 for r in gc.rows if r.kind == "batch_norm")


def inference_memory(gc: GraphCost, precision: str) -> int:
    """Weights as the backends keep them, fp32 even under mixed precision (autocast and Keras's
    mixed policies cast on the fly), plus, in a 2-byte precision, the cast of the largest
    layer's weights, plus the largest live input+output pair at batch 1 in `precision`."""
    leaves = [r for r in gc.rows if r.leaf]
    peak_act = max((numel(r.in_shape) + numel(r.out_shape) for r in leaves), default=0)
    cast = 2 * max((r.cost.params for r in leaves), default=0) if BYTES[precision] == 2 else 0
    return (gc.params + gc.buffers) * 4 + cast + peak_act * BYTES[precision]


def predict(
    gc: GraphCost,
    device: DeviceProfile,
    precision: str,
    batch_size: int,
    train_samples: int,
    train_minutes: float,
) -> Prediction:
    """Predict one architecture's cost on `device` at `precision`."""
    if not device.supports(precision):
        raise ValueError(f"{device.name} does not support {precision}")
    ratio = device.precision_ratio.get(precision) if precision != "fp32" else None
    if ratio:
        # the device's measured (or assumed) ratio to fp32, not the precision's paper peak
        base = predict(gc, device, "fp32", batch_size, train_samples, train_minutes)
        lat, step = ratio["latency"], ratio["train"]
        return base._replace(
            precision=precision,
            latency_ms=base.latency_ms * lat,
            latency_p95_ms=base.latency_p95_ms * lat,
            throughput_samples_per_s=base.throughput_samples_per_s / step,
            train_step_ms=base.train_step_ms * step,
            train_samples_per_s=base.train_samples_per_s / step,
            epoch_s=base.epoch_s * step,
            epochs_in_budget=base.epochs_in_budget / step,
            train_memory=train_memory(gc, batch_size, precision, device.kind),
            inference_memory_bytes=inference_memory(gc, precision),
            notes=(
                *base.notes,
                f"{precision} timed as fp32 × {step:.3g} (training), × {lat:.3g} (latency): "
                + (device.precision_ratio_source or "measured"),
            ),
        )
    t1, compute_share = forward_time_s(gc, 1, device, precision)
    tb, _ = forward_time_s(gc, batch_size, device, precision)
    optimizer_s = (
        gc.params * OPTIMIZER_BYTES_PER_PARAM / (device.bandwidth_bytes_per_s * MEMORY_EFFICIENCY)
    )
    step_s = tb * (1 + BACKWARD_FACTOR) + optimizer_s + train_overhead_s(device)
    steps = math.ceil(train_samples / batch_size)
    epoch_s = steps * step_s
    return Prediction(
        device=device.key,
        precision=precision,
        batch_size=batch_size,
        latency_ms=t1 * 1e3,
        latency_p95_ms=t1 * 1e3 * P95_OVER_P50,
        throughput_samples_per_s=batch_size / tb,
        train_step_ms=step_s * 1e3,
        train_samples_per_s=batch_size / step_s,
        epoch_s=epoch_s,
        epochs_in_budget=train_minutes * 60 / epoch_s,
        train_memory=train_memory(gc, batch_size, precision, device.kind),
        inference_memory_bytes=inference_memory(gc, precision),
        compute_bound_fraction=compute_share,
        calibrated=device.calibrated,
    )

"""The training-memory oracle (measure/memory.py, backends/torch/memory.py) and the prediction
held to it: the predicted peak of one AdamW step within ±10 % of the allocator's peak for at
least 90 % of the catalog × example-profile pairs, at fp32 and at bf16.

The pairs are built as `recommend` builds them (every catalog architecture that applies to an
example profile, measure.memory.example_pairs), at batch 8 on this machine's CPU. A test must
stay quick on a 2-core machine, so pairs whose training step costs more than a few hundred
MFLOP, or whose recurrent layers run more than a few hundred steps (each a separate kernel,
which the profiler records one by one), are skipped, and counted; benchmarks/train_memory.py
runs them all (docs/cost.md quotes it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from modelpick.advise.predict import train_memory  # noqa: E402
from modelpick.backends import get_backend  # noqa: E402
from modelpick.graph import Dense, Graph, cost, seq  # noqa: E402
from modelpick.measure.memory import (  # noqa: E402
    StepMemory,
    example_pairs,
    measure_step_memory,
)

TORCH = get_backend("torch")
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
BATCH = 8
TOLERANCE = 0.10
GOAL = 0.90
# What a test can afford on a small CPU: training FLOPs per step (3 × forward × batch) and
# recurrent steps (layers × directions × length).
MAX_STEP_FLOPS = {"fp32": 2e8, "bf16": 1e8}  # bf16 is emulated, and slow, on most CPUs
MAX_RNN_STEPS = 200


# --- the oracle on models whose numbers can be worked out by hand ---------------------------


def test_one_linear_layer_by_hand():
    # Linear 1000 -> 500 at batch 8, cross-entropy over 500 classes, fp32.
    built = TORCH.build(Graph("lin", (1000,), seq(Dense(500))))
    m = measure_step_memory(TORCH, built, BATCH)
    params = 1000 * 500 + 500
    assert m.weights_bytes == 4 * params == 2_002_000
    assert m.gradients_bytes == 4 * params
    # AdamW: two fp32 moments per parameter and a one-element fp32 step count per tensor (2)
    assert m.optimizer_bytes == 8 * params + 2 * 4
    assert m.buffers_bytes == 0
    assert m.inputs_bytes == BATCH * 1000 * 4 + BATCH * 8  # fp32 features, int64 labels
    # The Linear keeps its input (the batch) and its weight, both counted above; what is new is
    # cross-entropy's log-softmax output (8 × 500 fp32) and a scalar or two.
    assert 16_000 <= m.saved_bytes <= 16_000 + 64
    # The peak falls in AdamW's update: every gradient, the output and loss still held by the
    # step, and the two temporaries PyTorch's per-parameter loop makes for the largest tensor
    # (sqrt of the second moment, then its quotient): 2 × 500,000 × 4 bytes.
    delta = m.peak_bytes - (m.weights_bytes + m.optimizer_bytes + m.inputs_bytes)
    expected = 4 * params + 2 * 4 * 500_000 + 16_000
    assert expected <= delta <= expected + 64
    assert m.peak_source.startswith("torch.profiler")


def test_the_oracle_leaves_the_model_as_it_found_it():
    built = TORCH.build(Graph("lin", (12,), seq(Dense(3))))
    measure_step_memory(TORCH, built, 4)
    assert all(p.grad is None for p in built.model.parameters())
    assert not built.model.training


def test_a_backend_it_does_not_know_gives_none():
    class Other:
        name = "other"

    assert measure_step_memory(Other(), None, 8) is None


def test_the_prediction_matches_the_hand_figures():
    g = Graph("lin", (1000,), seq(Dense(500)))
    mem = train_memory(cost(g), BATCH, "fp32", "cpu")
    assert mem.weights_bytes == mem.gradients_bytes == 2_002_000
    assert mem.optimizer_bytes == 4_004_008
    assert mem.inputs_bytes == 32_064
    assert mem.peak_phase == "optimizer"
    assert mem.total_bytes == mem.peak_bytes == mem.state_bytes + 2_002_000 + 4_000_000 + 16_000


# --- the catalog × example pairs ---------------------------------------------------------------


def _cases(precision: str):
    run, skipped = [], []
    for pair in example_pairs(EXAMPLES):
        gc = cost(pair.graph, "torch")
        steps = sum(r.cost.kernels for r in gc.rows if r.kind == "rnn")
        if 3 * BATCH * gc.flops > MAX_STEP_FLOPS[precision] or steps > MAX_RNN_STEPS:
            skipped.append(pair)
        else:
            run.append(pair)
    return run, skipped


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predicted_peak_is_within_ten_percent_for_nine_pairs_in_ten(precision):
    if precision not in TORCH.PRECISIONS["cpu"]:
        pytest.skip(f"torch does not run {precision} on this CPU")
    run, skipped = _cases(precision)
    assert len(run) >= 50, f"only {len(run)} pairs small enough to run ({len(skipped)} skipped)"
    misses = []
    for pair in run:
        built = TORCH.build(pair.graph, "cpu", precision)
        m = measure_step_memory(TORCH, built, BATCH)
        assert isinstance(m, StepMemory) and m.peak_bytes > 0
        gc = cost(pair.graph, "torch")
        pred = train_memory(gc, BATCH, precision, "cpu")
        # the exact parts first: weights, gradients and AdamW's state are the frameworks' own
        assert m.weights_bytes == pred.weights_bytes == 4 * gc.params
        assert m.gradients_bytes == pred.gradients_bytes
        assert m.optimizer_bytes == pred.optimizer_bytes
        err = (pred.total_bytes - m.peak_bytes) / m.peak_bytes
        if abs(err) > TOLERANCE:
            misses.append(f"{pair.arch} on {pair.profile}: {100 * err:+.1f}%")
    within = len(run) - len(misses)
    print(
        f"{precision}: {within}/{len(run)} within ±10%; {len(skipped)} pairs skipped "
        f"(training step above {MAX_STEP_FLOPS[precision]:.0e} FLOPs or over "
        f"{MAX_RNN_STEPS} recurrent steps)"
    )
    assert within >= GOAL * len(run), "\n".join(misses)


def test_tensorflow_on_a_cpu_reports_what_it_can_and_none_for_the_rest():
    pytest.importorskip("tensorflow")
    keras = get_backend("tensorflow")
    built = keras.build(Graph("lin", (16,), seq(Dense(4))))
    m = measure_step_memory(keras, built, BATCH)
    assert m.weights_bytes == 4 * (16 * 4 + 4)
    assert m.optimizer_bytes >= 8 * (16 * 4 + 4)  # two moments, plus Keras's counters
    assert m.gradients_bytes is m.saved_bytes is m.peak_bytes is None
    assert m.peak_source == ""

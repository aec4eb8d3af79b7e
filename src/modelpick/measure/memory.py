"""What one training step really holds in memory, framework-neutral: the oracle that the
training-memory prediction (advise/predict.py, `train_memory`) is checked against.

    measure_step_memory(backend, built, batch, seed=0) -> StepMemory | None

runs the backend's own training step (AdamW from `backend.make_optimizer`) on `built` (a
`backends.base.Built`) at `batch`, after one warm-up step (AdamW's state exists only after a
first step), and returns a `StepMemory` in bytes. A field is None where the framework cannot
tell. `peak_bytes` is the step's peak as the allocator saw it: weights + buffers + optimizer
state + the batch, which are allocated when a steady-state step starts, plus the most the step
allocated on top of them at any moment (activations kept for backward, gradients, autograd's
and the optimizer's temporaries). It leaves out what no allocator reports: the framework and
Python runtime, a CUDA context, the caching allocator's reserve and fragmentation.

- torch on CPU: the profiler's record of the CPU allocator (`torch.profiler`,
  `profile_memory=True`); on CUDA: `torch.cuda.max_memory_allocated`. Everything else (weights,
  gradients, optimizer state, the tensors autograd saves for backward, deduplicated by
  storage) is read from the tensors themselves: backends/torch/memory.py.
- tensorflow: weights, buffers, optimizer state and the batch from the variables and tensors;
  gradients and saved activations are not held where Python can see them (None); the peak
  from `tf.config.experimental.get_memory_info` on a GPU, None on CPU.

Returns None for a backend it does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class StepMemory(NamedTuple):
    weights_bytes: int | None  # trainable parameters
    gradients_bytes: int | None  # gradients after the step
    optimizer_bytes: int | None  # AdamW's state (two moments, step counters)
    saved_bytes: int | None  # tensors saved for backward beyond weights and the batch
    peak_bytes: int | None  # the allocator's peak during the step (see the module doc)
    peak_source: str  # how the peak was measured; "" where it was not
    buffers_bytes: int | None = None  # non-trainable state (BatchNorm statistics)
    inputs_bytes: int | None = None  # the batch: inputs and targets

    def to_dict(self) -> dict:
        return self._asdict()


def measure_step_memory(backend, built, batch: int, seed: int = 0) -> StepMemory | None:
    """Measure one steady-state training step of `built` at `batch` (see the module doc)."""
    if backend.name == "torch":
        from ..backends.torch.memory import step_memory

        m = step_memory(backend, built, batch, seed)
        return StepMemory(
            weights_bytes=m.weights_bytes,
            gradients_bytes=m.gradients_bytes,
            optimizer_bytes=m.optimizer_bytes,
            saved_bytes=m.saved_bytes,
            peak_bytes=m.peak_bytes,
            peak_source=m.peak_source,
            buffers_bytes=m.buffers_bytes,
            inputs_bytes=m.inputs_bytes,
        )
    if backend.name == "tensorflow":
        return _tensorflow_step_memory(backend, built, batch, seed)
    return None


def _nbytes(variables) -> int:
    return sum(int(v.numpy().nbytes) for v in variables)


def _tensorflow_step_memory(backend, built, batch: int, seed: int) -> StepMemory:
    import tensorflow as tf

    model = built.model.keras
    opt = backend.make_optimizer(built)
    x = backend.make_inputs(built, batch, seed)
    y = backend.make_targets(built, batch, seed)
    backend.train_step(built, opt, x, y)  # warm-up: traces the step, makes the slots
    delta = None
    if built.device == "cuda":
        backend.synchronize(built)
        tf.config.experimental.reset_memory_stats("GPU:0")
        before = tf.config.experimental.get_memory_info("GPU:0")["current"]
        backend.train_step(built, opt, x, y)
        backend.synchronize(built)
        delta = max(0, int(tf.config.experimental.get_memory_info("GPU:0")["peak"] - before))
    inner = getattr(opt, "inner_optimizer", opt)
    weights = _nbytes(model.trainable_weights)
    buffers = _nbytes(model.non_trainable_weights)
    optimizer = _nbytes(inner.variables)
    inputs = int(x.numpy().nbytes) + int(y.numpy().nbytes)
    state = weights + buffers + optimizer + inputs
    peak = None if delta is None else state + delta
    source = "" if delta is None else "tf.config.experimental.get_memory_info peak"
    return StepMemory(
        weights_bytes=weights,
        gradients_bytes=None,
        optimizer_bytes=optimizer,
        saved_bytes=None,
        peak_bytes=peak,
        peak_source=source,
        buffers_bytes=buffers,
        inputs_bytes=inputs,
    )


# --- the catalog × example pairs the prediction is checked on ---------------------------------


class Pair(NamedTuple):
    """One catalog architecture built for one example profile."""

    arch: str
    profile: str  # the profile's file stem
    graph: object  # graph.Graph


def example_pairs(profile_paths, backend: str = "torch", catalog=None) -> list[Pair]:
    """Every catalog architecture that applies to each profile (`expand_candidates`, as
    `recommend` builds them), one pair per architecture and profile."""
    from ..advise.catalog import expand_candidates, load_catalog
    from ..advise.profile import load_profile

    cat = catalog or load_catalog()
    pairs = []
    for path in profile_paths:
        prof = load_profile(path)
        prof = prof.model_copy(
            update={"preferences": prof.preferences.model_copy(update={"backend": backend})}
        )
        built, _, _ = expand_candidates(cat, prof)
        pairs += [Pair(b.arch.name, Path(path).stem, b.graph) for b in built]
    return pairs

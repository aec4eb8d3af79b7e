"""What one PyTorch training step really holds: the oracle for the training-memory prediction.

`step_memory(built, batch)` runs the backend's own training step (`TorchBackend._train_step`,
with the AdamW that `make_optimizer` makes) and reports, in bytes:

- `weights`, `buffers`: the model's parameters and buffers (BatchNorm statistics and its int64
  step counters included), by storage;
- `gradients`: the `.grad` tensors after the step;
- `optimizer`: AdamW's state after the step (two moments per parameter, and a one-element
  step counter per parameter);
- `inputs`: the batch's inputs and targets;
- `saved`: the tensors autograd saves for backward during the step's forward pass, through
  `torch.autograd.graph.saved_tensors_hooks`, each storage counted once, leaving out the
  storages already counted above (parameters saved by a Linear, the input batch saved by the
  first layer). Under bf16 autocast the bf16 copies of the weights are new storages and count;
- `peak`: the allocator's peak during the step. The step starts from its steady state: the
  previous step's gradients are released (the step's own `zero_grad(set_to_none=True)` does
  that first), so what is allocated when it starts is `state` = weights + buffers + optimizer
  + inputs. `peak_delta` is the most the allocator held above that during the step (forward
  activations, gradients, autograd's temporaries, AdamW's temporaries), and
  `peak = state + peak_delta`: weights + buffers + optimizer state + inputs + everything the
  step allocates that is alive at its worst moment, gradients included.

On CPU the step's allocations and frees come from `torch.profiler` with `profile_memory=True`
(the CPU allocator reports each one; their running sum, in time order, is what it holds); on
CUDA, from the caching allocator, `torch.cuda.max_memory_allocated()` minus
`torch.cuda.memory_allocated()` before the step (block sizes rounded as the allocator rounds
them; the allocator's reserve and fragmentation are not included).

The optimizer state exists only after a first step, so one warm-up step runs before anything
is measured; the step measured is the third (the second records what autograd saves).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..base import Built
from ..quiet import quiet_stderr


class TorchStepMemory(NamedTuple):
    weights_bytes: int
    buffers_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    inputs_bytes: int
    saved_bytes: int
    saved_tensors: int  # distinct storages saved for backward (beyond the ones above)
    peak_delta_bytes: int  # the allocator's peak during the step above its level at the start
    peak_source: str

    @property
    def state_bytes(self) -> int:
        """Allocated when a steady-state step starts: weights, buffers, optimizer, batch."""
        return self.weights_bytes + self.buffers_bytes + self.optimizer_bytes + self.inputs_bytes

    @property
    def peak_bytes(self) -> int:
        """The step's peak: what it starts with plus the most it allocates on top."""
        return self.state_bytes + self.peak_delta_bytes


def _storages(tensors) -> dict[int, int]:
    """data_ptr -> nbytes of each distinct storage among `tensors` (None skipped)."""
    out: dict[int, int] = {}
    for t in tensors:
        if t is None or not isinstance(t, torch.Tensor):
            continue
        s = t.untyped_storage()
        out[s.data_ptr()] = s.nbytes()
    return out


def _optimizer_tensors(opt):
    for state in opt.state.values():
        yield from (v for v in state.values() if isinstance(v, torch.Tensor))


def _running_peak(events) -> int:
    """The most the CPU allocator held above its starting level: the running sum, in time
    order, of the profiler's memory events (+ on allocation, − on free)."""
    cpu = torch.autograd.DeviceType.CPU
    mem = [e for e in events if e.name() == "[memory]" and e.device_type() == cpu]
    mem.sort(key=lambda e: e.start_ns())
    running = peak = 0
    for e in mem:
        running += e.nbytes()
        peak = max(peak, running)
    return peak


def _cpu_peak_delta(step) -> int:
    """Run `step` under the profiler, recording the CPU allocator; its peak above the start.

    The autograd profiler's own entry points are used where they exist: `torch.profiler`
    turns every recorded op into a Python event on the way out, which costs far more than the
    step itself on a small model; the raw results hold the same memory events."""
    try:
        from torch._C._profiler import _ExperimentalConfig
        from torch.autograd import (
            ProfilerActivity,
            ProfilerConfig,
            ProfilerState,
            _disable_profiler,
            _enable_profiler,
            _prepare_profiler,
        )

        config = ProfilerConfig(
            ProfilerState.KINETO, False, True, False, False, False, _ExperimentalConfig()
        )
    except (ImportError, AttributeError, TypeError):  # another torch: the public profiler
        prof = torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
        )
        with quiet_stderr():  # kineto prints a line as it starts and stops
            prof.start()
        try:
            step()
        finally:
            with quiet_stderr():
                prof.stop()
        return _running_peak(prof.profiler.kineto_results.events())
    activities = {ProfilerActivity.CPU}
    with quiet_stderr():
        _prepare_profiler(config, activities)
        _enable_profiler(config, activities)
    try:
        step()
    finally:
        with quiet_stderr():
            result = _disable_profiler()
    return _running_peak(result.events())


def _saved_storages(step) -> dict[int, int]:
    """Run `step` under saved_tensors_hooks; the distinct storages autograd saved."""
    saved: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        saved[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return saved


def step_memory(backend, built: Built, batch: int, seed: int = 0) -> TorchStepMemory:
    """Measure one steady-state training step of `built` at `batch` (see the module doc)."""
    model = built.model
    opt = backend.make_optimizer(built)
    x = backend.make_inputs(built, batch, seed)
    y = backend.make_targets(built, batch, seed)

    def step():
        backend._train_step(built, opt, x, y)

    try:
        step()  # warm-up: AdamW makes its state on the first step
        saved = _saved_storages(step)
        params = _storages(model.parameters())
        buffers = _storages(model.buffers())
        optim = _storages(_optimizer_tensors(opt[0]))
        batch_storages = _storages((x, y))
        grads = _storages(p.grad for p in model.parameters())
        known = params.keys() | buffers.keys() | optim.keys() | batch_storages.keys()
        extra = {ptr: n for ptr, n in saved.items() if ptr not in known}
        saved = None
        model.zero_grad(set_to_none=True)  # the step's own first act; its frees happen here
        if built.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            step()
            torch.cuda.synchronize()
            delta = torch.cuda.max_memory_allocated() - before
            source = "torch.cuda.max_memory_allocated"
        else:
            delta = _cpu_peak_delta(step)
            source = "torch.profiler (CPU allocator)"
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
    return TorchStepMemory(
        weights_bytes=sum(params.values()),
        buffers_bytes=sum(buffers.values()),
        gradients_bytes=sum(grads.values()),
        optimizer_bytes=sum(optim.values()),
        inputs_bytes=sum(batch_storages.values()),
        saved_bytes=sum(extra.values()),
        saved_tensors=len(extra),
        peak_delta_bytes=max(0, int(delta)),
        peak_source=source,
    )

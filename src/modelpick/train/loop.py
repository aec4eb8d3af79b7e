"""The training loop, framework-neutral: it drives a Backend (backends/base.py) over a Dataset
(train/data) with the Recipe, and stops at whichever comes first: the epoch limit, early
stopping, the time budget, a diverging loss, or an interrupt.

The time budget is a deadline on a monotonic clock. Before every batch the loop asks whether
one more step, the validation pass that must follow it and the checkpoint write still fit
before the deadline (each estimated from its last measurement), so the run ends — evaluated
and saved — just before the deadline, not after it.
"""

from __future__ import annotations

import contextlib
import math
import signal
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import metrics
from .recipe import DEFAULT_RECIPE, Recipe

# Stop reasons, in metrics.json's `stopped`.
EPOCHS, EARLY, BUDGET, DIVERGED, INTERRUPTED = (
    "epochs",
    "early_stopping",
    "time_budget",
    "diverged",
    "interrupted",
)


class StopFlag:
    """Set by the first Ctrl-C (or SIGTERM) while training: the loop stops after the current
    batch, keeps the best checkpoint and the curves. A second signal interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers belong to the main thread; callers may still request()
            return
        previous = {}

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


class Progress(NamedTuple):
    """What the loop reports after each batch."""

    epoch: int
    step: int  # within the epoch, 1-based
    steps: int  # in a full epoch
    loss: float  # running mean of this epoch's training loss
    lr: float


@dataclass
class Carry:
    """What a later `fit` call continues from: successive halving trains a candidate in
    rungs, each a `fit` call with its own deadline, as one run (epochs numbered on, the
    optimizer's moments kept, early stopping and the best checkpoint judged over all rungs,
    the learning-rate schedule spread over `schedule_s` training seconds in all)."""

    schedule_s: float | None = None
    schedule_epochs: int | None = None  # or: the schedule spread over this many epochs in all
    optimizer: Any = None
    epochs_done: int = 0
    trained_s: float = 0.0
    best_loss: float | None = None
    best_epoch: int | None = None
    since_best: int = 0
    checkpoint: str | None = None
    rng: Any = None


class FitResult(NamedTuple):
    epochs: list[dict]
    best_epoch: int | None
    stopped: str
    step_s: list[float]  # every training step's wall time
    checkpoint: str | None  # file name inside the output directory
    message: str = ""


def _batches(n: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch] for i in range(0, n, batch)]


def evaluate(backend, built, split, batch: int, stop: StopFlag | None = None) -> dict | None:
    """Loss and metrics over a whole split (None if interrupted part-way)."""
    outs = []
    n = len(split)
    for i in range(0, n, batch):
        if stop is not None and stop.requested:
            return None
        x, _ = split.batch(np.arange(i, min(n, i + batch)))
        outs.append(backend.predict_numpy(built, x))
    outputs = np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)
    graph = built.graph
    return metrics.evaluate(outputs, split.labels, graph.task, graph.final_activation)


def fit(
    backend,
    built,
    data,
    output: Path,
    *,
    batch_size: int,
    recipe: Recipe = DEFAULT_RECIPE,
    max_epochs: int | None = None,
    deadline: float | None = None,
    seed: int = 0,
    stop: StopFlag | None = None,
    on_batch: Callable[[Progress], Any] | None = None,
    on_epoch: Callable[[dict], Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
    carry: Carry | None = None,
) -> FitResult:
    """Train `built` on `data.train`, validate on `data.val` after every epoch, write the best
    weights into `output` when validation loss improves; leave `built` holding the best (or,
    with `carry`, the last weights, to continue from; `carry` is updated)."""
    stop = stop or StopFlag()
    rng = carry.rng if carry is not None and carry.rng is not None else np.random.default_rng(seed)
    n = len(data.train)
    steps_per_epoch = max(1, math.ceil(n / batch_size))
    total_steps = max_epochs * steps_per_epoch if max_epochs else None
    start = clock()
    span = (deadline - start) if deadline is not None else None
    opt = carry.optimizer if carry is not None else None
    if opt is None:
        opt = backend.make_optimizer(
            built,
            lr=recipe.lr_at(0.0),
            weight_decay=recipe.weight_decay,
            betas=recipe.betas,
            eps=recipe.eps,
        )
    val_batches = max(1, math.ceil(len(data.val) / batch_size))
    history: list[dict] = []
    step_s: list[float] = []
    eval_s: float | None = None
    save_s = 0.0
    best_loss: float | None = carry.best_loss if carry else None
    best_epoch: int | None = carry.best_epoch if carry else None
    checkpoint: str | None = carry.checkpoint if carry else None
    since_best = carry.since_best if carry else 0
    global_step = 0
    stopped = ""
    message = ""

    def progress(now: float) -> float:
        if carry is not None and carry.schedule_epochs:
            done = (first_epoch - 1) * steps_per_epoch + global_step
            return done / (carry.schedule_epochs * steps_per_epoch)
        if carry is not None and carry.schedule_s:
            return (carry.trained_s + now - start) / carry.schedule_s
        p = 0.0
        if total_steps:
            p = global_step / total_steps
        if span:
            p = max(p, (now - start) / span)
        return p

    iter_s: list[float] = []  # one loop iteration: batch loading, conversion and the step
    # A reserve for what follows the last step besides validation and one checkpoint write:
    # loading the best checkpoint back, writing metrics.json (1 % of the budget).
    reserve = 0.01 * span if span else 0.0

    def room_for_step(now: float) -> bool:
        if deadline is None:
            return True
        step_est = statistics.median(iter_s[-20:]) if iter_s else 0.0
        # before the first validation pass: a forward pass costs about a third of a step
        ev = eval_s if eval_s is not None else val_batches * step_est / 3
        return now + step_est + ev + 2 * save_s + reserve <= deadline

    epoch = carry.epochs_done if carry else 0
    first_epoch = epoch + 1
    while not stopped:
        epoch += 1
        if max_epochs is not None and epoch - first_epoch + 1 > max_epochs:
            stopped = EPOCHS
            break
        t_epoch = clock()
        losses: list[float] = []
        lr = recipe.lr_at(progress(t_epoch))
        previous = None
        for idx in _batches(n, batch_size, rng):
            now = clock()
            if previous is not None:
                iter_s.append(now - previous)
            previous = now
            if stop.requested:
                stopped = INTERRUPTED
                break
            if not room_for_step(now):
                stopped = BUDGET
                break
            lr = recipe.lr_at(progress(now))
            backend.set_learning_rate(opt, lr)
            x, y = data.train.batch(idx)
            xt, yt = backend.to_batch(built, x, y)
            t0 = clock()
            loss = float(backend.train_step(built, opt, xt, yt))
            step_s.append(clock() - t0)
            global_step += 1
            if not math.isfinite(loss):
                stopped = DIVERGED
                message = f"training loss became {loss} at epoch {epoch}, step {len(losses) + 1}"
                break
            losses.append(loss)
            if on_batch:
                on_batch(
                    Progress(epoch, len(losses), steps_per_epoch, sum(losses) / len(losses), lr)
                )
        train_s = clock() - t_epoch
        if not losses:
            epoch -= 1
            break
        t_eval = clock()
        # no validation after an interrupt (the user asked to stop) or a diverged step (the
        # weights it wrote are not worth scoring)
        result = None
        if stopped not in (INTERRUPTED, DIVERGED):
            result = evaluate(backend, built, data.val, batch_size, stop)
            if result is None:
                stopped = INTERRUPTED
        if result is None:
            history.append(_record(epoch, losses, steps_per_epoch, lr, train_s, None, None))
            if on_epoch:
                on_epoch(history[-1])
            break
        eval_s = clock() - t_eval
        record = _record(epoch, losses, steps_per_epoch, lr, train_s, result, eval_s)
        if recipe.improved(result["loss"], best_loss):
            best_loss, best_epoch, since_best = result["loss"], epoch, 0
            t_save = clock()
            checkpoint = backend.save_checkpoint(built, output)
            save_s = clock() - t_save
            record["best"] = True
        else:
            since_best += 1
            record["best"] = False
        history.append(record)
        if on_epoch:
            on_epoch(record)
        if stopped:
            break
        if since_best >= recipe.patience and since_best * steps_per_epoch >= recipe.patience_steps:
            stopped = EARLY
        elif stop.requested:
            stopped = INTERRUPTED
        elif deadline is not None and not room_for_step(clock()):
            stopped = BUDGET
    if checkpoint is None and global_step:
        # never validated (interrupted in the first epoch): keep the weights as they are
        checkpoint = backend.save_checkpoint(built, output)
    elif (
        carry is None and best_epoch is not None and history and history[-1]["epoch"] != best_epoch
    ):
        backend.load_checkpoint(built, output)
    if carry is not None:
        carry.optimizer, carry.rng = opt, rng
        carry.epochs_done = history[-1]["epoch"] if history else carry.epochs_done
        carry.trained_s += clock() - start
        carry.best_loss, carry.best_epoch, carry.since_best = best_loss, best_epoch, since_best
        carry.checkpoint = checkpoint
    return FitResult(history, best_epoch, stopped or EPOCHS, step_s, checkpoint, message)


def _record(epoch, losses, steps_per_epoch, lr, train_s, result, eval_s) -> dict:
    rec = {
        "epoch": epoch,
        "steps": len(losses),
        "partial": len(losses) < steps_per_epoch,
        "train_loss": sum(losses) / len(losses),
        "lr_end": lr,
        "train_s": train_s,
        "eval_s": eval_s,
    }
    for key in ("loss", "accuracy", "rmse", "r2"):
        if result is not None and key in result:
            rec[f"val_{key}"] = result[key]
        elif result is None and key == "loss":
            rec["val_loss"] = None
    return rec

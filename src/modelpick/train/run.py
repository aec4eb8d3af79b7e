"""One training run, end to end, and the run directory it leaves behind.

    runs/<profile>-<arch>-<time>/
        run.json          what was trained: architecture (family, hyperparameters), the task's
                          input/output, backend, precision, seed — enough to rebuild the model
        preprocess.json   the fitted preprocessing (normaliser, tokenizer, label names)
        model.pt          the best epoch's weights (torch state_dict), or model.keras
        metrics.json      per-epoch curves, the best epoch, why training stopped, and the
                          measured cost beside the predicted one

run.json and preprocess.json are written before the first step, the checkpoint whenever the
validation loss improves, metrics.json at the end (also after Ctrl-C): an interrupted run is
still a usable one.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..advise.catalog import Architecture, _tuples, build_named, io_spec
from ..advise.predict import predict
from ..errors import InputError, NoAnswerError
from ..families import FAMILIES, IOSpec, build_graph
from ..graph import cost
from ..safeio import atomic_write_text, load_json_file
from .loop import StopFlag, fit
from .recipe import DEFAULT_RECIPE, Recipe

SCHEMA = "modelpick.train/1"
RUN_FILE, PREPROCESS_FILE, METRICS_FILE = "run.json", "preprocess.json", "metrics.json"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "run"


def default_output(profile_name: str, arch: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{_slug(profile_name)}-{_slug(arch)}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def prepare_output(path: Path) -> Path:
    """Create the run directory; an existing non-empty one is refused (nothing overwritten)."""
    if path.exists():
        if not path.is_dir():
            raise InputError(f"--output {path}: exists and is not a directory")
        if any(path.iterdir()):
            raise InputError(
                f"--output {path}: directory exists and is not empty; choose a new one "
                "(nothing was overwritten)"
            )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--output {path}: cannot create it: {exc.strerror or exc}") from None
    return path


def _write_json(path: Path, doc: dict) -> None:
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _error_pct(predicted, measured):
    if predicted is None or not measured:
        return None
    return 100.0 * (predicted - measured) / measured


def _compare(predicted, measured, **extra) -> dict:
    return {
        "predicted": predicted,
        "measured": measured,
        "error_pct": _error_pct(predicted, measured),
        **extra,
    }


def arch_record(arch: Architecture, io: IOSpec) -> dict:
    return {
        "arch": arch.name,
        "family": arch.family,
        "hparams": arch.hparams.model_dump(mode="json"),
        "io": {**io._asdict(), "shape": list(io.shape)},
    }


def rebuild_graph(record: dict, source: str):
    """The graph a run was trained with, from its run.json record (no catalog needed)."""
    try:
        family = FAMILIES[record["family"]]
        hp = family.params.model_validate(_tuples(record["hparams"]))
        io_doc = dict(record["io"])
        io_doc["shape"] = tuple(io_doc["shape"])
        io = IOSpec(**io_doc)
        return build_graph(record["family"], record["arch"], hp, io)
    except Exception as exc:  # a hand-edited or foreign run.json: one line, no traceback
        raise InputError(f"{source}: not a run modelpick can rebuild: {exc}") from None


def measured_step_memory(backend, graph, device: str, precision: str, batch: int, seed: int):
    """The oracle's figures for one training step, on a throwaway copy of the model (the step
    changes weights); None where the backend cannot measure it here."""
    try:
        from ..measure.memory import measure_step_memory
    except ImportError:
        return None
    throwaway = backend.build(graph, device, precision)
    try:
        return measure_step_memory(backend, throwaway, batch, seed=seed)
    finally:
        del throwaway
        release = getattr(backend, "release_memory", None)
        if release is not None:
            import gc

            gc.collect()


def train_run(
    profile,
    data,
    arch_name: str,
    catalog,
    backend,
    device,  # advise.hardware.DeviceProfile of the device trained on
    precision: str,
    output: Path,
    *,
    started: float,
    minutes: float,
    epochs: int | None = None,
    seed: int = 0,
    recipe: Recipe = DEFAULT_RECIPE,
    notes: list[str] | None = None,
    on_batch: Callable | None = None,
    on_epoch: Callable | None = None,
    on_status: Callable[[str], Any] | None = None,
    stop: StopFlag | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Train `arch_name` on `data` into `output`; returns the metrics.json document."""
    planned = build_named(catalog, arch_name, profile)
    graph = planned.graph
    batch = profile.budget.batch_size
    deadline = started + minutes * 60.0
    n_train, n_val = len(data.train), len(data.val)
    gc_ = cost(graph, backend.name)
    pred = None
    if device.supports(precision):
        pred = predict(gc_, device, precision, batch, n_train, minutes)

    say = on_status or (lambda s: None)
    say("measuring one training step's memory")
    mem = measured_step_memory(backend, graph, device.kind, precision, batch, seed)

    say(f"building {graph.name}")
    backend.seed(seed)
    built = backend.build(graph, device.kind, precision)
    io = io_spec(profile)
    run_doc = {
        "schema": SCHEMA,
        **arch_record(planned.arch, io),
        "backend": backend.name,
        "backend_version": backend.version(),
        "device": device.kind,
        "precision": precision,
        "seed": seed,
        "batch_size": batch,
        "profile": profile.model_dump(mode="json"),
        "label_names": data.label_names,
    }
    _write_json(output / RUN_FILE, run_doc)
    _write_json(output / PREPROCESS_FILE, data.preprocess.to_dict())

    say("training")
    result = fit(
        backend,
        built,
        data,
        output,
        batch_size=batch,
        recipe=recipe,
        max_epochs=epochs,
        deadline=deadline,
        seed=seed,
        stop=stop,
        on_batch=on_batch,
        on_epoch=on_epoch,
        clock=clock,
    )
    wall_s = clock() - started
    if result.checkpoint is None:  # not one step fitted before the deadline (or an interrupt)
        for name in (RUN_FILE, PREPROCESS_FILE):
            (output / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            output.rmdir()
        if result.stopped == "interrupted":
            raise KeyboardInterrupt
        raise NoAnswerError(
            f"the time limit ({minutes:g} min) was spent before the first training step "
            f"({wall_s:.1f} s on start-up, reading the data and building); nothing was trained: "
            "raise --minutes"
        )

    # Measured epoch time: the median over complete epochs, leaving out the first while there
    # are others (it pays for warm-up: allocator growth, graph tracing in TensorFlow).
    full = [e["train_s"] for e in result.epochs if not e["partial"]]
    steady = full[1:] if len(full) > 1 else full
    step_steady = result.step_s[min(len(result.step_s) - 1, 5) :] if result.step_s else []
    measured_step_ms = statistics.median(step_steady) * 1e3 if step_steady else None
    best = next((e for e in result.epochs if e["epoch"] == result.best_epoch), None)
    cost_doc = {
        "device": device.key,
        "calibrated": device.calibrated,
        "train_step_ms": _compare(pred and pred.train_step_ms, measured_step_ms),
        "epoch_s": _compare(pred and pred.epoch_s, statistics.median(steady) if steady else None),
        "peak_memory_bytes": _compare(
            pred and pred.train_memory_bytes,
            getattr(mem, "peak_bytes", None),
            source=getattr(mem, "peak_source", None) or "not measurable here",
        ),
        "predicted_memory": (
            {k: v for k, v in pred.train_memory._asdict().items()} if pred else None
        ),
        "measured_memory": mem._asdict() if mem is not None else None,
    }
    if pred is None:
        cost_doc["note"] = f"{device.name} has no {precision} figures: nothing predicted"
    metrics = {
        "schema": SCHEMA,
        "arch": graph.name,
        "family": planned.arch.family,
        "backend": backend.name,
        "backend_version": backend.version(),
        "device": device.kind,
        "precision": precision,
        "seed": seed,
        "batch_size": batch,
        "task": profile.task,
        "data": {
            "source": data.source,
            "format": data.format,
            "train_samples": n_train,
            "val_samples": n_val,
            "classes": len(data.label_names) if data.label_names else None,
        },
        "params": gc_.params,
        "recipe": recipe.to_dict(),
        "limits": {"epochs": epochs, "minutes": minutes},
        "stopped": result.stopped,
        "stop_message": result.message,
        "best_epoch": result.best_epoch,
        "best": best,
        "epochs": result.epochs,
        "wall_s": wall_s,
        "budget_s": minutes * 60.0,
        "cost": cost_doc,
        "notes": list(notes or []) + list(data.warnings),
        "output": str(output),
        "files": {
            "run": RUN_FILE,
            "preprocess": PREPROCESS_FILE,
            "checkpoint": result.checkpoint,
            "metrics": METRICS_FILE,
        },
    }
    _write_json(output / METRICS_FILE, _clean_floats(metrics))
    return _clean_floats(metrics)


def _clean_floats(doc):
    """NaN or infinity (a diverged loss) become null: metrics.json stays strict JSON."""
    if isinstance(doc, float):
        return _finite(doc)
    if isinstance(doc, dict):
        return {k: _clean_floats(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_clean_floats(v) for v in doc]
    return doc


# --- using a trained run ----------------------------------------------------------------------

MAX_RUN_FILE = 64 * 2**20  # run.json / preprocess.json (a vocabulary of millions of words fits)


def read_run(run_dir: str | Path) -> tuple[Path, dict, dict]:
    """(directory, run.json, preprocess.json) of a run written by `train`."""
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(f"{d}: not a directory written by `modelpick train`")
    docs = []
    for name in (RUN_FILE, PREPROCESS_FILE):
        path = d / name
        if not path.exists():
            raise InputError(f"{path}: missing; {d} is not a complete training run")
        doc = load_json_file(path, InputError, name, MAX_RUN_FILE)
        if not isinstance(doc, dict):
            raise InputError(f"{path}: expected a JSON object; received {type(doc).__name__}")
        docs.append(doc)
    run_doc = docs[0]
    if run_doc.get("schema") != SCHEMA:
        raise InputError(
            f"{d / RUN_FILE}: schema: expected {SCHEMA!r}; received {run_doc.get('schema')!r}"
        )
    for key, kind in (("arch", str), ("family", str), ("backend", str), ("precision", str)):
        if not isinstance(run_doc.get(key), kind):
            raise InputError(f"{d / RUN_FILE}: {key}: expected text; received {run_doc.get(key)!r}")
    for key in ("hparams", "io"):
        if not isinstance(run_doc.get(key), dict):
            raise InputError(f"{d / RUN_FILE}: {key}: expected a mapping")
    return d, run_doc, docs[1]


def predict_outputs(backend, built, x, batch: int = 256):
    import numpy as np

    outs = [backend.predict_numpy(built, x[i : i + batch]) for i in range(0, len(x), batch)]
    return np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)

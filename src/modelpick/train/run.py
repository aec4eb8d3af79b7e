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
from ..safeio import atomic_write_text, file_slug, load_json_file
from .loop import StopFlag
from .loop import fit as _fit
from .recipe import DEFAULT_RECIPE, Recipe

SCHEMA = "modelpick.train/1"
RUN_FILE, PREPROCESS_FILE, METRICS_FILE = "run.json", "preprocess.json", "metrics.json"


def default_output(profile_name: str, arch: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{file_slug(profile_name)}-{file_slug(arch)}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def prepare_output(path: Path) -> tuple[Path, bool]:
    """Create the run directory; an existing non-empty one is refused (nothing overwritten).
    Returns the path and whether this call created it."""
    existed = path.exists()
    if existed:
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
    return path, not existed


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


_LAYOUTS = ("image", "waveform", "sequence", "tokens", "vector")


def _io_spec(record: dict, source: str) -> IOSpec:
    """run.json's `io`, checked field by field (a hand-edited file is untrusted input)."""
    io = record.get("io")
    if not isinstance(io, dict):
        raise InputError(f"{source}: io: expected a mapping")

    def positive(key, value, limit=2**31):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
            raise InputError(f"{source}: io.{key}: expected a positive integer; received {value!r}")
        return value

    shape = io.get("shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3:
        raise InputError(f"{source}: io.shape: expected a list of 1 to 3 sizes; received {shape!r}")
    shape = tuple(positive(f"shape[{i}]", v) for i, v in enumerate(shape))
    choices = {
        "domain": ("vision", "text", "audio", "timeseries", "tabular"),
        "task": ("classification", "regression"),
        "layout": _LAYOUTS,
    }
    for key, allowed in choices.items():
        if io.get(key) not in allowed:
            raise InputError(
                f"{source}: io.{key}: expected one of {', '.join(allowed)}; "
                f"received {io.get(key)!r}"
            )
    extra = set(io) - {"domain", "task", "layout", "shape", "outputs", "vocab_size", "frame"}
    if extra:
        raise InputError(f"{source}: io: unknown field {sorted(extra)[0]!r}")
    vocab, frame = io.get("vocab_size", 0), io.get("frame", 0)
    return IOSpec(
        domain=io["domain"],
        task=io["task"],
        layout=io["layout"],
        shape=shape,
        outputs=positive("outputs", io.get("outputs")),
        vocab_size=positive("vocab_size", vocab) if vocab else 0,
        frame=positive("frame", frame) if frame else 0,
    )


def rebuild_graph(record: dict, source: str, preprocess=None):
    """The graph a run was trained with, from its run.json record (no catalog needed); checked
    against the run's preprocessing when given (a hand-edited pair that disagrees is refused)."""
    from pydantic import ValidationError

    from ..advise.profile import describe_error
    from ..families import Unsupported
    from ..graph import ShapeError

    family = FAMILIES.get(record["family"])
    if family is None:
        raise InputError(
            f"{source}: family: expected one of {', '.join(FAMILIES)}; "
            f"received {record['family']!r}"
        )
    io = _io_spec(record, source)
    if preprocess is not None:
        for key, ours, theirs in (
            ("domain", io.domain, preprocess.spec.domain),
            ("task", io.task, preprocess.spec.task),
            ("outputs", io.outputs, preprocess.spec.outputs),
            ("shape", list(io.shape), list(preprocess.input_shape)),
        ):
            if ours != theirs:
                raise InputError(
                    f"{source}: io.{key} is {ours!r} but preprocess.json says {theirs!r}: "
                    "the two files are not from the same run"
                )
    try:
        hp = family.params.model_validate(_tuples(record["hparams"]))
    except ValidationError as exc:
        raise InputError(
            describe_error(exc, source, record["hparams"], (), family.params, prefix="hparams")
        ) from None
    try:
        return build_graph(record["family"], record["arch"], hp, io)
    except (Unsupported, ShapeError, ValueError) as exc:
        raise InputError(f"{source}: not a model modelpick can rebuild: {exc}") from None


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


class Run:
    """One architecture being trained into one run directory: the model, the prediction for
    it, the measured step memory, and the curves so far. `train_run` drives it once; a
    successive-halving trial drives it rung by rung (`fit` with a `Carry`)."""

    def __init__(
        self,
        profile,
        data,
        planned,
        backend,
        device,
        precision: str,
        output: Path,
        *,
        seed: int,
        recipe: Recipe,
        notes: list[str],
        minutes: float,
        epochs: int | None,
    ):
        self.profile, self.data, self.planned = profile, data, planned
        self.graph = planned.graph
        self.backend, self.device, self.precision = backend, device, precision
        self.output, self.seed, self.recipe, self.notes = output, seed, recipe, notes
        self.minutes, self.epochs_limit = minutes, epochs
        self.batch = profile.budget.batch_size
        self.cost = cost(self.graph, backend.name)
        self.prediction = None
        if device.supports(precision):
            self.prediction = predict(
                self.cost, device, precision, self.batch, len(data.train), minutes
            )
        self.memory = None
        self.built = None
        self.epochs: list[dict] = []
        self.step_s: list[float] = []
        self.best_epoch: int | None = None
        self.checkpoint: str | None = None
        self.stopped = ""
        self.message = ""

    def open(self, on_status: Callable[[str], Any] | None = None, memory: bool = True) -> Run:
        """Measure one step's memory (on a throwaway copy), build the model, write run.json
        and preprocess.json."""
        say = on_status or (lambda s: None)
        if memory and self.minutes is not None and self.prediction is not None:
            # the measurement costs about four training steps on a throwaway copy: not worth
            # a budget that small (the training still runs; `bench` measures memory)
            cost_s = 4 * self.prediction.train_step_ms / 1e3
            if self.minutes < 1 or cost_s > 0.1 * self.minutes * 60:
                memory = False
                self.notes = [
                    *self.notes,
                    "training memory not measured: the budget is too short to spend "
                    f"~{max(cost_s, 0.01):.2g} s on it (`modelpick bench` measures it)",
                ]
        if memory:
            say("measuring one training step's memory")
            self.memory = measured_step_memory(
                self.backend, self.graph, self.device.kind, self.precision, self.batch, self.seed
            )
        say(f"building {self.graph.name}")
        self.backend.seed(self.seed)
        self.built = self.backend.build(self.graph, self.device.kind, self.precision)
        run_doc = {
            "schema": SCHEMA,
            **arch_record(self.planned.arch, io_spec(self.profile)),
            "backend": self.backend.name,
            "backend_version": self.backend.version(),
            "device": self.device.kind,
            "precision": self.precision,
            "seed": self.seed,
            "batch_size": self.batch,
            "profile": self.profile.model_dump(mode="json"),
            "label_names": self.data.label_names,
        }
        _write_json(self.output / RUN_FILE, run_doc)
        _write_json(self.output / PREPROCESS_FILE, self.data.preprocess.to_dict())
        return self

    def add(self, result) -> None:
        """Take in one `fit` call's result."""
        self.epochs += result.epochs
        self.step_s += result.step_s
        self.best_epoch = result.best_epoch
        self.checkpoint = result.checkpoint
        self.stopped, self.message = result.stopped, result.message

    @property
    def best(self) -> dict | None:
        return next((e for e in self.epochs if e["epoch"] == self.best_epoch), None)

    def metrics(self, wall_s: float) -> dict:
        """The metrics.json document, written into the run directory and returned."""
        pred, mem = self.prediction, self.memory
        # Measured epoch time: the median over complete epochs, leaving out the first while
        # there are others (it pays for warm-up: allocator growth, graph tracing in TensorFlow).
        full = [e["train_s"] for e in self.epochs if not e["partial"]]
        steady = full[1:] if len(full) > 1 else full
        step_steady = self.step_s[min(len(self.step_s) - 1, 5) :] if self.step_s else []
        measured_step_ms = statistics.median(step_steady) * 1e3 if step_steady else None
        cost_doc = {
            "device": self.device.key,
            "calibrated": self.device.calibrated,
            "train_step_ms": _compare(pred and pred.train_step_ms, measured_step_ms),
            "epoch_s": _compare(
                pred and pred.epoch_s, statistics.median(steady) if steady else None
            ),
            "peak_memory_bytes": _compare(
                pred and pred.train_memory_bytes,
                getattr(mem, "peak_bytes", None),
                source=getattr(mem, "peak_source", None) or "not measurable here",
            ),
            "predicted_memory": dict(pred.train_memory._asdict()) if pred else None,
            "measured_memory": mem._asdict() if mem is not None else None,
        }
        if pred is None:
            cost_doc["note"] = f"{self.device.name} has no {self.precision} figures"
        data = self.data
        doc = {
            "schema": SCHEMA,
            "arch": self.graph.name,
            "family": self.planned.arch.family,
            "backend": self.backend.name,
            "backend_version": self.backend.version(),
            "device": self.device.kind,
            "precision": self.precision,
            "seed": self.seed,
            "batch_size": self.batch,
            "task": self.profile.task,
            "data": {
                "source": data.source,
                "format": data.format,
                "train_samples": len(data.train),
                "val_samples": len(data.val),
                "classes": len(data.label_names) if data.label_names else None,
            },
            "params": self.cost.params,
            "recipe": self.recipe.to_dict(),
            "limits": {"epochs": self.epochs_limit, "minutes": self.minutes},
            "stopped": self.stopped,
            "stop_message": self.message,
            "best_epoch": self.best_epoch,
            "best": self.best,
            "epochs": self.epochs,
            "wall_s": wall_s,
            "budget_s": self.minutes * 60.0,
            "cost": cost_doc,
            "notes": list(self.notes) + list(data.warnings),
            "output": str(self.output),
            "files": {
                "run": RUN_FILE,
                "preprocess": PREPROCESS_FILE,
                "checkpoint": self.checkpoint,
                "metrics": METRICS_FILE,
            },
        }
        doc = _clean_floats(doc)
        _write_json(self.output / METRICS_FILE, doc)
        return doc


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
    created: bool = True,
    notes: list[str] | None = None,
    on_batch: Callable | None = None,
    on_epoch: Callable | None = None,
    on_status: Callable[[str], Any] | None = None,
    stop: StopFlag | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Train `arch_name` on `data` into `output`; returns the metrics.json document."""
    planned = build_named(catalog, arch_name, profile)
    run = Run(
        profile,
        data,
        planned,
        backend,
        device,
        precision,
        output,
        seed=seed,
        recipe=recipe,
        notes=list(notes or []),
        minutes=minutes,
        epochs=epochs,
    )
    try:
        run.open(on_status)
        if on_status:
            on_status("training")
        result = _fit(
            backend,
            run.built,
            data,
            output,
            batch_size=run.batch,
            recipe=recipe,
            max_epochs=epochs,
            deadline=started + minutes * 60.0,
            seed=seed,
            stop=stop,
            on_batch=on_batch,
            on_epoch=on_epoch,
            clock=clock,
        )
    except BaseException:
        if not any(output.glob("model.*")):  # nothing usable was saved: leave nothing behind
            _remove_run(output, created)
        raise
    wall_s = clock() - started
    if result.checkpoint is None:  # not one step fitted before the deadline (or an interrupt)
        _remove_run(output, created)
        if result.stopped == "interrupted":
            raise KeyboardInterrupt
        raise NoAnswerError(
            f"the time limit ({minutes:g} min) was spent before the first training step "
            f"({wall_s:.1f} s on start-up, reading the data and building); nothing was trained: "
            "raise --minutes"
        )
    run.add(result)
    return run.metrics(wall_s)


def _remove_run(output: Path, created: bool) -> None:
    """Take back what this run wrote: run.json, preprocess.json, and the folder if this run
    created it (an empty folder the user gave is left in place)."""
    for name in (RUN_FILE, PREPROCESS_FILE):
        (output / name).unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            output.rmdir()


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
    for key in ("arch", "family", "backend", "precision"):
        if not isinstance(run_doc.get(key), str):
            raise InputError(f"{d / RUN_FILE}: {key}: expected text; received {run_doc.get(key)!r}")
    choices = {"backend": ("torch", "tensorflow"), "precision": ("fp32", "bf16", "fp16")}
    for key, allowed in choices.items():
        if run_doc[key] not in allowed:
            raise InputError(
                f"{d / RUN_FILE}: {key}: expected one of {', '.join(allowed)}; "
                f"received {run_doc[key]!r}"
            )
    for key in ("hparams", "io"):
        if not isinstance(run_doc.get(key), dict):
            raise InputError(f"{d / RUN_FILE}: {key}: expected a mapping")
    return d, run_doc, docs[1]


def predict_outputs(backend, built, x, batch: int = 256):
    import numpy as np

    outs = [backend.predict_numpy(built, x[i : i + batch]) for i in range(0, len(x), batch)]
    return np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)

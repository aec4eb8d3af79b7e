"""The Python API: one function per command, each returning the record whose `to_dict()` is the
command's `--json` document. Errors are the `modelpick.errors` tree, never a traceback of ours.

    import modelpick as mp
    rec = mp.recommend("task.yaml", top=5)
    rec.candidates[0].name, rec.to_dict()

Functions take a profile as a path, a dict (validated like a file) or a TaskProfile.
Nothing here imports a framework until `build`, `bench` or `calibrate` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError, NoAnswerError, ProfileError, UnavailableError, UnknownNameError
from .results import (
    ArchitectureInfo,
    BenchRun,
    BuildResult,
    CalibrationRun,
    CatalogListing,
    Doctor,
    Estimate,
    FileCheck,
    GenerationRecommendation,
    Predictions,
    Recommendation,
    SavedRun,
    Schema,
    TrainRun,
    TrialRun,
    Validation,
)

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")


def _choice(flag: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{flag}: expected one of {', '.join(allowed)}; received {value!r}")
    return value


def load_profile(profile: Any):
    """A validated TaskProfile from a path, a dict, or a TaskProfile (returned as is)."""
    from ..advise.profile import _Common, parse_profile
    from ..advise.profile import load_profile as _load

    if isinstance(profile, _Common):
        return profile
    if isinstance(profile, dict):
        return parse_profile(profile, "<profile>")
    if isinstance(profile, (str, Path)):
        return _load(profile)
    raise ProfileError(
        f"<profile>: expected a path, a mapping or a TaskProfile; received {type(profile).__name__}"
    )


def _text(flag: str, value: object) -> str:
    if not isinstance(value, str):
        raise InputError(f"{flag}: expected a name (text); received {type(value).__name__}")
    return value


def _file(flag: str, value: object, optional: bool = False):
    if value is None and optional:
        return None
    if not isinstance(value, (str, Path)):
        raise InputError(f"{flag}: expected a file path; received {type(value).__name__}")
    if str(value) == "":
        raise InputError(f"{flag}: expected a file path; received an empty one")
    return Path(value)


def _regular_file(path: Path, missing: str) -> None:
    """Refuse a missing file, or one that is not a regular file (a fifo would block a reader)."""
    import os
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: missing; {missing}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file")


def _source(profile: Any) -> str:
    return str(profile) if isinstance(profile, (str, Path)) else "<profile>"


def load_catalog(catalog: str | Path | None = None):
    """The catalog: the shipped one, plus (or replaced by) `catalog`."""
    from ..advise.catalog import load_catalog as _load

    return _load(_file("--catalog", catalog, optional=True))


def with_calibration(device, backend_name: str, notes: list[str], warn=None):
    """Apply this machine's stored calibration (if any) to a device found on this machine.
    A stored file that cannot be used is ignored; `warn` (default: the warnings module) hears
    why, once."""
    if not device.detected:
        return device, notes
    from ..measure.calibration import apply_calibration, fingerprint, load_calibration

    cal, warnings = load_calibration(fingerprint(device), backend_name)
    for w in warnings:
        _warn(w, warn)
    if cal is None:
        return device, [*notes, "uncalibrated: run `modelpick bench` to calibrate this device"]
    tuned = apply_calibration(device, cal)
    return tuned, [*notes, tuned.calibration]


def _warn(message: str, warn=None) -> None:
    if warn is not None:
        warn(message)
        return
    import sys
    import warnings

    # point at the caller's line, past every modelpick frame
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("modelpick"):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, stacklevel=level)


def trial_evidence(profile_name: str, trials: str | Path | None = None) -> dict | None:
    """What a `trial` measured for this profile: its leaderboard.json (`trials`: the file, or
    the trial's folder; default the newest runs/<profile>-trial-*/leaderboard.json under the
    current directory). Plain JSON, so `recommend` stays fast (no Optuna, no framework)."""
    from ..safeio import file_slug, load_json_file

    if trials is None:
        import glob

        found = sorted(  # the folder names `train.run.default_output` gives
            Path("runs").glob(f"{glob.escape(file_slug(profile_name))}-trial-*/leaderboard.json"),
            key=lambda f: f.stat().st_mtime,
        )
        if not found:
            return None
        path = found[-1]
    else:
        path = Path(trials)
        if path.is_dir():
            path = path / "leaderboard.json"
    doc = load_json_file(path, InputError, "trial leaderboard", 64 * 2**20)
    if not isinstance(doc, dict) or not isinstance(doc.get("leaderboard"), list):
        raise InputError(f"{path}: not a leaderboard written by `modelpick trial`")
    if trials is None and doc.get("profile") != profile_name:
        return None
    rows = {}
    for r in doc["leaderboard"]:
        if isinstance(r, dict) and isinstance(r.get("name"), str) and r.get("kind") == "net":
            metric = r.get("metric")
            rows[r["name"]] = {
                "metric": metric if isinstance(metric, (int, float)) else None,
                "metric_name": doc.get("metric_name"),
                "rung": r.get("stopped_at_rung"),
                "measured_rank": r.get("measured_rank"),
                "train_seconds": r.get("train_seconds"),
            }
    return {
        "source": str(path),
        "metric_name": doc.get("metric_name"),
        "winner": (doc.get("winner") or {}).get("name"),
        "spearman_analytic_vs_measured": doc.get("spearman_analytic_vs_measured"),
        "rows": rows,
    }


def recommend(
    profile: Any,
    top: int = 5,
    catalog: str | Path | None = None,
    warn=None,
    trials: str | Path | None = None,
) -> Recommendation | GenerationRecommendation:
    """Rank the catalog's candidates for `profile`; same result as `modelpick recommend`.
    A generation profile gets a GenerationRecommendation: decoders × fine-tuning methods ×
    serving weight precisions that fit (docs/llm.md).
    When nothing fits, `found` is False and `to_dict()["relax"]` says what to relax. When a
    `trial` for this profile is found (`trials`, or runs/<profile>-trial-*/), each candidate
    it trained carries its measured metric (`Recommendation.measured(name)`)."""
    from ..advise.catalog import expand_candidates
    from ..advise.scoring import rank

    top = _count("top", top)
    prof = load_profile(profile)
    cat = load_catalog(catalog)
    device, notes = _resolve_device_w(prof, _source(profile), warn)
    built, rejected, skipped = expand_candidates(cat, prof)
    if prof.task == "generation":
        from ..advise.generation import rank_generation

        ranking = rank_generation(prof, built, rejected, skipped, device, notes)
        return GenerationRecommendation(prof, ranking, top)
    evidence = trial_evidence(prof.name, trials)
    return Recommendation(prof, rank(prof, built, rejected, skipped, device, notes), top, evidence)


def _resolve_device_w(prof, source, warn):
    from ..advise.hardware import resolve_device

    try:
        device, notes = resolve_device(prof.budget.device, prof.budget.gpu)
    except UnknownNameError as exc:
        raise ProfileError(f"{source}: budget.gpu: {exc}") from None
    return with_calibration(device, prof.preferences.backend, notes, warn)


def _count(name: str, value: object, limit: int = 10**6) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise InputError(
            f"--{name.replace('_', '-')}: expected an integer from 1 to {limit:,}; "
            f"received {value!r}"
        )
    return value


def estimate(
    profile: Any,
    arch: str,
    catalog: str | Path | None = None,
    warn=None,
    trials: str | Path | None = None,
) -> Estimate:
    """Exact cost and per-precision predictions of one catalog architecture for `profile`;
    with a stored trial for the profile (`trials`, or runs/<profile>-trial-*/), what it
    measured for this architecture (`measured`)."""
    from ..advise.catalog import build_named
    from ..advise.predict import predict
    from ..advise.scoring import choose_precisions

    arch = _text("--arch", arch)
    prof = load_profile(profile)
    cat = load_catalog(catalog)
    device, notes = _resolve_device_w(prof, _source(profile), warn)
    built = build_named(cat, arch, prof)
    precisions, pnotes = choose_precisions(prof.preferences.precisions, device)
    b = prof.budget
    preds = [
        predict(built.cost, device, p, b.batch_size, prof.data.train_samples, b.train_minutes)
        for p in precisions
    ]
    evidence = trial_evidence(prof.name, trials)
    measured = None
    if evidence and built.arch.name in evidence["rows"]:
        measured = {**evidence["rows"][built.arch.name], "source": evidence["source"]}
    llm = None
    if built.arch.family == "decoder" and prof.task == "generation":
        from ..advise.llm import sizing

        llm = sizing(built.arch.hparams, built.cost, prof, device)
    return Estimate(
        prof, built, preds, device, [*notes, *pnotes, *built.graph.notes], measured, llm
    )


def validate(*profiles: str | Path, data: bool = False) -> Validation:
    """Check each profile file against the schema and the device table; with `data`, also load
    the data its `data.path` names and check it against the profile, as `train` would before
    training (nothing is trained). Never raises for a bad file (each gets its one-line error)."""
    from ..advise.hardware import check_gpu_key
    from ..advise.profile import load_profile as _load

    checks = []
    for given in profiles:
        path = _file("PROFILE", given)
        try:
            prof = _load(path)
            try:
                check_gpu_key(prof.budget.gpu)
            except UnknownNameError as exc:
                raise ProfileError(f"{path}: budget.gpu: {exc}") from None
            report = None
            if data:
                from ..train.data import check_dataset

                if prof.data.path is None:
                    raise ProfileError(f"{path}: data.path: required to check the data (--data)")
                report = check_dataset(prof, None, _profile_dir(path))
            checks.append(FileCheck(str(path), data=report))
        except InputError as exc:
            checks.append(FileCheck(str(path), str(exc)))
    return Validation(checks)


def catalog_list(domain: str | None = None, catalog: str | Path | None = None) -> CatalogListing:
    """Every catalog architecture (of `domain`, if given)."""
    from ..advise.profile import DOMAINS

    if domain is not None:
        _choice("--domain", domain, DOMAINS)
    archs = [
        a for a in load_catalog(catalog).architectures if domain is None or domain in a.domains
    ]
    return CatalogListing(archs)


def catalog_show(name: str, catalog: str | Path | None = None) -> ArchitectureInfo:
    """One architecture: family, hyperparameters, source."""
    return ArchitectureInfo(load_catalog(catalog).get(_text("NAME", name)))


def schema() -> Schema:
    """The JSON Schema of the task profile."""
    from ..advise.profile import profile_schema

    return Schema(profile_schema())


def doctor() -> Doctor:
    """This machine: CPU, memory, GPUs, installed backends."""
    from ..advise.hardware import cpu_profile, detect_machine, load_devices, match_gpu

    machine = detect_machine()
    devices = load_devices()
    gpus = [(g.name, match_gpu(g.name, devices)) for g in machine.gpus]
    return Doctor(machine, cpu_profile(machine), gpus, devices)


def get_backend(name: str):
    """A framework backend by name: InputError for an unknown name, UnavailableError (exit 3)
    when its framework is not installed."""
    from ..backends import REGISTRY
    from ..backends import get_backend as _get

    _choice("--backend", name, tuple(REGISTRY))
    return _get(name)


def build(
    profile: Any,
    arch: str,
    backend: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    catalog: str | Path | None = None,
) -> BuildResult:
    """Build `arch` as a real framework model (`.model`); its summary beside the graph's count."""
    from ..advise.catalog import build_named
    from ..graph import cost

    arch = _text("--arch", arch)
    _choice("--device", device, DEVICES)
    _choice("--precision", precision, PRECISIONS)
    prof = load_profile(profile)
    name = backend or prof.preferences.backend
    be = get_backend(name)
    if device == "auto":
        device = "cuda" if "cuda" in be.DEVICES else "cpu"
    if device not in be.DEVICES:
        raise UnavailableError(f"--device {device}: CUDA is not available to {name} here")
    planned = build_named(load_catalog(catalog), arch, prof)
    try:
        made = be.build(planned.graph, device, precision)
    except NotImplementedError as exc:
        raise InputError(str(exc)) from None
    gc = cost(planned.graph, name)
    trainable, frozen = be.count_params(made)
    rows = be.summary(made)
    doc = {
        "arch": planned.arch.name,
        "family": planned.arch.family,
        "backend": name,
        "backend_version": be.version(),
        "device": device,
        "precision": precision,
        "params": trainable,
        "params_estimated": gc.params,
        "buffers": frozen,
        "buffers_estimated": gc.buffers,
        "params_match": trainable == gc.params and frozen == gc.buffers,
        "input_shape": list(planned.graph.input_shape),
        "output_shape": list(gc.output_shape),
        "layers": [r._asdict() | {"output_shape": list(r.output_shape)} for r in rows],
    }
    return BuildResult(doc, made)


def local_device(
    kind: str, backend, precision: str | None = None, calibrated: bool = True, warn=None
):
    """This machine's device of `kind` (cpu | cuda | auto), calibrated when a calibration for it
    and this backend is stored; UnavailableError (exit 3) when the backend cannot use it or
    the precision."""
    from ..advise.hardware import resolve_device

    _choice("--device", kind, DEVICES)
    if kind == "auto":
        kind = "cuda" if "cuda" in backend.DEVICES else "cpu"
    if kind not in backend.DEVICES:
        raise UnavailableError(f"--device {kind}: CUDA is not available to {backend.name} here")
    if precision is not None and precision not in backend.PRECISIONS.get(kind, ()):
        offered = ", ".join(backend.PRECISIONS.get(kind, ()))
        raise UnavailableError(
            f"--precision {precision}: {backend.name} does not run it on {kind} here; use {offered}"
        )
    device, notes = resolve_device(kind, None)
    if kind == "cuda" and not device.detected:
        notes = [*notes, f"nvidia-smi did not identify this GPU: predictions are for {device.name}"]
    return with_calibration(device, backend.name, notes, warn) if calibrated else (device, notes)


def _settings(quick: bool):
    from ..measure.bench import DEFAULT_SETTINGS, Settings

    return Settings(min_runs=5, min_time_s=0.1, train_steps=3) if quick else DEFAULT_SETTINGS


def bench_plan(
    profile: Any,
    arch: str | None = None,
    top: int = 3,
    backend: str | None = None,
    device: str = "auto",
    precision: str | None = None,
    catalog: str | Path | None = None,
    warn=None,
):
    """What `bench` will measure, checked and built, before any timing starts:
    (backend, device, notes, [(graph, precision)], profile)."""
    from ..advise.catalog import build_named, expand_candidates
    from ..advise.scoring import rank

    if precision is not None:
        _choice("--precision", precision, PRECISIONS)
    if arch is not None:
        _text("--arch", arch)
    top = _count("top", top)
    prof = load_profile(profile)
    be = get_backend(backend or prof.preferences.backend)
    dev, notes = local_device(device, be, precision, warn=warn)
    cat = load_catalog(catalog)
    if arch:
        return be, dev, notes, [(build_named(cat, arch, prof).graph, precision or "fp32")], prof
    built, rejected, skipped = expand_candidates(cat, prof)
    ranking = rank(prof, built, rejected, skipped, dev, notes)
    plans = []
    for s in ranking.ranked:
        p = precision or s.prediction.precision
        if p in be.PRECISIONS.get(dev.kind, ()) and all(g.name != s.name for g, _ in plans):
            plans.append((s.built.graph, p))
        if len(plans) == top:
            break
    if not plans:
        raise NoAnswerError("no candidate fits the profile's budget; nothing to bench")
    return be, dev, notes, plans, prof


def bench(
    profile: Any,
    arch: str | None = None,
    top: int = 3,
    backend: str | None = None,
    device: str = "auto",
    precision: str | None = None,
    batch_size: int | None = None,
    quick: bool = False,
    catalog: str | Path | None = None,
    on_start: Callable[[str], None] | None = None,
    warn=None,
) -> BenchRun:
    """Measure `arch` (or the `top` best of recommend) on this machine beside the predictions.
    Ctrl-C stops it and keeps what was measured (`interrupted` is then True)."""
    import psutil

    from ..measure.bench import bench_many
    from .results import bench_json

    if batch_size is not None:
        _count("batch_size", batch_size)
    be, dev, notes, plans, prof = bench_plan(
        profile, arch, top, backend, device, precision, catalog, warn
    )
    batch = batch_size or prof.budget.batch_size
    settings = _settings(quick)
    proc = psutil.Process()
    results, interrupted = [], False
    for graph, p in plans:
        if on_start:
            on_start(f"measuring {graph.name} ({be.name}, {dev.kind}, {p}, batch {batch})")
        rows, interrupted = bench_many(
            be, [graph], dev, p, batch, settings, memory_probe=lambda: proc.memory_info().rss
        )
        results += rows
        if interrupted:
            break
    return BenchRun(bench_json(dev, be, results, interrupted, notes))


def calibrate(
    backend: str = "torch",
    device: str = "auto",
    quick: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> CalibrationRun:
    """Calibrate this device for `backend` on the reference suite and store the result, so
    that later predictions for this machine use it. KeyboardInterrupt stores nothing."""
    from ..measure.bench import calibrate as _calibrate
    from ..measure.calibration import save_calibration
    from .results import calibration_json

    be = get_backend(backend)
    dev, _ = local_device(device, be, "fp32", calibrated=False)
    if not dev.detected:
        raise UnavailableError(
            "cannot tell which GPU this is (nvidia-smi did not answer), so a calibration "
            "could not be stored under its name"
        )
    cal, rows = _calibrate(be, dev, "fp32", _settings(quick), on_step=on_step)
    try:
        path = save_calibration(cal)
    except OSError as exc:
        from ..errors import ModelpickError

        raise ModelpickError(f"could not store the calibration: {exc.strerror or exc}") from exc
    return CalibrationRun(calibration_json(dev, be, cal, rows, path), cal)


def _minutes(minutes: object) -> None:
    """A time limit in minutes (None: the profile's), as the profile bounds train_minutes."""
    import math

    if minutes is not None and (
        isinstance(minutes, bool)
        or not isinstance(minutes, (int, float))
        or not math.isfinite(minutes)
        or not 1e-3 <= minutes <= 10_000_000
    ):
        raise InputError(
            f"--minutes: expected a number of minutes in [0.001, 1e7]; received {minutes!r}"
        )


def _profile_dir(profile: Any) -> Path | None:
    return Path(profile).resolve().parent if isinstance(profile, (str, Path)) else None


def load_data(profile: Any, data: str | Path | None = None, seed: int = 0):
    """The profile's data set (or the one at `data`), loaded, checked against the profile and
    split: a `train.data.Dataset`. Relative paths in the profile resolve against its folder;
    `data` against the current directory. DataError (exit 2) names the file and what differs."""
    from ..train.data import load_dataset

    prof = load_profile(profile)
    return load_dataset(prof, _file("--data", data, optional=True), _profile_dir(profile), seed)


def train_model(
    profile: Any,
    arch: str,
    backend: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    epochs: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    output: str | Path | None = None,
    data: str | Path | None = None,
    catalog: str | Path | None = None,
    patience: int | None = None,
    on_status: Callable[[str], None] | None = None,
    on_batch: Callable | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    warn=None,
    stop=None,
    started: float | None = None,
) -> TrainRun:
    """`modelpick train`: train `arch` on the profile's data (or `data`) and write a run
    directory (`output`,
    default runs/<profile>-<arch>-<time>/): checkpoint, preprocessing, metrics.json.

    Stops at `epochs`, at early stopping, or at the time limit (`minutes`, default the
    profile's budget.train_minutes), whichever comes first. Ctrl-C stops after the current
    batch and keeps the best checkpoint (`interrupted` is then True).

    The time limit counts from `started` (a `time.monotonic()` reading; default: this call),
    and covers reading the data, building, training, validation and saving. The CLI passes
    the process's start, so that `--minutes` is what a stopwatch around the command reads.
    """
    import time

    from ..train.loop import StopFlag
    from ..train.run import default_output, prepare_output, train_run

    if started is None:
        started = time.monotonic()
    arch = _text("--arch", arch)
    _choice("--precision", precision, PRECISIONS)
    if epochs is not None:
        epochs = _count("epochs", epochs)
    _minutes(minutes)
    from ..train.recipe import DEFAULT_RECIPE

    recipe = DEFAULT_RECIPE
    if patience is not None:
        recipe = recipe._replace(patience=_count("patience", patience))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError(f"--seed: expected an integer in [0, 2**32); received {seed!r}")
    prof = load_profile(profile)
    be = get_backend(backend or prof.preferences.backend)
    dev, notes = local_device(device, be, precision, warn=warn)
    cat = load_catalog(catalog)
    from ..advise.catalog import build_named

    planned = build_named(cat, arch, prof)  # one that cannot serve the task fails before data
    if len(planned.graph.output_shape) > 1:
        raise InputError(
            f"{arch} predicts {planned.graph.output_shape} per sample (one output per time step); "
            "`train` takes one label per sample: choose an architecture that pools over time"
        )
    if on_status:
        on_status("reading the data")
    dataset = load_data(prof if not isinstance(profile, (str, Path)) else profile, data, seed)
    for w in dataset.warnings:
        _warn(w, warn)
    out, created = prepare_output(
        Path(output) if output is not None else default_output(prof.name, arch)
    )
    stop = stop or StopFlag()
    with stop.installed():
        doc = train_run(
            prof,
            dataset,
            arch,
            cat,
            be,
            dev,
            precision,
            out,
            started=started,
            minutes=minutes if minutes is not None else prof.budget.train_minutes,
            epochs=epochs,
            seed=seed,
            recipe=recipe,
            created=created,
            notes=notes,
            on_batch=on_batch,
            on_epoch=on_epoch,
            on_status=on_status,
            stop=stop,
        )
    return TrainRun(doc)


def predict(
    run: str | Path,
    inputs: str | Path,
    device: str = "cpu",
    batch_size: int = 256,
) -> Predictions:
    """Load a run written by `train` and predict on new data of the same format (the run's
    preprocessing applied): one row per sample, with the class (and its probability) or the
    regression values."""
    import warnings

    import numpy as np

    from ..train.data import Preprocess
    from ..train.metrics import probabilities
    from ..train.run import predict_outputs, read_run, rebuild_graph

    run_dir, run_doc, pre_doc = read_run(_file("RUN_DIR", run))
    inputs = _file("INPUT", inputs)
    batch_size = _count("batch_size", batch_size)
    pre = Preprocess.from_dict(pre_doc, str(run_dir / "preprocess.json"))
    graph = rebuild_graph(run_doc, str(run_dir / "run.json"), pre)
    be = get_backend(run_doc["backend"])
    checkpoint = run_dir / be.CHECKPOINT
    _regular_file(checkpoint, "not a complete training run")
    dev, _ = local_device(device, be, None, calibrated=False)
    x, ids = pre.load_inputs(inputs)
    built = be.build(graph, dev.kind, run_doc["precision"])
    try:
        with warnings.catch_warnings():  # the framework's advice on unpickling is not for users
            warnings.simplefilter("ignore")
            be.load_checkpoint(built, run_dir)
    except Exception as exc:  # a foreign or damaged checkpoint: one line, no framework essay
        raise InputError(
            f"{checkpoint}: not a checkpoint of this run ({type(exc).__name__})"
        ) from None
    outputs = predict_outputs(be, built, x, batch_size)
    bad = int((~np.isfinite(outputs.reshape(len(outputs), -1))).any(axis=1).sum())
    if bad:
        raise NoAnswerError(
            f"the model's outputs are not finite for {bad} of {len(outputs)} samples "
            "(a run that diverged, or inputs far outside the training data)"
        )
    names = pre.label_names
    rows = []
    if graph.task == "regression":
        for i, out in zip(ids, outputs.reshape(len(outputs), -1)):
            rows.append({"id": i, "values": [float(v) for v in out]})
    else:
        probs = probabilities(outputs, graph.final_activation)
        for i, p in zip(ids, probs):
            k = int(p.argmax())
            label = names[k] if isinstance(names, list) and k < len(names) else str(k)
            rows.append(
                {
                    "id": i,
                    "label": label,
                    "class_index": k,
                    "probability": float(p[k]),
                    "probabilities": [float(v) for v in p],
                }
            )
    return Predictions(
        {
            "run": str(run_dir),
            "input": str(inputs),
            "arch": run_doc["arch"],
            "backend": run_doc["backend"],
            "task": graph.task,
            "label_names": names if graph.task != "regression" else None,
            "predictions": rows,
        }
    )


def _is_store(path: str | Path) -> bool:
    text = str(path)
    return "://" in text or text.endswith((".db", ".sqlite", ".sqlite3"))


def trial(
    profile: Any,
    top: int = 8,
    families: list[str] | None = None,
    minutes: float | None = None,
    eta: int = 3,
    store: str | Path | None = None,
    resume: bool = False,
    executor: str = "local",
    backend: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    output: str | Path | None = None,
    data: str | Path | None = None,
    seed: int = 0,
    catalog: str | Path | None = None,
    on_event: Callable[[str, dict], None] | None = None,
    warn=None,
    stop=None,
    started: float | None = None,
    ray_address: str | None = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float | None = None,
    rungs: str = "seconds",
) -> TrialRun:
    """`modelpick trial`: train the `top` candidates of `recommend` (and the best of every
    family, and classic baselines) by asynchronous successive halving within the time limit
    (`minutes`, default budget.train_minutes; counted from the call or `started`), record
    every job in an Optuna store (`store`: a SQLAlchemy URL or a SQLite file path; default
    <output>/trial.db), and return the leaderboard. `resume` goes on with (or joins, from
    another worker) the search stored there. docs/trial.md has the method."""
    import math
    import time

    from ..advise.catalog import expand_candidates
    from ..advise.scoring import rank
    from ..search.baselines import run_baselines
    from ..search.store import Store, store_url
    from ..search.worker import Worker, choose_candidates, leaderboard, new_config
    from ..train.loop import StopFlag
    from ..train.run import default_output, prepare_output

    if started is None:
        started = time.monotonic()
    top = _count("top", top, 1000)
    if isinstance(eta, bool) or not isinstance(eta, int) or not 2 <= eta <= 100:
        raise InputError(f"--eta: expected an integer from 2 to 100; received {eta!r}")
    _choice("--executor", executor, ("local", "ray"))
    _choice("--rungs", rungs, ("seconds", "epochs"))
    if rungs == "epochs" and executor == "ray":
        raise InputError("--rungs epochs: only with --executor local (Ray's ASHA counts seconds)")
    _choice("--precision", precision, PRECISIONS)
    _minutes(minutes)
    if families is not None:
        allowed = ("cnn", "rnn", "transformer", "mlp")
        for f in families:
            _choice("--families", f, allowed)
    if resume and store is None:
        raise InputError("--resume: needs --store, the store that holds the search")
    prof = load_profile(profile)
    be = get_backend(backend or prof.preferences.backend)
    dev, notes = local_device(device, be, precision, warn=warn)
    cat = load_catalog(catalog)
    built, rejected, skipped = expand_candidates(cat, prof)
    ranking = rank(prof, built, rejected, skipped, dev, notes)
    graphs = {b.arch.name: b.graph for b in built}  # built once, by expand_candidates
    candidates = [
        c
        for c in choose_candidates(ranking, top, families)
        if len(graphs[c["name"]].output_shape) == 1
    ]
    if not candidates:
        raise NoAnswerError("no candidate fits the profile's budget; nothing to try")
    budget_s = 60.0 * (minutes if minutes is not None else prof.budget.train_minutes)
    dataset = load_data(prof if not isinstance(profile, (str, Path)) else profile, data, seed)
    for w in dataset.warnings:
        _warn(w, warn)
    url = store_url(store) if store is not None else None
    if url is None:
        out, _ = prepare_output(
            Path(output) if output is not None else default_output(prof.name, "trial")
        )
        url = store_url(out / "trial.db")
    else:
        out = Path(output) if output is not None else None
    say = on_event or (lambda kind, info: None)
    graph0 = graphs[candidates[0]["name"]]
    baselines = []
    if not resume:
        say("status", {"text": "training the baselines"})
        baselines = run_baselines(
            dataset, graph0, prof.task, time.monotonic() + 0.1 * budget_s, clock=time.monotonic
        )
    now = time.monotonic()
    remaining = started + budget_s - now
    # The smallest rung worth running: one epoch of the fastest candidate as predicted (at
    # least a second), for every candidate; the search plans 70 % of what is left for rungs.
    from ..advise.predict import predict as _predict
    from ..graph import cost as _cost

    epoch_s = []
    for c in candidates:
        if dev.supports(precision):
            gc = _cost(graphs[c["name"]], be.name)
            epoch_s.append(
                _predict(gc, dev, precision, prof.budget.batch_size, len(dataset.train), 1).epoch_s
            )
    need_s = (now - started) + len(candidates) * max(1.0, min(epoch_s, default=1.0)) / 0.7
    if not resume and (remaining <= 0.05 * budget_s or 0.7 * remaining < need_s - (now - started)):
        raise NoAnswerError(
            f"--minutes {budget_s / 60:g} is too small for one rung of each of the "
            f"{len(candidates)} candidates (start-up, data and baselines took "
            f"{now - started:.0f} s); the smallest budget that would do is about "
            f"{math.ceil(need_s / 6) / 10:g} min: raise --minutes"
        )
    config = new_config(
        prof,
        candidates,
        dataset,
        budget_s,
        0.7 * remaining,  # the rest: building, measuring and validating each candidate
        eta,
        seed,
        be.name,
        dev.kind,
        precision,
        rungs,
    )
    st = Store.create(url, f"modelpick-{prof.name}", config, resume)
    if resume:
        if out is None and not st.config.get("out_dir"):
            raise InputError(
                f"--store {url}: the search is still starting (its first worker has not "
                "finished setting it up); retry in a few seconds"
            )
        out = Path(st.config["out_dir"]) if out is None else out
    else:
        if out is None:
            out, _ = prepare_output(default_output(prof.name, "trial"))
        st.study.set_user_attr("config", {**st.config, "out_dir": str(out.resolve()), "store": url})
        st.config = st.study.user_attrs["config"]
        for b in baselines:
            st.set_baseline(b["name"], b)
    if executor == "ray":
        from ..search.ray_exec import run_ray

        interrupted = run_ray(
            st,
            prof,
            dataset,
            cat,
            be,
            dev,
            precision,
            out,
            started + budget_s,
            address=ray_address,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            on_event=on_event,
        )
    else:
        stop = stop or StopFlag()
        worker = Worker(
            st,
            prof,
            dataset,
            cat,
            be,
            dev,
            precision,
            out,
            started + 0.99 * budget_s,
            stop,
            on_event=on_event,
        )
        with stop.installed():
            try:
                worker.work()
            except KeyboardInterrupt:
                worker.interrupted = True
        interrupted = worker.interrupted
    doc = leaderboard(st, elapsed_s=time.monotonic() - started)
    doc["store"] = url
    doc["output"] = str(out)
    doc["interrupted"] = interrupted
    doc["notes"] = list(notes) + doc["notes"]
    from ..train.run import _write_json

    _write_json(out / "leaderboard.json", doc)
    return TrialRun(doc)


def trial_report(store: str | Path) -> TrialRun:
    """The leaderboard of the search stored in `store` (a SQLAlchemy URL or SQLite file)."""
    from ..search.store import Store, store_url
    from ..search.worker import leaderboard

    url = store_url(store)
    if "://" not in str(store):
        _regular_file(Path(store), "no such store")
    stores = Store.open_existing(url)
    doc = leaderboard(stores[-1])
    doc["store"] = url
    doc["interrupted"] = False
    return TrialRun(doc)


def report(run: str | Path) -> SavedRun:
    """A run saved by `bench --output`, checked field by field (InputError names a bad one)."""
    from ..measure.runs import load_run

    return SavedRun(load_run(run))


__all__ = [
    "ArchitectureInfo",
    "GenerationRecommendation",
    "Predictions",
    "TrainRun",
    "TrialRun",
    "BenchRun",
    "BuildResult",
    "CalibrationRun",
    "CatalogListing",
    "Doctor",
    "Estimate",
    "FileCheck",
    "Recommendation",
    "SavedRun",
    "Schema",
    "Validation",
    "bench",
    "build",
    "calibrate",
    "catalog_list",
    "catalog_show",
    "doctor",
    "estimate",
    "get_backend",
    "load_catalog",
    "load_data",
    "load_profile",
    "predict",
    "recommend",
    "report",
    "schema",
    "train_model",
    "trial",
    "trial_evidence",
    "trial_report",
    "validate",
]

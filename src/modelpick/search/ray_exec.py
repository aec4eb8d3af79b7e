"""`modelpick trial --executor ray`: the same candidates, rungs and training as the local
executor (search/worker.py), run as Ray Tune trials on a local Ray instance or a cluster.

One Tune trial per candidate (function API, `tune.grid_search` over the names). A trial opens
the candidate's run directory as the local worker does (`train.run.Run`: step memory measured,
run.json and preprocess.json written, p50/p99 latency measured), then trains it rung by rung:
one `fit` call per rung with a `Carry` (the rung's slice of training seconds, the optimizer
and the learning-rate schedule carried on), reporting the rung's validation metric and
`train_seconds` (the rung's cumulative planned seconds) with `tune.report`. Tune's
`ASHAScheduler` (time_attr `train_seconds`, milestones at the plan's rungs, η as
reduction factor) stops the trials that fall behind at a rung. Checkpoints are the run
directory's own (`model.pt` / `model.keras` beside run.json), not Ray checkpoints, so
`modelpick predict RUN_DIR` works on them as on any run.

The record is the same Optuna study: a Tune callback on the driver turns every reported rung
into a finished job trial (params `candidate`, `rung`; the same user attributes as the local
worker's), so `search.worker.leaderboard`, `modelpick report STORE` and `--resume` read a Ray
search like a local one. Ray is imported only here (it costs about a second), and only
when this executor is chosen.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UnavailableError
from ..safeio import file_slug
from .worker import job_outcome, measure_latency

FIELD = "modelpick_job"  # the reported key holding the job's record (a JSON text)


def _ray():
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
    except ImportError:
        raise UnavailableError(
            "--executor ray needs Ray Tune, which is not installed; install it via "
            "`pip install 'modelpick[ray]'`"
        ) from None
    return ray, tune, ASHAScheduler


# --- the trial (runs in a Ray worker process) ---------------------------------------------------


def _report(job: dict, metric: str) -> None:
    from ray import tune

    out: dict[str, Any] = {"train_seconds": job["nominal_s"], "rung": job["rung"]}
    if job.get("value") is not None and not job.get("failed"):
        out[metric] = job["value"]
    out[FIELD] = json.dumps(job, allow_nan=False, default=str)
    tune.report(out)


def _trainable(config: dict, data=None, setup: dict | None = None) -> None:
    """One candidate, rung by rung, until the top rung, the deadline, or ASHA stops it."""
    from ..advise.catalog import build_named
    from ..backends import DeviceOutOfMemory, get_backend
    from ..train.loop import Carry, fit
    from ..train.recipe import DEFAULT_RECIPE
    from ..train.run import Run

    s = setup or {}
    name = config["candidate"]
    rungs_s, metric, seed = s["rungs_s"], s["metric"], s["seed"]
    # the deadline travels as wall-clock time (another machine's monotonic clock differs)
    deadline = time.monotonic() + (s["deadline_wall"] - time.time())
    t0 = time.monotonic()
    run = None
    rung = 0

    def failed(reason: str) -> None:
        _report(
            {
                "candidate": name,
                "rung": rung,
                "nominal_s": rungs_s[rung],
                "failed": reason,
                "attrs": {"seconds": time.monotonic() - t0},
            },
            metric,
        )

    try:
        backend = get_backend(s["backend"])
        out = Path(s["out_dir"]) / name
        out.mkdir(parents=True, exist_ok=True)
        run = Run(
            s["profile"],
            data,
            build_named(s["catalog"], name, s["profile"]),
            backend,
            s["device"],
            s["precision"],
            out,
            seed=seed,
            recipe=DEFAULT_RECIPE,
            notes=[],
            minutes=s["budget_s"] / 60,
            epochs=None,
        )
        run.open()
        run.latency = measure_latency(backend, run.built)
    except DeviceOutOfMemory:
        return failed("out of memory")
    except Exception as exc:  # one candidate's failure never stops the search
        return failed(f"{type(exc).__name__}: {str(exc)[:200]}")
    carry = Carry(schedule_s=rungs_s[-1])
    for rung in range(len(rungs_s)):
        slice_s = rungs_s[rung] - (rungs_s[rung - 1] if rung else 0.0)
        t_job = time.monotonic()
        if deadline - t_job < 0.25 * slice_s:
            return  # out of time: the rung would be too short to mean anything
        try:
            result = fit(
                backend,
                run.built,
                data,
                run.output,
                batch_size=run.batch,
                recipe=run.recipe,
                deadline=min(deadline, t_job + slice_s),
                seed=seed,
                carry=carry,
            )
        except DeviceOutOfMemory:
            return failed("out of memory")
        except Exception as exc:
            return failed(f"{type(exc).__name__}: {str(exc)[:200]}")
        run.add(result)
        # the first rung's job also paid for opening the run (as a local worker's does)
        wall = time.monotonic() - (t0 if rung == 0 else t_job)
        value, attrs, reason = job_outcome(run, carry, result, metric, wall)
        attrs["executor"] = "ray"
        run.metrics(time.monotonic() - t0)
        job = {
            "candidate": name,
            "rung": rung,
            "nominal_s": rungs_s[rung],
            "value": None if reason else value,
            "failed": reason,
            "attrs": _finite(attrs),
        }
        _report(job, metric)  # blocks until Tune lets this trial go on (ASHA: or stops it)
        if reason:
            return


def _finite(doc):
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_finite(v) for v in doc]
    return doc


# --- the record (runs on the driver) ------------------------------------------------------------


class _Recorder:
    """Writes each reported rung into the Optuna store as a finished job trial, at once (so
    that an interrupted or crashed search keeps what finished)."""

    def __init__(self, store, on_event: Callable[[str, dict], Any]):
        import optuna
        from optuna.distributions import CategoricalDistribution, IntDistribution

        self.store, self.on_event, self.optuna = store, on_event, optuna
        names = [c["name"] for c in store.config["candidates"]]
        self.dists = {
            "candidate": CategoricalDistribution(names),
            "rung": IntDistribution(0, len(store.config["rungs_s"]) - 1),
        }
        self.lock = threading.Lock()
        self.reported: dict[str, int] = {}  # candidate -> last rung reported
        self.recorded = {
            (r["candidate"], r["rung"]) for r in store.records() if r["state"] == "complete"
        }

    def job(self, doc: dict) -> None:
        states = self.optuna.trial.TrialState
        key = (doc["candidate"], int(doc["rung"]))
        with self.lock:
            self.reported[key[0]] = key[1]
            if key in self.recorded:
                return
            attrs = {"job": 1, **(doc.get("attrs") or {})}
            if doc.get("failed"):
                attrs.update(outcome="failed", reason=doc["failed"])
                trial = self.optuna.trial.create_trial(
                    params={"candidate": key[0], "rung": key[1]},
                    distributions=self.dists,
                    user_attrs=attrs,
                    state=states.FAIL,
                )
            else:
                trial = self.optuna.trial.create_trial(
                    params={"candidate": key[0], "rung": key[1]},
                    distributions=self.dists,
                    value=doc["value"],
                    user_attrs=attrs,
                )
            self.store.study.add_trial(trial)
            self.store.add_spent(float(attrs.get("seconds") or 0.0))
            self.recorded.add(key)
        job = {"candidate": key[0], "rung": key[1]}
        self.on_event("done", {"job": job, "value": doc.get("value"), "failed": doc.get("failed")})

    def crashed(self, candidate: str, reason: str) -> None:
        """The trial's process died or raised past the trainable (not one of our failures)."""
        rung = self.reported.get(candidate, -1) + 1
        if rung >= len(self.store.config["rungs_s"]):
            return
        self.job({"candidate": candidate, "rung": rung, "failed": reason, "attrs": {}})


# The recorder holds the store (a database connection, locks): Tune pickles its callbacks
# with the experiment's state, so the callback names its recorder by a key instead.
_RECORDERS: dict[str, _Recorder] = {}


def _recorder(key: str) -> _Recorder:
    return _RECORDERS[key]


def _callback(key: str, tune):
    class Record(tune.Callback):
        @property
        def recorder(self) -> _Recorder:
            return _recorder(key)

        def on_trial_start(self, iteration, trials, trial, **info):
            name = trial.config.get("candidate")
            self.recorder.on_event("start", {"job": {"candidate": name, "rung": 0}})

        def on_trial_result(self, iteration, trials, trial, result, **info):
            text = result.get(FIELD)
            if isinstance(text, str):
                try:
                    self.recorder.job(json.loads(text))
                except Exception as exc:  # the store must not stop Tune's loop
                    logging.getLogger(__name__).warning("recording a job failed: %s", exc)

        def on_trial_error(self, iteration, trials, trial, **info):
            err = None
            try:
                err = trial.get_error()
            except Exception:
                pass
            text = str(err or "the trial's process failed").strip().splitlines()
            reason = (text[-1] if text else "the trial's process failed")[:200]
            try:
                self.recorder.crashed(trial.config.get("candidate"), reason)
            except Exception as exc:
                logging.getLogger(__name__).warning("recording a failure failed: %s", exc)

    return Record()


# --- the driver ---------------------------------------------------------------------------------


def run_ray(
    store,
    profile,
    data,
    catalog,
    backend,
    device,
    precision: str,
    out_dir: Path,
    deadline: float,
    address: str | None = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float | None = None,
    on_event: Callable[[str, dict], Any] | None = None,
    num_cpus: int | None = None,
) -> bool:
    """Run the stored search's candidates as Ray Tune trials until they are done or
    `deadline` (time.monotonic()) comes; every rung reported is recorded in `store`.

    `address`: a running Ray cluster (`ray://host:10001`, `host:6379` or `auto`); None starts
    a local Ray instance (with `num_cpus` CPUs; default all) and shuts it down afterwards.
    `cpus_per_trial` / `gpus_per_trial` are each trial's resources (fractions allowed); GPUs
    default to 1 per trial when training on a GPU, else 0. Returns True when interrupted
    (Ctrl-C): Tune stops the trials, and the rungs that finished are recorded."""
    say = on_event or (lambda kind, info: None)
    if gpus_per_trial is None:
        gpus_per_trial = 1 if getattr(device, "kind", "cpu") == "cuda" else 0
    for what, value in (("cpus_per_trial", cpus_per_trial), ("gpus_per_trial", gpus_per_trial)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and 0 <= value <= 1024)
        ):
            from ..errors import InputError

            raise InputError(f"--{what.replace('_', '-')}: expected a number from 0 to 1024")
    cfg = store.config
    metric, maximize = cfg["metric_name"], cfg["maximize"]
    rungs_s = [float(r) for r in cfg["rungs_s"]]
    done = {r["candidate"] for r in store.records()}  # resumed: finished or failed before
    names = [c["name"] for c in cfg["candidates"] if c["name"] not in done]
    if not names:
        return False
    ray, tune, ASHAScheduler = _ray()
    out_dir = Path(out_dir).resolve()
    started_here = False
    interrupted = False
    key = ""
    previous = signal.getsignal(signal.SIGINT)
    in_main = threading.current_thread() is threading.main_thread()

    def second_interrupt(signum, frame):  # Tune puts this back after its own first Ctrl-C
        raise KeyboardInterrupt

    try:
        if not ray.is_initialized():
            say("status", {"text": f"starting Ray{' at ' + address if address else ''}"})
            started_here = True
            ray.init(
                address=address or None,
                num_cpus=num_cpus if not address else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=True,
            )
        now = time.monotonic()
        remaining = deadline - now
        # Ray needs a few seconds after the last trial to stop its actors and itself
        margin = min(15.0, max(2.0, 0.05 * remaining))
        setup = {
            "profile": profile,
            "catalog": catalog,
            "device": device,
            "backend": backend.name,
            "precision": precision,
            "out_dir": str(out_dir),
            "rungs_s": rungs_s,
            "metric": metric,
            "seed": cfg["seed"],
            "budget_s": cfg["budget_s"],
            "deadline_wall": time.time() + remaining - margin,
        }
        key = f"{id(store)}-{time.time_ns()}"
        _RECORDERS[key] = _Recorder(store, say)
        trainable = tune.with_resources(
            tune.with_parameters(_trainable, data=data, setup=setup),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
        )
        scheduler = ASHAScheduler(
            time_attr="train_seconds",
            metric=metric,
            mode="max" if maximize else "min",
            max_t=rungs_s[-1],
            grace_period=rungs_s[0],
            reduction_factor=int(cfg["eta"]),
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"candidate": tune.grid_search(names)},
            tune_config=tune.TuneConfig(
                scheduler=scheduler,
                num_samples=1,
                time_budget_s=max(1.0, remaining - margin / 2),
                reuse_actors=False,
            ),
            run_config=tune.RunConfig(
                name=file_slug(store.study.study_name, "trial"),
                storage_path=str(out_dir / "ray"),
                callbacks=[_callback(key, tune)],
                failure_config=tune.FailureConfig(max_failures=0),
                verbose=0,
            ),
        )
        if in_main:
            signal.signal(signal.SIGINT, second_interrupt)
        # Tune's newer console output prints its experiment table on stdout whatever the
        # verbosity (stdout is `--json`'s); the older reporter honours verbose=0
        quiet = os.environ.get("RAY_AIR_NEW_OUTPUT")
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        try:
            tuner.fit()
        except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM turned into one)
            interrupted = True
        finally:
            if quiet is None:
                os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
            else:
                os.environ["RAY_AIR_NEW_OUTPUT"] = quiet
        if in_main and signal.getsignal(signal.SIGINT) is second_interrupt:
            interrupted = True  # Tune's handler saw a Ctrl-C and put ours back
    except KeyboardInterrupt:  # while Ray started or the experiment was being set up
        interrupted = True
    finally:
        _RECORDERS.pop(key, None)
        if in_main:
            signal.signal(signal.SIGINT, previous)
        if started_here and ray.is_initialized():
            ray.shutdown()
    return interrupted

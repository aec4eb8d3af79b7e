"""The search: choose candidates, run the ladder's jobs (one worker: this process), and build
the leaderboard from the store. The executor for Ray Tune is in search/ray_exec.py."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..advise.catalog import build_named
from ..backends.base import DeviceOutOfMemory
from ..errors import NoAnswerError
from ..train.loop import Carry, StopFlag, fit
from ..train.recipe import DEFAULT_RECIPE
from ..train.run import Run
from .schedule import Job, Plan, n_rungs, plan
from .store import SCHEMA, Store

POLL_S = 2.0


def choose_candidates(ranking, top: int, families: list[str] | None) -> list[dict]:
    """The top `top` of the analytic ranking, plus the best of every family that applies
    (so that no family is judged without one trial), in analytic order."""
    seen: dict[str, dict] = {}
    for s in ranking.ranked:
        if s.name in seen or (families and s.built.arch.family not in families):
            continue
        seen[s.name] = {
            "name": s.name,
            "family": s.built.arch.family,
            "analytic_rank": len(seen) + 1,
            "analytic_score": s.score,
            "params": s.built.cost.params,
        }
    ordered = list(seen.values())
    chosen = ordered[:top]
    for fam in sorted({c["family"] for c in ordered}):
        if not any(c["family"] == fam for c in chosen):
            chosen.append(next(c for c in ordered if c["family"] == fam))
    return sorted(chosen, key=lambda c: c["analytic_rank"])


def search_key(profile, candidates: list[dict], data, budget_s: float, eta: int, seed: int) -> str:
    doc = {
        "profile": profile.model_dump(mode="json"),
        "candidates": [c["name"] for c in candidates],
        "data": [data.source, len(data.train), len(data.val)],
        "budget_s": round(budget_s, 3),
        "eta": eta,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def metric_of(task: str) -> tuple[str, bool]:
    return ("val_rmse", False) if task == "regression" else ("val_accuracy", True)


def new_config(
    profile,
    candidates,
    data,
    budget_s,
    train_s,
    eta,
    seed,
    backend,
    device,
    precision,
    rung_unit: str = "seconds",
):
    metric, maximize = metric_of(profile.task)
    if rung_unit == "epochs":  # rung k is η^k epochs; the deadline alone holds the budget
        p = Plan(eta, tuple(float(eta**k) for k in range(n_rungs(len(candidates), eta))))
    else:
        p = plan(len(candidates), train_s, eta)
    return {
        "schema": SCHEMA,
        "key": search_key(profile, candidates, data, budget_s, eta, seed),
        "profile": profile.name,
        "task": profile.task,
        "metric_name": metric,
        "maximize": maximize,
        "candidates": candidates,
        "eta": eta,
        "rungs_s": list(p.rungs_s),  # each rung's total, in `rung_unit`
        "rung_unit": rung_unit,
        "budget_s": budget_s,
        "train_s": train_s,
        "seed": seed,
        "backend": backend,
        "device": device,
        "precision": precision,
        "limits": {
            "latency_ms": profile.budget.latency_ms,
            "memory_gb": profile.budget.memory_gb,
            "max_params": profile.budget.max_params,
        },
    }


def measure_latency(backend, built) -> dict:
    """A candidate's batch-1 latency, quickly (the leaderboard's p50 and p99)."""
    from ..measure.bench import Settings, measure

    x1 = backend.make_inputs(built, 1)
    stats = measure(
        lambda: backend.forward(built, x1),
        lambda: backend.synchronize(built),
        Settings(warmup=2, min_runs=10, min_time_s=0.1, max_time_s=2.0),
    )
    return {"latency_ms_p50": stats.p50_s * 1e3, "latency_ms_p99": stats.p99_s * 1e3}


def job_outcome(run: Run, carry: Carry, result, metric: str, wall_s: float):
    """What one rung of `run` gave, as every executor records it: (the metric, the job's
    attributes, why it failed or "")."""
    best = run.best
    value = best.get(metric) if best else None
    attrs = {
        "seconds": wall_s,
        "train_seconds": carry.trained_s,
        "epochs": carry.epochs_done,
        "stopped": result.stopped,
        "run_dir": str(run.output.resolve()),
        "params": run.cost.params,
        **run.latency,
        "train_memory_bytes": getattr(run.memory, "peak_bytes", None),
        "predicted_train_memory_bytes": run.prediction and run.prediction.train_memory_bytes,
        "curve": [
            {k: e.get(k) for k in ("epoch", "train_loss", "val_loss", metric)}
            for e in result.epochs
        ],
    }
    failed = (
        ""
        if value is not None and math.isfinite(value)
        else (result.message or "no validation metric")
    )
    if result.stopped == "diverged":
        failed = result.message or "diverged"
    return value, attrs, failed


class Worker:
    """Runs jobs from the store's ladder in this process until the search is done, the
    deadline comes, or Ctrl-C."""

    def __init__(
        self,
        store: Store,
        profile,
        data,
        catalog,
        backend,
        device,
        precision: str,
        out_dir: Path,
        deadline: float,
        stop: StopFlag,
        on_event: Callable[[str, dict], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.profile, self.data, self.catalog = store, profile, data, catalog
        self.backend, self.device, self.precision = backend, device, precision
        self.out_dir, self.deadline, self.stop, self.clock = out_dir, deadline, stop, clock
        self.on_event = on_event or (lambda kind, info: None)
        self.runs: dict[str, tuple[Run, Carry]] = {}
        self.rung_done: dict[str, int] = {}  # the last rung this process trained each through
        self.plan = store.plan()
        self.metric = store.config["metric_name"]
        self.epochs = store.config.get("rung_unit") == "epochs"
        self.interrupted = False

    def _run(self, name: str, rung: int) -> tuple[Run, Carry]:
        if name in self.runs and self.rung_done.get(name) == rung - 1:
            return self.runs[name]
        self.runs.pop(name, None)  # another worker trained it since: go on from its checkpoint
        out = self.out_dir / name
        out.mkdir(parents=True, exist_ok=True)
        planned = build_named(self.catalog, name, self.profile)
        run = Run(
            self.profile,
            self.data,
            planned,
            self.backend,
            self.device,
            self.precision,
            out,
            seed=self.store.config["seed"],
            recipe=DEFAULT_RECIPE,
            notes=[],
            minutes=self.store.config["budget_s"] / 60,
            epochs=None,
        )
        carry = Carry()
        if self.epochs:
            carry.schedule_epochs = int(self.plan.rungs_s[-1])
        else:
            carry.schedule_s = self.plan.rungs_s[-1]
        previous = [r for r in self.store.records() if r["candidate"] == name]
        if previous and (out / self.backend.CHECKPOINT).exists():
            # resumed (or promoted from another worker's rung): continue from its checkpoint
            run.open(memory=False)
            self.backend.load_checkpoint(run.built, out)
            done = [r for r in previous if r["state"] == "complete"] or previous
            last = max(done, key=lambda r: r["rung"])
            carry.trained_s = float(last.get("train_seconds") or self.plan.rungs_s[last["rung"]])
            carry.epochs_done = int(last.get("epochs", 0))
            run.memory = None
            try:
                run.epochs = json.loads((out / "metrics.json").read_text())["epochs"]
            except (OSError, ValueError, KeyError, TypeError):
                run.epochs = []
        else:
            # a new candidate, or one whose earlier rungs ran where its checkpoint cannot be
            # seen (another machine without a shared output folder): from the start, for the
            # rung's total seconds (the job's time slice is widened to match, in _job)
            run.open()
        run.latency = measure_latency(self.backend, run.built)
        self.runs[name] = (run, carry)
        return run, carry

    def work(self) -> None:
        while not self.stop.requested:
            ladder = self.store.ladder()
            job = ladder.next_job()
            now = self.clock()
            if job is None:
                if not ladder.running or now >= self.deadline:
                    return
                time.sleep(POLL_S)  # others are running jobs whose results decide the next
                continue
            if not self.epochs and self.deadline - now < 0.25 * self.plan.slice_s(job.rung):
                self.on_event("out_of_time", {"job": job._asdict()})
                return
            claimed = self.store.claim(job)
            if claimed is None:
                continue
            trial, job = claimed
            self._job(trial, job)
        self.interrupted = True

    def _job(self, trial, job: Job) -> None:
        t0 = self.clock()
        self.on_event("start", {"job": job._asdict()})
        try:
            run, carry = self._run(job.candidate, job.rung)
            if self.epochs:  # a fresh start owes the rung's total epochs
                max_epochs = int(self.plan.rungs_s[job.rung]) - carry.epochs_done
                until = self.deadline
            else:  # ... or its total seconds
                max_epochs = None
                owed = self.plan.rungs_s[job.rung] - carry.trained_s
                until = min(self.deadline, self.clock() + max(owed, self.plan.slice_s(job.rung)))
            result = fit(
                self.backend,
                run.built,
                self.data,
                run.output,
                batch_size=run.batch,
                recipe=run.recipe,
                deadline=until,
                max_epochs=max(1, max_epochs) if max_epochs is not None else None,
                seed=self.store.config["seed"],
                stop=self.stop,
                carry=carry,
                clock=self.clock,
                on_epoch=lambda rec: self.on_event("epoch", {"job": job._asdict(), **rec}),
            )
        except DeviceOutOfMemory:
            self._fail(trial, job, "out of memory", t0)
            return
        except KeyboardInterrupt:
            self.store.abandon(trial, "interrupted")
            raise
        except Exception as exc:  # one candidate's failure never stops the search
            self._fail(trial, job, f"{type(exc).__name__}: {str(exc)[:200]}", t0)
            return
        run.add(result)
        wall = self.clock() - t0
        if result.stopped == "interrupted":
            self.store.abandon(trial, "interrupted")
            run.metrics(wall)
            return
        value, attrs, failed = job_outcome(run, carry, result, self.metric, wall)
        attrs["worker"] = f"{socket.gethostname()}:{os.getpid()}"
        run.metrics(wall)
        self.store.finish(trial, None if failed else value, attrs, failed=failed)
        self.rung_done[job.candidate] = job.rung
        self.store.add_spent(wall)
        self.on_event("done", {"job": job._asdict(), "value": value, "failed": failed})

    def _fail(self, trial, job, reason: str, t0: float) -> None:
        self.store.finish(trial, None, {"seconds": self.clock() - t0}, failed=reason)
        self.store.add_spent(self.clock() - t0)
        self.runs.pop(job.candidate, None)
        self.on_event("done", {"job": job._asdict(), "value": None, "failed": reason})


# --- the leaderboard -------------------------------------------------------------------------


def _ranks(values: list[float], maximize: bool) -> list[float]:
    """1 = best; ties share their average rank."""
    order = sorted(range(len(values)), key=lambda i: -values[i] if maximize else values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (ties averaged): Pearson on the ranks."""
    if len(a) < 3:
        return None
    ra, rb = _ranks(a, True), _ranks(b, True)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb) if va and vb else None


def leaderboard(store: Store, elapsed_s: float | None = None) -> dict:
    cfg = store.config
    metric, maximize = cfg["metric_name"], cfg["maximize"]
    top = len(cfg["rungs_s"]) - 1
    records = store.records()
    rows = []
    for cand in cfg["candidates"]:
        mine = sorted(
            (r for r in records if r["candidate"] == cand["name"]), key=lambda r: r["rung"]
        )
        ok = [r for r in mine if r["state"] == "complete"]
        last = ok[-1] if ok else None
        failed = next((r for r in mine if r["state"] == "fail"), None)
        rows.append(
            {
                "name": cand["name"],
                "family": cand["family"],
                "kind": "net",
                "metric": last["value"] if last else None,
                "metric_name": metric,
                "rungs": [
                    {
                        "rung": r["rung"],
                        "metric": r["value"],
                        "seconds": r.get("seconds"),
                        "epochs": r.get("epochs"),
                    }
                    for r in mine
                ],
                "epochs": last.get("epochs") if last else None,
                "train_seconds": sum(r.get("seconds") or 0 for r in mine),
                "stopped_at_rung": None
                if last and last["rung"] == top
                else (last["rung"] if last else None),
                "status": "failed" if failed and not ok else ("ok" if ok else "not run"),
                "reason": failed.get("reason") if failed else None,
                "analytic_rank": cand["analytic_rank"],
                "analytic_score": cand["analytic_score"],
                "params": cand["params"],
                "latency_ms_p50": (last or {}).get("latency_ms_p50"),
                "latency_ms_p99": (last or {}).get("latency_ms_p99"),
                "train_memory_bytes": (last or {}).get("train_memory_bytes"),
                "run_dir": (last or {}).get("run_dir"),
                "rung0_metric": next((r["value"] for r in ok if r["rung"] == 0), None),
                # the learning curve across rungs (epoch, losses, metric), for plots
                "curve": [e for r in mine for e in (r.get("curve") or [])],
            }
        )
    for name, b in store.baselines().items():
        rows.append(
            {
                "name": name,
                "family": b.get("family", "baseline"),
                "kind": "baseline",
                "metric": b.get("metric"),
                "metric_name": metric,
                "rungs": [],
                "epochs": None,
                "train_seconds": b.get("train_seconds"),
                "stopped_at_rung": None,
                "status": b.get("status", "ok"),
                "reason": b.get("reason"),
                "analytic_rank": None,
                "analytic_score": None,
                "params": None,
                "latency_ms_p50": None,
                "latency_ms_p99": None,
                "train_memory_bytes": None,
                "run_dir": None,
                "rung0_metric": None,
                "curve": [],
            }
        )
    limits = cfg.get("limits", {})
    for r in rows:
        misses = []
        if (
            limits.get("latency_ms")
            and r["latency_ms_p99"]
            and r["latency_ms_p99"] > limits["latency_ms"]
        ):
            misses.append(f"p99 latency {r['latency_ms_p99']:.3g} ms > {limits['latency_ms']:g} ms")
        if (
            limits.get("memory_gb")
            and r["train_memory_bytes"]
            and r["train_memory_bytes"] > limits["memory_gb"] * 2**30
        ):
            misses.append(
                f"training memory {r['train_memory_bytes'] / 2**30:.3g} GiB > "
                f"{limits['memory_gb']:g} GiB"
            )
        if limits.get("max_params") and r["params"] and r["params"] > limits["max_params"]:
            misses.append(f"{r['params']:,} params > {limits['max_params']:,}")
        r["limit_misses"] = misses
        r["meets_limits"] = not misses
    scored = [r for r in rows if r["metric"] is not None]
    order = sorted(scored, key=lambda r: -r["metric"] if maximize else r["metric"])
    for i, r in enumerate(order, 1):
        r["measured_rank"] = i
    for r in rows:
        r.setdefault("measured_rank", None)
    rows.sort(key=lambda r: (r["measured_rank"] is None, r["measured_rank"] or 0))
    eligible = [r for r in order if r["meets_limits"]]
    winner = eligible[0] if eligible else None
    nets = [r for r in rows if r["kind"] == "net" and r["rung0_metric"] is not None]
    rho = spearman(
        [-r["analytic_rank"] for r in nets],
        [r["rung0_metric"] if maximize else -r["rung0_metric"] for r in nets],
    )
    net_rank = _ranks([r["rung0_metric"] for r in nets], maximize) if nets else []
    analytic_rank = _ranks([-r["analytic_rank"] for r in nets], True) if nets else []
    misjudged = []
    for r, m, a in zip(nets, net_rank, analytic_rank):
        if abs(m - a) >= 2:
            misjudged.append(
                {
                    "name": r["name"],
                    "analytic_rank": a,
                    "measured_rank": m,
                    "verdict": "overrated" if a < m else "underrated",
                }
            )
    notes = []
    best_net = next((r for r in order if r["kind"] == "net"), None)
    best_base = next((r for r in order if r["kind"] == "baseline"), None)
    baseline_wins = bool(
        best_base and (best_net is None or order.index(best_base) < order.index(best_net))
    )
    if baseline_wins:
        notes.append(f"the baseline {best_base['name']} beats every net")
    why = None
    if winner:
        why = f"best {metric} ({winner['metric']:.4g}) among candidates meeting every limit"
        if winner["kind"] == "net" and winner["stopped_at_rung"] is None:
            why += f"; trained through all {top + 1} rungs"
        for r in order:
            if r is not winner:
                r["behind"] = (
                    (winner["metric"] - r["metric"])
                    if maximize
                    else (r["metric"] - winner["metric"])
                )
    return {
        "schema": SCHEMA,
        "profile": cfg["profile"],
        "study": store.study.study_name,
        "metric_name": metric,
        "maximize": maximize,
        "budget_seconds": cfg["budget_s"],
        "elapsed_seconds": elapsed_s if elapsed_s is not None else store.spent_s,
        "plan": {
            "eta": cfg["eta"],
            "rungs_s": cfg["rungs_s"],
            "rung_unit": cfg.get("rung_unit", "seconds"),
            "candidates": len(cfg["candidates"]),
        },
        "leaderboard": rows,
        "winner": None
        if winner is None
        else {
            "name": winner["name"],
            "kind": winner["kind"],
            "metric": winner["metric"],
            "why": why,
            "run_dir": winner["run_dir"],
        },
        "spearman_analytic_vs_measured": rho,
        "spearman_basis": "analytic rank vs validation metric at rung 0 (equal training time)",
        "misjudged": misjudged,
        "baseline_beats_nets": baseline_wins,
        "notes": notes,
    }


def require_time(budget_s: float, remaining_s: float, n: int, eta: int) -> None:
    if remaining_s <= 0:
        raise NoAnswerError(
            f"the time limit ({budget_s / 60:g} min) was spent before the first rung "
            "(start-up, reading the data and the baselines); raise --minutes"
        )

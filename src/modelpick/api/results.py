"""The records the API returns. Each is plain data with `to_dict()`, which is, byte for byte once
dumped, the `--json` document of the matching command: the CLI prints `to_dict()` and nothing
else, so the two cannot drift apart.

This module also holds the converters from the advise/measure records to JSON-ready dicts
(`device_json`, `prediction_json`, ...), since they are the JSON contract.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..advise.catalog import Architecture, Built, Rejection
from ..advise.hardware import DeviceProfile, MachineInfo
from ..advise.predict import OPTIMIZER, P95_OVER_P50, Prediction
from ..advise.scoring import Ranking, Scored, expected_gap


def _r(x, nd=4):
    return None if x is None else round(x, nd)


# --- converters ---------------------------------------------------------------------------


def device_json(d: DeviceProfile) -> dict:
    return {
        "key": d.key,
        "name": d.name,
        "kind": d.kind,
        "memory_bytes": d.memory_bytes,
        "bandwidth_bytes_per_s": d.bandwidth_bytes_per_s,
        "peak_flops": dict(d.peak_flops),
        "detected": d.detected,
        "calibrated": d.calibrated,
        "calibration": d.calibration,
        "source": d.source,
        "precision_ratio": {k: dict(v) for k, v in d.precision_ratio.items()},
        "precision_ratio_source": d.precision_ratio_source,
    }


def prediction_json(p: Prediction) -> dict:
    return {
        "precision": p.precision,
        "batch_size": p.batch_size,
        "latency_ms": round(p.latency_ms, 4),
        "latency_p95_ms": round(p.latency_p95_ms, 4),
        "throughput_samples_per_s": round(p.throughput_samples_per_s, 2),
        "train_step_ms": round(p.train_step_ms, 4),
        "train_samples_per_s": round(p.train_samples_per_s, 2),
        "epoch_s": round(p.epoch_s, 3),
        "epochs_in_budget": round(p.epochs_in_budget, 3),
        "train_memory_bytes": p.train_memory_bytes,
        "train_memory": p.train_memory._asdict(),
        "inference_memory_bytes": p.inference_memory_bytes,
        "optimizer": p.optimizer,
        "calibrated": p.calibrated,
    }


def cost_json(b: Built) -> dict:
    c = b.cost
    return {
        "params": c.params,
        "buffers": c.buffers,
        "flops": c.flops,
        "macs": c.macs,
        "activation_elems": c.activation_elems,
        "backend": c.backend,
        "input_shape": list(b.graph.input_shape),
        "output_shape": list(c.output_shape),
    }


def candidate_json(s: Scored) -> dict:
    arch = s.built.arch
    return {
        "rank": s.rank,
        "name": arch.name,
        "family": arch.family,
        "precision": s.prediction.precision,
        "score": round(s.score, 4),
        **cost_json(s.built),
        "reasons": [c.why for c in s.criteria if c.why],
        "expected_gap_points": round(expected_gap(s.criteria), 2),
        "criteria": [
            {
                "name": c.name,
                "term": round(c.term, 4),
                "value": c.value,
                "why": c.why,
                "source": c.source,
            }
            for c in s.criteria
        ],
        "prediction": prediction_json(s.prediction),
        "source": arch.entry.source,
        "notes": list(s.built.graph.notes),
    }


def rejection_json(r: Rejection) -> dict:
    return {
        "name": r.name,
        "family": r.family,
        "precision": r.precision,
        "constraint": r.constraint,
        "miss_ratio": round(r.miss_ratio, 4),
        "misses": {limit: round(ratio, 4) for limit, ratio in r.misses},
        "reason": r.reason,
    }


def arch_json(a: Architecture) -> dict:
    e = a.entry
    return {
        "name": a.name,
        "family": a.family,
        "domains": e.domains,
        "tasks": e.tasks,
        "description": e.description,
        "source": e.source,
        "fixed": e.fixed,
        "reference_params": e.reference_params,
        "hparams": a.hparams.model_dump(mode="json"),
    }


def assumptions(profile) -> list[str]:
    return [
        f"training with {OPTIMIZER} (fp32 weights, gradients and two moments) at batch "
        f"{profile.budget.batch_size}",
        f"p95 latency taken as {P95_OVER_P50:g}× the predicted median until `modelpick bench` "
        "measures it",
        "training from scratch; backward pass ≈ 2× forward FLOPs",
        "score = 1 − expected gap to the best candidate (accuracy points / 100), from a prior "
        "fitted to measured training runs (docs/scoring.md)",
    ]


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationRecommendation:
    """`recommend` for a generation profile: decoder × method × weight precision options that
    fit the budget, best first, the nearest misses and what to relax (docs/llm.md)."""

    profile: Any
    ranking: Any  # advise.generation.GenerationRanking
    top: int

    @property
    def found(self) -> bool:
        return bool(self.ranking.ranked)

    @property
    def candidates(self) -> list:
        return list(self.ranking.ranked[: self.top])

    def save(self, path: str | Path) -> str:
        from ..measure.runs import save_json

        return save_json(path, self.to_dict())

    def to_dict(self) -> dict:
        p, r = self.profile, self.ranking
        return {
            "profile": p.name,
            "domain": p.domain,
            "task": p.task,
            "device": device_json(r.device),
            "notes": list(r.notes),
            "candidates": [
                {
                    "rank": o.rank,
                    "name": o.name,
                    "family": o.built.arch.family,
                    "method": o.method,
                    "weights": o.weights,
                    "score": o.score,
                    "flops": o.built.cost.flops,
                    "macs": o.built.cost.macs,
                    **o.facts,
                    "criteria": [
                        {"name": n, "factor": round(x, 6), "why": why, "source": "preference"}
                        for n, x, why in o.factors
                    ],
                    "reasons": [why for _, _, why in o.factors],
                    "source": o.built.arch.entry.source,
                }
                for o in self.candidates
            ],
            "candidates_total": len(r.ranked),
            "rejected": [rejection_json(x) for x in r.rejected],
            "relax": list(r.relax),
            "limits": {
                "memory_gb": p.budget.memory_gb,
                "gpus": p.budget.gpus,
                "latency_ms": p.budget.latency_ms,
                "train_minutes": p.budget.train_minutes,
                "usd": p.budget.usd,
                "max_params": p.budget.max_params,
            },
        }


@dataclass(frozen=True)
class Recommendation:
    """`recommend`: the ranked candidates (best first), the rejected and why."""

    profile: Any
    ranking: Ranking
    top: int
    evidence: dict | None = None  # a trial's leaderboard for this profile (api.trial_evidence)

    def save(self, path: str | Path) -> str:
        """Write `to_dict()` atomically (what `recommend --output` does), for `report`."""
        from ..measure.runs import save_json

        return save_json(path, self.to_dict())

    def measured(self, name: str) -> dict | None:
        """What a stored trial measured for `name` (metric, rung, measured rank), if any."""
        return (self.evidence or {}).get("rows", {}).get(name)

    @property
    def candidates(self) -> list[Scored]:
        return list(self.ranking.ranked[: self.top])

    @property
    def rejected(self) -> list[Rejection]:
        return list(self.ranking.rejected)

    @property
    def device(self) -> DeviceProfile:
        return self.ranking.device

    @property
    def relax(self) -> list[str]:
        """When nothing fits: what to relax, smallest change first."""
        return self.ranking.relaxations() if not self.ranking.ranked else []

    @property
    def found(self) -> bool:
        """Whether any candidate fits (the CLI exits 1 when none does)."""
        return bool(self.ranking.ranked)

    def to_dict(self) -> dict:
        p, ranking = self.profile, self.ranking
        return {
            "profile": p.name,
            "domain": p.domain,
            "task": p.task,
            "device": device_json(ranking.device),
            "precisions": list(ranking.precisions),
            "assumptions": assumptions(p),
            "notes": list(ranking.notes),
            "candidates": [
                candidate_json(s) | {"measured": self.measured(s.name)} for s in self.candidates
            ],
            "candidates_total": len(ranking.ranked),
            "baselines": [dict(b) for b in ranking.baselines],
            "evidence": None
            if self.evidence is None
            else {k: v for k, v in self.evidence.items() if k != "rows"},
            "limits": {
                "memory_gb": p.budget.memory_gb,
                "latency_ms": p.budget.latency_ms,
                "max_params": p.budget.max_params,
            },
            "rejected": [rejection_json(r) for r in ranking.rejected],
            "not_applicable": ranking.skipped,
            "relax": self.relax,
        }

    def __repr__(self) -> str:
        names = ", ".join(f"{s.name} ({s.prediction.precision})" for s in self.candidates)
        return f"<Recommendation {self.profile.name!r}: {names or 'nothing fits'}>"


@dataclass(frozen=True)
class Estimate:
    """`estimate`: one architecture's exact cost and its predictions, per precision."""

    profile: Any
    built: Built
    predictions: list[Prediction]
    device: DeviceProfile
    notes: list[str]
    measured: dict | None = None  # what a stored trial measured for it (api.trial_evidence)
    llm: dict | None = None  # decoders: memory per use, GPUs, speed, cost (advise.llm.sizing)

    @property
    def name(self) -> str:
        return self.built.arch.name

    @property
    def params(self) -> int:
        return self.built.cost.params

    def to_dict(self) -> dict:
        a = self.built.arch
        return {
            "name": a.name,
            "family": a.family,
            **cost_json(self.built),
            "device": device_json(self.device),
            "predictions": [prediction_json(p) for p in self.predictions],
            "measured": self.measured,
            **({"llm": self.llm} if self.llm is not None else {}),
            "layers": [
                {
                    "path": r.path,
                    "kind": r.kind,
                    "output_shape": list(r.out_shape),
                    "params": r.cost.params,
                    "flops": r.cost.flops,
                    "macs": r.cost.macs,
                }
                for r in self.built.cost.rows
                if r.leaf or r.kind == "residual"
            ],
            "notes": list(self.notes),
            "assumptions": assumptions(self.profile),
        }

    def __repr__(self) -> str:
        return f"<Estimate {self.name}: {self.params:,} params on {self.device.name}>"


@dataclass(frozen=True)
class FileCheck:
    path: str
    error: str | None = None
    data: dict | None = None  # `validate --data`: the data set's summary (train.data.check_dataset)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Validation:
    """`validate`: per file, ok or the one-line error."""

    files: list[FileCheck]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "files": [
                {"path": f.path, "ok": f.ok, "error": f.error}
                | ({"data": f.data} if f.data is not None else {})
                for f in self.files
            ],
        }


@dataclass(frozen=True)
class CatalogListing:
    """`catalog list`."""

    architectures: list[Architecture]

    def to_dict(self) -> dict:
        return {"architectures": [arch_json(a) for a in self.architectures]}

    def __repr__(self) -> str:
        return f"<CatalogListing: {len(self.architectures)} architectures>"


@dataclass(frozen=True)
class ArchitectureInfo:
    """`catalog show`."""

    architecture: Architecture

    def to_dict(self) -> dict:
        return arch_json(self.architecture)


@dataclass(frozen=True)
class Schema:
    """`schema`: the JSON Schema of the task profile."""

    schema: dict

    def to_dict(self) -> dict:
        return self.schema


@dataclass(frozen=True)
class Doctor:
    """`doctor`: this machine."""

    machine: MachineInfo
    cpu: DeviceProfile
    gpus: list  # (name, matched DeviceProfile | None) per GPU
    devices: dict[str, DeviceProfile]

    def to_dict(self) -> dict:
        m = self.machine
        return {
            "cpu": {
                "model": m.cpu_model,
                "physical_cores": m.physical_cores,
                "logical_cores": m.logical_cores,
                "freq_mhz": m.cpu_freq_mhz,
                "estimated": device_json(self.cpu),
            },
            "ram_bytes": m.ram_bytes,
            "gpus": [
                {
                    "name": g.name,
                    "memory_bytes": g.memory_bytes,
                    "driver": g.driver,
                    "table_entry": match.key if match else None,
                }
                for g, (_, match) in zip(m.gpus, self.gpus)
            ],
            "backends": m.backends,
            "device_table": sorted(self.devices),
        }


@dataclass(frozen=True)
class BuildResult:
    """`build`: the framework model (`model`) and its layer-by-layer summary."""

    doc: dict
    model: Any = field(repr=False, default=None)

    @property
    def params_match(self) -> bool:
        return self.doc["params_match"]

    def to_dict(self) -> dict:
        return self.doc


def bench_json(device: DeviceProfile, backend, results, interrupted: bool, notes) -> dict:
    return {
        "date": datetime.date.today().isoformat(),
        "device": device_json(device),
        "backend": backend.name,
        "backend_version": backend.version(),
        "interrupted": interrupted,
        "notes": list(notes),
        "results": [
            {k: (_r(v) if isinstance(v, float) else v) for k, v in r._asdict().items()}
            for r in results
        ],
    }


def calibration_json(device: DeviceProfile, backend, cal, rows, path) -> dict:
    return {
        "device": device_json(device),
        "backend": backend.name,
        "backend_version": backend.version(),
        "calibration": cal._asdict(),
        "saved_to": str(path),
        "held_out": [
            {
                "arch": n,
                "predicted_latency_ms": _r(p * 1e3),
                "measured_latency_ms": _r(m * 1e3),
                "error_pct": _r(100 * (p - m) / m, 1),
            }
            for n, p, m in rows
        ],
    }


@dataclass(frozen=True)
class _SavedDoc:
    """A run document that `bench --output` can save."""

    doc: dict

    def save(self, path: str | Path) -> str:
        """Write the run atomically (what `bench --output` does); returns how it went."""
        from ..measure.runs import save_json

        return save_json(path, self.doc)

    def to_dict(self) -> dict:
        return self.doc


@dataclass(frozen=True)
class BenchRun(_SavedDoc):
    """`bench PROFILE`: measurements beside predictions. `interrupted` when Ctrl-C stopped it
    (what was measured is kept); `failed` when a candidate could not be measured."""

    @property
    def results(self) -> list[dict]:
        return self.doc["results"]

    @property
    def interrupted(self) -> bool:
        return bool(self.doc.get("interrupted"))

    @property
    def failed(self) -> bool:
        return any(r.get("status") == "error" for r in self.results)


@dataclass(frozen=True)
class CalibrationRun(_SavedDoc):
    """`bench` with no profile: the calibration of this device, stored for later predictions."""

    calibration: Any = field(repr=False, default=None)

    @property
    def saved_to(self) -> str:
        return self.doc["saved_to"]


@dataclass(frozen=True)
class SavedRun:
    """`report`: a run saved by `bench --output`, checked field by field."""

    doc: dict

    @property
    def kind(self) -> str:
        if "candidates" in self.doc and "results" not in self.doc:
            return "recommend"
        return "calibration" if "calibration" in self.doc else "bench"

    def to_dict(self) -> dict:
        return self.doc


@dataclass(frozen=True)
class TrainRun:
    """`train`: the metrics.json document of the run (curves, best epoch, why it stopped,
    measured cost beside predicted). `interrupted` when Ctrl-C stopped it."""

    doc: dict

    @property
    def output(self) -> str:
        return self.doc["output"]

    @property
    def stopped(self) -> str:
        return self.doc["stopped"]

    @property
    def interrupted(self) -> bool:
        return self.doc["stopped"] == "interrupted"

    @property
    def best(self) -> dict | None:
        return self.doc["best"]

    @property
    def epochs(self) -> list[dict]:
        return self.doc["epochs"]

    def to_dict(self) -> dict:
        return self.doc


@dataclass(frozen=True)
class Predictions:
    """`predict`: one row per input sample."""

    doc: dict

    @property
    def rows(self) -> list[dict]:
        return self.doc["predictions"]

    def to_dict(self) -> dict:
        return self.doc


@dataclass(frozen=True)
class TrialRun:
    """`trial`: the leaderboard (every candidate's measured metric beside its analytic rank),
    the winner and why, the Spearman of the analytic ranking against the measurement."""

    doc: dict

    @property
    def leaderboard(self) -> list[dict]:
        return self.doc["leaderboard"]

    @property
    def winner(self) -> dict | None:
        return self.doc["winner"]

    @property
    def interrupted(self) -> bool:
        return bool(self.doc.get("interrupted"))

    def to_dict(self) -> dict:
        return self.doc

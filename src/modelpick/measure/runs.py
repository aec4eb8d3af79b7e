"""Saved runs (`bench --output`): write them atomically, read them back as untrusted input.

A saved run is a file users pass around (CI artefacts, chat), so `load_run` checks every field
it will render: its type, that numbers are finite, that strings are short. A bad file is refused
with one line naming the field (`results[2].latency_ms_p50: expected a number or null; received
'fast'`), never rendered half-way or crashed on.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import InputError
from ..safeio import atomic_write_text, load_json_file

MAX_RUN_BYTES = 20_000_000
MAX_TEXT = 10_000  # characters in any one string field
MAX_ROWS = 100_000

_NUM = "a number"
_INT = "an integer"
_STR = "a string"

# Each bench row field: (kind, may be null).
BENCH_ROW = {
    "arch": (_STR, False),
    "backend": (_STR, False),
    "device": (_STR, False),
    "precision": (_STR, False),
    "batch_size": (_INT, False),
    "status": (_STR, False),
    "latency_ms_p50": (_NUM, True),
    "latency_ms_p90": (_NUM, True),
    "latency_ms_p99": (_NUM, True),
    "latency_spread_pct": (_NUM, True),
    "throughput_samples_per_s": (_NUM, True),
    "train_step_ms": (_NUM, True),
    "train_samples_per_s": (_NUM, True),
    "peak_memory_bytes": (_INT, True),
    "peak_memory_source": (_STR, False),
    "achieved_flops_per_s": (_NUM, True),
    "peak_flops_fraction": (_NUM, True),
    "predicted_latency_ms": (_NUM, True),
    "predicted_train_step_ms": (_NUM, True),
    "predicted_memory_bytes": (_INT, True),
    "latency_error_pct": (_NUM, True),
    "train_step_error_pct": (_NUM, True),
    "memory_error_pct": (_NUM, True),
    "largest_batch_that_fits": (_INT, True),
}
OPTIONAL_ROW = {"note": (_STR, False)}
STATUSES = ("ok", "does_not_fit", "error", "interrupted")
HELD_OUT_ROW = {
    "arch": (_STR, False),
    "predicted_latency_ms": (_NUM, False),
    "measured_latency_ms": (_NUM, False),
    "error_pct": (_NUM, False),
}
CALIBRATION = {
    "samples": (_INT, False),
    "median_error_pct": (_NUM, False),
    "p90_error_pct": (_NUM, False),
    "held_out": (_INT, False),
    "call_overhead_s": (_NUM, False),
    "launch_overhead_s": (_NUM, False),
    "train_overhead_s": (_NUM, False),
}
DEVICE = {"name": (_STR, False)}
DEVICE_OPTIONAL = {"kind": (_STR, False), "key": (_STR, False)}


def save_json(path: str | Path, doc: dict) -> str:
    """Write `doc` to `path` atomically: an interruption leaves the old file or the new one,
    never half of either. Returns a sentence saying which file now holds what."""
    import json

    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    return atomic_write_text(Path(path), text)


def _received(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(obj: dict, spec: dict, where: str, source: str, required: bool = True) -> None:
    for key, (kind, nullable) in spec.items():
        name = f"{where}.{key}" if where else key
        if key not in obj:
            if required:
                raise InputError(f"{source}: {name}: missing")
            continue
        value = obj[key]
        if value is None and nullable:
            continue
        null = " or null" if nullable else ""
        if kind == _STR:
            ok = isinstance(value, str) and len(value) <= MAX_TEXT
        elif kind == _INT:
            ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
        else:
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and abs(value) < 1e300
            )
        if not ok:
            what = f"{kind} of at most {MAX_TEXT:,} characters" if kind == _STR else kind
            raise InputError(
                f"{source}: {name}: expected {what}{null}; received {_received(value)}"
            )


def _rows(doc: dict, key: str, source: str) -> list[dict]:
    rows = doc.get(key)
    if not isinstance(rows, list):
        raise InputError(f"{source}: {key}: expected a list of rows; received {_received(rows)}")
    if len(rows) > MAX_ROWS:
        raise InputError(f"{source}: {key}: more than {MAX_ROWS:,} rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"{source}: {key}[{i}]: expected a mapping; received {_received(row)}")
    return rows


def check_run(doc: object, source: str) -> dict:
    """`doc` if it is a well-formed saved bench or calibration run; InputError naming the first
    bad field otherwise."""
    if not isinstance(doc, dict):
        raise InputError(f"{source}: not a saved bench run (expected a JSON object)")
    if "results" not in doc and "calibration" not in doc:
        raise InputError(f"{source}: not a saved bench run (expected 'results' or 'calibration')")
    if not isinstance(doc.get("device"), dict):
        raise InputError(
            f"{source}: device: expected a mapping; received {_received(doc.get('device'))}"
        )
    _check(doc["device"], DEVICE, "device", source)
    _check(doc["device"], DEVICE_OPTIONAL, "device", source, required=False)
    _check(doc, {"backend_version": (_STR, False)}, "", source)
    _check(doc, {"date": (_STR, False)}, "", source, required=False)
    notes = doc.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise InputError(f"{source}: notes: expected a list of strings")
    if "results" in doc:
        for i, row in enumerate(_rows(doc, "results", source)):
            _check(row, BENCH_ROW, f"results[{i}]", source)
            _check(row, OPTIONAL_ROW, f"results[{i}]", source, required=False)
            if row["status"] not in STATUSES:
                raise InputError(
                    f"{source}: results[{i}].status: expected one of {', '.join(STATUSES)}; "
                    f"received {_received(row['status'])}"
                )
        return doc
    cal = doc["calibration"]
    if not isinstance(cal, dict):
        raise InputError(f"{source}: calibration: expected a mapping; received {_received(cal)}")
    _check(cal, CALIBRATION, "calibration", source)
    _check(doc, {"saved_to": (_STR, False)}, "", source)
    # compute_scale (format 2) or time_scale (runs saved by 0.1.0): per node kind, a factor
    tables = [k for k in ("compute_scale", "memory_scale", "time_scale") if k in cal]
    if not {"compute_scale", "time_scale"} & set(tables):
        raise InputError(f"{source}: calibration.compute_scale: missing")
    for key in tables:
        table = cal[key]
        if not isinstance(table, dict):
            raise InputError(f"{source}: calibration.{key}: expected a mapping of numbers")
        _check(table, {k: (_NUM, False) for k in table}, f"calibration.{key}", source)
        for k in table:
            if len(k) > 200:
                raise InputError(f"{source}: calibration.{key}: a node kind name is too long")
    for i, row in enumerate(_rows(doc, "held_out", source)):
        _check(row, HELD_OUT_ROW, f"held_out[{i}]", source)
    return doc


CANDIDATE = {
    "rank": (_INT, False),
    "name": (_STR, False),
    "family": (_STR, False),
    "precision": (_STR, False),
    "score": (_NUM, False),
    "params": (_INT, False),
    "flops": (_INT, False),
}
PREDICTION = {
    "latency_ms": (_NUM, False),
    "latency_p95_ms": (_NUM, False),
    "train_memory_bytes": (_INT, False),
    "epochs_in_budget": (_NUM, False),
}
REJECTED = {
    "name": (_STR, False),
    "family": (_STR, False),
    "reason": (_STR, False),
    "constraint": (_STR, False),
    "miss_ratio": (_NUM, False),
    "params": (_INT, True),
}
LIMITS = {"memory_gb": (_NUM, False), "latency_ms": (_NUM, True), "max_params": (_INT, True)}


def check_recommend(doc: dict, source: str) -> dict:
    """A saved `recommend --output` document, checked field by field like a bench run."""
    if doc.get("task") == "generation":
        raise InputError(
            f"{source}: a recommendation for a generation profile; `report` does not render "
            "those yet (`recommend --json` has every figure)"
        )
    _check(
        doc, {"profile": (_STR, False), "domain": (_STR, False), "task": (_STR, False)}, "", source
    )
    if not isinstance(doc.get("device"), dict):
        raise InputError(
            f"{source}: device: expected a mapping; received {_received(doc.get('device'))}"
        )
    _check(doc["device"], DEVICE, "device", source)
    for i, row in enumerate(_rows(doc, "candidates", source)):
        _check(row, CANDIDATE, f"candidates[{i}]", source)
        pred = row.get("prediction")
        if not isinstance(pred, dict):
            raise InputError(f"{source}: candidates[{i}].prediction: expected a mapping")
        _check(pred, PREDICTION, f"candidates[{i}].prediction", source)
    for i, row in enumerate(_rows(doc, "rejected", source)):
        _check(row, REJECTED, f"rejected[{i}]", source, required=False)
        _check(row, {"name": (_STR, False)}, f"rejected[{i}]", source)
    limits = doc.get("limits")
    if limits is not None:
        if not isinstance(limits, dict):
            raise InputError(f"{source}: limits: expected a mapping")
        _check(limits, LIMITS, "limits", source, required=False)
    for key in ("notes", "assumptions"):
        notes = doc.get(key, [])
        if not isinstance(notes, list) or not all(
            isinstance(n, str) and len(n) <= MAX_TEXT for n in notes
        ):
            raise InputError(f"{source}: {key}: expected a list of strings")
    return doc


def load_run(path: str | Path) -> dict:
    """Read and check a saved document: a bench or calibration run (`bench --output`) or a
    ranking (`recommend --output`)."""
    source = str(path)
    doc = load_json_file(
        path, InputError, "file saved by `bench --output` or `recommend --output`", MAX_RUN_BYTES
    )
    if isinstance(doc, dict) and "candidates" in doc and "results" not in doc:
        return check_recommend(doc, source)
    return check_run(doc, source)

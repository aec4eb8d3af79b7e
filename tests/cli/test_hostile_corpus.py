"""A generated corpus of hostile input, through `modelpick.cli.run` (the console entry point's
own code path, argument parsing included):

- profiles: every field × values of the wrong type, out of range, huge, tiny, NaN, markup,
  escape sequences, dates, binary; unknown keys made of markup and escapes;
- catalogs: every hyperparameter × the same, names with stray braces, exploding grids,
  markup and escapes in names and descriptions;
- saved runs (`report`) and calibration caches (read by `recommend`): every field missing, of
  the wrong type, NaN, infinite, huge, nested 100,000 deep;
- special files (fifo, /dev/zero, /dev/urandom, a directory, a socket) in every role;
- bad option values, and `--output` onto things that are no regular file.

For every case: the documented exit code, no traceback, no `internal error`, and the answer in
under a second. Bad input gets exactly one line on stderr that names the file and the field;
input that is valid (a profile named `[red]x`) is printed literally, never as markup, and no
byte of it reaches the terminal as a control character.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelpick.cli import run
from modelpick.measure import calibration as cal_mod

GOOD = {
    "name": "digits",
    "domain": "vision",
    "task": "classification",
    "input": {"channels": 1, "height": 28, "width": 28},
    "outputs": 10,
    "data": {"train_samples": 60000},
    "budget": {"device": "cpu", "memory_gb": 4, "train_minutes": 30, "latency_ms": 5},
}

ESC = "\x1b[31mred\x1b[0m\x1b]0;title\x07"
MARKUP = "[bold red]boom[/]"
BIDI = "abc\u202edcba"

# YAML texts of hostile scalars, with what they are
NOT_A_COUNT = {
    "string-digits": '"8"',
    "bool": "true",
    "list": "[]",
    "mapping": "{}",
    "huge-int": "1" + "0" * 5000,
    "big-int": "9223372036854775808",
    "inf": "1e400",
    "nan": ".nan",
    "neg-inf": "-.inf",
    "negative": "-1",
    "zero": "0",
    "tiny": "5e-324",
    "fraction": "2.5",
    "binary": "!!binary aGVsbG8=",
    "date": "2020-01-01",
    "markup": f'"{MARKUP}"',
    "escape": '"\\e[31m\\a"',
    "long-text": "x" * 10_000,
}
NOT_A_BUDGET = {k: v for k, v in NOT_A_COUNT.items() if k not in ("fraction",)}
NOT_A_CHOICE = {
    "unknown": "jax",
    "markup": f'"{MARKUP}"',
    "escape": '"\\e[2J\\e[H"',
    "number": "42",
    "bool": "true",
    "null": "null",
    "list": "[cpu]",
    "bidi": f'"{BIDI}"',
}

COUNT_FIELDS = ("input.channels", "input.height", "input.width", "outputs", "data.train_samples")
BUDGET_FIELDS = ("budget.memory_gb", "budget.train_minutes", "budget.latency_ms")
CHOICE_FIELDS = ("domain", "task", "budget.device")


def _yaml(doc: dict, override: dict[str, str] | None = None, indent: str = "") -> str:
    """Block YAML of `doc`; `override` maps a dotted field to raw YAML text for its value."""
    override = override or {}
    lines = []
    for key, value in doc.items():
        if isinstance(value, dict):
            sub = {k[len(key) + 1 :]: v for k, v in override.items() if k.startswith(key + ".")}
            lines.append(f"{indent}{key}:")
            lines.append(_yaml(value, sub, indent + "  "))
        else:
            text = override.get(key, json.dumps(value))
            lines.append(f"{indent}{key}: {text}")
    return "\n".join(lines)


@dataclass
class Case:
    args: list[str]  # "{f}" is replaced by the path of the file made by `files`
    files: dict[str, str | bytes] = field(default_factory=dict)
    code: int = 2
    names: tuple[str, ...] = ()  # substrings the one error line must hold ({f}: the file)
    cache: str | bytes | None = None  # content of this machine's calibration cache file
    warn: bool = False  # exactly one warning line expected (exit 0)
    literal: str | None = None  # must appear literally in stdout (valid hostile text)


def _profile_cases() -> dict[str, Case]:
    out = {}
    for path in COUNT_FIELDS:
        for what, text in NOT_A_COUNT.items():
            out[f"profile-{path}-{what}"] = Case(
                ["validate", "{f}"], {"f": _yaml(GOOD, {path: text})}, names=("{f}", path)
            )
    for path in BUDGET_FIELDS:
        for what, text in NOT_A_BUDGET.items():
            out[f"profile-{path}-{what}"] = Case(
                ["recommend", "{f}"], {"f": _yaml(GOOD, {path: text})}, names=("{f}", path)
            )
    for path in CHOICE_FIELDS:
        for what, text in NOT_A_CHOICE.items():
            out[f"profile-{path}-{what}"] = Case(
                ["validate", "{f}"], {"f": _yaml(GOOD, {path: text})}, names=("{f}", path)
            )
    # unknown keys made of markup, escapes and odd characters, at every level
    for where in ("", "input.", "data.", "budget."):
        for what, key in (("markup", MARKUP), ("escape", ESC), ("bidi", BIDI)):
            doc = json.loads(json.dumps(GOOD))
            target = doc
            for part in where.strip(".").split(".") if where else []:
                target = target[part]
            target[key] = 1
            out[f"profile-unknown-key-{where or 'top.'}{what}"] = Case(
                ["validate", "{f}"], {"f": json.dumps(doc)}, names=("{f}", "unknown key")
            )
    # valid but hostile names: printed literally, exit 0
    for what, name in (("markup", MARKUP), ("escape", ESC), ("bidi", BIDI), ("braces", "{x}")):
        doc = {**GOOD, "name": name}
        out[f"profile-name-{what}"] = Case(
            ["recommend", "{f}", "--top", "1"],
            {"f": json.dumps(doc)},
            code=0,
            literal=MARKUP if what == "markup" else ("{x}" if what == "braces" else None),
        )
    return out


TABULAR = {
    "name": "t",
    "domain": "tabular",
    "task": "regression",
    "input": {"features": 8},
    "outputs": 1,
    "data": {"train_samples": 1000},
    "budget": {"device": "cpu", "memory_gb": 4, "train_minutes": 10},
}
HPARAMS = ("width", "depth", "embed_dim")
BAD_HPARAM = {
    "string-digits": '"8"',
    "bool": "true",
    "huge": "9223372036854775807",
    "huge-int": "1" + "0" * 5000,
    "zero": "0",
    "negative": "-3",
    "fraction": "2.5",
    "inf": "1e400",
    "nan": ".nan",
    "list": "[8]",
    "markup": f'"{MARKUP}"',
}


def _catalog(entry: str) -> str:
    return "architectures:\n  - " + entry.replace("\n", "\n    ") + "\n"


def _catalog_cases() -> dict[str, Case]:
    out = {}
    base = "name: m\nfamily: mlp\ndomains: [tabular]"
    for hp in HPARAMS:
        for what, text in BAD_HPARAM.items():
            out[f"catalog-{hp}-{what}"] = Case(
                ["catalog", "list", "--catalog", "{c}"],
                {"c": _catalog(f"{base}\nhparams: {{{hp}: {text}}}")},
                names=("{c}", f"architectures[0].hparams.{hp}"),
            )
    for what, text in (("dropout-1", "1.0"), ("dropout-neg", "-0.1"), ("dropout-str", '"0.1"')):
        out[f"catalog-{what}"] = Case(
            ["catalog", "list", "--catalog", "{c}"],
            {"c": _catalog(f"{base}\nhparams: {{dropout: {text}}}")},
            names=("{c}", "architectures[0].hparams.dropout"),
        )
    for what, hidden in (("item-str", '[8, "9"]'), ("item-zero", "[8, 0]"), ("scalar", "8")):
        out[f"catalog-hidden-{what}"] = Case(
            ["catalog", "list", "--catalog", "{c}"],
            {"c": _catalog(f"{base}\nhparams: {{hidden: {hidden}}}")},
            names=("{c}", "architectures[0].hparams.hidden"),
        )
    names = {
        "stray-field": "m{x}",
        "positional": "m{0}",
        "open-brace": "m{",
        "close-brace": "m}",
        "format-spec": "m{width:>{depth}}",
        "attribute": "m{width.__class__}",
    }
    for what, name in names.items():
        out[f"catalog-name-{what}"] = Case(
            ["catalog", "list", "--catalog", "{c}"],
            {
                "c": _catalog(
                    f"name: {json.dumps(name)}\nfamily: mlp\ndomains: [tabular]\n"
                    "grid: {width: [8, 16]}"
                )
            },
            names=("{c}", "architectures[0]"),
        )
    for n in (101, 1000, 10**4):
        values = ", ".join(map(str, range(1, n + 1)))
        out[f"catalog-grid-explodes-{n}"] = Case(
            ["catalog", "list", "--catalog", "{c}"],
            {
                "c": _catalog(
                    'name: "m{width}-{depth}"\nfamily: mlp\ndomains: [tabular]\n'
                    f"grid: {{width: [{values}], depth: [{values}]}}"
                )
            },
            names=("{c}", "architectures[0].grid", "10,000"),
        )
    # valid hostile text: listed literally
    for what, text in (("markup", MARKUP), ("escape", ESC), ("bidi", BIDI)):
        out[f"catalog-description-{what}"] = Case(
            ["catalog", "list", "--catalog", "{c}"],
            {"c": _catalog(f"{base}\ndescription: {json.dumps(text)}")},
            code=0,
            literal=MARKUP if what == "markup" else None,
        )
        out[f"catalog-recommend-name-{what}"] = Case(
            ["recommend", "{t}", "--catalog", "{c}", "--top", "3"],
            {
                "t": json.dumps(TABULAR),
                "c": "replace: true\narchitectures:\n"
                f"  - name: {json.dumps('m' + text)}\n    family: mlp\n    domains: [tabular]\n",
            },
            code=0,
        )
    return out


def _bench_row(**over) -> dict:
    row = {
        "arch": "mlp-w64-d1",
        "backend": "torch",
        "device": "cpu",
        "precision": "fp32",
        "batch_size": 32,
        "status": "ok",
        "latency_ms_p50": 0.1,
        "latency_ms_p90": 0.12,
        "latency_ms_p99": 0.2,
        "latency_spread_pct": 3.0,
        "throughput_samples_per_s": 1000.0,
        "train_step_ms": 1.0,
        "train_samples_per_s": 32000.0,
        "peak_memory_bytes": 1000,
        "peak_memory_source": "process RSS growth",
        "achieved_flops_per_s": 1e9,
        "peak_flops_fraction": 0.01,
        "predicted_latency_ms": 0.1,
        "predicted_train_step_ms": 1.0,
        "predicted_memory_bytes": 1000,
        "latency_error_pct": 1.0,
        "train_step_error_pct": 1.0,
        "memory_error_pct": 1.0,
        "largest_batch_that_fits": None,
        "note": "",
    }
    row.update(over)
    return row


def bench_run(**over) -> dict:
    doc = {
        "date": "2026-11-23",
        "device": {"name": "a cpu", "kind": "cpu", "key": "cpu"},
        "backend": "torch",
        "backend_version": "torch 2.13.0",
        "interrupted": False,
        "notes": [],
        "results": [_bench_row()],
    }
    doc.update(over)
    return doc


def _deep(n: int) -> str:
    return "[" * n + "]" * n


BAD_VALUES = {
    "string": '"fast"',
    "bool": "true",
    "list": "[1]",
    "object": '{"a": 1}',
    "nan": "NaN",
    "inf": "Infinity",
    "huge": "1e400",
    "huge-int": "1" + "0" * 5000,
}


def _report_cases() -> dict[str, Case]:
    out = {}
    numeric = [k for k, v in _bench_row().items() if isinstance(v, (int, float)) and k != "note"]
    for key in numeric:
        for what, text in BAD_VALUES.items():
            doc = json.dumps(bench_run(results=[_bench_row(**{key: "@@"})]))
            doc = doc.replace('"@@"', text)
            out[f"report-{key}-{what}"] = Case(
                ["report", "{f}", "--format", "json"],
                {"f": doc},
                names=("{f}",) if what in ("nan", "inf", "huge-int") else ("{f}", key),
            )
    for key in ("arch", "status", "precision"):
        for what, text in (("number", "3"), ("null", "null"), ("list", "[]")):
            doc = json.dumps(bench_run(results=[_bench_row(**{key: "@@"})])).replace('"@@"', text)
            out[f"report-{key}-{what}"] = Case(
                ["report", "{f}"], {"f": doc}, names=("{f}", f"results[0].{key}")
            )
        row = _bench_row()
        del row[key]
        out[f"report-{key}-missing"] = Case(
            ["report", "{f}"], {"f": json.dumps(bench_run(results=[row]))}, names=("{f}", key)
        )
    for what, doc in {
        "deep": '{"results": ' + _deep(100_000) + "}",
        "deep-object": '{"a":' * 100_000 + "1" + "}" * 100_000,
        "device-string": json.dumps(bench_run(device="cpu")),
        "results-object": json.dumps(bench_run(results={"a": 1})),
        "row-scalar": json.dumps(bench_run(results=[1])),
        "empty": "",
        "not-json": "{oops",
        "array": "[]",
        "status-unknown": json.dumps(bench_run(results=[_bench_row(status="[red]x")])),
        "notes-number": json.dumps(bench_run(notes=[1])),
        "binary": b"\x00\xff\xfe" * 10,
    }.items():
        out[f"report-{what}"] = Case(["report", "{f}"], {"f": doc}, names=("{f}",))
    # valid hostile text: markdown cells stay one row; the table never shows raw escapes
    for what, text in (("pipe", "a|b"), ("newline", "a\nb|c"), ("escape", ESC), ("markup", MARKUP)):
        doc = json.dumps(bench_run(results=[_bench_row(arch=text, note=text)]))
        for fmt in ("markdown", "table"):
            out[f"report-valid-{what}-{fmt}"] = Case(
                ["report", "{f}", "--format", fmt],
                {"f": doc},
                code=0,
                literal=MARKUP if what == "markup" else None,
            )
    return out


def _calibration(**over) -> dict:
    doc = {
        "format": cal_mod.FORMAT_VERSION,
        "fingerprint": "@fp",
        "backend": "torch",
        "device_key": "cpu",
        "created": "2026-11-23",
        "compute_scale": {"conv": 1.0},
        "memory_scale": {"conv": 1.0},
        "launch_overhead_s": 1e-5,
        "call_overhead_s": 1e-5,
        "samples": 10,
        "train_overhead_s": 1e-4,
        "node_overhead_s": {},
        "median_error_pct": 10.0,
        "p90_error_pct": 20.0,
        "held_out": 3,
    }
    doc.update(over)
    return doc


def _cache_cases() -> dict[str, Case]:
    out = {}
    fields = [k for k in _calibration() if k not in ("fingerprint", "backend")]
    for key in fields:
        for what, text in {**BAD_VALUES, "missing": None, "deep": _deep(100_000)}.items():
            if what == "string" and isinstance(_calibration()[key], str):
                continue  # text is what these fields hold
            if what == "object" and isinstance(_calibration()[key], dict):
                continue  # {"a": 1} is a valid table of factors
            doc = _calibration(**{key: "@@"})
            if text is None:
                del doc[key]
                if key in cal_mod.Calibration._field_defaults:
                    continue  # an optional field: its absence is fine
                body = json.dumps(doc)
            else:
                body = json.dumps(doc).replace('"@@"', text)
            out[f"cache-{key}-{what}"] = Case(
                ["recommend", "{t}", "--top", "1"],
                {"t": json.dumps(GOOD)},
                code=0,
                cache=body,
                warn=True,
            )
    return out


def _fifo(tmp: Path) -> str:
    path = tmp / "fifo"
    os.mkfifo(path)
    return str(path)


def _socket(tmp: Path) -> str:
    path = tmp / "sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    return str(path)


def _dir(tmp: Path) -> str:
    path = tmp / "adir"
    path.mkdir()
    return str(path)


SPECIAL = {
    "fifo": _fifo,
    "dev-zero": lambda tmp: "/dev/zero",
    "dev-urandom": lambda tmp: "/dev/urandom",
    "directory": _dir,
    "socket": _socket,
}
ROLES = {
    "profile": (["validate", "{s}"], "{s}"),
    "profile-recommend": (["recommend", "{s}"], "{s}"),
    "catalog": (["catalog", "list", "--catalog", "{s}"], "{s}"),
    "run": (["report", "{s}"], "{s}"),
}


def _special_cases() -> dict[str, Case]:
    out = {}
    for kind in SPECIAL:
        for role, (args, name) in ROLES.items():
            out[f"special-{kind}-{role}"] = Case(list(args), names=(name,))
            out[f"special-{kind}-{role}"].files = {"s": kind}
        out[f"special-{kind}-cache"] = Case(
            ["recommend", "{t}", "--top", "1"],
            {"t": json.dumps(GOOD)},
            code=0,
            cache=kind,
            warn=True,
        )
        out[f"special-{kind}-output"] = Case(
            ["bench", "{t}", "--output", "{s}"], {"t": json.dumps(GOOD)}, names=("--output",)
        )
        out[f"special-{kind}-output"].files["s"] = kind
    return out


def _argument_cases() -> dict[str, Case]:
    t = {"t": json.dumps(GOOD)}
    table = {
        "top-abc": (["recommend", "{t}", "--top", "abc"], "--top"),
        "top-zero": (["recommend", "{t}", "--top", "0"], "--top"),
        "top-negative": (["recommend", "{t}", "--top", "-3"], "--top"),
        "top-huge": (["recommend", "{t}", "--top", "9" * 40], "--top"),
        "top-markup": (["recommend", "{t}", "--top", MARKUP], "--top"),
        "backend-jax": (["build", "{t}", "--arch", "seed-cnn", "--backend", "jax"], "--backend"),
        "bench-backend-jax": (["bench", "{t}", "--backend", "jax"], "--backend"),
        "device-tpu": (["build", "{t}", "--arch", "seed-cnn", "--device", "tpu"], "--device"),
        "precision-fp8": (["build", "{t}", "--arch", "seed-cnn", "--precision", "fp8"], "fp8"),
        "bench-precision": (["bench", "{t}", "--precision", "int4"], "--precision"),
        "bench-batch-zero": (["bench", "{t}", "--batch-size", "0"], "--batch-size"),
        "bench-top-zero": (["bench", "{t}", "--top", "0"], "--top"),
        "format-html": (["report", "{t}", "--format", "html"], "--format"),
        "domain-bogus": (["catalog", "list", "--domain", "bogus"], "--domain"),
        "domain-escape": (["catalog", "list", "--domain", ESC], "--domain"),
        "unknown-option": (["recommend", "{t}", "--frobnicate"], "--frobnicate"),
        "missing-arch": (["estimate", "{t}"], "--arch"),
        "missing-profile": (["recommend"], "profile"),
        "unknown-command": (["recommand", "{t}"], "recommand"),
        "arch-escape": (["estimate", "{t}", "--arch", ESC], "unknown architecture"),
        "arch-markup": (["estimate", "{t}", "--arch", MARKUP], "unknown architecture"),
        "catalog-show-unknown": (["catalog", "show", "[red]nope"], "unknown architecture"),
    }
    return {f"arg-{k}": Case(args, dict(t), names=(name,)) for k, (args, name) in table.items()}


def _seeded_cases(n: int = 60, seed: int = 20261123) -> dict[str, Case]:
    """Random combinations: two fields of the profile spoiled at once, from a fixed seed."""
    rng = random.Random(seed)
    out = {}
    fields = [*COUNT_FIELDS, *BUDGET_FIELDS]
    values = [(k, v) for k, v in NOT_A_COUNT.items() if k != "fraction"]  # 2.5 GiB is fine
    for i in range(n):
        a, b = rng.sample(fields, 2)
        (wa, ta), (wb, tb) = rng.choice(values), rng.choice(values)
        out[f"seeded-{i}-{a}-{wa}-{b}-{wb}"] = Case(
            ["validate", "{f}"], {"f": _yaml(GOOD, {a: ta, b: tb})}, names=("{f}",)
        )
    return out


CASES = {
    **_profile_cases(),
    **_catalog_cases(),
    **_report_cases(),
    **_cache_cases(),
    **_special_cases(),
    **_argument_cases(),
    **_seeded_cases(),
}


def test_the_corpus_is_large():
    assert len(CASES) >= 500, len(CASES)


def _materialise(case: Case, tmp: Path) -> dict[str, str]:
    paths = {}
    for key, content in case.files.items():
        if isinstance(content, str) and content in SPECIAL:
            paths[key] = SPECIAL[content](tmp)
            continue
        path = tmp / f"{key}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths[key] = str(path)
    return paths


def _plant_cache(case: Case, tmp: Path, monkeypatch) -> None:
    from modelpick.advise.hardware import resolve_device

    cache = tmp / "cache"
    cache.mkdir()
    monkeypatch.setenv("MODELPICK_CACHE_DIR", str(cache))
    if case.cache is None:
        return
    cpu, _ = resolve_device("cpu", None)
    fp = cal_mod.fingerprint(cpu)
    target = cache / f"calibration-{fp}-torch.json"
    if case.cache in SPECIAL:
        made = Path(SPECIAL[case.cache](tmp))
        target.symlink_to(made, target_is_directory=made.is_dir())
        return
    target.write_text(case.cache.replace("@fp", fp), encoding="utf-8")


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) <= 0x9F]


@pytest.mark.parametrize("name", list(CASES))
def test_hostile(name, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    _plant_cache(case, tmp_path, monkeypatch)
    paths = _materialise(case, tmp_path)
    argv = [a.format(**paths) if "{" in a and a.strip("{}") in paths else a for a in case.args]
    capsys.readouterr()
    start = time.perf_counter()
    code = run(argv)
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert code == case.code, (code, err[-2000:])
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert not _controls(err), repr(err[:500])
    if "--json" not in argv and "json" not in argv:
        assert not _controls(out), repr(out[:500])
    lines = err.strip().splitlines()
    if case.code == 2:
        assert out == "", out[:500]
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        for word in case.names:
            word = word.format(**paths) if "{" in word and word.strip("{}") in paths else word
            assert word in lines[0], (word, lines[0])
    elif case.warn:
        assert len(lines) == 1 and lines[0].startswith("warning: "), err
        assert "uncalibrated" in out
    else:
        assert not any(line.startswith("error") for line in lines), err
    if case.literal is not None:
        assert case.literal in out, out[:2000]
    if "--format" in argv and "json" in argv and case.code == 0:
        json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON output"))

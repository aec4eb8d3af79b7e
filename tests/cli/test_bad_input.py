"""Bad input, driven through the real CLI: one line on stderr, exit code 2, no traceback, fast.

Every case checks the contract of DESIGN.md ("Task profile"): the message names the file, the
field path where there is one, and what was expected or received; the exit code is 2; the word
"Traceback" appears nowhere; the answer comes in well under a second. A few cases also run
`python -m modelpick` in a subprocess, to prove nothing reaches a real terminal either.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelpick.advise.profile  # noqa: F401 - imported up front so that timings exclude imports
from modelpick.cli import app

GOOD = """\
name: digits-on-a-laptop
domain: vision
task: classification
input:
  channels: 1
  height: 28
  width: 28
outputs: 10
data:
  train_samples: 60000
budget:
  device: cpu
  memory_gb: 4
  train_minutes: 30
  latency_ms: 5
  batch_size: 64
"""

AUDIO = GOOD.replace("domain: vision", "domain: audio").replace(
    "  channels: 1\n  height: 28\n  width: 28\n", "  {form}\n"
)


def sub(old: str, new: str, text: str = GOOD) -> str:
    """GOOD with exactly one occurrence of `old` replaced."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def audio(form: str) -> str:
    return AUDIO.replace("{form}", form)


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """Billion laughs: each anchor holds `width` aliases of the previous one."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return GOOD + "\n".join(lines) + f"\nname_again: *a{levels - 1}\n"


def doubling_bomb(levels: int = 40) -> str:
    """Few aliases, huge expansion: 2**40 values from 80 aliases."""
    lines = ["a0: &a0 [lol, lol]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, levels)]
    return sub("name: digits-on-a-laptop\n", "\n".join(lines) + f"\nname: *a{levels - 1}\n")


@dataclass(frozen=True)
class Case:
    content: str | bytes | None  # None: the path is made by `make`
    expect: tuple[str, ...]  # substrings of the message (case-insensitive)
    field: str | None = None  # the field path the message must name
    make: Callable[[Path], Path] | None = None
    args: tuple[str, ...] = ("validate",)  # the profile path goes after the first word


def _dir(tmp: Path) -> Path:
    d = tmp / "profile.yaml"
    d.mkdir()
    return d


CASES = {
    # --- not YAML, or not a mapping ---
    "unclosed-bracket": Case(sub("  width: 28\n", "  width: [28\n"), ("line", "expected")),
    "unclosed-flow-mapping": Case("name: x\ninput: {channels: 1, height: 28\n", ("line", "'}'")),
    "bad-indentation": Case(sub("task: classification", "  task: classification"), ("line",)),
    "bad-nested-indentation": Case(sub("  height: 28", "    height: 28"), ("line 6",)),
    "tab-indentation": Case(sub("  height: 28", "\theight: 28"), ("line", "tab")),
    "document-is-list": Case("- name: x\n- domain: vision\n", ("mapping", "list")),
    "document-is-scalar": Case("just some words\n", ("mapping", "string")),
    "document-is-number": Case("42\n", ("mapping", "number")),
    "empty-file": Case("", ("empty",)),
    "whitespace-only": Case("   \n\n\t\n", ("empty",)),
    "comments-only": Case("# a profile\n# to be written\n", ("no yaml document",)),
    "two-documents": Case(GOOD + "---\n" + GOOD, ("single document",)),
    "duplicate-top-key": Case(GOOD + "outputs: 3\n", ("duplicate key", "outputs", "line 8")),
    "duplicate-nested-key": Case(
        sub("  width: 28\n", "  width: 28\n  height: 2\n"), ("duplicate key", "height")
    ),
    "unhashable-key": Case(GOOD + "? [a, b]\n: x\n", ("unhashable key",)),
    "unknown-tag": Case(sub("name: digits-on-a-laptop", "name: !custom x"), ("!custom",)),
    # --- hostile YAML ---
    "alias-bomb-9x9": Case(alias_bomb(), ("alias",)),
    "alias-bomb-doubling": Case(doubling_bomb(), ("alias",)),
    "alias-count": Case(
        GOOD + "a: &a [1]\nb: [" + ", ".join(["*a"] * 150) + "]\n", ("more than 100", "alias")
    ),
    "recursive-alias": Case(sub("name: digits-on-a-laptop", "name: &n [*n]"), ("recursive",)),
    "deep-list": Case("[" * 1000 + "]" * 1000 + "\n", ("nested",)),
    "deep-list-unclosed": Case("[" * 1000 + "\n", ("nested",)),
    "deep-mapping": Case("{a: " * 1000 + "1" + "}" * 1000 + "\n", ("nested",)),
    "deep-block-mapping": Case(
        "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n", ("nested",)
    ),
    # --- not a readable text file ---
    "missing-file": Case(None, ("no such file",), make=lambda tmp: tmp / "nowhere.yaml"),
    "directory": Case(None, ("directory",), make=_dir),
    "binary": Case(bytes(range(256)) * 4 + b"\x00\x00\xff\xfe", ("binary",)),
    "invalid-utf8": Case(GOOD.replace("laptop", "caf\xe9").encode("latin-1"), ("utf-8",)),
    "too-large": Case("name: " + "x" * 1_100_000 + "\n", ("too large",)),
    # --- unknown keys ---
    "unknown-top-key": Case(GOOD + "colour: red\n", ("unknown key", "budget"), field="colour"),
    "unknown-nested-key": Case(
        sub("  latency_ms: 5", "  laytency_ms: 5"),
        ("unknown key", "did you mean 'latency_ms'"),
        field="budget.laytency_ms",
    ),
    "typo-top-key": Case(
        sub("outputs: 10", "ouputs: 10"), ("did you mean 'outputs'",), field="ouputs"
    ),
    "other-domain-field": Case(
        sub("  width: 28\n", "  width: 28\n  seq_len: 128\n"),
        ("unknown key", "channels, height, width"),
        field="input.seq_len",
    ),
    "text-field-in-vision": Case(
        sub("  channels: 1\n  height: 28\n  width: 28\n", "  seq_len: 128\n  vocab_size: 999\n"),
        ("unknown key",),
        field="input.seq_len",
    ),
    # --- required fields ---
    "missing-budget": Case(GOOD.split("budget:")[0], ("missing",), field="budget"),
    "missing-memory": Case(sub("  memory_gb: 4\n", ""), ("missing",), field="budget.memory_gb"),
    "missing-domain": Case(sub("domain: vision\n", ""), ("missing", "vision"), field="domain"),
    # --- wrong types ---
    "string-for-int": Case(
        sub("height: 28", 'height: "28"'), ("integer", "'28'"), field="input.height"
    ),
    "bool-for-int": Case(
        sub("height: 28", "height: true"), ("integer", "true"), field="input.height"
    ),
    "float-for-int": Case(
        sub("height: 28", "height: 28.5"), ("integer", "28.5"), field="input.height"
    ),
    "bool-for-float": Case(
        sub("memory_gb: 4", "memory_gb: yes"), ("number", "true"), field="budget.memory_gb"
    ),
    "list-for-int": Case(
        sub("height: 28", "height: [28]"), ("integer", "[28]"), field="input.height"
    ),
    "list-for-mapping": Case(
        sub("  train_samples: 60000\n", "  - 60000\n"), ("mapping", "[60000]"), field="data"
    ),
    "scalar-for-mapping": Case(
        sub("budget:\n", "budget: cheap\nbudget_was:\n"), ("unknown key",), field="budget_was"
    ),
    "null-for-mapping": Case(
        sub("data:\n  train_samples: 60000\n", "data:\n"), ("mapping", "null"), field="data"
    ),
    "number-for-name": Case(
        sub("name: digits-on-a-laptop", "name: 123"), ("string", "123"), field="name"
    ),
    "empty-name": Case(
        sub("name: digits-on-a-laptop", 'name: ""'), ("at least 1 character",), field="name"
    ),
    "string-for-list": Case(
        GOOD + "preferences: {precisions: fp32}\n",
        ("list", "'fp32'"),
        field="preferences.precisions",
    ),
    # --- out of range ---
    "zero-height": Case(
        sub("height: 28", "height: 0"), ("greater than 0", "received 0"), field="input.height"
    ),
    "negative-width": Case(
        sub("width: 28", "width: -3"), ("greater than 0", "-3"), field="input.width"
    ),
    "negative-memory": Case(
        sub("memory_gb: 4", "memory_gb: -1.5"),
        ("greater than or equal to", "-1.5"),
        field="budget.memory_gb",
    ),
    "zero-samples": Case(
        sub("train_samples: 60000", "train_samples: 0"),
        ("greater than 0",),
        field="data.train_samples",
    ),
    "zero-batch": Case(
        sub("batch_size: 64", "batch_size: 0"), ("greater than 0",), field="budget.batch_size"
    ),
    "nan-latency": Case(
        sub("latency_ms: 5", "latency_ms: .nan"), ("finite", "nan"), field="budget.latency_ms"
    ),
    "inf-memory": Case(
        sub("memory_gb: 4", "memory_gb: .inf"), ("finite", "infinity"), field="budget.memory_gb"
    ),
    "minus-inf-minutes": Case(
        sub("train_minutes: 30", "train_minutes: -.inf"), ("finite",), field="budget.train_minutes"
    ),
    "overflow-to-inf": Case(
        sub("latency_ms: 5", "latency_ms: 1.0e+400"), ("finite",), field="budget.latency_ms"
    ),
    "huge-float-height": Case(
        sub("height: 28", "height: 1.0e+30"), ("integer", "1e+30"), field="input.height"
    ),
    "huge-height-yaml11-string": Case(
        sub("height: 28", "height: 1e30"), ("integer", "1e+30"), field="input.height"
    ),
    "huge-int-outputs": Case(
        sub("outputs: 10", f"outputs: {10**40}"), ("less than", "1000000"), field="outputs"
    ),
    "huge-memory": Case(
        sub("memory_gb: 4", "memory_gb: 1.0e+30"), ("less than",), field="budget.memory_gb"
    ),
    "400-digit-memory": Case(
        sub("memory_gb: 4", "memory_gb: " + "9" * 400), ("number",), field="budget.memory_gb"
    ),
    # --- closed vocabularies ---
    "unknown-domain": Case(
        sub("domain: vision", "domain: video"), ("vision, text, audio", "'video'"), field="domain"
    ),
    "unknown-task": Case(
        sub("task: classification", "task: ranking"),
        ("'classification'", "'ranking'"),
        field="task",
    ),
    "unknown-device": Case(
        sub("device: cpu", "device: tpu"), ("'cuda'", "'tpu'"), field="budget.device"
    ),
    "unknown-backend": Case(
        GOOD + "preferences: {backend: jax}\n", ("'torch'", "'jax'"), field="preferences.backend"
    ),
    "empty-precisions": Case(
        GOOD + "preferences: {precisions: []}\n",
        ("at least 1 item",),
        field="preferences.precisions",
    ),
    "fp8-precision": Case(
        GOOD + "preferences: {precisions: [fp32, fp8]}\n",
        ("'bf16'", "'fp8'"),
        field="preferences.precisions[1]",
    ),
    # --- rules across fields ---
    "classification-one-output": Case(
        sub("outputs: 10", "outputs: 1"), ("at least 2 classes",), field="outputs"
    ),
    "audio-both-forms": Case(
        audio("sample_rate: 16000\n  seconds: 1.0\n  frames: 100\n  mel_bins: 64"),
        ("not both",),
        field="input",
    ),
    "audio-half-waveform": Case(audio("sample_rate: 16000"), ("seconds",), field="input"),
    "audio-half-spectrogram": Case(audio("mel_bins: 64"), ("frames",), field="input"),
    "audio-nothing": Case(
        audio("{}").replace("input:\n  {}", "input: {}"), ("sample_rate", "mel_bins"), field="input"
    ),
    "audio-too-many-samples": Case(
        audio("sample_rate: 48000\n  seconds: 3600"), ("100,000,000",), field="input"
    ),
    # --- names checked by recommend / estimate ---
    "unknown-gpu-recommend": Case(
        sub("device: cpu", "device: cuda\n  gpu: a100-80gbb"),
        ("unknown gpu", "did you mean 'a100-80gb'"),
        field="budget.gpu",
        args=("recommend",),
    ),
    "unknown-gpu-estimate": Case(
        sub("device: cpu", "device: cuda\n  gpu: rtx-4091"),
        ("unknown gpu", "rtx-4090"),
        field="budget.gpu",
        args=("estimate", "--arch", "resnet18"),
    ),
    "unknown-arch": Case(
        GOOD,
        ("unknown architecture", "resnet5", "resnet50", "resnet18"),
        args=("estimate", "--arch", "resnet5"),
    ),
    "bad-profile-before-arch": Case(
        sub("height: 28", 'height: "28"'),
        ("integer",),
        field="input.height",
        args=("estimate", "--arch", "resnet5"),
    ),
}

# Messages about a name given on the command line carry no file name.
NO_FILE_NAME = {"unknown-arch"}
# The product does not (yet) name the file for these: see test_unknown_gpu_names_the_file.
FILE_NAME_XFAIL = {"unknown-gpu-recommend", "unknown-gpu-estimate"}


def write_case(tmp_path: Path, case: Case) -> Path:
    if case.make is not None:
        return case.make(tmp_path)
    path = tmp_path / "profile.yaml"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


def invoke(args: list[str]):
    start = time.perf_counter()
    result = CliRunner().invoke(app, args)
    return result, time.perf_counter() - start


def command(case: Case, path: Path) -> list[str]:
    return [case.args[0], str(path), *case.args[1:]]


def assert_one_clean_error(result, elapsed: float) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    return lines[0]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(tmp_path, name):
    case = CASES[name]
    path = write_case(tmp_path, case)
    result, elapsed = invoke(command(case, path))
    message = assert_one_clean_error(result, elapsed)
    if name not in NO_FILE_NAME | FILE_NAME_XFAIL:
        assert str(path) in message
    if case.field is not None:
        assert f" {case.field}" in message or f"{path}: {case.field}:" in message, message
    for word in case.expect:
        assert word.lower() in message.lower(), (word, message)


def test_alias_bombs_are_refused_fast(tmp_path):
    for text in (alias_bomb(9, 9), alias_bomb(12, 9), doubling_bomb(60)):
        path = tmp_path / "bomb.yaml"
        path.write_text(text)
        result, elapsed = invoke(["validate", str(path)])
        message = assert_one_clean_error(result, elapsed)
        assert "alias" in message
        assert elapsed < 1.0


def test_reasonable_aliases_still_work(tmp_path):
    text = sub("budget:\n", "budget: &b\n") + "preferences: {precisions: [fp32]}\n"
    path = tmp_path / "aliases.yaml"
    path.write_text(text.replace("name: digits-on-a-laptop", "name: &n digits"))
    result, _ = invoke(["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {path}\n"


@pytest.mark.parametrize(
    "tag",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        '!!python/object/apply:subprocess.call [["touch", "{marker}"]]',
        "!!python/object/new:os.system [touch {marker}]",
    ],
)
@pytest.mark.parametrize("where", ["top", "field"])
def test_python_tags_never_run(tmp_path, tag, where):
    marker = tmp_path / "pwned"
    payload = tag.replace("{marker}", str(marker))
    text = payload + "\n" if where == "top" else sub("name: digits-on-a-laptop", "name: " + payload)
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    result, elapsed = invoke(["validate", str(path)])
    message = assert_one_clean_error(result, elapsed)
    assert str(path) in message
    assert "python/object" in message
    assert not marker.exists()


def test_validate_several_files_reports_each(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(sub("latency_ms: 5", "laytency_ms: 5"))
    also_good = tmp_path / "also-good.yaml"
    also_good.write_text(sub("device: cpu", "device: auto"))
    result, _ = invoke(["validate", str(good), str(bad), str(also_good)])
    assert result.exit_code == 2
    assert result.stdout == f"ok: {good}\nok: {also_good}\n"
    assert str(bad) in result.stderr and "budget.laytency_ms" in result.stderr
    assert str(good) not in result.stderr
    assert "Traceback" not in result.output


def test_a_date_is_text_not_a_date(tmp_path):
    """YAML 1.1 would make `2024-01-01` a date object; a profile has no date fields, so it stays
    the text the user wrote (a valid name)."""
    path = tmp_path / "p.yaml"
    path.write_text(sub("name: digits-on-a-laptop", "name: 2024-01-01"))
    result, _ = invoke(["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_validate_good_file_passes(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    result, _ = invoke(["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {path}\n" and result.stderr == ""


def test_validate_without_a_file_is_a_usage_error():
    result, _ = invoke(["validate"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unknown_gpu_names_the_file(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(sub("device: cpu", "device: cuda\n  gpu: a100-80gbb"))
    result, _ = invoke(["recommend", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.stderr and "budget.gpu" in result.stderr
    # validate checks the device table too, so CI catches the typo before recommend does
    assert invoke(["validate", str(path)])[0].exit_code == 2


def test_unknown_gpu_suggests_the_same_model(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(sub("device: cpu", "device: cuda\n  gpu: h100"))
    result, _ = invoke(["recommend", str(path)])
    assert result.exit_code == 2
    assert "h100-sxm" in result.stderr.split("known:")[0]


# --- a real process: nothing but one line per file reaches the terminal ---------------------

SUBPROCESS_CASES = [
    "unclosed-bracket",
    "alias-bomb-doubling",
    "binary",
    "missing-file",
    "deep-list",
    "recursive-alias",
    "string-for-int",
]


def run_module(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MODELPICK_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "modelpick", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_subprocess_one_file(tmp_path):
    path = write_case(tmp_path, CASES["unknown-nested-key"])
    proc = run_module("validate", str(path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert str(path) in proc.stderr and "budget.laytency_ms" in proc.stderr
    assert "did you mean 'latency_ms'" in proc.stderr


def test_subprocess_many_bad_files(tmp_path):
    paths = []
    for name in SUBPROCESS_CASES:
        folder = tmp_path / name
        folder.mkdir()
        paths.append(write_case(folder, CASES[name]))
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    start = time.perf_counter()
    proc = run_module("validate", str(good), *map(str, paths))
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout == f"ok: {good}\n"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(paths), proc.stderr
    for line, path in zip(lines, paths, strict=True):
        assert line.startswith(f"error: {path}"), line
    assert elapsed < 5.0  # one interpreter start plus a few milliseconds a file


@pytest.mark.parametrize(
    "args",
    [
        ("estimate", "{good}", "--arch", "resnet5"),
        ("recommend", "{evil}"),
    ],
    ids=["unknown-arch", "python-tag"],
)
def test_subprocess_other_commands(tmp_path, args):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'!!python/object/apply:os.system ["touch {marker}"]\n')
    argv = [a.replace("{good}", str(good)).replace("{evil}", str(evil)) for a in args]
    proc = run_module(*argv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not marker.exists()

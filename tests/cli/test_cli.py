"""The real CLI, driven with CliRunner: exit codes, JSON documents, messages."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelpick.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_there_is_an_example_per_domain():
    domains = {
        next(
            line.split(":")[1].strip()
            for line in p.read_text().splitlines()
            if line.startswith("domain:")
        )
        for p in EXAMPLES
    }
    assert domains == {"vision", "text", "audio", "timeseries", "tabular"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_recommend_json_on_every_example(example):
    result = run("recommend", example, "--json", "--top", "3")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # nothing but JSON on stdout
    cands = doc["candidates"]
    assert 1 <= len(cands) <= 3
    assert [c["rank"] for c in cands] == list(range(1, len(cands) + 1))
    assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
    for c in cands:
        for key in ("name", "family", "params", "flops", "macs", "score", "reasons", "criteria"):
            assert key in c
        assert c["params"] > 0 and c["flops"] >= 2 * c["macs"] > 0
        assert c["reasons"] and all(isinstance(r, str) and r for r in c["reasons"])
        if doc["task"] == "generation":  # decoder × method × weights (docs/llm.md)
            assert {k["name"] for k in c["criteria"]} == {"size", "method", "weights"}
            assert c["method"] in ("full", "lora", "qlora")
            assert c["weights"] in ("bf16", "int8", "int4")
            continue
        names = {k["name"] for k in c["criteria"]}
        assert {"family", "data_fit", "epochs", "latency", "precision"} <= names
        assert names <= {
            "family",
            "data_fit",
            "epochs",
            "input_size",
            "pooling",
            "latency",
            "precision",
        }
        assert all(k["source"] in ("fitted", "preference") for k in c["criteria"])
        gap = math.expm1(sum(k["term"] for k in c["criteria"]))
        assert c["expected_gap_points"] == pytest.approx(gap, abs=0.02)
        assert c["score"] == pytest.approx(max(0, 1 - gap / 100), abs=1e-3)
        assert c["prediction"]["latency_ms"] > 0 and c["prediction"]["train_memory_bytes"] > 0
    assert all(r["reason"] for r in doc["rejected"])


def test_recommend_is_deterministic():
    a = run("recommend", ROOT / "examples/mnist-laptop-cpu.yaml", "--json", "--top", "50").stdout
    b = run("recommend", ROOT / "examples/mnist-laptop-cpu.yaml", "--json", "--top", "50").stdout
    assert a == b


def test_recommend_table_names_the_winner_and_why():
    result = run("recommend", ROOT / "examples/imagenet-cloud-gpu.yaml")
    assert result.exit_code == 0
    assert "Why" in result.stdout and "family" in result.stdout and "points below" in result.stdout
    assert "resnet" in result.stdout


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_nothing_fits_exits_1_with_nearest_misses_and_what_to_relax(tmp_path):
    path = _write(
        tmp_path,
        """
        name: impossible
        domain: vision
        task: classification
        input: {channels: 3, height: 224, width: 224}
        outputs: 1000
        data: {train_samples: 1000000}
        budget: {device: cpu, memory_gb: 0.01, train_minutes: 1, latency_ms: 0.01}
    """,
    )
    result = run("recommend", path)
    assert result.exit_code == 1
    assert "No candidate fits" in result.stdout
    assert "Nearest misses" in result.stdout and "relax" in result.stdout
    doc = json.loads(run("recommend", path, "--json").stdout)
    assert doc["candidates"] == [] and doc["rejected"]


def test_relax_suggestion_names_the_limit(tmp_path):
    path = _write(
        tmp_path,
        """
        name: tight-memory
        domain: tabular
        task: classification
        input: {features: 20}
        outputs: 2
        data: {train_samples: 10000}
        budget: {device: cpu, memory_gb: 0.00001, train_minutes: 10}
    """,
    )
    result = run("recommend", path, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["relax"] and doc["relax"][0].startswith("memory_gb: raise it")


def test_max_params_rejection_names_limit_and_ratio(tmp_path):
    path = _write(
        tmp_path,
        """
        name: small
        domain: tabular
        task: classification
        input: {features: 2}
        outputs: 2
        data: {train_samples: 1000}
        budget: {device: cpu, memory_gb: 1, train_minutes: 1, max_params: 1000}
    """,
    )
    doc = json.loads(run("recommend", path, "--json").stdout)
    assert all(c["params"] <= 1000 for c in doc["candidates"])
    over = [r for r in doc["rejected"] if r["constraint"] == "max_params"]
    assert over and "exceed max_params 1,000" in over[0]["reason"] and over[0]["miss_ratio"] > 1


def test_estimate_json():
    result = run(
        "estimate", ROOT / "examples/mnist-laptop-cpu.yaml", "--arch", "seed-cnn", "--json"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["name"] == "seed-cnn" and doc["family"] == "cnn"
    assert doc["params"] == 5_037_526
    assert doc["flops"] >= 2 * doc["macs"] > 0
    assert doc["predictions"][0]["precision"] == "fp32"
    assert sum(layer["params"] for layer in doc["layers"]) == doc["params"]


def test_estimate_table_with_layers():
    result = run(
        "estimate", ROOT / "examples/sentence-sentiment.yaml", "--arch", "seed-lstm", "--layers"
    )
    assert result.exit_code == 0, result.output
    assert "seed-lstm" in result.stdout and "rnn" in result.stdout


def test_estimate_unknown_arch_suggests():
    result = run("estimate", ROOT / "examples/mnist-laptop-cpu.yaml", "--arch", "resnet5")
    assert result.exit_code == 2
    assert "did you mean" in result.stderr and "resnet50" in result.stderr


def test_estimate_wrong_domain_and_fixed_input():
    r = run("estimate", ROOT / "examples/mnist-laptop-cpu.yaml", "--arch", "bert_base")
    assert r.exit_code == 2 and "text architecture" in r.stderr
    r = run("estimate", ROOT / "examples/cifar10-t4.yaml", "--arch", "seed-cnn")
    assert r.exit_code == 2 and "defined for input channels 1" in r.stderr


def test_catalog_list_and_show():
    result = run("catalog", "list", "--json")
    names = [a["name"] for a in json.loads(result.stdout)["architectures"]]
    assert "resnet50" in names and "seed-cnn" in names
    result = run("catalog", "list", "--domain", "tabular")
    assert result.exit_code == 0 and "seed-mlp" in result.stdout and "resnet50" not in result.stdout
    result = run("catalog", "show", "vit_b_16", "--json")
    assert json.loads(result.stdout)["hparams"]["dim"] == 768
    result = run("catalog", "show", "vit_b16")
    assert result.exit_code == 2 and "vit_b_16" in result.stderr
    assert run("catalog", "list", "--domain", "video").exit_code == 2


def test_validate_and_schema():
    result = run("validate", *EXAMPLES)
    assert result.exit_code == 0 and result.stdout.count("ok:") == len(EXAMPLES)
    schema = json.loads(run("schema").stdout)
    assert "vision" in json.dumps(schema) and "$defs" in schema


def test_doctor_json():
    result = run("doctor", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["cpu"]["logical_cores"] >= 1 and doc["ram_bytes"] > 0
    assert set(doc["backends"]) == {"torch", "tensorflow"}
    assert "h100-sxm" in doc["device_table"]


def test_ranking_renders_into_a_narrow_console():
    from rich.console import Console

    import modelpick as mp
    from modelpick.cli.render import render_ranking

    result = mp.recommend(ROOT / "examples/sentence-sentiment.yaml", top=3)
    out = io.StringIO()
    render_ranking(result, Console(file=out, width=80))
    text = out.getvalue()
    assert result.candidates[0].name in text
    assert "AdamW" in text  # the assumption is stated


# numpy and scikit-learn too: the fitted prior is evaluated in pure Python
HEAVY = ("torch", "tensorflow", "keras", "jax", "ray", "matplotlib", "sklearn", "numpy")


@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "examples/mnist-laptop-cpu.yaml", "--json"],
        ["estimate", "examples/news-topics-gpu.yaml", "--arch", "bert_base", "--json"],
        ["validate", "examples/xor-tabular.yaml"],
        ["catalog", "list", "--json"],
        ["schema"],
        ["doctor", "--json"],
    ],
    ids=lambda a: a[0],
)
def test_commands_never_import_a_framework(args):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['modelpick', *{args!r}]\n"
        "try:\n"
        "    runpy.run_module('modelpick', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=" in proc.stderr and proc.stderr.rsplit("HEAVY=", 1)[1] == ""

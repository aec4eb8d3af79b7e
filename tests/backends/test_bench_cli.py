"""`modelpick bench` and `modelpick report` for real, on this machine's CPU, both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelpick.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
KEYS = (
    "arch",
    "backend",
    "device",
    "batch_size",
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "throughput_samples_per_s",
    "train_step_ms",
    "peak_memory_bytes",
    "predicted_latency_ms",
    "predicted_memory_bytes",
)


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
@pytest.mark.parametrize(
    "profile,arch", [("mnist-laptop-cpu", "seed-keras-cnn"), ("xor-tabular", "seed-mlp")]
)
def test_short_real_bench_of_seed_entries(backend, profile, arch, tmp_path):
    pytest.importorskip(backend)
    out = tmp_path / "run.json"
    result = runner.invoke(
        app,
        [
            "bench",
            str(ROOT / f"examples/{profile}.yaml"),
            "--arch",
            arch,
            "--backend",
            backend,
            "--device",
            "cpu",
            "--quick",
            "--batch-size",
            "8",
            "--json",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert json.loads(out.read_text()) == doc
    (row,) = doc["results"]
    assert row["status"] == "ok"
    for key in KEYS:
        assert key in row
    assert row["arch"] == arch and row["backend"] == backend and row["batch_size"] == 8
    assert 0 < row["latency_ms_p50"] <= row["latency_ms_p90"] <= row["latency_ms_p99"]
    assert row["throughput_samples_per_s"] > 0 and row["train_step_ms"] > 0
    # the report renders the saved run in every format
    for fmt, needle in (("table", arch), ("markdown", f"| {arch} |"), ("json", '"results"')):
        rep = runner.invoke(app, ["report", str(out), "--format", fmt])
        assert rep.exit_code == 0 and needle in rep.stdout


def test_bench_top_ranks_then_measures(tmp_path):
    pytest.importorskip("torch")
    result = runner.invoke(
        app,
        [
            "bench",
            str(ROOT / "examples/xor-tabular.yaml"),
            "--top",
            "2",
            "--device",
            "cpu",
            "--quick",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    names = [r["arch"] for r in json.loads(result.stdout)["results"]]
    assert len(names) == 2 and len(set(names)) == 2


def test_bench_cuda_without_cuda_exits_3():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(
        app,
        [
            "bench",
            str(ROOT / "examples/xor-tabular.yaml"),
            "--arch",
            "seed-mlp",
            "--device",
            "cuda",
        ],
    )
    assert result.exit_code == 3
    assert "CUDA is not available" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("content", ["not json", "[]", '{"other": 1}'])
def test_report_refuses_what_is_not_a_run(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = runner.invoke(app, ["report", str(bad)])
    assert result.exit_code == 2 and str(bad) in result.stderr


def test_report_missing_file_and_bad_format(tmp_path):
    assert runner.invoke(app, ["report", str(tmp_path / "none.json")]).exit_code == 2
    good = tmp_path / "r.json"
    good.write_text('{"results": []}')
    assert runner.invoke(app, ["report", str(good), "--format", "html"]).exit_code == 2


def test_calibration_run_is_saved_and_used(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("MODELPICK_CACHE_DIR", str(tmp_path))
    out = tmp_path / "calibration-run.json"
    result = runner.invoke(
        app, ["bench", "--device", "cpu", "--quick", "--json", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    cal = doc["calibration"]
    assert Path(doc["saved_to"]).parent == tmp_path
    assert cal["held_out"] == len(doc["held_out"]) >= 5
    assert cal["median_error_pct"] >= 0 and cal["p90_error_pct"] >= cal["median_error_pct"]
    rec = runner.invoke(app, ["recommend", str(ROOT / "examples/mnist-laptop-cpu.yaml"), "--json"])
    assert json.loads(rec.stdout)["device"]["calibrated"]
    assert "calibration error: median" in runner.invoke(app, ["report", str(out)]).stdout


def test_unwritable_output_is_refused_before_measuring(tmp_path):
    result = runner.invoke(
        app,
        [
            "bench",
            str(ROOT / "examples/xor-tabular.yaml"),
            "--arch",
            "seed-mlp",
            "--output",
            str(tmp_path / "no" / "such" / "dir.json"),
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = runner.invoke(app, ["bench", "--output", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_precision_checks():
    pytest.importorskip("torch")
    result = runner.invoke(app, ["bench", "--precision", "bf16"])
    assert result.exit_code == 2 and "calibration runs at fp32" in result.stderr
    result = runner.invoke(
        app,
        [
            "bench",
            str(ROOT / "examples/xor-tabular.yaml"),
            "--arch",
            "seed-mlp",
            "--device",
            "cpu",
            "--precision",
            "fp16",
        ],
    )
    assert result.exit_code == 3 and "does not run it on cpu" in result.stderr


def test_report_survives_markup_and_pipes_in_notes(tmp_path):
    row = {
        k: None
        for k in (
            "latency_ms_p50",
            "latency_ms_p90",
            "latency_ms_p99",
            "latency_spread_pct",
            "throughput_samples_per_s",
            "train_step_ms",
            "train_samples_per_s",
            "peak_memory_bytes",
            "achieved_flops_per_s",
            "peak_flops_fraction",
            "predicted_latency_ms",
            "predicted_train_step_ms",
            "predicted_memory_bytes",
            "latency_error_pct",
            "train_step_error_pct",
            "memory_error_pct",
            "largest_batch_that_fits",
        )
    }
    row.update(
        arch="m",
        backend="torch",
        device="cpu",
        precision="fp32",
        batch_size=2,
        status="error",
        peak_memory_source="",
        note="shape [batch, seq] | bad [/x]\nline",
    )
    doc = {"device": {"name": "cpu", "kind": "cpu"}, "backend_version": "torch x", "results": [row]}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    table = runner.invoke(app, ["report", str(path)])
    assert table.exit_code == 0 and "[batch, seq]" in table.stdout
    md = runner.invoke(app, ["report", str(path), "--format", "markdown"])
    assert md.exit_code == 0 and "\\|" in md.stdout and md.stdout.count("\n") == 5


def test_report_reads_a_calibration_run_saved_by_0_1_0(tmp_path):
    # 0.1.0 saved one factor per kind on the roofline time, under "time_scale".
    doc = {
        "device": {"name": "AMD EPYC", "calibrated": True},
        "backend": "torch",
        "backend_version": "torch 2.13.0+cpu",
        "saved_to": "/somewhere/calibration-cpu-amd-epyc-torch.json",
        "calibration": {
            "samples": 52,
            "call_overhead_s": 3.9e-5,
            "launch_overhead_s": 2.98e-5,
            "train_overhead_s": 1.03e-3,
            "time_scale": {"conv": 0.8, "dense": 0.28},
            "median_error_pct": 12.0,
            "p90_error_pct": 20.0,
            "held_out": 1,
        },
        "held_out": [
            {
                "arch": "mlp-w256-d2",
                "predicted_latency_ms": 0.23,
                "measured_latency_ms": 0.217,
                "error_pct": 6.0,
            }
        ],
    }
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps(doc))
    result = runner.invoke(app, ["report", str(saved)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "measured / roofline time per node kind: conv ×0.80, dense ×0.28" in result.stdout
    assert "calibration error: median 12%, p90 20%" in result.stdout

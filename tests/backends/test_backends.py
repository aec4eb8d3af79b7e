"""The registry, the missing-framework path, `modelpick build`, and the runtime pieces bench
relies on (inputs, training step, precision), on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelpick import backends
from modelpick.advise.catalog import build_for, load_catalog, reference_io
from modelpick.cli import app
from modelpick.errors import InputError, UnavailableError

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
CATALOG = load_catalog()


@pytest.fixture
def framework_missing(monkeypatch):
    """Make importing a backend fail as it does when its framework is not installed."""
    real = backends.importlib.import_module

    def fake(name, *args):
        if name.startswith("modelpick.backends."):
            dist = backends.REGISTRY[name.rsplit(".", 1)[1]][1]
            raise ModuleNotFoundError(f"No module named '{dist}'", name=dist)
        return real(name, *args)

    monkeypatch.setattr(backends.importlib, "import_module", fake)
    monkeypatch.setattr(backends, "_LOADED", {})


@pytest.mark.parametrize("name", ["torch", "tensorflow"])
def test_missing_framework_names_the_pip_command(framework_missing, name):
    with pytest.raises(UnavailableError, match=rf"pip install 'modelpick\[{name}\]'"):
        backends.get_backend(name)


def test_build_with_missing_framework_exits_3(framework_missing):
    result = runner.invoke(
        app,
        [
            "build",
            str(ROOT / "examples/mnist-laptop-cpu.yaml"),
            "--arch",
            "seed-cnn",
            "--backend",
            "tensorflow",
        ],
    )
    assert result.exit_code == 3
    assert "pip install 'modelpick[tensorflow]'" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_backend():
    with pytest.raises(InputError, match="expected one of torch, tensorflow"):
        backends.get_backend("jax")


def test_registry_holds_strings_and_imports_nothing_until_asked():
    code = (
        "import sys, modelpick.backends as b; "
        "assert all(isinstance(v[0], str) for v in b.REGISTRY.values()); "
        "print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_build_json_for_a_seed_entry(backend):
    pytest.importorskip(backend)
    result = runner.invoke(
        app,
        [
            "build",
            str(ROOT / "examples/sentence-sentiment.yaml"),
            "--arch",
            "seed-lstm",
            "--backend",
            backend,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["arch"] == "seed-lstm" and doc["backend"] == backend
    # Keras's LSTM carries one bias vector where PyTorch's carries two: 97,089 vs 97,345.
    assert (
        doc["params"] == doc["params_estimated"] == {"tensorflow": 97_089, "torch": 97_345}[backend]
    )
    assert [layer["kind"] for layer in doc["layers"]] == ["embedding", "rnn", "dense", "activation"]
    assert sum(layer["params_framework"] for layer in doc["layers"]) == doc["params"]


def test_build_tables_have_the_same_layout_on_both_backends():
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    outs = []
    for backend in ("torch", "tensorflow"):
        result = runner.invoke(
            app,
            [
                "build",
                str(ROOT / "examples/mnist-laptop-cpu.yaml"),
                "--arch",
                "seed-keras-cnn",
                "--backend",
                backend,
            ],
        )
        assert result.exit_code == 0, result.output
        outs.append(result.stdout.splitlines()[1:])  # the first line names the framework
    assert outs[0] == outs[1]


def test_build_device_cuda_without_cuda_exits_3():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(
        app,
        [
            "build",
            str(ROOT / "examples/mnist-laptop-cpu.yaml"),
            "--arch",
            "seed-cnn",
            "--backend",
            "torch",
            "--device",
            "cuda",
        ],
    )
    assert result.exit_code == 3 and "not available" in result.stderr


SEEDS = ["seed-cnn", "seed-keras-cnn", "seed-lstm", "seed-mlp", "seed-linear"]


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
@pytest.mark.parametrize("name", SEEDS)
def test_training_steps_run_and_learn(backend, name):
    pytest.importorskip(backend)
    be = backends.get_backend(backend)
    arch = CATALOG.get(name)
    made = be.build(build_for(arch, reference_io(arch)).graph)
    x, y = be.make_inputs(made, 8), be.make_targets(made, 8)
    opt = be.make_optimizer(made)
    before = {k: {n: a.copy() for n, a in v.items()} for k, v in be.get_weights(made).items()}
    losses = [float(be.train_step(made, opt, x, y)) for _ in range(5)]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]  # the same batch five times: AdamW must reduce its loss
    after = be.get_weights(made)
    assert any(not np.allclose(before[p][n], after[p][n]) for p in before for n in before[p])


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_bf16_forward_on_cpu(backend):
    pytest.importorskip(backend)
    be = backends.get_backend(backend)
    assert "bf16" in be.PRECISIONS["cpu"]
    arch = CATALOG.get("seed-keras-cnn")
    graph = build_for(arch, reference_io(arch)).graph
    made = be.build(graph, "cpu", "bf16")
    out = be.to_numpy(be.forward(made, be.make_inputs(made, 4)))
    assert out.shape == (4, 10) and np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=2e-2)  # softmax rows, in bf16


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_unsupported_precision_exits_3(backend):
    pytest.importorskip(backend)
    result = runner.invoke(
        app,
        [
            "build",
            str(ROOT / "examples/mnist-laptop-cpu.yaml"),
            "--arch",
            "seed-cnn",
            "--backend",
            backend,
            "--precision",
            "fp16",
        ],
    )
    assert result.exit_code == 3 and "fp16 is not supported on cpu" in result.stderr


BF16_CASES = [
    "cnn-w16-d2",
    "resnet-w16-1x1x1x1",
    "cnn1d-w32-d2",
    "lstm-h64-l1",
    "gru-h64-l1",
    "transformer-d128-l2",
    "mlp-w64-d2",
]


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
@pytest.mark.parametrize("name", BF16_CASES)
def test_reduced_precision_builds_and_agrees_with_fp32(backend, name):
    """Every family at bf16 (the reduced precision CPUs run): same weights, outputs close to
    fp32 within bf16's resolution (8 bits of mantissa)."""
    pytest.importorskip(backend)
    from test_catalog import _io_for

    be = backends.get_backend(backend)
    arch = CATALOG.get(name)
    graph = build_for(arch, _io_for(arch, arch.domains[0])).graph
    full = be.build(graph, "cpu", "fp32")
    half = be.build(graph, "cpu", "bf16")
    be.set_weights(half, be.get_weights(full))
    x = be.make_inputs(full, 2)
    y32 = be.to_numpy(be.forward(full, x))
    y16 = be.to_numpy(be.forward(half, x))
    assert y16.shape == y32.shape and np.all(np.isfinite(y16))
    assert np.max(np.abs(y16 - y32)) <= 0.1 * (np.max(np.abs(y32)) + 1e-3)

"""`modelpick train` and `predict` from the command line: the run directory, --json, the
interrupt, refusals. Data: scikit-learn's digits written as .npz (ships inside the package)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from modelpick.cli.app import run  # noqa: E402

PROFILE = """\
name: digits
domain: vision
task: classification
input: {{channels: 1, height: 8, width: 8}}
outputs: 10
data:
  train_samples: 1438
  path: {path}
budget:
  device: cpu
  memory_gb: 4
  train_minutes: {minutes}
  batch_size: 64
"""


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("digits")
    data = datasets.load_digits()
    np.savez(d / "digits.npz", x=data.images[:, None].astype("float32"), y=data.target)
    np.savez(d / "new.npz", x=data.images[:20, None].astype("float32"))
    (d / "digits.yaml").write_text(PROFILE.format(path="digits.npz", minutes=5))
    return d


def _train(capsys, *args) -> tuple[int, str, str]:
    code = run(["train", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_writes_a_usable_run_and_json_is_the_only_stdout(digits_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = _train(
        capsys,
        digits_dir / "digits.yaml",
        "--arch",
        "mlp-w256-d2",
        "--epochs",
        "6",
        "--output",
        out,
        "--json",
    )
    assert code == 0
    doc = json.loads(stdout)  # nothing but the final record on stdout
    assert doc["stopped"] in ("epochs", "early_stopping")
    assert doc["best"]["val_accuracy"] > 0.9  # chance is 0.1
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "model.pt",
        "preprocess.json",
        "run.json",
    ]
    assert json.loads((out / "metrics.json").read_text()) == doc
    curves = doc["epochs"]
    assert [e["epoch"] for e in curves] == list(range(1, len(curves) + 1))
    assert {"train_loss", "val_loss", "val_accuracy", "train_s", "lr_end"} <= set(curves[0])
    cost = doc["cost"]
    for key in ("train_step_ms", "epoch_s", "peak_memory_bytes"):
        assert cost[key]["measured"] > 0 and cost[key]["predicted"] > 0
        want = 100 * (cost[key]["predicted"] - cost[key]["measured"]) / cost[key]["measured"]
        assert cost[key]["error_pct"] == pytest.approx(want)
    # predict: the same preprocessing, the trained weights
    code = run(["predict", str(out), str(digits_dir / "new.npz"), "--json"])
    pred = json.loads(capsys.readouterr().out)
    assert code == 0 and len(pred["predictions"]) == 20
    truth = datasets.load_digits().target[:20]
    hits = sum(int(r["label"]) == t for r, t in zip(pred["predictions"], truth))
    assert hits >= 16
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-4 for r in pred["predictions"])


def test_an_existing_output_directory_is_never_overwritten(digits_dir, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, stdout, err = _train(
        capsys, digits_dir / "digits.yaml", "--arch", "mlp-w64-d1", "--output", out
    )
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and "not empty" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--arch", "lstm_2layer"], "text architecture"),
        (["--arch", "mlp-w64-d1", "--epochs", "0"], "--epochs"),
        (["--arch", "mlp-w64-d1", "--minutes", "-1"], "--minutes"),
        (["--arch", "mlp-w64-d1", "--precision", "fp8"], "--precision"),
        (["--arch", "nosuch"], "unknown architecture"),
    ],
)
def test_bad_arguments_are_one_line(digits_dir, tmp_path, capsys, args, words):
    code, stdout, err = _train(
        capsys, digits_dir / "digits.yaml", *args, "--output", tmp_path / "o"
    )
    assert code in (2, 3), err
    assert stdout == "" and err.count("\n") == 1 and "Traceback" not in err
    assert words in err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_predict_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    code = run(["predict", str(tmp_path), str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "run.json" in err


def test_ctrl_c_stops_after_the_batch_and_keeps_the_best(digits_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelpick",
            "train",
            str(digits_dir / "digits.yaml"),
            "--arch",
            "mlp-w64-d1",
            "--epochs",
            "100000",
            "--output",
            str(out),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    for line in proc.stderr:  # one line per finished epoch (stderr is not a terminal here)
        lines.append(line)
        if line.startswith("epoch") and " 2 " in line[:10]:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=120)[::-1], None
    assert proc.returncode == 130, (lines, rest)
    assert "interrupted" in rest[0] and "Traceback" not in rest[0]
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["stopped"] == "interrupted"
    assert doc["best_epoch"] >= 2 and (out / "model.pt").exists()


def test_a_budget_spent_before_the_first_step_trains_nothing_and_leaves_nothing(
    digits_dir, tmp_path, capsys
):
    out = tmp_path / "run"
    # 0.001 min = 60 ms: less than one predicted step of this transformer (~240 ms)
    code, stdout, err = _train(
        capsys,
        digits_dir / "digits.yaml",
        "--arch",
        "transformer-d512-l6",
        "--minutes",
        "0.001",
        "--output",
        out,
    )
    assert code == 1 and "nothing was trained" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.fixture(scope="module")
def trained_run(digits_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    code = run(
        [
            "train",
            str(digits_dir / "digits.yaml"),
            "--arch",
            "mlp-w64-d1",
            "--epochs",
            "1",
            "--output",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    return out


def _tampered(trained_run: Path, tmp_path: Path, edit) -> Path:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    edit(copy)
    return copy


def _edit_json(name, change):
    def edit(d: Path):
        doc = json.loads((d / name).read_text())
        change(doc)
        (d / name).write_text(json.dumps(doc))

    return edit


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: (d / "model.pt").unlink(), "model.pt: missing"),
        (lambda d: ((d / "model.pt").unlink(), os.mkfifo(d / "model.pt")), "not a regular file"),
        (lambda d: (d / "model.pt").write_bytes(b"\0" * 100), "not a checkpoint of this run"),
        (_edit_json("run.json", lambda r: r["hparams"].update(width=-5)), "hparams.width"),
        (_edit_json("run.json", lambda r: r["io"].update(shape="x")), "io.shape"),
        (_edit_json("run.json", lambda r: r["io"].update(task="regression")), "io.task"),
        (_edit_json("run.json", lambda r: r["io"].update(outputs=3)), "io.outputs"),
        (_edit_json("run.json", lambda r: r.update(precision="fp8")), "precision"),
        (_edit_json("run.json", lambda r: r.update(family="svm")), "family"),
        (_edit_json("run.json", lambda r: r.update(schema="other/1")), "schema"),
    ],
)
def test_predict_on_a_tampered_run_is_one_line(
    trained_run, digits_dir, tmp_path, capsys, edit, words
):
    copy = _tampered(trained_run, tmp_path, edit)
    code = run(["predict", str(copy), str(digits_dir / "new.npz")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_a_failure_during_training_leaves_no_half_run(digits_dir, tmp_path, monkeypatch):
    """Data that breaks after the checks (a file changed under us) fails with its error; the
    run folder this call created is taken back (nothing usable was saved)."""
    import modelpick.train.run as train_run_module
    from modelpick.errors import DataError

    def broken_fit(*args, **kwargs):
        raise DataError("digits.npz: changed while training")

    monkeypatch.setattr(train_run_module, "_fit", broken_fit)
    out = tmp_path / "run"
    code = run(
        ["train", str(digits_dir / "digits.yaml"), "--arch", "mlp-w64-d1", "--output", str(out)]
    )
    assert code == 2 and not out.exists()
    given = tmp_path / "given"
    given.mkdir()  # an empty folder the user made is kept, empty
    assert (
        run(
            [
                "train",
                str(digits_dir / "digits.yaml"),
                "--arch",
                "mlp-w64-d1",
                "--output",
                str(given),
            ]
        )
        == 2
    )
    assert given.is_dir() and not any(given.iterdir())

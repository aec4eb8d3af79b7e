"""End to end, one test per kind of data a newcomer has: train on it, assert that the model
learned (validation accuracy far above chance, or R² well above 0), then predict on new data
of the same format through the saved run. Data: scikit-learn's digits and breast cancer sets
(shipped inside the package), and text, WAV and series sets these tests generate."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")
pytest.importorskip("pandas")

import modelpick as mp  # noqa: E402


def _profile(tmp_path, domain, task, inp, outputs, path, minutes=5, batch=32, **data):
    doc = {
        "name": f"{domain}-test",
        "domain": domain,
        "task": task,
        "input": inp,
        "outputs": outputs,
        "data": {"train_samples": 100, "path": str(path), **data},
        "budget": {"device": "cpu", "memory_gb": 4, "train_minutes": minutes, "batch_size": batch},
    }
    p = tmp_path / "task.yaml"
    p.write_text(json.dumps(doc))  # JSON is YAML
    return p


def _train(profile, arch, tmp_path, **kw):
    messages = []
    run = mp.train_model(profile, arch, output=tmp_path / "run", warn=messages.append, **kw)
    return run


def test_image_folder_digits(tmp_path):
    from PIL import Image

    d = datasets.load_digits()
    root = tmp_path / "digits"
    for i, (img, label) in enumerate(zip(d.images, d.target)):
        folder = root / f"digit-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 16).clip(0, 255).astype("uint8")).save(folder / f"{i}.png")
    # resized on the way in: 8×8 PNGs to the profile's 16×16, grey kept as 1 channel
    prof = _profile(
        tmp_path, "vision", "classification", {"channels": 1, "height": 16, "width": 16}, 10, root
    )
    run = _train(prof, "cnn-w16-d2", tmp_path, epochs=15)
    assert run.best["val_accuracy"] > 0.8, run.epochs  # chance is 0.1
    new = tmp_path / "new"
    new.mkdir()
    for i in range(10):
        Image.open(root / f"digit-{d.target[i]}" / f"{i}.png").save(new / f"sample{i}.png")
    pred = mp.predict(run.output, new)
    names = {r["id"]: r["label"] for r in pred.rows}
    hits = sum(names[k].endswith(str(d.target[int(k[6:-4])])) for k in names if k.endswith(".png"))
    assert len(pred.rows) == 10 and hits >= 7


def test_breast_cancer_csv_with_text_labels(tmp_path):
    bc = datasets.load_breast_cancer(as_frame=True)
    frame = bc.frame.copy()
    frame["target"] = np.where(bc.target == 0, "malignant", "benign")
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    prof = _profile(
        tmp_path, "tabular", "classification", {"features": 30}, 2, path, label="target"
    )
    run = _train(prof, "mlp-w64-d2", tmp_path, epochs=20)
    assert run.best["val_accuracy"] > 0.9, run.epochs  # the majority class is 0.63
    unlabeled = tmp_path / "new.csv"
    frame.drop(columns=["target"]).head(30).to_csv(unlabeled, index=False)
    pred = mp.predict(run.output, unlabeled)
    got = [r["label"] for r in pred.rows]
    assert set(got) <= {"benign", "malignant"}
    assert sum(g == t for g, t in zip(got, frame["target"].head(30))) >= 25


def test_tabular_regression_csv_on_tensorflow(tmp_path):
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5))
    y = x @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + 0.1 * rng.normal(size=600)
    import pandas as pd

    path = tmp_path / "reg.csv"
    pd.DataFrame({**{f"f{i}": x[:, i] for i in range(5)}, "price": y}).to_csv(path, index=False)
    prof = _profile(tmp_path, "tabular", "regression", {"features": 5}, 1, path, label="price")
    run = _train(prof, "mlp-w64-d2", tmp_path, epochs=30, backend="tensorflow")
    assert run.to_dict()["backend"] == "tensorflow"
    assert run.best["val_r2"] > 0.8, run.epochs
    assert (tmp_path / "run" / "model.keras").exists()
    pred = mp.predict(run.output, path)
    assert len(pred.rows) == 600 and len(pred.rows[0]["values"]) == 1


def _sentences(rng, n):
    good = "good great excellent lovely superb fine".split()
    bad = "bad awful terrible poor dreadful nasty".split()
    filler = "the film was and a plot it actors really quite".split()
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(filler, 6)) + list(rng.choice(good if label == "pos" else bad, 2))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def test_text_jsonl(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _sentences(rng, 400)) + "\n")
    prof = _profile(tmp_path, "text", "classification", {"seq_len": 16, "vocab_size": 100}, 2, path)
    run = _train(prof, "mlp-w64-d1", tmp_path, epochs=15)
    assert run.best["val_accuracy"] > 0.9, run.epochs  # chance is 0.5
    pre = json.loads((tmp_path / "run" / "preprocess.json").read_text())
    assert "good" in json.dumps(pre)  # the fitted vocabulary is saved with the model
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"text": "the plot was superb and lovely"}) + "\n")
    assert mp.predict(run.output, new).rows[0]["label"] == "pos"


def test_wav_folder_tones(tmp_path):
    sf = pytest.importorskip("soundfile")
    rng = np.random.default_rng(0)
    rate = 8000
    t = np.arange(rate // 4) / rate  # 0.25 s clips
    root = tmp_path / "clips"
    for label, freq in (("low", 300.0), ("high", 1200.0)):
        (root / label).mkdir(parents=True)
        for i in range(40):
            clip = 0.5 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.1 * rng.normal(
                size=t.size
            )
            sf.write(root / label / f"{i}.wav", clip.astype("float32"), rate)
    prof = _profile(
        tmp_path,
        "audio",
        "classification",
        {"sample_rate": rate, "seconds": 0.25},
        2,
        root,
        batch=16,
    )
    run = _train(prof, "cnn1d-w32-d2", tmp_path, epochs=15)
    assert run.best["val_accuracy"] > 0.85, run.epochs  # chance is 0.5
    pred = mp.predict(run.output, root / "high" / "0.wav")
    assert pred.rows[0]["label"] == "high"


def test_timeseries_npz(tmp_path):
    rng = np.random.default_rng(0)
    n, length = 300, 64
    t = np.linspace(0, 4 * np.pi, length)
    y = rng.integers(0, 3, n)
    x = np.stack(
        [
            np.stack([np.sin(t * (1 + k)), np.cos(t * (1 + k))], axis=1)
            + 0.3 * rng.normal(size=(length, 2))
            for k in y
        ]
    ).astype("float32")
    path = tmp_path / "series.npz"
    np.savez(path, x=x, y=y)
    prof = _profile(
        tmp_path, "timeseries", "classification", {"seq_len": length, "features": 2}, 3, path
    )
    run = _train(prof, "cnn1d-w32-d2", tmp_path, epochs=15)
    assert run.best["val_accuracy"] > 0.8, run.epochs  # chance is 1/3

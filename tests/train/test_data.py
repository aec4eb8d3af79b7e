"""The data layer of `modelpick train`: every format on tiny generated files, the checks
against the profile (one DataError line each), the split, the preprocess round trip."""

from __future__ import annotations

import json
import os
import wave

import numpy as np
import pytest

from modelpick.advise.profile import parse_profile
from modelpick.errors import DataError
from modelpick.train.data import Preprocess, check_dataset, load_dataset

INPUTS = {
    "vision": {"channels": 1, "height": 16, "width": 16},
    "text": {"seq_len": 8, "vocab_size": 50},
    "audio": {"sample_rate": 8000, "seconds": 0.1},
    "timeseries": {"seq_len": 5, "features": 2},
    "tabular": {"features": 3},
}


def prof(domain: str, outputs: int = 2, task: str = "classification", inp=None, **data):
    return parse_profile(
        {
            "name": "t",
            "domain": domain,
            "task": task,
            "outputs": outputs,
            "input": inp or INPUTS[domain],
            "data": {"train_samples": data.pop("train_samples", 8), **data},
            "budget": {"memory_gb": 1, "train_minutes": 1},
        },
        "t.yaml",
    )


def error(profile, path, **kw) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(profile, path, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def everything(split):
    return split.batch(np.arange(len(split)))


# --- npz --------------------------------------------------------------------------------------


def test_npz_tabular_stratified_split_and_normalisation(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(5, 3, (100, 3)).astype(np.float32)
    y = np.r_[np.zeros(80, int), np.ones(20, int)]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(prof("tabular", train_samples=80), tmp_path / "d.npz", seed=3)
    assert ds.format == "npz" and ds.label_names == ["0", "1"] and ds.warnings == []
    assert len(ds.train) == 80 and len(ds.val) == 20
    assert np.bincount(ds.val.labels).tolist() == [16, 4]  # stratified: 20 % of each class
    xt, yt = everything(ds.train)
    assert xt.dtype == np.float32 and yt.dtype == np.int64
    assert np.allclose(xt.mean(axis=0), 0, atol=1e-5) and np.allclose(xt.std(axis=0), 1, atol=1e-4)
    again = load_dataset(prof("tabular", train_samples=80), tmp_path / "d.npz", seed=3)
    assert np.array_equal(everything(again.val)[0], everything(ds.val)[0])
    other = load_dataset(prof("tabular", train_samples=80), tmp_path / "d.npz", seed=4)
    assert not np.array_equal(everything(other.val)[0], everything(ds.val)[0])


def test_npz_val_arrays_and_shapes(tmp_path):
    x = np.random.default_rng(0).random((10, 16, 16)).astype(np.float32)  # channel axis added
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 2, x_val=x[:3], y_val=np.array([0, 1, 1]))
    ds = load_dataset(prof("vision", train_samples=10), tmp_path / "d.npz")
    assert len(ds.train) == 10 and len(ds.val) == 3
    assert ds.train.batch(np.array([0, 1]))[0].shape == (2, 1, 16, 16)


@pytest.mark.parametrize(
    "arrays, expected",
    [
        ({"x": np.zeros((4, 3)), "y": np.array([0, 1, 2, 1])}, "y has labels outside 0..1"),
        (
            {"x": np.zeros((4, 3)), "y": np.array([0, 0, 0, 0])},
            "y has 1 classes; the profile's outputs is 2",
        ),
        (
            {"x": np.zeros((4, 4)), "y": np.array([0, 1, 0, 1])},
            "x has shape (4, 4); the profile expects (N, 3)",
        ),
        ({"x": np.zeros((4, 3)), "y": np.array([0, 1, 0])}, "x has 4 samples and y 3"),
        (
            {"x": np.array([[0, 1, np.nan]] * 4), "y": np.array([0, 1, 0, 1])},
            "x has NaN or infinite values in 4 samples",
        ),
        (
            {"x": np.array([[0, 1, np.inf]] + [[0, 0, 0]] * 3), "y": np.array([0, 1, 0, 1])},
            "(the first is sample 0)",
        ),
        ({"x": np.zeros((4, 3))}, "no array 'y'"),
        ({"y": np.zeros(4)}, "no array 'x'"),
        ({"x": np.zeros((4, 3)), "y": np.array([0.5, 1, 0, 1])}, "not whole numbers"),
    ],
)
def test_npz_bad(tmp_path, arrays, expected):
    np.savez(tmp_path / "d.npz", **arrays)
    msg = error(prof("tabular"), str(tmp_path / "d.npz"))
    assert msg.startswith(str(tmp_path / "d.npz") + ": ") and expected in msg, msg


def test_npz_text_ids_checked(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.full((4, 8), 50), y=np.array([0, 1, 0, 1]))
    assert "token ids outside 0..49" in error(prof("text"), tmp_path / "d.npz")
    np.savez(tmp_path / "d.npz", x=np.full((4, 8), 7), y=np.array([0, 1, 0, 1]))
    ds = load_dataset(prof("text"), tmp_path / "d.npz")
    assert ds.train.batch(np.array([0]))[0].dtype == np.int32


def test_npz_regression(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((10, 3)), y=np.arange(10.0))
    ds = load_dataset(prof("tabular", outputs=1, task="regression"), tmp_path / "d.npz")
    assert ds.label_names is None and ds.train.labels.shape == (8, 1)
    assert ds.train.labels.dtype == np.float32
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 3)), y=np.array([1.0, np.nan, 2]))
    assert "NaN or infinite target" in error(
        prof("tabular", outputs=1, task="regression"), tmp_path / "d.npz"
    )


def test_digits_npz_and_train_samples_warning(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:300] * 15).astype(np.uint8)[:, None]
    np.savez_compressed(tmp_path / "digits.npz", x=x, y=d.target[:300])
    p = prof("vision", outputs=10, inp={"channels": 1, "height": 8, "width": 8}, train_samples=1000)
    ds = load_dataset(p, tmp_path / "digits.npz")
    assert len(ds.train) + len(ds.val) == 300 and ds.preprocess.spec.scale == pytest.approx(1 / 255)
    assert any(
        "the profile's data.train_samples is 1,000" in w and f"{len(ds.train)}" in w
        for w in ds.warnings
    )
    x2, ids = ds.preprocess.load_inputs(tmp_path / "digits.npz")
    assert x2.shape == (300, 1, 8, 8) and ids[:2] == ["0", "1"]


# --- tabular ----------------------------------------------------------------------------------


def test_breast_cancer_csv(tmp_path):
    from sklearn.datasets import load_breast_cancer

    df = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    df["label"] = df["label"].map({0: "malignant", 1: "benign"})
    df.to_csv(tmp_path / "bc.csv", index=False)
    p = prof("tabular", inp={"features": 30}, train_samples=455, path="bc.csv")
    ds = load_dataset(p, base_dir=tmp_path)
    assert ds.label_names == ["benign", "malignant"] and ds.format == "csv"
    assert len(ds.train) == 455 and len(ds.val) == 114 and ds.warnings == []
    summary = check_dataset(p, base_dir=tmp_path)
    json.dumps(summary)
    assert summary["samples"] == {"train": 455, "val": 114}
    assert [c["name"] for c in summary["classes"]] == ["benign", "malignant"]
    assert sum(c["train"] for c in summary["classes"]) == 455


CSV = "a,color,b,label\n1,red,,x\n2,blue,5,y\n3,red,6,x\n4,,7,y\n5,blue,8,x\n6,red,9,y\n"


def test_csv_categorical_and_missing(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    ds = load_dataset(prof("tabular", inp={"features": 4}, val_fraction=0.34), tmp_path / "t.csv")
    cols = ds.preprocess.spec.tabular.columns
    assert [(c.name, c.kind) for c in cols] == [
        ("a", "numeric"),
        ("color", "categorical"),
        ("b", "numeric"),
    ]
    x, _ = ds.preprocess.load_inputs(tmp_path / "t.csv")  # label column present: ignored
    assert x.shape == (6, 4)
    assert x[0, 3] == 0.0  # missing b -> the training mean -> 0
    assert x[3, 1:3].tolist() == [0.0, 0.0]  # missing colour -> no category
    (tmp_path / "new.csv").write_text("b,color,a\n7,green,1\n")  # unknown category, no label
    x, ids = ds.preprocess.load_inputs(tmp_path / "new.csv")
    assert ids == ["1"] and x[0, 1:3].tolist() == [0.0, 0.0]
    (tmp_path / "bad.csv").write_text("a,color\n1,red\n")
    assert "no column 'b'" in _err(lambda: ds.preprocess.load_inputs(tmp_path / "bad.csv"))


def _err(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return str(info.value)


def test_csv_feature_count_explained(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    msg = error(prof("tabular", inp={"features": 3}), tmp_path / "t.csv")
    assert (
        "4 features after encoding (2 numeric columns + 2 one-hot columns for 1 text column: "
        "'color' (2))" in msg
    )
    assert "input.features is 3" in msg


@pytest.mark.parametrize(
    "text, data, expected",
    [
        (CSV, {"label": "y"}, "no label column 'y' (columns: 'a', 'color', 'b', 'label')"),
        (
            CSV.replace("blue,5,y", "blue,5,z"),
            {},
            "label column 'label' has 3 classes ('x', 'y', 'z'); the profile's outputs is 2",
        ),
        (CSV.replace("2,blue", "inf,blue"), {}, "column 'a' has an infinite value (row 2)"),
        (CSV.replace("blue,5,y", "blue,5,"), {}, "row 2: label 'label' is missing"),
        ("", {}, "the file is empty"),
        ("a,label\n", {}, "a header and no rows"),
        ('a,label\n"1,x\n', {}, "not a CSV file pandas can read"),
    ],
)
def test_csv_bad(tmp_path, text, data, expected):
    (tmp_path / "t.csv").write_text(text)
    msg = error(prof("tabular", inp={"features": 4}, **data), tmp_path / "t.csv")
    assert expected in msg, msg


def test_parquet_and_val_path(tmp_path):
    import pandas as pd

    df = pd.read_csv(__import__("io").StringIO(CSV))
    df.to_parquet(tmp_path / "t.parquet")
    df.iloc[:2].to_parquet(tmp_path / "v.parquet")
    p = prof("tabular", inp={"features": 4}, path="t.parquet", val_path="v.parquet")
    ds = load_dataset(p, base_dir=tmp_path)
    assert ds.format == "parquet" and len(ds.train) == 6 and len(ds.val) == 2
    p2 = prof("tabular", inp={"features": 4}, path="t.parquet", val_path="t.csv")
    (tmp_path / "t.csv").write_text(CSV)
    assert "expected the same format" in error(p2, None, base_dir=tmp_path)


# --- text -------------------------------------------------------------------------------------


def test_text_jsonl_tokenizer(tmp_path):
    lines = [{"text": f"Good movie number {i}!", "label": "pos"} for i in range(5)]
    lines += [{"text": "bad, bad film " * 3, "label": "neg"} for _ in range(5)]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    ds = load_dataset(prof("text", val_fraction=0.2), tmp_path / "t.jsonl")
    spec = ds.preprocess.spec.text
    assert ds.label_names == ["neg", "pos"] and len(spec.vocabulary) <= 48
    x, _ = everything(ds.train)
    assert x.dtype == np.int32 and x.shape == (8, 8) and x.max() < 50
    assert any("are cut" in w for w in ds.warnings)  # 9 tokens > seq_len 8
    (tmp_path / "new.jsonl").write_text('{"text": "good zebra"}\n')
    x, ids = ds.preprocess.load_inputs(tmp_path / "new.jsonl")
    assert ids == ["1"] and x[0, 0] == 2 + spec.vocabulary.index("good") and x[0, 1] == 1
    assert x[0, 2:].tolist() == [0] * 6


def test_text_csv_and_bad(tmp_path):
    rows = ["text,label"] + [f'"hello {i}",{i % 3}' for i in range(9)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(prof("text", outputs=3), tmp_path / "t.csv")
    assert ds.format == "text_csv" and ds.label_names == ["0", "1", "2"]
    assert "has 3 classes" in error(prof("text", outputs=2), tmp_path / "t.csv")
    (tmp_path / "b.jsonl").write_text('{"text": 1, "label": "a"}\n')
    assert "line 1: text 'text' is not a string" in error(prof("text"), tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").write_text('{"text": "x", "label": NaN}\n')
    assert "line 1" in error(prof("text"), tmp_path / "b.jsonl")


# --- images -----------------------------------------------------------------------------------


def _digits_folder(root, n=60):
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for i in range(n):
        folder = root / f"d{d.target[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((d.images[i] * 15).astype(np.uint8)).save(folder / f"{i}.png")
    return d


def test_digits_image_folder(tmp_path):
    _digits_folder(tmp_path / "imgs")
    p = prof("vision", outputs=10, inp={"channels": 3, "height": 16, "width": 16}, train_samples=48)
    ds = load_dataset(p, tmp_path / "imgs")
    assert ds.format == "image_folder" and ds.label_names == [f"d{i}" for i in range(10)]
    assert any("60 of 60 images were resized to 16×16" in w for w in ds.warnings)
    x, y = ds.train.batch(np.array([0, 1, 2]))
    assert x.shape == (3, 3, 16, 16) and x.dtype == np.float32
    pre = Preprocess.from_dict(json.loads(json.dumps(ds.preprocess.to_dict())))
    assert pre == ds.preprocess
    f = ds.train.files[0][0]
    a, ids = pre.load_inputs(f)
    assert ids == [f.name] and np.array_equal(a[0], ds.train.batch(np.array([0]))[0][0])
    folder_x, names = pre.load_inputs(f.parent)
    assert len(names) == len(os.listdir(f.parent))
    # streaming (no cache) gives the same numbers
    ds.train.cache = None
    assert np.array_equal(ds.train.batch(np.array([0]))[0][0], a[0])


def test_image_folder_bad(tmp_path):
    _digits_folder(tmp_path / "imgs", n=20)
    p = prof("vision", outputs=10)
    (tmp_path / "imgs" / "d3" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert error(p, tmp_path / "imgs").endswith("d3/x.png: not an image Pillow can read")
    os.remove(tmp_path / "imgs" / "d3" / "x.png")
    (tmp_path / "imgs" / "d9" / "notes.txt").write_text("hi")
    assert "d9/notes.txt: not an image" in error(p, tmp_path / "imgs")
    os.remove(tmp_path / "imgs" / "d9" / "notes.txt")
    (tmp_path / "imgs" / "d10").mkdir()
    assert error(p, tmp_path / "imgs").endswith("d10: class folder has no images")
    os.rmdir(tmp_path / "imgs" / "d10")
    assert "10 class folders" in error(prof("vision", outputs=3), tmp_path / "imgs")
    os.mkfifo(tmp_path / "imgs" / "d1" / "f.png")
    assert "d1/f.png: is a fifo" in error(p, tmp_path / "imgs")


# --- audio ------------------------------------------------------------------------------------


def _wav(path, seconds=0.1, rate=8000, freq=440.0):
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


def _clips(root, rate=8000, seconds=0.1):
    for label, freq in (("hi", 2000.0), ("lo", 200.0)):
        (root / label).mkdir(parents=True)
        for i in range(5):
            _wav(root / label / f"{i}.wav", seconds * (1 + 0.1 * i), rate, freq * (1 + 0.05 * i))


def test_wav_folder_waveform(tmp_path):
    _clips(tmp_path / "clips", rate=16000)  # resampled to the profile's 8000 Hz
    ds = load_dataset(prof("audio"), tmp_path / "clips")
    x, _ = ds.train.batch(np.array([0, 1]))
    assert x.shape == (2, 1, 800) and ds.label_names == ["hi", "lo"]
    assert any("cut to 0.1 s (800 samples at 8,000 Hz)" in w for w in ds.warnings)


def test_wav_folder_spectrogram(tmp_path):
    _clips(tmp_path / "clips")
    p = prof("audio", inp={"frames": 10, "mel_bins": 16})
    ds = load_dataset(p, tmp_path / "clips")
    a = ds.preprocess.spec.audio
    # the longest clip: 1119 samples at 8 kHz, 2238 at the default 16 kHz; hop ceil(2238 / 10)
    assert a.samples == 2238 and a.hop == 224 and a.n_fft == 512
    x, y = everything(ds.train)
    assert x.shape == (8, 10, 16) and np.isfinite(x).all()
    # the low tone's energy sits in lower mel bins than the high tone's
    raw = [ds.preprocess.raw_audio(*f)[0] for f in ds.train.files]
    peak = [int(np.argmax(r.mean(axis=0))) for r in raw]
    lo = [pk for pk, lab in zip(peak, y) if ds.label_names[lab] == "lo"]
    hi = [pk for pk, lab in zip(peak, y) if ds.label_names[lab] == "hi"]
    assert max(lo) < min(hi)
    pre = Preprocess.from_dict(ds.preprocess.to_dict())
    got, _ = pre.load_inputs(ds.train.files[0][0])
    assert np.array_equal(got[0], x[0])


def test_wav_folder_bad(tmp_path):
    _clips(tmp_path / "clips")
    (tmp_path / "clips" / "lo" / "a.txt").write_text("x")
    assert error(prof("audio"), tmp_path / "clips").endswith(
        "lo/a.txt: not a WAV file (expected .wav)"
    )
    os.remove(tmp_path / "clips" / "lo" / "a.txt")
    (tmp_path / "clips" / "lo" / "b.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    assert "lo/b.wav: not a WAV file soundfile can read" in error(prof("audio"), tmp_path / "clips")
    os.remove(tmp_path / "clips" / "lo" / "b.wav")
    (tmp_path / "clips" / "mid").mkdir()
    assert error(prof("audio"), tmp_path / "clips").endswith("mid: class folder has no WAV files")


# --- time series ------------------------------------------------------------------------------


def test_long_csv(tmp_path):
    rows = ["series_id,time,f1,f2,label"]
    for s in range(6):
        for t in range(4 + s % 3):  # lengths 4, 5, 6: padded and cut to seq_len 5
            rows.append(f"s{s},{10 - t},{t},{s * t},{'up' if s % 2 else 'down'}")
    (tmp_path / "ts.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(prof("timeseries", val_fraction=0.34), tmp_path / "ts.csv")
    assert ds.format == "long_csv" and ds.label_names == ["down", "up"]
    assert any("2 padded (shortest 4 steps) and 2 cut (longest 6 steps)" in w for w in ds.warnings)
    x, ids = ds.preprocess.load_inputs(tmp_path / "ts.csv")
    assert x.shape == (6, 5, 2) and ids == [f"s{i}" for i in range(6)]
    assert x[0, 4].tolist() == [0.0, 0.0]  # s0 has 4 steps: padded
    bad = "\n".join(rows).replace("s1,10,0,0,up", "s1,10,0,0,down")
    (tmp_path / "bad.csv").write_text(bad)
    assert "series 's1' has more than one label" in error(prof("timeseries"), tmp_path / "bad.csv")
    (tmp_path / "bad.csv").write_text("\n".join(rows).replace("s1,10,0,0", "s1,10,,0"))
    assert "feature column 'f1' has a missing, NaN or infinite value" in error(
        prof("timeseries"), tmp_path / "bad.csv"
    )
    msg = error(prof("timeseries", inp={"seq_len": 5, "features": 3}), tmp_path / "ts.csv")
    assert "2 feature columns" in msg and "input.features is 3" in msg


def test_timeseries_npz(tmp_path):
    np.savez(tmp_path / "s.npz", x=np.random.default_rng(0).random((10, 5, 2)), y=np.arange(10) % 2)
    ds = load_dataset(prof("timeseries"), tmp_path / "s.npz")
    assert ds.train.batch(np.array([0]))[0].shape == (1, 5, 2)
    np.savez(tmp_path / "s.npz", x=np.zeros((10, 6, 2)), y=np.arange(10) % 2)
    assert "the profile expects (N, 5, 2)" in error(prof("timeseries"), tmp_path / "s.npz")


# --- paths, formats, memory, preprocess files -------------------------------------------------


def test_paths_and_formats(tmp_path):
    assert "no such file" in error(prof("tabular"), tmp_path / "none.csv")
    (tmp_path / "x.txt").write_text("a")
    assert "a .txt file; tabular data is" in error(prof("tabular"), tmp_path / "x.txt")
    assert "a folder; tabular data is" in error(prof("tabular"), tmp_path)
    os.mkfifo(tmp_path / "f.csv")
    assert "is a fifo" in error(prof("tabular"), tmp_path / "f.csv")
    assert "no data" in error(prof("tabular"), None)
    (tmp_path / "t.csv").write_text(CSV + "7,red,1,x\n" * 100)  # 1 KiB: 4 KiB in memory
    msg = error(prof("tabular", inp={"features": 4}, max_memory_gb=1e-6), tmp_path / "t.csv")
    assert "the limit is" in msg and "data.max_memory_gb" in msg


def test_unused_fields_warn(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=np.array([0, 1, 0, 1]))
    ds = load_dataset(prof("tabular", text="body", train_samples=3), tmp_path / "d.npz")
    assert any(w.startswith("data.text is not used by npz data") for w in ds.warnings)


def test_preprocess_from_dict_refuses_bad_files(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((10, 3)), y=np.arange(10) % 2)
    d = load_dataset(prof("tabular"), tmp_path / "d.npz").preprocess.to_dict()
    bad = json.loads(json.dumps(d))
    bad["norm"]["std"][0] = -1
    assert "norm: every std must be greater than 0" in _err(
        lambda: Preprocess.from_dict(bad, "p.json")
    )
    bad = dict(d, input_shape=[4])
    assert "p.json" in _err(lambda: Preprocess.from_dict(bad, "p.json"))
    assert "unknown key" in _err(lambda: Preprocess.from_dict(dict(d, extra=1), "p.json"))
    assert "expected a mapping" in _err(lambda: Preprocess.from_dict([], "p.json"))


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, modelpick.train.data; "
        "print(sorted(m for m in ('numpy', 'pandas', 'PIL', 'torch', 'tensorflow') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_wave_module_writes_a_valid_wav(tmp_path):
    # a WAV written by the standard library (16-bit PCM) reads too
    with wave.open(str(tmp_path / "a.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(1600, np.int16).tobytes())
    from modelpick.train.data._media import decode_wav

    assert decode_wav(tmp_path / "a.wav", "a.wav", 8000).shape == (800,)

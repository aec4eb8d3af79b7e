"""load_dataset and check_dataset: find the format, read, check against the profile, split,
fit the preprocess on the training split."""

from __future__ import annotations

import math
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataError
from . import _common as C
from . import _tables
from ._io import CACHE_BYTES, class_folders, memory_limit, resolve, stat_path
from ._spec import AudioSpec, ImageSpec, Norm, PreprocessSpec, SeriesSpec
from .preprocess import Preprocess, _finite_samples

ACCEPTED = {
    "vision": "a folder of class folders of PNG or JPEG images, or a .npz file",
    "text": "a .csv or .jsonl file with text and label columns, or a .npz file of token ids",
    "audio": "a folder of class folders of WAV files, or a .npz file",
    "timeseries": "a long-format .csv file, or a .npz file (N, seq_len, features)",
    "tabular": "a .csv or .parquet file with a label column, or a .npz file",
}
USES = {  # data fields each format reads (besides train_samples, path, val_path, val_fraction)
    "npz": {"max_memory_gb"},
    "csv": {"label", "max_memory_gb"},
    "parquet": {"label", "max_memory_gb"},
    "text_csv": {"label", "text", "max_memory_gb"},
    "jsonl": {"label", "text", "max_memory_gb"},
    "long_csv": {"label", "series_id", "time", "max_memory_gb"},
    "image_folder": {"max_memory_gb"},  # whether the decoded folder is kept in memory
    "wav_folder": {"sample_rate", "seconds", "max_memory_gb"},
}
DEFAULT_VAL_FRACTION = 0.2
DEFAULT_SAMPLE_RATE = 16000


@dataclass
class _Ctx:
    profile: object
    real: Path
    shown: str
    val_real: Path | None
    val_shown: str | None
    seed: int
    warnings: list[str] = field(default_factory=list)

    @property
    def data(self):
        return self.profile.data

    @property
    def fraction(self) -> float:
        return self.data.val_fraction or DEFAULT_VAL_FRACTION

    @property
    def max_gb(self):
        return self.data.max_memory_gb

    @property
    def labels(self) -> list[str]:
        lab = self.data.label
        return [lab] if isinstance(lab, str) else list(lab)

    @property
    def classification(self) -> bool:
        return self.profile.task == "classification"

    def base(self, fmt: str, shape, **kw) -> dict:
        p = self.profile
        return dict(
            domain=p.domain,
            task=p.task,
            outputs=p.outputs,
            format=fmt,
            input_shape=list(shape),
            vocab_size=getattr(p.input, "vocab_size", None),
            **kw,
        )


def detect(profile, real: Path, shown: str) -> str:
    st = stat_path(real, shown)
    domain = profile.domain
    if stat.S_ISDIR(st.st_mode):
        if domain in ("vision", "audio"):
            return "image_folder" if domain == "vision" else "wav_folder"
        raise DataError(f"{shown}: a folder; {domain} data is {ACCEPTED[domain]}")
    suffix = real.suffix.lower()
    fmt = {
        ".npz": "npz",
        ".csv": {"tabular": "csv", "text": "text_csv", "timeseries": "long_csv"}.get(domain),
        ".parquet": "parquet" if domain == "tabular" else None,
        ".jsonl": "jsonl" if domain == "text" else None,
    }.get(suffix)
    if fmt is None:
        what = f"a {suffix} file" if suffix else "a file without an extension"
        raise DataError(f"{shown}: {what}; {domain} data is {ACCEPTED[domain]}")
    return fmt


def load(profile, path=None, base_dir=None, seed: int = 0):
    from . import Dataset

    if isinstance(profile, (str, Path)):
        from ...advise.profile import load_profile

        base_dir = Path(profile).parent if base_dir is None else base_dir
        profile = load_profile(profile)
    data = profile.data
    if path is not None:
        shown, real = str(path), resolve(path, None)
    elif data.path is not None:
        shown, real = data.path, resolve(data.path, base_dir)
    else:
        raise DataError("no data: the profile has no data.path and no --data PATH was given")
    fmt = detect(profile, real, shown)
    val_real = val_shown = None
    if data.val_path is not None:
        val_shown, val_real = data.val_path, resolve(data.val_path, base_dir)
        vfmt = detect(profile, val_real, val_shown)
        if vfmt != fmt:
            raise DataError(
                f"{val_shown}: data.val_path is {vfmt.replace('_', ' ')} data; the training data "
                f"{shown} is {fmt.replace('_', ' ')} (expected the same format)"
            )
    ctx = _Ctx(profile, real, shown, val_real, val_shown, seed)
    unused = sorted(
        f
        for f in data.model_fields_set
        if f not in {"train_samples", "path", "val_path", "val_fraction"} | USES[fmt]
    )
    if fmt == "wav_folder" and profile.input.frames is None:
        unused = sorted({*unused, *({"sample_rate", "seconds"} & data.model_fields_set)})
    for f in unused:
        ctx.warnings.append(f"data.{f} is not used by {fmt.replace('_', ' ')} data; ignored")
    loader = {
        "npz": _npz,
        "csv": _tabular,
        "parquet": _tabular,
        "text_csv": _text,
        "jsonl": _text,
        "image_folder": _folder,
        "wav_folder": _folder,
        "long_csv": _long,
    }[fmt]
    train, val, pre = loader(ctx, fmt)
    n_train, n_val = len(train), len(val)
    if n_train != data.train_samples:
        ctx.warnings.append(
            f"{shown}: {n_train:,} training samples ({n_train + n_val:,} in all, {n_val:,} for "
            f"validation); the profile's data.train_samples is {data.train_samples:,}"
        )
    return Dataset(train, val, pre, pre.label_names, shown, fmt, ctx.warnings)


def check(profile, path=None, base_dir=None, seed: int = 0) -> dict:
    ds = load(profile, path, base_dir, seed)
    pre = ds.preprocess.spec
    out = {
        "source": ds.source,
        "format": ds.format,
        "domain": pre.domain,
        "task": pre.task,
        "input_shape": list(pre.input_shape),
        "input_dtype": "int32" if pre.domain == "text" else "float32",
        "samples": {"train": len(ds.train), "val": len(ds.val)},
        "classes": None,
        "targets": pre.outputs if pre.task == "regression" else None,
        "warnings": list(ds.warnings),
    }
    if ds.label_names is not None:
        k = len(ds.label_names)
        tr = np.bincount(ds.train.labels, minlength=k)
        va = np.bincount(ds.val.labels, minlength=k)
        out["classes"] = [
            {"name": n, "train": int(tr[i]), "val": int(va[i])}
            for i, n in enumerate(ds.label_names)
        ]
    if pre.tabular is not None:
        out["columns"] = [
            {
                "name": c.name,
                "kind": c.kind,
                "width": 1 if c.kind == "numeric" else len(c.categories),
            }
            for c in pre.tabular.columns
        ]
    if pre.text is not None:
        out["vocabulary"] = len(pre.text.vocabulary) + 2
    return out


# --- labels --------------------------------------------------------------------------------


def _classes_of_frame(ctx: _Ctx, df, shown: str, names=None, rows=None):
    """Class ids (classification) or float targets (regression) of a frame's label column(s)."""
    import pandas as pd

    rows = rows or _tables.row_name(df, shown)
    labels = ctx.labels
    if ctx.classification:
        if len(labels) != 1:
            raise DataError(
                f"{shown}: classification takes one label column; data.label names {len(labels)}"
            )
        s = df[labels[0]]
        texts = _label_texts(s.tolist(), shown, labels[0], rows)
        return C.class_ids(
            texts, shown, f"label column {labels[0]!r}", ctx.profile.outputs, names, rows
        )
    cols = []
    for name in labels:
        v = pd.to_numeric(df[name], errors="coerce")
        bad = v.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{shown}: {rows(i)}: label {name!r} is missing or not a number")
        cols.append(v.to_numpy(np.float64))
    y = np.column_stack(cols)
    return C.regression_targets(
        y, shown, f"data.label ({len(labels)} column(s))", ctx.profile.outputs
    ), None


def _label_texts(values: list, shown: str, column: str, rows) -> list[str]:
    import pandas as pd

    for i, v in enumerate(values):
        if isinstance(v, (list, dict)):
            raise DataError(f"{shown}: {rows(i)}: label {column!r} is not a single value")
        if v is None or v == "" or (not isinstance(v, str) and pd.isna(v)):
            raise DataError(f"{shown}: {rows(i)}: label {column!r} is missing")
    return C.label_text(values)


def _split(ctx: _Ctx, n: int, y: np.ndarray):
    return C.split_indices(n, y if ctx.classification else None, ctx.fraction, ctx.seed, ctx.shown)


# --- npz -------------------------------------------------------------------------------------


def _npz_labels(ctx: _Ctx, y: np.ndarray, n: int, shown: str, key: str, full: bool):
    p = ctx.profile
    if len(y) != n:
        xk = "x_val" if key == "y_val" else "x"
        raise DataError(f"{shown}: {xk} has {n:,} samples and {key} {len(y):,}")
    if not ctx.classification:
        return C.regression_targets(y.reshape(n, -1) if y.ndim > 1 else y, shown, key, p.outputs)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{shown}: {key} has shape {C.shape_text(y.shape)}; expected (N,) class ids"
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DataError(f"{shown}: {key} has NaN or infinite labels")
        if not (y == np.round(y)).all():
            raise DataError(
                f"{shown}: {key} has labels that are not whole numbers; expected class ids"
            )
    return C.check_int_labels(y, shown, key, p.outputs, full)


def _npz(ctx: _Ctx, fmt: str):
    from ._io import need
    from ._npz import read_npz

    need("numpy", "reading data")
    p = ctx.profile
    arrays = read_npz(ctx.real, ctx.shown, ctx.max_gb, ("x", "y", "x_val", "y_val"))
    if "y" not in arrays:
        raise DataError(f"{ctx.shown}: no array 'y' (the labels)")
    from ...advise.catalog import io_spec

    io = io_spec(p)
    shape = tuple(io.shape)
    layout = io.layout
    axis = {"image": 0, "vector": 0, "sequence": 1, "waveform": None}.get(layout)
    scale = 1 / 255 if p.domain == "vision" and arrays["x"].dtype == np.uint8 else 1.0
    pre0 = Preprocess(
        PreprocessSpec(
            **ctx.base(fmt, shape, scale=scale),
            label_names=[str(i) for i in range(p.outputs)] if ctx.classification else None,
        )
    )
    x = arrays["x"]
    y = _npz_labels(ctx, arrays["y"], len(x), ctx.shown, "y", full=True)
    x_checked = pre0.npz_x(x, ctx.shown)  # layout, NaN, token-id range; scaled, not normalised
    if ctx.val_real is not None:
        v = read_npz(ctx.val_real, ctx.val_shown, ctx.max_gb, ("x", "y"))
        if "y" not in v:
            raise DataError(f"{ctx.val_shown}: no array 'y' (the labels)")
        xv, vshown, vkey = v["x"], ctx.val_shown, "x"
        yv = _npz_labels(ctx, v["y"], len(xv), vshown, "y", full=False)
        if "x_val" in arrays:
            ctx.warnings.append(
                f"{ctx.shown}: x_val and y_val are not used: data.val_path is given"
            )
        tr = np.arange(len(x))
    elif "x_val" in arrays:
        xv, vshown, vkey = arrays["x_val"], ctx.shown, "x_val"
        yv = _npz_labels(ctx, arrays["y_val"], len(xv), ctx.shown, "y_val", full=False)
        tr = np.arange(len(x))
    else:
        tr, va = _split(ctx, len(x), y)
        xv = vshown = vkey = None
    pre = pre0
    if p.domain != "text":
        mean, std = C.moments_of(x_checked[tr], axis).norm()
        pre = Preprocess(pre0.spec.model_copy(update={"norm": Norm(axis=axis, mean=mean, std=std)}))
    xall = pre.npz_x(x, ctx.shown)
    if xv is None:
        return C.ArraySplit(xall[tr], y[tr]), C.ArraySplit(xall[va], y[va]), pre
    return C.ArraySplit(xall, y), C.ArraySplit(pre.npz_x(xv, vshown, vkey), yv), pre


# --- tables ----------------------------------------------------------------------------------


def _read_table(ctx: _Ctx, real: Path, shown: str, fmt: str):
    if fmt == "parquet":
        return _tables.read_parquet(real, shown, ctx.max_gb)
    return _tables.read_csv(real, shown, ctx.max_gb)


def _tabular(ctx: _Ctx, fmt: str):
    from . import _tabular as T

    p = ctx.profile
    df = _read_table(ctx, ctx.real, ctx.shown, fmt)
    _tables.require_columns(df, ctx.shown, ctx.labels, "label")
    features = [c for c in df.columns if c not in ctx.labels]
    if not features:
        raise DataError(f"{ctx.shown}: no feature columns besides the label")
    rows = _tables.row_name(df, ctx.shown)
    y, names = _classes_of_frame(ctx, df, ctx.shown)
    T.check_finite(df, features, ctx.shown, rows)
    if ctx.val_real is not None:
        dfv = _read_table(ctx, ctx.val_real, ctx.val_shown, fmt)
        _tables.require_columns(dfv, ctx.val_shown, ctx.labels, "label")
        yv, _ = _classes_of_frame(ctx, dfv, ctx.val_shown, names)
        tr, va = np.arange(len(df)), None
    else:
        tr, va = _split(ctx, len(df), y)
    spec = T.fit(df, features, tr, ctx.shown, p.input.features)
    pre = Preprocess(
        PreprocessSpec(
            **ctx.base(fmt, (spec.width,)),
            label_names=names,
            label_columns=ctx.labels,
            tabular=spec,
        )
    )
    x = pre.encode_table(df, ctx.shown)
    if va is None:
        return C.ArraySplit(x, y), C.ArraySplit(pre.encode_table(dfv, ctx.val_shown), yv), pre
    return C.ArraySplit(x[tr], y[tr]), C.ArraySplit(x[va], y[va]), pre


# --- text ------------------------------------------------------------------------------------


def _read_text(ctx: _Ctx, real: Path, shown: str, fmt: str):
    from ._text import texts_of

    col = ctx.data.text
    if fmt == "jsonl":
        df = _tables.read_jsonl(real, shown, ctx.max_gb, [col, *ctx.labels])
    else:
        df = _tables.read_csv(real, shown, ctx.max_gb, text=True)
        _tables.require_columns(df, shown, [col], "text")
        _tables.require_columns(df, shown, ctx.labels, "label")
    texts = texts_of(df[col].tolist(), shown, col, _tables.row_name(df, shown))
    return df, texts


def _text(ctx: _Ctx, fmt: str):
    from . import _text as X

    p = ctx.profile
    df, texts = _read_text(ctx, ctx.real, ctx.shown, fmt)
    y, names = _classes_of_frame(ctx, df, ctx.shown)
    if ctx.val_real is not None:
        dfv, texts_v = _read_text(ctx, ctx.val_real, ctx.val_shown, fmt)
        yv, _ = _classes_of_frame(ctx, dfv, ctx.val_shown, names)
        tr, va = np.arange(len(texts)), None
    else:
        tr, va = _split(ctx, len(texts), y)
    spec = X.fit([texts[i] for i in tr], ctx.data.text, p.input.vocab_size, ctx.shown)
    pre = Preprocess(
        PreprocessSpec(
            **ctx.base(fmt, (p.input.seq_len,)),
            label_names=names,
            label_columns=ctx.labels,
            text=spec,
        )
    )
    x, _ = pre.encode_texts(texts)
    cut = sum(len(X.tokens(texts[i])) > p.input.seq_len for i in tr)
    if cut:
        ctx.warnings.append(
            f"{ctx.shown}: {cut:,} of {len(tr):,} training texts are longer than the profile's "
            f"input.seq_len {p.input.seq_len} tokens and are cut"
        )
    if va is None:
        return C.ArraySplit(x, y), C.ArraySplit(pre.encode_texts(texts_v)[0], yv), pre
    return C.ArraySplit(x[tr], y[tr]), C.ArraySplit(x[va], y[va]), pre


# --- image and audio folders -----------------------------------------------------------------


def _folder(ctx: _Ctx, fmt: str):
    from . import _media as M

    p = ctx.profile
    image = fmt == "image_folder"
    exts = M.IMAGE_EXTS if image else M.WAV_EXTS
    what = "images" if image else "WAV files"
    wrong = "not an image" if image else "not a WAV file"
    if not ctx.classification:
        raise DataError(
            f"{ctx.shown}: a folder of class folders gives class labels; a regression profile "
            f"takes a .npz file with x and y"
        )
    classes = class_folders(ctx.real, ctx.shown, exts, what, wrong)
    names = [n for n, _ in classes]
    if len(names) != p.outputs:
        listed = ", ".join(repr(n) for n in names[:5]) + (", …" if len(names) > 5 else "")
        raise DataError(
            f"{ctx.shown}: {len(names)} class folder{'s' if len(names) != 1 else ''} ({listed}); "
            f"the profile's outputs is {p.outputs}"
        )
    files = [f for _, fs in classes for f in fs]
    y = np.concatenate([np.full(len(fs), k, np.int64) for k, (_, fs) in enumerate(classes)])
    if ctx.val_real is not None:
        vclasses = class_folders(ctx.val_real, ctx.val_shown, exts, what, wrong)
        index = {n: k for k, n in enumerate(names)}
        for n, _ in vclasses:
            if n not in index:
                raise DataError(
                    f"{ctx.val_shown}: class folder {n!r} is not one of the {len(names)} training "
                    f"classes"
                )
        train_files, y_tr = files, y
        val_files = [f for _, fs in vclasses for f in fs]
        y_va = np.concatenate([np.full(len(fs), index[n], np.int64) for n, fs in vclasses])
    else:
        tr, va = _split(ctx, len(files), y)
        train_files, y_tr = [files[i] for i in tr], y[tr]
        val_files, y_va = [files[i] for i in va], y[va]

    if image:
        inp = p.input
        shape = (inp.channels, inp.height, inp.width)
        mode = M.image_mode(inp.channels, ctx.shown)
        spec0 = PreprocessSpec(
            **ctx.base(fmt, shape), label_names=names, image=ImageSpec(mode=mode)
        )
        axis = 0
    else:
        inp = p.input
        if inp.frames is None:
            rate = inp.sample_rate
            samples = max(1, round(inp.sample_rate * inp.seconds))
            shape = (1, samples)
            audio = AudioSpec(form="waveform", sample_rate=rate, samples=samples)
            axis = None
        else:
            rate = ctx.data.sample_rate or DEFAULT_SAMPLE_RATE
            seconds = ctx.data.seconds
            if seconds is None:
                seconds = max(n / r for n, r in (M.wav_info(*f) for f in train_files))
            samples = max(1, round(rate * seconds))
            n_fft, hop = M.stft_params(samples, inp.frames, inp.mel_bins)
            shape = (inp.frames, inp.mel_bins)
            audio = AudioSpec(
                form="spectrogram", sample_rate=rate, samples=samples, n_fft=n_fft, hop=hop
            )
            axis = 1
        spec0 = PreprocessSpec(**ctx.base(fmt, shape), label_names=names, audio=audio)
    pre0 = Preprocess(spec0)
    raw_of = pre0.raw_image if image else pre0.raw_audio

    per = math.prod(shape) * 4
    limit = min(CACHE_BYTES, memory_limit(ctx.max_gb)[0])
    cached = (len(train_files) + len(val_files)) * per <= limit
    moments = C.Moments(axis)
    changed = {"resized": 0, "padded": 0, "cut": 0}

    def decode_all(file_list, stats: bool):
        cache = np.empty((len(file_list), *shape), np.float32) if cached else None
        buf = []
        for i, (real, shown) in enumerate(file_list):
            raw, how = raw_of(real, shown)
            if image:
                changed["resized"] += bool(how)
            elif how:
                changed["padded" if how < 0 else "cut"] += 1
            if cache is not None:
                cache[i] = raw
            if stats:
                buf.append(raw)
                if len(buf) >= 64:
                    moments.add(np.stack(buf))
                    buf.clear()
        if stats and buf:
            moments.add(np.stack(buf))
        return cache

    cache_tr = decode_all(train_files, True)
    cache_va = decode_all(val_files, False)
    mean, std = moments.norm()
    pre = Preprocess(spec0.model_copy(update={"norm": Norm(axis=axis, mean=mean, std=std)}))
    n_all = len(train_files) + len(val_files)
    if changed["resized"]:
        ctx.warnings.append(
            f"{ctx.shown}: {changed['resized']:,} of {n_all:,} images were resized to "
            f"{shape[1]}×{shape[2]} (bilinear)"
        )
    if changed["padded"] or changed["cut"]:
        a = pre.spec.audio
        ctx.warnings.append(
            f"{ctx.shown}: of {n_all:,} clips, {changed['padded']:,} were padded and "
            f"{changed['cut']:,} cut to {a.samples / a.sample_rate:g} s ({a.samples:,} samples "
            f"at {a.sample_rate:,} Hz)"
        )
    decode = pre.image if image else pre.audio
    for cache in (cache_tr, cache_va):
        if cache is not None:
            for i in range(0, len(cache), 1024):
                cache[i : i + 1024] = pre.normalise(cache[i : i + 1024])
    return (
        C.FileSplit(train_files, y_tr, decode, shape, cache_tr),
        C.FileSplit(val_files, y_va, decode, shape, cache_va),
        pre,
    )


# --- long-format time series -----------------------------------------------------------------


def _read_long(ctx: _Ctx, real: Path, shown: str, features: list[str] | None = None):
    from . import _series as S

    d = ctx.data
    df = _tables.read_csv(real, shown, ctx.max_gb)
    _tables.require_columns(df, shown, [d.series_id], "series id")
    _tables.require_columns(df, shown, [d.time], "time")
    _tables.require_columns(df, shown, ctx.labels, "label")
    if features is None:
        features = [c for c in df.columns if c not in {d.series_id, d.time, *ctx.labels}]
        want = ctx.profile.input.features
        if len(features) != want:
            raise DataError(
                f"{shown}: {len(features)} feature columns (every column but {d.series_id!r}, "
                f"{d.time!r} and the label); the profile's input.features is {want}"
            )
    else:
        _tables.require_columns(df, shown, features, "feature")
    order, starts, ids = S.group(df, shown, d.series_id, d.time)
    values = S.features_of(df, shown, features)
    return df, features, order, starts, ids, values


def _series_labels(ctx: _Ctx, df, shown, order, starts, ids, names=None):
    lengths = np.diff(np.r_[starts, len(order)])
    first = order[starts]
    series_rows = lambda i: f"series {ids[i]!r}"  # noqa: E731
    if ctx.classification:
        col = ctx.labels[0] if len(ctx.labels) == 1 else None
        if col is None:
            raise DataError(
                f"{shown}: classification takes one label column; data.label names "
                f"{len(ctx.labels)}"
            )
        texts = _label_texts(df[col].tolist(), shown, col, _tables.row_name(df, shown))
        arr = np.asarray(texts, dtype=object)[order]
        per = np.repeat(arr[starts], lengths)
        bad = np.flatnonzero(arr != per)
        if bad.size:
            k = int(np.searchsorted(starts, bad[0], side="right") - 1)
            raise DataError(
                f"{shown}: series {ids[k]!r} has more than one label ({per[bad[0]]!r} and "
                f"{arr[bad[0]]!r})"
            )
        series_texts = [texts[i] for i in first]
        return C.class_ids(
            series_texts, shown, f"label column {col!r}", ctx.profile.outputs, names, series_rows
        )
    y, _ = _classes_of_frame(ctx, df, shown)
    yo = y[order]
    per = np.repeat(yo[starts], lengths, axis=0)
    bad = np.flatnonzero((yo != per).any(axis=1))
    if bad.size:
        k = int(np.searchsorted(starts, bad[0], side="right") - 1)
        raise DataError(f"{shown}: series {ids[k]!r} has more than one target value")
    return y[first], None


def _long(ctx: _Ctx, fmt: str):
    from . import _series as S

    p = ctx.profile
    L = p.input.seq_len
    df, features, order, starts, ids, values = _read_long(ctx, ctx.real, ctx.shown)
    y, names = _series_labels(ctx, df, ctx.shown, order, starts, ids)
    raw, lengths = S.windows(values, order, starts, L)
    if ctx.val_real is not None:
        dfv, _, order_v, starts_v, ids_v, values_v = _read_long(
            ctx, ctx.val_real, ctx.val_shown, features
        )
        yv, _ = _series_labels(ctx, dfv, ctx.val_shown, order_v, starts_v, ids_v, names)
        raw_v, _ = S.windows(values_v, order_v, starts_v, L)
        tr, va = np.arange(len(raw)), None
    else:
        tr, va = _split(ctx, len(raw), y)
    m = C.Moments(0)
    train_raw = raw[tr].reshape(-1, raw.shape[2])
    m.add(train_raw[~np.isnan(train_raw).any(axis=1)])
    mean, std = m.norm()
    pre = Preprocess(
        PreprocessSpec(
            **ctx.base(fmt, (L, len(features))),
            label_names=names,
            label_columns=ctx.labels,
            norm=Norm(axis=1, mean=mean, std=std),
            series=SeriesSpec(series_id=ctx.data.series_id, time=ctx.data.time, features=features),
        )
    )
    warn = S.pad_warning(ctx.shown, lengths, L)
    if warn:
        ctx.warnings.append(warn)

    def norm(r, shown):
        x = pre.normalise(r)
        x[np.isnan(x)] = 0.0
        _finite_samples(x, shown, "series have values beyond float32's range once normalised")
        return x

    x = norm(raw, ctx.shown)
    if va is None:
        return C.ArraySplit(x, y), C.ArraySplit(norm(raw_v, ctx.val_shown), yv), pre
    return C.ArraySplit(x[tr], y[tr]), C.ArraySplit(x[va], y[va]), pre

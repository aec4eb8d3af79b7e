"""Tabular features: numeric columns standardised with training statistics (a missing value
becomes the training mean, i.e. 0), text columns one-hot encoded over the categories seen in
training (a missing or unseen category is all zeros)."""

from __future__ import annotations

import numpy as np

from ...errors import DataError
from ._common import F32_MAX
from ._spec import Column, TabularSpec


def _numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype)


def _values(series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def check_finite(df, columns: list[str], shown: str, rows) -> None:
    for name in columns:
        if _numeric(df[name]):
            v = _values(df[name])
            bad = np.isinf(v)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(f"{shown}: column {name!r} has an infinite value ({rows(i)})")
            big = np.abs(np.nan_to_num(v)) > F32_MAX
            if big.any():
                i = int(np.flatnonzero(big)[0])
                raise DataError(
                    f"{shown}: column {name!r} has a value beyond float32's range, about "
                    f"±3.4e38 ({rows(i)})"
                )


def fit(df, features: list[str], train_rows: np.ndarray, shown: str, want: int) -> TabularSpec:
    """Encoding fitted on the training rows; the width must be the profile's input.features."""
    columns = []
    train = df.iloc[train_rows]
    for name in features:
        s = train[name]
        if _numeric(s):
            v = _values(s)
            v = v[~np.isnan(v)]
            if not v.size:
                raise DataError(f"{shown}: column {name!r} has no values in the training split")
            std = float(v.std())
            columns.append(
                Column(
                    name=name, kind="numeric", mean=float(v.mean()), std=std if std > 1e-8 else 1.0
                )
            )
        else:
            cats = sorted({str(x) for x in s[s.notna()].tolist()})
            if not cats:
                raise DataError(f"{shown}: column {name!r} has no values in the training split")
            columns.append(Column(name=name, kind="categorical", categories=cats))
    spec = TabularSpec(columns=columns)
    if spec.width != want:
        numeric = sum(c.kind == "numeric" for c in columns)
        cats = [c for c in columns if c.kind == "categorical"]
        listed = ", ".join(f"{c.name!r} ({len(c.categories)})" for c in cats[:5])
        listed += ", …" if len(cats) > 5 else ""
        how = f"{numeric} numeric column{'s' if numeric != 1 else ''}"
        if cats:
            how += (
                f" + {spec.width - numeric} one-hot columns for {len(cats)} text "
                f"column{'s' if len(cats) != 1 else ''}: {listed}"
            )
        raise DataError(
            f"{shown}: {spec.width} features after encoding ({how}); the profile's "
            f"input.features is {want}"
        )
    return spec


def encode(spec: TabularSpec, df, shown: str) -> np.ndarray:
    """(N, width) float32 for the rows of `df` (which must have every trained column)."""
    missing = [c.name for c in spec.columns if c.name not in df.columns]
    if missing:
        raise DataError(
            f"{shown}: no column {missing[0]!r}; the model was trained with "
            f"{len(spec.columns)} feature columns ("
            f"{', '.join(repr(c.name) for c in spec.columns[:8])}"
            f"{', …' if len(spec.columns) > 8 else ''})"
        )
    out = np.zeros((len(df), spec.width), np.float32)
    j = 0
    for c in spec.columns:
        s = df[c.name]
        if c.kind == "numeric":
            if not _numeric(s):
                import pandas as pd

                conv = pd.to_numeric(s, errors="coerce")
                bad = conv.isna() & s.notna()
                if bad.any():
                    i = int(np.flatnonzero(bad.to_numpy())[0])
                    raise DataError(
                        f"{shown}: column {c.name!r} was numeric in training; row {i + 1} is not "
                        "a number"
                    )
                s = conv
            v = _values(s)
            if np.isinf(v).any():
                i = int(np.flatnonzero(np.isinf(v))[0])
                raise DataError(f"{shown}: column {c.name!r} has an infinite value (row {i + 1})")
            with np.errstate(over="ignore", invalid="ignore"):
                z = ((v - c.mean) / c.std).astype(np.float32)
            big = np.isinf(z)  # finite as given, beyond float32 once standardised
            if big.any():
                i = int(np.flatnonzero(big)[0])
                raise DataError(
                    f"{shown}: column {c.name!r} has a value beyond float32's range once "
                    f"standardised (row {i + 1})"
                )
            out[:, j] = np.where(np.isnan(z), np.float32(0), z)
            j += 1
        else:
            index = {k: n for n, k in enumerate(c.categories)}
            present = s.notna().to_numpy()
            codes = np.array(
                [index.get(str(x), -1) if ok else -1 for x, ok in zip(s.tolist(), present)],
                dtype=np.int64,
            )
            rows = np.flatnonzero(codes >= 0)
            out[rows, j + codes[rows]] = 1.0
            j += len(c.categories)
    return out

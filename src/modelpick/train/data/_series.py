"""Long-format time series: one row per (series, time step); rows of a series are ordered by
time, the first seq_len steps are kept, shorter series are padded at the end (with zeros after
normalisation, i.e. the training mean)."""

from __future__ import annotations

import numpy as np

from ...errors import DataError
from ._common import F32_MAX


def _time_key(df, column: str, shown: str) -> np.ndarray:
    import pandas as pd

    s = df[column]
    if s.isna().any():
        i = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DataError(f"{shown}: row {i + 1}: time {column!r} is missing")
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        v = s.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise DataError(f"{shown}: row {i + 1}: time {column!r} is not finite")
        return v
    try:
        # tz-aware times come back from to_numpy() as Timestamp objects: drop the zone (all are
        # UTC now) to get datetime64, whose integers order the times
        t = pd.to_datetime(s.astype(str), format="ISO8601", utc=True).dt.tz_localize(None)
        return t.to_numpy().astype(np.int64)
    except Exception:
        raise DataError(
            f"{shown}: time column {column!r} holds neither numbers nor ISO 8601 times"
        ) from None


def _plain(v):
    """A cell as Python shows it (1, not np.int64(1))."""
    return v.item() if isinstance(v, np.generic) else v


def group(df, shown: str, series_id: str, time: str):
    """Rows grouped by series (in order of first appearance), each ordered by time:
    (order of rows, start of each series in `order`, series ids as text)."""
    import pandas as pd

    sid = df[series_id]
    if sid.isna().any():
        i = int(np.flatnonzero(sid.isna().to_numpy())[0])
        raise DataError(f"{shown}: row {i + 1}: series id {series_id!r} is missing")
    codes, uniques = pd.factorize(sid.astype(str), sort=False)
    t = _time_key(df, time, shown)
    order = np.lexsort((t, codes))
    c, tt = codes[order], t[order]
    same = (c[1:] == c[:-1]) & (tt[1:] == tt[:-1])
    if same.any():
        k = int(np.flatnonzero(same)[0])
        raise DataError(
            f"{shown}: series {str(uniques[c[k]])!r} has two rows at time "
            f"{_plain(df[time].iloc[order[k]])!r} (rows {order[k] + 1} and {order[k + 1] + 1})"
        )
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    return order, starts, [str(u) for u in uniques]


def features_of(df, shown: str, features: list[str]) -> np.ndarray:
    import pandas as pd

    out = np.empty((len(df), len(features)), np.float64)
    for j, name in enumerate(features):
        s = df[name]
        if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
            raise DataError(f"{shown}: feature column {name!r} is not numeric")
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(v) | (np.abs(np.nan_to_num(v)) > F32_MAX)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{shown}: feature column {name!r} has a missing, NaN or infinite value, or "
                f"one beyond float32's range (row {i + 1})"
            )
        out[:, j] = v
    return out


def windows(values: np.ndarray, order, starts, seq_len: int):
    """(S, seq_len, F) float32 with NaN where a series is padded, and each series' length."""
    ends = np.r_[starts[1:], len(order)]
    lengths = ends - starts
    x = np.full((len(starts), seq_len, values.shape[1]), np.nan, np.float32)
    for k, (s, e) in enumerate(zip(starts, ends)):
        rows = order[s : min(e, s + seq_len)]
        x[k, : len(rows)] = values[rows]
    return x, lengths


def pad_warning(shown: str, lengths: np.ndarray, seq_len: int) -> str | None:
    short = int((lengths < seq_len).sum())
    long = int((lengths > seq_len).sum())
    if not short and not long:
        return None
    parts = []
    if short:
        parts.append(f"{short} padded (shortest {int(lengths.min())} steps)")
    if long:
        parts.append(f"{long} cut (longest {int(lengths.max())} steps)")
    return (
        f"{shown}: of {len(lengths)} series, {' and '.join(parts)} to the profile's "
        f"input.seq_len {seq_len}"
    )

"""Reading CSV, parquet and JSON-lines files into pandas, with the memory limit checked first."""

from __future__ import annotations

import io
from pathlib import Path

from ...errors import DataError
from ...safeio import parse_json
from ._io import check_file, check_memory, need, open_file, read_bytes

# in memory, a CSV or JSON-lines file takes about this many times its size on disk (pandas'
# objects and the float32 copy); a parquet file this many times its uncompressed size
CSV_FACTOR = 4
PARQUET_FACTOR = 2


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    text = text[0] if text else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def read_csv(real: Path, shown: str, max_gb: float | None, text: bool = False):
    """A CSV file as a DataFrame. `text`: every cell is read as text, nothing as missing."""
    pd = need("pandas", "reading a CSV file")
    size = check_file(real, shown, "a CSV file")
    check_memory(shown, size * CSV_FACTOR, f"{CSV_FACTOR} × its {size:,} bytes", max_gb)
    opts = {"dtype": str, "keep_default_na": False, "na_filter": False} if text else {}
    with open_file(real, shown, "a CSV file") as f:
        try:
            df = pd.read_csv(f, low_memory=False, encoding="utf-8", **opts)
        except UnicodeDecodeError as exc:
            raise DataError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
        except pd.errors.EmptyDataError:
            raise DataError(
                f"{shown}: the file is empty; expected a CSV file with a header"
            ) from None
        except Exception as exc:  # pandas' parser errors, MemoryError
            raise DataError(f"{shown}: not a CSV file pandas can read ({_reason(exc)})") from None
        _no_renamed_duplicates(df, f, shown, pd)
    return _checked(df, shown)


def _no_renamed_duplicates(df, f, shown: str, pd) -> None:
    """pandas renames a repeated header name `a` to `a.1`: read the header row as data to tell
    a real `a.1` from a renamed duplicate."""
    names = [str(c) for c in df.columns]
    if not any(n.rpartition(".")[0] in names for n in names):
        return
    f.seek(0)
    try:
        header = pd.read_csv(
            f, header=None, nrows=1, dtype=str, encoding="utf-8", keep_default_na=False
        )
    except Exception:
        return
    raw = [str(c) for c in header.iloc[0].tolist()]
    seen = set()
    for n in raw:
        if n in seen:
            raise DataError(f"{shown}: column {n!r} is named twice in the header")
        seen.add(n)


def read_parquet(real: Path, shown: str, max_gb: float | None):
    pd = need("pandas", "reading a parquet file")
    pq = need("pyarrow.parquet", "reading a parquet file")
    with open_file(real, shown, "a parquet file") as f:
        try:
            meta = pq.ParquetFile(f).metadata
            raw = sum(
                meta.row_group(i).column(j).total_uncompressed_size
                for i in range(meta.num_row_groups)
                for j in range(meta.num_columns)
            )
        except Exception as exc:
            raise DataError(
                f"{shown}: not a parquet file pyarrow can read ({_reason(exc)})"
            ) from None
        check_memory(
            shown, raw * PARQUET_FACTOR, f"{PARQUET_FACTOR} × {raw:,} bytes uncompressed", max_gb
        )
        f.seek(0)
        try:
            df = pd.read_parquet(f, engine="pyarrow")
        except Exception as exc:
            raise DataError(
                f"{shown}: not a parquet file pyarrow can read ({_reason(exc)})"
            ) from None
    return _checked(df, shown)


def read_jsonl(real: Path, shown: str, max_gb: float | None, columns: list[str]):
    """A JSON-lines file (one object per line; blank lines skipped) as a DataFrame of the
    `columns` named (each required in every line), values kept as JSON gave them."""
    pd = need("pandas", "reading a JSON-lines file")
    size = check_file(real, shown, "a JSON-lines file")
    check_memory(shown, size * CSV_FACTOR, f"{CSV_FACTOR} × its {size:,} bytes", max_gb)
    data = read_bytes(real, shown, "a JSON-lines file", limit=max(size, 1) + (1 << 20))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    cols: dict[str, list] = {c: [] for c in columns}
    lines = []
    for number, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        where = f"{shown}: line {number}"
        obj = parse_json(line, where, DataError)
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object; received {type(obj).__name__}")
        for c in columns:
            if c not in obj:
                raise DataError(f"{where}: no field {c!r}")
            cols[c].append(obj[c])
        lines.append(number)
    if not lines:
        raise DataError(f"{shown}: no lines; expected one JSON object per line")
    df = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in cols.items()})
    df.attrs["lines"] = lines
    return df


def _checked(df, shown: str):
    if not len(df.columns):
        raise DataError(f"{shown}: no columns")
    if len(df) == 0:
        raise DataError(f"{shown}: a header and no rows")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise DataError(f"{shown}: a column name is used twice")
    df.columns = names
    return df


def require_columns(df, shown: str, names: list[str], what: str) -> None:
    for name in names:
        if name not in df.columns:
            have = ", ".join(repr(c) for c in list(df.columns)[:10])
            more = ", …" if len(df.columns) > 10 else ""
            raise DataError(f"{shown}: no {what} column {name!r} (columns: {have}{more})")


def row_name(df, shown: str):
    """How row i is named in messages: a data row (1-based, header not counted) or a line."""
    lines = df.attrs.get("lines")
    if lines is not None:
        return lambda i: f"line {lines[i]}"
    return lambda i: f"row {i + 1}"

"""`.npz` archives: `x` (and `y`, `x_val`, `y_val`), read without pickles, their sizes checked
from the array headers before any array is loaded."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...errors import DataError
from ._common import shape_text
from ._io import check_memory, open_file


def read_npz(real: Path, shown: str, max_gb: float | None, keys: tuple[str, ...]) -> dict:
    """The arrays of `keys` that the archive has (x is required)."""
    with open_file(real, shown, "a .npz file") as f:
        try:
            z = np.load(f, allow_pickle=False)
        except Exception:
            raise DataError(f"{shown}: not a .npz file numpy can read") from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise DataError(f"{shown}: a single .npy array; expected a .npz archive with x and y")
        with z:
            present = [k for k in keys if k in z.files]
            if "x" not in present:
                have = ", ".join(repr(k) for k in z.files[:10]) or "none"
                raise DataError(f"{shown}: no array 'x' (arrays: {have})")
            needed = 0
            for k in present:
                shape, dtype = _header(z, k, shown)
                if dtype.hasobject:
                    raise DataError(f"{shown}: {k} is an array of Python objects; expected numbers")
                if dtype.kind not in "biuf":
                    raise DataError(f"{shown}: {k} has dtype {dtype}; expected numbers")
                if any(n < 0 for n in shape):
                    raise DataError(f"{shown}: {k} cannot be read (a damaged archive?)")
                n = math.prod(shape)
                needed += n * dtype.itemsize + (n * 4 if k.startswith("x") else 0)
            check_memory(shown, needed, "its arrays and a float32 copy of x", max_gb)
            out = {}
            for k in present:
                try:
                    a = z[k]
                except Exception:  # truncated data, a bad header (object arrays are refused above)
                    raise DataError(f"{shown}: {k} cannot be read (a damaged archive?)") from None
                if a.dtype.kind not in "biuf":
                    raise DataError(f"{shown}: {k} has dtype {a.dtype}; expected numbers")
                if a.ndim == 0:
                    raise DataError(f"{shown}: {k} is a single number; expected one row per sample")
                out[k] = a
    if ("x_val" in out) != ("y_val" in out) and "y" in keys:
        raise DataError(f"{shown}: x_val and y_val come together; only one of them is there")
    return out


def _header(z, key: str, shown: str):
    try:
        with z.zip.open(key + ".npy") as m:
            version = np.lib.format.read_magic(m)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(m)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(m)
    except Exception:
        raise DataError(f"{shown}: {key} cannot be read (a damaged archive?)") from None
    return shape, dtype


def fit_layout(x: np.ndarray, shown: str, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """x in the model's layout (N, *shape); a missing channel axis of size 1 is added."""
    if x.shape[1:] == tuple(shape):
        return x
    if len(shape) >= 2 and shape[0] == 1 and x.shape[1:] == tuple(shape[1:]):
        return x[:, None]
    raise DataError(
        f"{shown}: {key} has shape {shape_text(x.shape)}; the profile expects "
        f"{shape_text(('N', *shape))}"
    )

"""Labels, the validation split, training statistics and the two kinds of Split."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from ...errors import DataError

_INT = re.compile(r"[+-]?\d+\Z")
F32_MAX = float(np.finfo(np.float32).max)


def label_text(values) -> list[str]:
    """Each label value as text: 3 -> "3", 3.0 -> "3", "cat" -> "cat", True -> "True"."""
    out = []
    for v in values:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        out.append(str(v.item() if isinstance(v, np.generic) else v))
    return out


def sort_names(names) -> list[str]:
    """Class names in their order: numerically when every name is a number, else as text."""
    uniq = set(names)

    def number(s: str) -> float | None:
        try:
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None

    if uniq and all(_INT.match(s) for s in uniq):
        return sorted(uniq, key=lambda s: (int(s), s))
    if uniq and all(number(s) is not None for s in uniq):
        return sorted(uniq, key=lambda s: (number(s), s))
    return sorted(uniq)


def class_ids(
    texts: list[str],
    shown: str,
    what: str,
    outputs: int,
    names: list[str] | None = None,
    rows: Callable[[int], str] = lambda i: f"row {i + 1}",
) -> tuple[np.ndarray, list[str]]:
    """int64 class ids for label texts, and the names (sorted, unless `names` is given: the
    training classes, which a validation set must keep to)."""
    if names is None:
        names = sort_names(texts)
        if len(names) != outputs:
            shown_names = ", ".join(repr(n) for n in names[:5]) + (", …" if len(names) > 5 else "")
            raise DataError(
                f"{shown}: {what} has {len(names)} class{'es' if len(names) != 1 else ''} "
                f"({shown_names}); the profile's outputs is {outputs}"
            )
    index = {n: i for i, n in enumerate(names)}
    ids = np.empty(len(texts), np.int64)
    for i, t in enumerate(texts):
        k = index.get(t)
        if k is None:
            raise DataError(
                f"{shown}: {rows(i)}: label {t!r} is not one of the {len(names)} training classes"
            )
        ids[i] = k
    return ids, names


def _number(v) -> str:
    """A label value for a message: 3, not 3.0; 1e+300, not its 301 digits."""
    if isinstance(v, float) and (not v.is_integer() or abs(v) >= 2**53):
        return f"{v:g}"
    return str(int(v))


def check_int_labels(y: np.ndarray, shown: str, what: str, outputs: int, full: bool) -> np.ndarray:
    """`y` (whole numbers of any numeric dtype) as int64 class ids, checked against `outputs`
    before the cast (a 1e300 or a uint64 beyond int64 must not wrap round into range)."""
    if y.size and (y.min() < 0 or y.max() >= outputs):
        lo, hi = (_number(v.item()) for v in (y.min(), y.max()))
        raise DataError(
            f"{shown}: {what} has labels outside 0..{outputs - 1} (the profile's outputs is "
            f"{outputs}; received min {lo}, max {hi})"
        )
    y = y.astype(np.int64)
    if full:
        counts = np.bincount(y, minlength=outputs)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            listed = ", ".join(str(int(c)) for c in empty[:5]) + (", …" if empty.size > 5 else "")
            raise DataError(
                f"{shown}: {what} has {outputs - empty.size} classes; the profile's outputs is "
                f"{outputs} (no samples of class {listed})"
            )
    return y


def regression_targets(values: np.ndarray, shown: str, what: str, outputs: int) -> np.ndarray:
    y = np.asarray(values, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != outputs:
        raise DataError(
            f"{shown}: {what} gives {y.shape[1] if y.ndim == 2 else '?'} targets per sample; "
            f"the profile's outputs is {outputs}"
        )
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError(f"{shown}: {what} has a NaN or infinite target (sample {i + 1})")
    big = np.abs(y) > F32_MAX  # finite here, infinite as float32: the loss would be too
    if big.any():
        i = int(np.flatnonzero(big.any(axis=1))[0])
        raise DataError(
            f"{shown}: {what} has a target beyond float32's range, about ±3.4e38 (sample {i + 1})"
        )
    return y.astype(np.float32)


def split_indices(
    n: int, class_of: np.ndarray | None, fraction: float, seed: int, shown: str
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows: stratified by class when `class_of` is given, seeded."""
    if n < 2:
        raise DataError(
            f"{shown}: {n} sample{'s' if n != 1 else ''}; at least 2 are needed to hold some out "
            f"for validation"
        )
    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    if class_of is None:
        perm = rng.permutation(n)
        k = min(max(1, round(n * fraction)), n - 1)
        val.append(perm[:k])
    else:
        groups = [np.flatnonzero(class_of == c) for c in np.unique(class_of)]
        # largest remainders: round(n · fraction) in all, each class within one of its share
        quota = np.array([len(g) * fraction for g in groups])
        ks = np.floor(quota).astype(int)
        for g in np.argsort(-(quota - ks), kind="stable")[: max(0, round(n * fraction) - ks.sum())]:
            ks[g] += 1
        for idx, k in zip(groups, ks):
            val.append(rng.permutation(idx)[: min(int(k), len(idx) - 1)])
        if sum(len(v) for v in val) == 0:
            big = max(range(len(groups)), key=lambda g: len(groups[g]))
            if len(groups[big]) < 2:
                raise DataError(
                    f"{shown}: every class has a single sample; none can be held out for "
                    f"validation (give data.val_path)"
                )
            val[big] = rng.permutation(groups[big])[:1]
    v = np.sort(np.concatenate(val)) if val else np.empty(0, np.int64)
    mask = np.ones(n, bool)
    mask[v] = False
    return np.flatnonzero(mask), v


class Moments:
    """Mean and standard deviation along one axis of the samples, accumulated batch by batch
    (Chan's parallel update, in float64)."""

    def __init__(self, axis: int | None):
        self.axis = axis
        self.n = 0
        self.mean = None
        self.m2 = None

    def add(self, x: np.ndarray) -> None:
        """`x`: a batch of samples (N, *shape)."""
        x = np.asarray(x, np.float64)
        if self.axis is None:
            flat = x.reshape(-1, 1)
        else:
            flat = np.moveaxis(x, self.axis + 1, -1).reshape(-1, x.shape[self.axis + 1])
        if not flat.shape[0]:
            return
        n_b = flat.shape[0]
        mean_b = flat.mean(axis=0)
        m2_b = ((flat - mean_b) ** 2).sum(axis=0)
        if self.mean is None:
            self.n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.n * n_b / n)
        self.n = n

    def norm(self) -> tuple[list[float], list[float]]:
        """(mean, std) per index of the axis; with no axis (a waveform), no mean and the root
        mean square: audio is only scaled, not centred."""
        if self.mean is None:
            raise DataError("no training samples to compute statistics on")
        if self.axis is None:
            rms = float(np.sqrt(self.m2[0] / max(1, self.n) + self.mean[0] ** 2))
            return [0.0], [rms if rms > 1e-8 else 1.0]
        return self.result()

    def result(self) -> tuple[list[float], list[float]]:
        std = np.sqrt(self.m2 / max(1, self.n))
        std = np.where(std > 1e-8, std, 1.0)  # a constant is only centred
        return [float(v) for v in self.mean], [float(v) for v in std]


def moments_of(x: np.ndarray, axis: int | None, chunk: int = 4096) -> Moments:
    m = Moments(axis)
    for i in range(0, len(x), chunk):
        m.add(x[i : i + chunk])
    return m


class ArraySplit:
    """One side of an in-memory data set."""

    def __init__(self, x: np.ndarray, labels: np.ndarray):
        self.x = x
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return self.x[idx], self.labels[idx]


class FileSplit:
    """One side of an image or audio folder: every file decoded in `batch()`, or taken from
    `cache` (all samples decoded and normalised once, when they fit CACHE_BYTES)."""

    def __init__(
        self,
        files: list,
        labels: np.ndarray,
        decode: Callable[[object, str], np.ndarray],
        shape: tuple[int, ...],
        cache: np.ndarray | None = None,
    ):
        self.files = files  # [(path, shown)]
        self.shape = tuple(shape)
        self.labels = labels
        self._decode = decode
        self.cache = cache

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        if self.cache is not None:
            return self.cache[idx], self.labels[idx]
        x = np.empty((len(idx), *self.shape), np.float32)
        for row, i in enumerate(idx):
            x[row] = self._decode(*self.files[i])
        return x, self.labels[idx]


def shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"

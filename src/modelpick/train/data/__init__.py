"""The data layer of `modelpick train`: one loader per format, every check against the
profile before any training, and the fitted Preprocess that `predict` reuses (docs/data.md).

    ds = load_dataset(profile, base_dir=Path("task.yaml").parent)
    x, y = ds.train.batch(np.arange(32))

Importing this package imports neither numpy nor pandas: they come (with Pillow, soundfile,
soxr, pyarrow) when data is read, and a missing one is an UnavailableError (exit 3) naming
`pip install 'modelpick[train]'`. Every problem with the data is one DataError line (exit 2):
`file: what differs (expected …, received …)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np

    from .preprocess import Preprocess

__all__ = ["Dataset", "Preprocess", "Split", "check_dataset", "load_dataset"]


class Split(Protocol):
    """One side (train or val) of a data set, preprocessed, ready for a model."""

    labels: (
        np.ndarray
    )  # int64 class ids (N,) for classification, float32 (N, outputs) for regression

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x (float32 in the model's input layout, or int32 token ids for text) and y for
        these rows."""
        ...


class Dataset(NamedTuple):
    train: Split
    val: Split
    preprocess: Preprocess  # fitted on the training split only
    label_names: list[str] | None  # class index -> name; None for regression
    source: str  # the path as the user gave it
    format: str  # npz | csv | parquet | image_folder | jsonl | text_csv | wav_folder | long_csv
    warnings: list[str]  # e.g. the train_samples mismatch, with both numbers


def _numpy() -> None:
    from ._io import need

    need("numpy", "reading data")


def load_dataset(
    profile: Any, path: str | Path | None = None, base_dir: Path | None = None, seed: int = 0
) -> Dataset:
    """Read, check and split the data of `profile` (a TaskProfile, or a profile file).

    `path` (the CLI's `--data`) overrides `profile.data.path` and is taken as given (relative
    to the current directory); `data.path` and `data.val_path` from the profile are relative
    to `base_dir` (the profile file's folder). `seed` drives the validation split."""
    _numpy()
    from ._load import load

    return load(profile, path, base_dir, seed)


def check_dataset(
    profile: Any, path: str | Path | None = None, base_dir: Path | None = None, seed: int = 0
) -> dict:
    """What `modelpick validate PROFILE --data` reports: the data loaded and checked as for
    training, summarised as a JSON-able dict (source, format, domain, task, input_shape,
    input_dtype, samples {train, val}, classes [{name, train, val}] or None, targets, warnings;
    columns for tabular data, vocabulary for text)."""
    _numpy()
    from ._load import check

    return check(profile, path, base_dir, seed)


def __getattr__(name: str):
    if name == "Preprocess":
        _numpy()
        from .preprocess import Preprocess

        return Preprocess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

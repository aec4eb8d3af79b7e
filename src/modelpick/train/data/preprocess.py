"""Preprocess: everything fitted on the training split that turns raw input into model input
(normalisation statistics, the tabular encoding, the vocabulary, the audio and image
settings, the class names). The training loader and `predict` both go through it, so that a
model sees the same numbers for the same raw file."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from ...errors import DataError
from ._io import files_of, resolve, stat_path
from ._spec import PreprocessSpec


class Preprocess:
    """A fitted preprocess. `to_dict()` is JSON-able (saved as preprocess.json beside the
    model); `from_dict()` checks every field of what it reads."""

    def __init__(self, spec: PreprocessSpec):
        self.spec = spec

    # --- saving -----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return self.spec.model_dump(mode="json")

    @classmethod
    def from_dict(cls, d: dict, source: str = "preprocess.json") -> Preprocess:
        from ...advise.profile import describe_error

        if not isinstance(d, dict):
            raise DataError(
                f"{source}: expected a mapping of preprocess fields; received {type(d).__name__}"
            )
        try:
            spec = PreprocessSpec.model_validate(d)
        except ValidationError as exc:
            raise DataError(describe_error(exc, source, d, tags=(), model=PreprocessSpec)) from None
        return cls(spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Preprocess) and self.spec == other.spec

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        s = self.spec
        return f"Preprocess(format={s.format!r}, domain={s.domain!r}, input_shape={s.input_shape})"

    @property
    def format(self) -> str:
        return self.spec.format

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.spec.input_shape)

    @property
    def label_names(self) -> list[str] | None:
        return self.spec.label_names

    # --- transforms -------------------------------------------------------------------------

    @cached_property
    def _norm(self):
        n = self.spec.norm
        if n is None:
            return None
        shape = [1] * len(self.spec.input_shape)
        if n.axis is not None:
            shape[n.axis] = -1
        mean = np.asarray(n.mean, np.float32).reshape(shape)
        std = np.asarray(n.std, np.float32).reshape(shape)
        return mean, std

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """Samples (N, *input_shape) or one sample (*input_shape): (raw·scale − mean) / std,
        float32."""
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked by callers
            x = np.asarray(raw, dtype=np.float32)
            if self.spec.scale != 1.0:
                x = x * np.float32(self.spec.scale)
            if self._norm is not None:
                mean, std = self._norm
                x = (x - mean) / std
        return x.astype(np.float32, copy=False)

    @cached_property
    def _word_ids(self) -> dict:
        return {w: i + 2 for i, w in enumerate(self.spec.text.vocabulary)}

    def encode_texts(self, texts: list[str]) -> tuple[np.ndarray, int]:
        from . import _text

        return _text.encode(self.spec.text, texts, self.spec.input_shape[0], self._word_ids)

    def encode_table(self, df, shown: str) -> np.ndarray:
        from . import _tabular

        return _tabular.encode(self.spec.tabular, df, shown)

    def raw_image(self, real: Path, shown: str):
        from ._media import decode_image

        _, h, w = self.spec.input_shape
        return decode_image(real, shown, self.spec.image.mode, h, w)

    def image(self, real: Path, shown: str) -> np.ndarray:
        return self.normalise(self.raw_image(real, shown)[0])

    @cached_property
    def _filterbank(self):
        from ._media import mel_filterbank

        a = self.spec.audio
        return mel_filterbank(a.sample_rate, a.n_fft, self.spec.input_shape[1])

    def raw_audio(self, real: Path, shown: str):
        """(raw features, -1 padded / 0 / 1 cut)."""
        from ._media import decode_wav, fit_length, log_mel

        a = self.spec.audio
        x, how = fit_length(decode_wav(real, shown, a.sample_rate), a.samples)
        if a.form == "waveform":
            return x[None], how
        return log_mel(x, self.spec.input_shape[0], a.n_fft, a.hop, self._filterbank), how

    def audio(self, real: Path, shown: str) -> np.ndarray:
        return self.normalise(self.raw_audio(real, shown)[0])

    def series(self, df, shown: str):
        """(normalised (S, seq_len, F), lengths, series ids) of a long-format frame."""
        from . import _series

        s = self.spec.series
        from ._tables import require_columns

        require_columns(df, shown, [s.series_id, s.time, *s.features], "needed")
        order, starts, ids = _series.group(df, shown, s.series_id, s.time)
        values = _series.features_of(df, shown, s.features)
        raw, lengths = _series.windows(values, order, starts, self.spec.input_shape[0])
        x = self.normalise(raw)
        x[np.isnan(x)] = 0.0
        _finite_samples(x, shown, "series have values beyond float32's range once normalised")
        return x, lengths, ids, order, starts

    def npz_x(self, x: np.ndarray, shown: str, key: str = "x") -> np.ndarray:
        from ._npz import fit_layout

        if len(x) == 0:
            raise DataError(f"{shown}: {key} has no samples")
        x = fit_layout(x, shown, key, self.input_shape)
        if self.spec.domain == "text":
            if x.dtype.kind not in "iub":
                raise DataError(f"{shown}: {key} has dtype {x.dtype}; expected integer token ids")
            v = self.spec.vocab_size
            if x.size and (x.min() < 0 or x.max() >= v):
                raise DataError(
                    f"{shown}: {key} has token ids outside 0..{v - 1} (the profile's "
                    f"input.vocab_size is {v}; received min {int(x.min())}, max {int(x.max())})"
                )
            return x.astype(np.int32)
        if x.dtype.kind == "f":
            _finite_samples(x, shown, f"{key} has NaN or infinite values")
        out = self.normalise(x)
        # finite as given, infinite as float32 (1e300 in a float64 x) or once normalised
        _finite_samples(out, shown, f"{key} has values beyond float32's range (about ±3.4e38)")
        return out

    # --- new inputs -------------------------------------------------------------------------

    def _fits(self, shown: str, n: int, extra: int = 0) -> None:
        """The model input for `n` samples (twice: raw and normalised) must fit in half the
        memory available: a hand-edited input_shape must not end in a MemoryError."""
        import math

        from ._io import memory_limit

        per = math.prod(self.input_shape) * 4
        needed = 2 * n * per + extra
        limit, source = memory_limit(None)
        if needed > limit:
            advice = (
                "predict on fewer samples at a time"
                if n > 1
                else "the run's input_shape is too large to predict with here"
            )
            raise DataError(
                f"{shown}: {n:,} sample{'s' if n != 1 else ''} of shape "
                f"{tuple(self.input_shape)} need about {needed / (1 << 30):.2f} GiB in memory; the "
                f"limit is {limit / (1 << 30):.2f} GiB ({source}); {advice}"
            )

    def load_inputs(self, path: str | Path) -> tuple[np.ndarray, list[str]]:
        """Model input for new raw data of the format the model was trained on, and one
        identifier per sample: the array index (.npz), the row number counted from 1 without
        the header (.csv, .parquet), the line number (.jsonl), the file name (images, WAV
        files) or the series id (long-format CSV). A label column may be there or not."""
        shown = str(path)
        real = resolve(path, None)
        fmt = self.spec.format
        from . import _tables

        if fmt == "npz":
            from ._npz import read_npz

            x = read_npz(real, shown, None, ("x",))["x"]
            return self.npz_x(x, shown), [str(i) for i in range(len(x))]
        if fmt in ("image_folder", "wav_folder"):
            from ._media import IMAGE_EXTS, WAV_EXTS

            image = fmt == "image_folder"
            exts = IMAGE_EXTS if image else WAV_EXTS
            what = "image files" if image else "WAV files"
            wrong = "not an image" if image else "not a WAV file"
            stat_path(real, shown)
            files = files_of(real, shown, exts, what, wrong)
            extra = self.spec.audio.samples * 8 if self.spec.audio is not None else 0
            self._fits(shown, len(files), extra)
            out = np.empty((len(files), *self.input_shape), np.float32)
            for i, (p, s, _) in enumerate(files):
                out[i] = self.image(p, s) if image else self.audio(p, s)
            return out, [name for _, _, name in files]
        suffix = real.suffix.lower()
        if fmt in ("csv", "parquet"):
            if suffix == ".parquet":
                df = _tables.read_parquet(real, shown, None)
            elif suffix == ".csv":
                df = _tables.read_csv(real, shown, None)
            else:
                raise DataError(f"{shown}: expected a .csv or .parquet file, as in training")
            self._fits(shown, len(df))
            return self.encode_table(df, shown), [str(i + 1) for i in range(len(df))]
        if fmt in ("jsonl", "text_csv"):
            from ._text import texts_of

            col = self.spec.text.column
            if suffix == ".jsonl":
                df = _tables.read_jsonl(real, shown, None, [col])
            elif suffix == ".csv":
                df = _tables.read_csv(real, shown, None, text=True)
                _tables.require_columns(df, shown, [col], "text")
            else:
                raise DataError(f"{shown}: expected a .csv or .jsonl file, as in training")
            rows = _tables.row_name(df, shown)
            texts = texts_of(df[col].tolist(), shown, col, rows)
            self._fits(shown, len(texts))
            ids = [rows(i).split()[-1] for i in range(len(texts))]
            return self.encode_texts(texts)[0], ids
        if fmt == "long_csv":
            if suffix != ".csv":
                raise DataError(f"{shown}: expected a long-format .csv file, as in training")
            df = _tables.read_csv(real, shown, None)
            sid = self.spec.series.series_id
            self._fits(shown, df[sid].nunique() if sid in df.columns else 0)
            x, _, ids, _, _ = self.series(df, shown)
            return x, ids
        raise DataError(
            f"{shown}: the preprocess has an unknown format {fmt!r}"
        )  # pragma: no cover


def _finite_samples(x: np.ndarray, shown: str, what: str) -> None:
    """DataError `what` when any sample of `x` (N, ...) holds a NaN or an infinity."""
    bad = ~np.isfinite(x).all(axis=tuple(range(1, x.ndim)))
    if bad.any():
        n, first = int(bad.sum()), int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{shown}: {what} in {n} sample{'s' if n != 1 else ''} (the first is sample {first})"
        )

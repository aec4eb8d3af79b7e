"""What a fitted preprocess holds, as strict pydantic models (saved as preprocess.json and
checked field by field when read back)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMATS = (
    "npz",
    "csv",
    "parquet",
    "image_folder",
    "jsonl",
    "text_csv",
    "wav_folder",
    "long_csv",
)
Format = Literal[
    "npz", "csv", "parquet", "image_folder", "jsonl", "text_csv", "wav_folder", "long_csv"
]


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class Norm(_S):
    """x = (raw * scale - mean) / std, with one mean and std per index of one sample's `axis`
    (None: one of each for every value)."""

    axis: int | None = Field(ge=0, le=2)
    mean: list[float] = Field(min_length=1)
    std: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _agree(self) -> Norm:
        if len(self.mean) != len(self.std):
            raise ValueError("mean and std have different lengths")
        if any(s <= 0 for s in self.std):
            raise ValueError("every std must be greater than 0")
        if self.axis is None and len(self.mean) != 1:
            raise ValueError("axis null takes one mean and one std")
        return self


class Column(_S):
    name: str
    kind: Literal["numeric", "categorical"]
    mean: float = 0.0
    std: float = Field(1.0, gt=0)
    categories: list[str] = []

    @model_validator(mode="after")
    def _kind(self) -> Column:
        if self.kind == "numeric" and self.categories:
            raise ValueError("a numeric column has no categories")
        if self.kind == "categorical" and len(set(self.categories)) != len(self.categories):
            raise ValueError("a category is listed twice")
        return self


class TabularSpec(_S):
    columns: list[Column] = Field(min_length=1)

    @property
    def width(self) -> int:
        return sum(1 if c.kind == "numeric" else len(c.categories) for c in self.columns)


class TextSpec(_S):
    column: str
    lowercase: bool = True
    vocabulary: list[str]  # the words of ids 2, 3, … (0 is padding, 1 an unknown word)

    @model_validator(mode="after")
    def _unique(self) -> TextSpec:
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("a word is listed twice in the vocabulary")
        return self


class ImageSpec(_S):
    mode: Literal["L", "RGB", "RGBA"]


class AudioSpec(_S):
    form: Literal["waveform", "spectrogram"]
    sample_rate: int = Field(gt=0, le=1_000_000)
    samples: int = Field(gt=0, le=1_000_000_000)  # per clip, after padding or cutting
    n_fft: int | None = Field(None, gt=0, le=1 << 24)
    hop: int | None = Field(None, gt=0, le=1 << 30)

    @model_validator(mode="after")
    def _stft(self) -> AudioSpec:
        if self.form == "spectrogram" and (self.n_fft is None or self.hop is None):
            raise ValueError("a spectrogram needs n_fft and hop")
        return self


class SeriesSpec(_S):
    series_id: str
    time: str
    features: list[str] = Field(min_length=1)


class PreprocessSpec(_S):
    version: Literal[1] = 1
    domain: Literal["vision", "text", "audio", "timeseries", "tabular"]
    task: Literal["classification", "regression"]
    outputs: int = Field(gt=0, le=10_000_000)
    format: Format
    input_shape: list[int] = Field(min_length=1, max_length=3)
    vocab_size: int | None = Field(None, gt=0)
    label_names: list[str] | None = None
    label_columns: list[str] | None = None
    scale: float = Field(1.0, gt=0)
    norm: Norm | None = None
    tabular: TabularSpec | None = None
    text: TextSpec | None = None
    image: ImageSpec | None = None
    audio: AudioSpec | None = None
    series: SeriesSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PreprocessSpec:
        if any(n <= 0 for n in self.input_shape):
            raise ValueError("input_shape has a size that is not positive")
        if self.task == "classification":
            if self.label_names is None or len(self.label_names) != self.outputs:
                raise ValueError("classification needs one label name per output")
        elif self.label_names is not None:
            raise ValueError("a regression has no label names")
        need = {
            "csv": "tabular",
            "parquet": "tabular",
            "image_folder": "image",
            "jsonl": "text",
            "text_csv": "text",
            "wav_folder": "audio",
            "long_csv": "series",
        }.get(self.format)
        if need and getattr(self, need) is None:
            raise ValueError(f"format {self.format} needs the {need} section")
        if self.norm is not None and self.norm.axis is not None:
            if self.norm.axis >= len(self.input_shape):
                raise ValueError("norm.axis is not an axis of input_shape")
            if len(self.norm.mean) != self.input_shape[self.norm.axis]:
                raise ValueError("norm has a length that does not match input_shape")
        if self.tabular is not None and [self.tabular.width] != self.input_shape:
            raise ValueError("the encoded tabular columns do not make input_shape")
        if self.series is not None and len(self.series.features) != self.input_shape[-1]:
            raise ValueError("series.features does not match input_shape")
        if self.text is not None:
            if self.vocab_size is None or len(self.text.vocabulary) + 2 > self.vocab_size:
                raise ValueError("the vocabulary does not fit vocab_size")
            if len(self.input_shape) != 1:
                raise ValueError("text takes input_shape [seq_len]")
        if self.label_names is not None and len(set(self.label_names)) != len(self.label_names):
            raise ValueError("a label name is listed twice")
        if self.image is not None:
            channels = {"L": 1, "RGB": 3, "RGBA": 4}[self.image.mode]
            if len(self.input_shape) != 3 or self.input_shape[0] != channels:
                raise ValueError(
                    f"image mode {self.image.mode} takes input_shape [{channels}, height, width]"
                )
        if self.audio is not None:
            a = self.audio
            if a.form == "waveform" and self.input_shape != [1, a.samples]:
                raise ValueError("a waveform takes input_shape [1, audio.samples]")
            if a.form == "spectrogram" and len(self.input_shape) != 2:
                raise ValueError("a spectrogram takes input_shape [frames, mel_bins]")
        return self

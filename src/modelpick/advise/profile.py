"""The task profile: what the user wants to train, on what data, within which budget.

A pydantic v2 model, discriminated on `domain`, with `extra="forbid"` everywhere so that a typo
(`laytency_ms`) fails instead of vanishing. `load_profile` turns every problem into one
`ProfileError` line: file, field path, what was expected and what was received.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import ProfileError
from ..yamlio import load_mapping

DOMAINS = ("vision", "text", "audio", "timeseries", "tabular")
PRECISIONS = ("fp32", "bf16", "fp16")


class _Strict(BaseModel):
    # strict: "28" is not 28 and `true` is not 1; NaN and ±inf are refused. defer_build: only
    # the profile model of the domain being read is ever built (start-up time).
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, frozen=True, defer_build=True
    )


def _count(le: int, description: str, default=...):
    return Field(default, gt=0, le=le, description=description)


class VisionInput(_Strict):
    channels: int = _count(4096, "image channels (1 grey, 3 RGB)")
    height: int = _count(16384, "pixels")
    width: int = _count(16384, "pixels")


class TextInput(_Strict):
    seq_len: int = _count(1_000_000, "tokens per sample")
    vocab_size: int = _count(10_000_000, "distinct tokens")


class AudioInput(_Strict):
    """Either a raw waveform (sample_rate, seconds) or a spectrogram (frames, mel_bins)."""

    sample_rate: int | None = _count(1_000_000, "samples per second (waveform input)", None)
    seconds: float | None = _count(36_000, "clip length in seconds (waveform input)", None)
    frames: int | None = _count(10_000_000, "spectrogram frames (spectrogram input)", None)
    mel_bins: int | None = _count(4096, "mel bins per frame (spectrogram input)", None)

    @model_validator(mode="after")
    def _one_form(self) -> AudioInput:
        wave = self.sample_rate is not None or self.seconds is not None
        spec = self.frames is not None or self.mel_bins is not None
        if wave and spec:
            raise ValueError(
                "give either sample_rate and seconds, or frames and mel_bins, not both"
            )
        if wave and (self.sample_rate is None or self.seconds is None):
            raise ValueError("a waveform needs both sample_rate and seconds")
        if spec and (self.frames is None or self.mel_bins is None):
            raise ValueError("a spectrogram needs both frames and mel_bins")
        if not wave and not spec:
            raise ValueError("expected sample_rate and seconds, or frames and mel_bins")
        if wave and self.sample_rate * self.seconds > 100_000_000:
            raise ValueError("more than 100,000,000 samples per clip")
        return self


class TimeseriesInput(_Strict):
    seq_len: int = _count(10_000_000, "time steps per sample")
    features: int = _count(1_000_000, "values per time step")


class TabularInput(_Strict):
    features: int = _count(10_000_000, "columns per row")


class Data(_Strict):
    """The data set: how many samples (for the predictions) and, for `modelpick train` and
    `validate --data`, where it is and how to read it (docs/data.md)."""

    train_samples: int = _count(10**12, "training examples")
    path: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="data file or folder (.npz, .csv, .parquet, .jsonl, a folder of class "
        "folders); relative to the profile's directory; `--data PATH` overrides it",
    )
    val_path: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="validation data of the same format (default: x_val/y_val in a .npz, "
        "else a val_fraction of the data)",
    )
    val_fraction: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="share of the data held out for validation when there is no val_path "
        "(default 0.2; stratified for classification, seeded)",
    )
    label: str | list[str] = Field(
        "label",
        description="label column (.csv, .parquet, .jsonl); a list of columns for a regression "
        "with several outputs",
    )
    text: str = Field("text", min_length=1, description="text column (.csv, .jsonl)")
    series_id: str = Field(
        "series_id", min_length=1, description="series id column of a long-format time series CSV"
    )
    time: str = Field(
        "time", min_length=1, description="time column of a long-format time series CSV"
    )
    sample_rate: int | None = Field(
        None,
        gt=0,
        le=1_000_000,
        description="spectrogram input only: clips are resampled to this rate before the "
        "log-mel (default 16000)",
    )
    seconds: float | None = Field(
        None,
        gt=0,
        le=36_000,
        description="spectrogram input only: clips are padded or cut to this length "
        "(default: the longest training clip)",
    )
    max_memory_gb: float | None = Field(
        None,
        ge=1e-6,
        le=100_000,
        description="memory (GiB) an in-memory data set (.npz, .csv, .parquet, .jsonl) may take "
        "(default: half the memory available when it is read)",
    )

    @field_validator("label", mode="before")
    @classmethod
    def _label_type(cls, label: object) -> object:
        if isinstance(label, str) or (
            isinstance(label, list) and all(isinstance(x, str) for x in label)
        ):
            return label
        raise ValueError("expected a column name or a list of column names")

    @field_validator("label")
    @classmethod
    def _labels(cls, label: str | list[str]) -> str | list[str]:
        names = [label] if isinstance(label, str) else label
        if not names:
            raise ValueError("expected at least one label column")
        if any(not name for name in names):
            raise ValueError("a column name cannot be empty")
        if len(set(names)) != len(names):
            raise ValueError("a label column is named twice")
        return label

    @model_validator(mode="after")
    def _one_validation(self) -> Data:
        if self.val_path is not None and self.val_fraction is not None:
            raise ValueError("give val_path or val_fraction, not both")
        return self


class Budget(_Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpu: str | None = Field(
        None,
        description="device table key (modelpick doctor lists them) to predict for, e.g. a100-80gb",
    )
    # Lower bounds far below any real budget (a kibibyte, 60 ms of training, a nanosecond)
    # keep every ratio finite: 5e-324 is a valid float but no budget.
    memory_gb: float = Field(
        ge=1e-6, le=100_000, description="memory (GiB) the model may use on the device"
    )
    train_minutes: float = Field(ge=1e-3, le=10_000_000, description="wall-clock training budget")
    latency_ms: float | None = Field(
        None, ge=1e-6, le=10_000_000, description="p95 latency (ms) of one sample"
    )
    max_params: int | None = Field(None, gt=0, le=10**13)
    batch_size: int = Field(32, gt=0, le=1_000_000, description="training batch")
    gpus: int = Field(
        1, gt=0, le=100_000, description="GPUs of this kind the job may use (generation)"
    )
    usd: float | None = Field(
        None,
        gt=0,
        le=1e12,
        description="hard limit on the training cost in US dollars, at the device's on-demand "
        "price (configs/devices.yaml)",
    )


class Generation(_Strict):
    """How a decoder is to be fine-tuned and served (task: generation)."""

    context: int | None = _count(
        10_000_000, "tokens of context to serve (default: input.seq_len)", None
    )
    serve_batch: int = _count(1_000_000, "sequences decoded together when serving", 1)
    methods: list[Literal["full", "lora", "qlora"]] = Field(
        ["full", "lora", "qlora"], min_length=1, description="fine-tuning methods to consider"
    )
    weight_precisions: list[Literal["bf16", "int8", "int4"]] = Field(
        ["bf16", "int8", "int4"], min_length=1, description="serving weight precisions"
    )
    lora_rank: int = _count(65536, "rank of the LoRA/QLoRA adapters", 16)
    checkpointing: bool = Field(True, description="activation checkpointing while training")
    epochs: float = Field(1.0, gt=0, le=10_000, description="passes over the data")
    rank_by: Literal["quality", "cost"] = Field(
        "quality",
        description="order what fits by the expected quality (larger model, full weights) or "
        "by the fine-tuning cost in dollars",
    )


class Preferences(_Strict):
    backend: Literal["torch", "tensorflow"] = "torch"
    precisions: list[Literal["fp32", "bf16", "fp16"]] | None = Field(
        None, min_length=1, description="default: fp32 and bf16 where the device supports it"
    )
    families: list[Literal["cnn", "rnn", "transformer", "mlp"]] | None = Field(
        None, min_length=1, description="consider only these families"
    )


class _Common(_Strict):
    name: str = Field(min_length=1, max_length=200)
    task: Literal["classification", "regression", "generation"]
    outputs: int = _count(10_000_000, "classes (classification) or targets (regression)")
    data: Data
    budget: Budget
    preferences: Preferences = Preferences()

    @model_validator(mode="after")
    def _generation_is_text(self) -> _Common:
        if self.task == "generation" and getattr(self, "domain", "text") != "text":
            raise ValueError("task generation (a language model) needs domain: text")
        return self

    @field_validator("outputs")
    @classmethod
    def _classes(cls, outputs: int, info: ValidationInfo) -> int:
        if info.data.get("task") == "classification" and outputs < 2:
            raise ValueError("classification needs at least 2 classes")
        return outputs


class VisionProfile(_Common):
    domain: Literal["vision"]
    input: VisionInput


class TextProfile(_Common):
    domain: Literal["text"]
    input: TextInput
    generation: Generation | None = None

    @model_validator(mode="before")
    @classmethod
    def _vocab_is_the_output(cls, data: object) -> object:
        # a language model's outputs are its vocabulary: `outputs` may be left out
        if isinstance(data, dict) and data.get("task") == "generation" and "outputs" not in data:
            inp = data.get("input")
            if isinstance(inp, dict) and isinstance(inp.get("vocab_size"), int):
                return {**data, "outputs": inp["vocab_size"]}
        return data

    @model_validator(mode="after")
    def _generation_section(self) -> TextProfile:
        if self.task == "generation" and self.generation is None:
            object.__setattr__(self, "generation", Generation())
        if self.task != "generation" and self.generation is not None:
            raise ValueError("generation: only for task: generation")
        return self


class AudioProfile(_Common):
    domain: Literal["audio"]
    input: AudioInput


class TimeseriesProfile(_Common):
    domain: Literal["timeseries"]
    input: TimeseriesInput


class TabularProfile(_Common):
    domain: Literal["tabular"]
    input: TabularInput


TaskProfile = Annotated[
    Union[VisionProfile, TextProfile, AudioProfile, TimeseriesProfile, TabularProfile],  # noqa: UP007
    Field(discriminator="domain"),
]
PROFILE_MODELS = {
    "vision": VisionProfile,
    "text": TextProfile,
    "audio": AudioProfile,
    "timeseries": TimeseriesProfile,
    "tabular": TabularProfile,
}


def profile_schema() -> dict:
    """JSON Schema of the task profile, for editors (yaml-language-server, VS Code)."""
    schema = TypeAdapter(TaskProfile).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "modelpick task profile"
    return schema


def parse_profile(data: dict, source: str = "<profile>"):
    """Validate a mapping into a TaskProfile, or raise one ProfileError line.

    The `domain` tag is read first and only that domain's model validates (what a
    discriminated union does, without building the other four models).
    """
    if not isinstance(data, dict):
        raise ProfileError(
            f"{source}: expected a mapping of profile fields, got {type(data).__name__}"
        )
    domain = data.get("domain")
    if "domain" not in data:
        raise ProfileError(
            f"{source}: domain: required field is missing (one of {', '.join(DOMAINS)})"
        )
    model = PROFILE_MODELS.get(domain) if isinstance(domain, str) else None
    if model is None:
        raise ProfileError(
            f"{source}: domain: expected one of {', '.join(DOMAINS)}; received {_received(domain)}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(describe_error(exc, source, data)) from None


def load_profile(path: str | Path):
    """Read and validate a task profile file."""
    return parse_profile(load_mapping(path, ProfileError, "task profile"), str(path))


# --- error messages ------------------------------------------------------------------------


def describe_error(
    exc: ValidationError,
    source: str,
    data: object,
    tags=DOMAINS,
    model: type[BaseModel] | None = None,
    prefix: str = "",
) -> str:
    """One line for the first problem: `file: field.path: expected …, received …`.
    `prefix` is the path of `data` inside the file (`architectures[3].hparams`).

    An unknown key is reported first: a typo there usually explains a "missing" field too.
    `model` is the class validated (default: the profile model of the data's domain).
    """
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = list(err["loc"])
    if loc and loc[0] in tags:  # the discriminated union's tag is not part of the user's path
        loc = loc[1:]
    if err["type"].startswith("union_tag"):
        loc = ["domain"]
    path = _path(loc)
    if prefix:
        path = prefix + ("" if not path else path if path.startswith("[") else "." + path)
    more = (
        f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        if len(errors) > 1
        else ""
    )
    return f"{source}: {path or 'top level'}: {_explain(err, loc, data, model)}{more}"


def _path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _received(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _explain(err: dict, loc: list, data: object, model) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        siblings = _allowed_keys(loc[:-1], data, model)
        hint = difflib.get_close_matches(str(loc[-1]), siblings, n=1)
        known = f"expected one of: {', '.join(siblings)}" if siblings else "not a known field"
        return f"unknown key{f' (did you mean {hint[0]!r}?)' if hint else ''}; {known}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag")
        return f"expected one of {', '.join(DOMAINS)}; received {_received(tag)}"
    if kind == "union_tag_not_found":
        return f"required field is missing (one of {', '.join(DOMAINS)})"
    received = _received(err.get("input"))
    if kind == "value_error":
        return f"{msg.removeprefix('Value error, ')}; received {received}"
    if kind == "finite_number":
        return f"expected a finite number; received {received}"
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping (key: value fields); received {received}"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        ctx = err.get("ctx", {})
        n = ctx.get("min_length") if kind.endswith("short") else ctx.get("max_length")
        unit = "character" if kind.startswith("string") else "item"
        bound = "at least" if kind.endswith("short") else "at most"
        return f"expected {bound} {n} {unit}{'s' if n != 1 else ''}; received {received}"
    return f"expected {_lower(msg)}; received {received}"


def _lower(msg: str) -> str:
    for prefix, article in (
        ("Input should be greater", "a value greater"),
        ("Input should be less", "a value less"),
        ("Input should be ", ""),
        ("Input should ", ""),
    ):
        if msg.startswith(prefix):
            rest = msg[len(prefix) :]
            return f"{article}{rest}" if article else rest
    return msg[:1].lower() + msg[1:]


def _allowed_keys(loc: list, data: object, model=None) -> list[str]:
    """The fields allowed at `loc`, found by walking the model classes (of this domain)."""
    if model is None:
        domain = data.get("domain") if isinstance(data, dict) else None
        model = PROFILE_MODELS.get(domain) if isinstance(domain, str) else None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return []
        field = model.model_fields.get(part) if isinstance(part, str) else None
        model = _model_of(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_of(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None

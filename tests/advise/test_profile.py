"""Unit tests of the task profile: parsing per domain, defaults, strictness, errors, JSON Schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from modelpick.advise.profile import (
    DOMAINS,
    AudioInput,
    AudioProfile,
    TabularProfile,
    TextProfile,
    TimeseriesProfile,
    VisionProfile,
    load_profile,
    parse_profile,
    profile_schema,
)
from modelpick.cli import app
from modelpick.errors import InputError, ProfileError

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))

BASE = {
    "name": "t",
    "task": "classification",
    "outputs": 10,
    "data": {"train_samples": 60000},
    "budget": {"memory_gb": 4, "train_minutes": 30},
}

INPUTS = {
    "vision": ({"channels": 3, "height": 32, "width": 48}, VisionProfile),
    "text": ({"seq_len": 256, "vocab_size": 30522}, TextProfile),
    "audio": ({"sample_rate": 16000, "seconds": 1.5}, AudioProfile),
    "timeseries": ({"seq_len": 128, "features": 9}, TimeseriesProfile),
    "tabular": ({"features": 20}, TabularProfile),
}


def profile(domain: str = "vision", **changes) -> dict:
    """A valid profile mapping of `domain`, with top-level `changes` (None deletes a key)."""
    data = copy.deepcopy(BASE) | {"domain": domain, "input": dict(INPUTS[domain][0])}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def error_of(data: dict, source: str = "p.yaml") -> str:
    with pytest.raises(ProfileError) as info:
        parse_profile(data, source)
    return str(info.value)


# --- every domain parses into its class -----------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_domain_parses(domain):
    fields, cls = INPUTS[domain]
    prof = parse_profile(profile(domain))
    assert type(prof) is cls
    assert prof.domain == domain
    assert prof.name == "t" and prof.task == "classification" and prof.outputs == 10
    assert prof.data.train_samples == 60000
    assert prof.budget.memory_gb == 4 and prof.budget.train_minutes == 30
    for key, value in fields.items():
        assert getattr(prof.input, key) == value


def test_domains_are_the_five_of_the_design():
    assert set(DOMAINS) == {"vision", "text", "audio", "timeseries", "tabular"}
    assert set(INPUTS) == set(DOMAINS)


def test_defaults():
    prof = parse_profile(profile())
    assert prof.budget.batch_size == 32
    assert prof.budget.device == "auto"
    assert prof.budget.gpu is None
    assert prof.budget.latency_ms is None
    assert prof.budget.max_params is None
    assert prof.preferences.backend == "torch"
    assert prof.preferences.precisions is None
    assert prof.preferences.families is None


def test_all_fields_given():
    data = profile(
        budget={
            "device": "cuda",
            "gpu": "t4",
            "memory_gb": 15.5,
            "train_minutes": 60,
            "latency_ms": 2.5,
            "max_params": 2_000_000,
            "batch_size": 128,
        },
        preferences={
            "backend": "tensorflow",
            "precisions": ["fp32", "bf16", "fp16"],
            "families": ["cnn", "transformer"],
        },
    )
    prof = parse_profile(data)
    b = prof.budget
    assert (b.device, b.gpu, b.memory_gb, b.train_minutes) == ("cuda", "t4", 15.5, 60)
    assert (b.latency_ms, b.max_params, b.batch_size) == (2.5, 2_000_000, 128)
    assert prof.preferences.backend == "tensorflow"
    assert list(prof.preferences.precisions) == ["fp32", "bf16", "fp16"]
    assert list(prof.preferences.families) == ["cnn", "transformer"]


def test_the_design_example(tmp_path):
    path = tmp_path / "digits.yaml"
    path.write_text(
        "name: digits-on-a-laptop\n"
        "domain: vision\n"
        "task: classification\n"
        "input: {channels: 1, height: 28, width: 28}\n"
        "outputs: 10\n"
        "data: {train_samples: 60000}\n"
        "budget: {device: cpu, memory_gb: 4, train_minutes: 30, latency_ms: 5, batch_size: 64}\n"
    )
    prof = load_profile(path)
    assert isinstance(prof, VisionProfile)
    assert (prof.input.channels, prof.input.height, prof.input.width) == (1, 28, 28)
    assert prof.budget.device == "cpu" and prof.budget.latency_ms == 5
    assert prof.budget.batch_size == 64
    assert load_profile(str(path)) == prof  # a str path works too


def test_load_profile_accepts_a_utf8_bom(tmp_path):
    path = tmp_path / "bom.yaml"
    text = "name: café\ndomain: tabular\ntask: regression\ninput: {features: 3}\noutputs: 1\n"
    text += "data: {train_samples: 10}\nbudget: {memory_gb: 1, train_minutes: 1}\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    prof = load_profile(path)
    assert prof.name == "café" and isinstance(prof, TabularProfile)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_load(path):
    prof = load_profile(path)
    assert prof.domain in DOMAINS


def test_examples_cover_every_domain():
    assert {load_profile(p).domain for p in EXAMPLES} == set(DOMAINS)


# --- audio: two forms ----------------------------------------------------------------------


def test_audio_waveform_and_spectrogram():
    wave = parse_profile(profile("audio", input={"sample_rate": 16000, "seconds": 1}))
    assert (wave.input.sample_rate, wave.input.seconds) == (16000, 1)
    assert wave.input.frames is None and wave.input.mel_bins is None
    spec = parse_profile(profile("audio", input={"frames": 1000, "mel_bins": 64}))
    assert (spec.input.frames, spec.input.mel_bins) == (1000, 64)
    assert spec.input.sample_rate is None and spec.input.seconds is None


@pytest.mark.parametrize(
    "fields,words",
    [
        ({"sample_rate": 16000, "seconds": 1, "frames": 10, "mel_bins": 8}, "not both"),
        ({"sample_rate": 16000, "frames": 10}, "not both"),
        ({"sample_rate": 16000}, "both sample_rate and seconds"),
        ({"seconds": 2.0}, "both sample_rate and seconds"),
        ({"frames": 10}, "both frames and mel_bins"),
        ({"mel_bins": 64}, "both frames and mel_bins"),
        ({}, "expected sample_rate and seconds, or frames and mel_bins"),
        ({"sample_rate": 1_000_000, "seconds": 3600}, "100,000,000 samples"),
    ],
)
def test_audio_bad_forms(fields, words):
    message = error_of(profile("audio", input=fields))
    assert message.startswith("p.yaml: input: ")
    assert words in message
    with pytest.raises(ValidationError):
        AudioInput(**fields)


# --- strictness ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section,key,value,word",
    [
        ("input", "height", "28", "integer"),
        ("input", "height", True, "integer"),
        ("input", "height", 28.0, "integer"),
        ("input", "height", None, "integer"),
        ("budget", "memory_gb", "4", "number"),
        ("budget", "memory_gb", False, "number"),
        ("budget", "batch_size", 64.0, "integer"),
        ("budget", "latency_ms", float("nan"), "finite"),
        ("budget", "train_minutes", float("inf"), "finite"),
        ("budget", "memory_gb", -float("inf"), "finite"),
        ("data", "train_samples", "60000", "integer"),
        ("budget", "device", "CPU", "'cpu'"),
        ("budget", "device", "gpu", "'cuda'"),
    ],
)
def test_strict_values(section, key, value, word):
    data = profile()
    data[section][key] = value
    message = error_of(data)
    assert message.startswith(f"p.yaml: {section}.{key}: ")
    assert word in message


def test_int_is_accepted_for_float():
    prof = parse_profile(profile("audio", input={"sample_rate": 8000, "seconds": 2}))
    assert prof.input.seconds == 2
    assert parse_profile(profile(budget={"memory_gb": 4, "train_minutes": 1})).budget.memory_gb == 4


def test_name_must_be_a_string():
    assert "name: expected a valid string; received 7" in error_of(profile(name=7))
    assert "at least 1 character" in error_of(profile(name=""))
    assert "at most 200 characters" in error_of(profile(name="x" * 201))


@pytest.mark.parametrize(
    "section,key,value,word",
    [
        ("input", "channels", 0, "greater than 0"),
        ("input", "width", -1, "greater than 0"),
        ("input", "height", 10**30, "less than or equal to 16384"),
        ("data", "train_samples", 0, "greater than 0"),
        ("budget", "memory_gb", 0, "greater than or equal to 0.000001"),
        ("budget", "train_minutes", -5, "greater than or equal to 0.001"),
        ("budget", "latency_ms", 0, "greater than or equal to 0.000001"),
        ("budget", "max_params", 0, "greater than 0"),
        ("budget", "batch_size", 10**7, "less than or equal to 1000000"),
    ],
)
def test_ranges(section, key, value, word):
    data = profile()
    data[section][key] = value
    message = error_of(data)
    assert f"{section}.{key}: expected a value {word}" in message


def test_outputs():
    assert "at least 2 classes" in error_of(profile(outputs=1))
    assert "greater than 0" in error_of(profile(outputs=0))
    assert parse_profile(profile(task="regression", outputs=1)).outputs == 1
    assert "less than or equal to 10000000" in error_of(profile(outputs=10**40))


def test_preferences():
    assert "at least 1 item" in error_of(profile(preferences={"precisions": []}))
    message = error_of(profile(preferences={"precisions": ["fp8"]}))
    assert "preferences.precisions[0]: " in message and "'fp8'" in message
    message = error_of(profile(preferences={"families": ["gnn"]}))
    assert "preferences.families[0]: " in message and "'gnn'" in message
    assert "preferences.backend" in error_of(profile(preferences={"backend": "jax"}))


def test_profile_is_frozen():
    prof = parse_profile(profile())
    with pytest.raises(ValidationError):
        prof.budget.batch_size = 1


# --- unknown keys and error messages -------------------------------------------------------


def test_unknown_keys_are_errors_with_a_hint():
    data = profile()
    data["budget"]["laytency_ms"] = 5
    message = error_of(data)
    assert message.startswith(
        "p.yaml: budget.laytency_ms: unknown key (did you mean 'latency_ms'?)"
    )
    assert "expected one of: device, gpu, memory_gb" in message


@pytest.mark.parametrize("domain", DOMAINS)
def test_fields_of_another_domain_are_refused(domain):
    other = "tabular" if domain == "vision" else "vision"
    data = profile(domain)
    data["input"] |= {k: v for k, v in INPUTS[other][0].items() if k not in data["input"]}
    message = error_of(data)
    assert "input." in message and "unknown key" in message
    assert ", ".join(INPUTS[domain][0]) in message


def test_unknown_domain_and_missing_domain():
    message = error_of(profile(domain="vision") | {"domain": "video"})
    assert message == (
        "p.yaml: domain: expected one of vision, text, audio, timeseries, tabular; received 'video'"
    )
    data = profile()
    del data["domain"]
    assert error_of(data).startswith("p.yaml: domain: required field is missing")


def test_missing_field_and_count_of_more_problems():
    assert error_of(profile(budget={"memory_gb": 1})) == (
        "p.yaml: budget.train_minutes: required field is missing"
    )
    message = error_of(profile(budget={}))
    assert message.startswith("p.yaml: budget.") and message.endswith("(and 1 more problem)")
    message = error_of(profile(budget={}, data={}))
    assert message.endswith("(and 2 more problems)")


def test_profile_error_is_an_input_error():
    assert issubclass(ProfileError, InputError)
    assert ProfileError.exit_code == 2


def test_default_source_name():
    with pytest.raises(ProfileError, match=r"^<profile>: outputs: "):
        parse_profile(profile(outputs="ten"))


# --- JSON Schema ---------------------------------------------------------------------------


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_schema_shape():
    schema = profile_schema()
    json.dumps(schema)  # serialisable
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"]
    defs = schema["$defs"]
    assert len(schema["oneOf"]) == len(DOMAINS)
    assert schema["discriminator"]["propertyName"] == "domain"
    assert set(schema["discriminator"]["mapping"]) == set(DOMAINS)
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs, ref
    for domain in DOMAINS:
        cls = f"{domain.capitalize()}Profile"
        assert cls in defs
        body = defs[cls]
        assert body["properties"]["domain"]["const"] == domain
        assert {"name", "domain", "task", "input", "outputs", "data", "budget"} <= set(
            body["required"]
        )
        assert "preferences" not in body["required"]
    for name, body in defs.items():
        if "properties" in body:
            assert body.get("additionalProperties") is False, name


def test_schema_mentions_the_vocabularies():
    text = json.dumps(profile_schema())
    for word in (*DOMAINS, "cpu", "cuda", "auto", "torch", "tensorflow", "fp32", "bf16", "fp16"):
        assert f'"{word}"' in text, word
    budget = profile_schema()["$defs"]["Budget"]
    assert budget["properties"]["batch_size"]["default"] == 32
    assert set(budget["required"]) == {"memory_gb", "train_minutes"}


def test_schema_command_prints_json():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout) == profile_schema()


# --- data: the fields `modelpick train` reads ----------------------------------------------


def test_data_fields_for_training():
    prof = parse_profile(
        profile(
            "tabular",
            data={"train_samples": 100, "path": "d.csv", "val_fraction": 0.25, "label": "y"},
        )
    )
    assert prof.data.path == "d.csv" and prof.data.val_fraction == 0.25 and prof.data.label == "y"
    plain = parse_profile(profile("tabular")).data
    assert plain.path is None and plain.val_fraction is None and plain.label == "label"
    assert plain.text == "text" and plain.series_id == "series_id" and plain.time == "time"


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"val_path": "v.csv", "val_fraction": 0.1}, "data: give val_path or val_fraction"),
        ({"val_fraction": 1.0}, "data.val_fraction: expected a value less than 1"),
        ({"val_fraction": 0}, "data.val_fraction: expected a value greater than 0"),
        ({"label": 3}, "data.label: expected a column name or a list of column names"),
        ({"label": []}, "data.label: expected at least one label column"),
        ({"label": ["a", "a"]}, "data.label: a label column is named twice"),
        ({"path": ""}, "data.path: expected at least 1 character"),
        ({"max_memory_gb": 0}, "data.max_memory_gb: expected a value greater than or equal"),
        ({"lable": "y"}, "data.lable: unknown key (did you mean 'label'?)"),
    ],
)
def test_data_field_errors(data, expected):
    message = error_of(profile(data={"train_samples": 10, **data}))
    assert message.startswith("p.yaml: ") and expected in message, message

"""The Python API: the examples in docs/api.md run; each result's `to_dict()` is its command's
`--json` document; profiles, errors, warnings and lazy imports behave as docs/api.md says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import modelpick
import modelpick as mp
import modelpick.api as api_module
from modelpick import errors
from modelpick.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
MNIST = "examples/mnist-laptop-cpu.yaml"
XOR = "examples/xor-tabular.yaml"
NOT_RUN = "<!-- not run by the tests"

API_NAMES = {
    "load_profile",
    "load_catalog",
    "recommend",
    "estimate",
    "validate",
    "catalog_list",
    "catalog_show",
    "schema",
    "doctor",
    "build",
    "bench",
    "calibrate",
    "report",
    "get_backend",
    "errors",
    "ModelpickError",
    "InputError",
    "ProfileError",
    "CatalogError",
    "UnknownNameError",
    "NoAnswerError",
    "UnavailableError",
}

runner = CliRunner()


@pytest.fixture(autouse=True)
def _at_root_with_own_cache(monkeypatch, tmp_path):
    """Relative example paths resolve; a calibration written or damaged here stays here."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MODELPICK_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def steady_machine(monkeypatch):
    """The CPU clock the device estimate is made from, pinned: where psutil reports no rated
    maximum (some VMs), the current clock would differ between the API call and the CLI's."""
    import psutil

    freq = types.SimpleNamespace(current=2000.0, min=0.0, max=2000.0)
    monkeypatch.setattr(psutil, "cpu_freq", lambda *a, **k: freq)


def cli(*args, code: int = 0) -> dict:
    """The command's JSON document (stdout, nothing else), after checking its exit code."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.output)
    return json.loads(result.stdout)


def _profile_dict(path: str | Path) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def _write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


# --- docs/api.md ----------------------------------------------------------------------------


def _python_blocks(text: str) -> tuple[list[tuple[int, str]], list[str]]:
    """(first line, code) of each ```python block to run, and the code of those marked
    not run (the marker comment on the line before the fence)."""
    run, skipped = [], []
    for m in re.finditer(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S):
        line = text.count("\n", 0, m.start()) + 2  # 1-based line of the block's first line
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.startswith(NOT_RUN):
            skipped.append(m.group(1))
        else:
            run.append((line, m.group(1)))
    return run, skipped


def test_the_examples_in_docs_api_md_run(capsys):
    pytest.importorskip("torch")  # the build and bench examples use PyTorch
    run, skipped = _python_blocks(DOC.read_text())
    assert len(run) >= 10
    # Only calibration (a minute of timing) is exempt; it must still be valid Python.
    assert len(skipped) == 2 and "mp.calibrate(" in skipped[0] and "mp.trial(" in skipped[1]
    for block in skipped:
        compile(block, f"{DOC} (not run)", "exec")
    namespace: dict = {"__name__": "docs_api_md"}
    for line, code in run:
        # Padded so that a traceback names the line in docs/api.md.
        exec(compile("\n" * (line - 1) + code, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert "seed-mlp" in out and "bench" in out  # what the examples print


def test_docs_api_md_documents_every_api_name():
    text = DOC.read_text()
    for name in API_NAMES - {"errors"}:
        documented = f"`{name}(" in text if name[0].islower() else name in text
        assert documented, name


# --- to_dict() is the command's --json ---------------------------------------------------


PARITY = {
    "recommend": (lambda: mp.recommend(MNIST, top=3), ["recommend", MNIST, "--top", "3", "--json"]),
    "recommend-defaults": (lambda: mp.recommend(MNIST), ["recommend", MNIST, "--json"]),
    "recommend-gpu-table": (
        lambda: mp.recommend("examples/imagenet-cloud-gpu.yaml", top=50),
        ["recommend", "examples/imagenet-cloud-gpu.yaml", "--top", "50", "--json"],
    ),
    "estimate": (
        lambda: mp.estimate(MNIST, "seed-cnn"),
        ["estimate", MNIST, "--arch", "seed-cnn", "--json"],
    ),
    "estimate-text": (
        lambda: mp.estimate("examples/sentence-sentiment.yaml", "seed-lstm"),
        ["estimate", "examples/sentence-sentiment.yaml", "--arch", "seed-lstm", "--json"],
    ),
    "validate": (lambda: mp.validate(XOR, MNIST), ["validate", XOR, MNIST, "--json"]),
    "catalog-list": (lambda: mp.catalog_list(), ["catalog", "list", "--json"]),
    "catalog-list-domain": (
        lambda: mp.catalog_list(domain="text"),
        ["catalog", "list", "--domain", "text", "--json"],
    ),
    "catalog-show": (
        lambda: mp.catalog_show("resnet18"),
        ["catalog", "show", "resnet18", "--json"],
    ),
    "schema": (lambda: mp.schema(), ["schema"]),
    "doctor": (lambda: mp.doctor(), ["doctor", "--json"]),
}


@pytest.mark.parametrize("case", sorted(PARITY))
def test_to_dict_is_the_commands_json(case, steady_machine):
    call, argv = PARITY[case]
    assert call().to_dict() == cli(*argv)


def test_to_dict_is_json_when_nothing_fits(tmp_path, steady_machine):
    doc = _profile_dict(XOR)
    doc["budget"]["max_params"] = 5  # the smallest candidate has 17
    path = _write_json(tmp_path / "tight.yaml", doc)
    rec = mp.recommend(path)  # no NoAnswerError: found is False
    assert not rec.found and rec.candidates == [] and rec.rejected
    assert rec.to_dict()["relax"] and rec.to_dict()["candidates_total"] == 0
    assert rec.to_dict() == cli("recommend", path, "--json", code=1)


def test_validate_to_dict_is_json_with_bad_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndomain: vision\n")
    gpu = _profile_dict(XOR)
    gpu["budget"]["gpu"] = "a100-80"
    gpu_path = _write_json(tmp_path / "gpu.yaml", gpu)
    files = [XOR, str(bad), str(tmp_path / "missing.yaml"), str(tmp_path), str(gpu_path)]
    result = mp.validate(*files)  # never raises for a bad file
    assert [f.ok for f in result.files] == [True, False, False, False, False]
    assert not result.ok and all(f.error for f in result.files[1:])
    assert "budget.gpu" in result.files[4].error
    assert result.to_dict() == cli("validate", *files, "--json", code=2)


def test_validate_to_dict_is_json_for_an_unnormalised_path():
    path = "examples/./xor-tabular.yaml"
    assert mp.validate(path).to_dict() == cli("validate", path, "--json")


def test_build_to_dict_is_the_commands_json():
    pytest.importorskip("torch")
    result = mp.build(XOR, "seed-mlp", backend="torch")
    assert result.params_match and result.model.model is not None
    assert result.to_dict() == cli(
        "build", XOR, "--arch", "seed-mlp", "--backend", "torch", "--json"
    )


# Fields of a bench run that are measured (or dated), so differ between two runs.
BENCH_STABLE_ROW = (
    "arch",
    "backend",
    "device",
    "precision",
    "batch_size",
    "status",
    "predicted_latency_ms",
    "predicted_train_step_ms",
    "predicted_memory_bytes",
)


def test_bench_and_report_to_dict_are_the_commands_json(tmp_path, steady_machine):
    pytest.importorskip("torch")
    run = mp.bench(XOR, arch="seed-mlp", device="cpu", quick=True)
    assert not run.interrupted and not run.failed
    assert [r["status"] for r in run.results] == ["ok"]

    doc = cli("bench", XOR, "--arch", "seed-mlp", "--device", "cpu", "--quick", "--json")
    api = run.to_dict()
    assert api.keys() == doc.keys()
    for key in ("device", "backend", "backend_version", "interrupted", "notes"):
        assert api[key] == doc[key], key
    assert len(api["results"]) == len(doc["results"])
    for a, c in zip(api["results"], doc["results"]):
        assert a.keys() == c.keys()
        assert {k: a[k] for k in BENCH_STABLE_ROW} == {k: c[k] for k in BENCH_STABLE_ROW}

    path = tmp_path / "run.json"
    assert run.save(path) == f"wrote {path}"
    saved = mp.report(path)
    assert saved.kind == "bench" and saved.to_dict() == api
    assert saved.to_dict() == cli("report", path, "--format", "json")


# --- profiles -------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_a_dict_or_a_loaded_profile_answers_as_the_file(example):
    path = str(example.relative_to(ROOT))
    by_file = mp.recommend(path, top=50).to_dict()
    assert mp.recommend(_profile_dict(path), top=50).to_dict() == by_file
    assert mp.recommend(mp.load_profile(path), top=50).to_dict() == by_file
    assert mp.recommend(Path(path), top=50).to_dict() == by_file


def test_estimate_from_a_dict_equals_the_file():
    by_file = mp.estimate(MNIST, "cnn-w32-d4").to_dict()
    assert mp.estimate(_profile_dict(MNIST), "cnn-w32-d4").to_dict() == by_file


def test_a_loaded_profile_is_used_as_is():
    profile = mp.load_profile(XOR)
    assert mp.load_profile(profile) is profile
    assert mp.load_profile(profile.model_dump()) == profile


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["budget"].update(laytency_ms=3), "budget.laytency_ms"),
        (lambda d: d["input"].update(features="2"), "input.features"),
        (lambda d: d.update(outputs=True), "outputs"),
        (lambda d: d["budget"].update(memory_gb=float("nan")), "budget.memory_gb"),
        (lambda d: d.pop("name"), "name"),
        (lambda d: d["budget"].update(gpu="a100-80"), "budget.gpu"),
    ],
)
def test_a_bad_dict_raises_profile_error_naming_the_field(edit, field):
    doc = _profile_dict(XOR)
    edit(doc)
    with pytest.raises(mp.ProfileError) as info:
        mp.recommend(doc)
    message = str(info.value)
    assert message.startswith(f"<profile>: {field}:"), message
    assert "\n" not in message and info.value.exit_code == 2


def test_unknown_key_error_suggests_the_known_one():
    doc = _profile_dict(XOR)
    doc["budget"]["laytency_ms"] = 3
    with pytest.raises(mp.ProfileError, match="did you mean 'latency_ms'"):
        mp.load_profile(doc)


@pytest.mark.parametrize("profile", [3, None, ["a"], b"x.yaml"])
def test_what_is_no_profile_raises_profile_error(profile):
    with pytest.raises(mp.ProfileError, match="expected a path, a mapping or a TaskProfile"):
        mp.recommend(profile)


def test_a_missing_profile_file_raises_profile_error(tmp_path):
    with pytest.raises(mp.ProfileError, match="no such file"):
        mp.estimate(tmp_path / "none.yaml", "seed-mlp")


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, code, parent",
    [
        ("ModelpickError", 1, Exception),
        ("InputError", 2, "ModelpickError"),
        ("ProfileError", 2, "InputError"),
        ("CatalogError", 2, "InputError"),
        ("UnknownNameError", 2, "InputError"),
        ("NoAnswerError", 1, "ModelpickError"),
        ("UnavailableError", 3, "ModelpickError"),
    ],
)
def test_the_exception_tree_and_exit_codes(name, code, parent):
    cls = getattr(mp, name)
    assert cls is getattr(errors, name)
    assert issubclass(cls, errors.ModelpickError) and cls.exit_code == code
    parent_cls = parent if isinstance(parent, type) else getattr(errors, parent)
    assert cls.__bases__ == (parent_cls,)


@pytest.mark.parametrize(
    "call",
    [
        lambda: mp.estimate(XOR, "seed-mpl"),
        lambda: mp.catalog_show("seed-mpl"),
    ],
    ids=["estimate", "catalog_show"],
)
def test_an_unknown_arch_raises_unknown_name_error_with_a_suggestion(call):
    with pytest.raises(mp.UnknownNameError) as info:
        call()
    assert "'seed-mpl'" in str(info.value) and "did you mean seed-mlp" in str(info.value)
    assert isinstance(info.value, mp.InputError) and info.value.exit_code == 2


def test_an_arch_for_another_domain_raises_input_error():
    with pytest.raises(mp.InputError, match="resnet18 is a vision architecture"):
        mp.estimate(XOR, "resnet18")


@pytest.mark.parametrize("domain", ["bogus", "Vision", 3])
def test_catalog_list_of_an_unknown_domain_raises_input_error(domain):
    with pytest.raises(mp.InputError, match="--domain: expected one of vision") as info:
        mp.catalog_list(domain=domain)
    assert type(info.value) is mp.InputError and info.value.exit_code == 2


@pytest.mark.parametrize("top", [0, -1, True, 2.5, "3", 10**7])
def test_a_bad_top_raises_input_error(top):
    with pytest.raises(mp.InputError, match="--top: expected an integer"):
        mp.recommend(XOR, top=top)


def test_a_missing_catalog_raises_catalog_error(tmp_path):
    with pytest.raises(mp.CatalogError, match="no such file"):
        mp.catalog_list(catalog=tmp_path / "none.yaml")
    with pytest.raises(mp.CatalogError):
        mp.recommend(XOR, catalog=tmp_path / "none.yaml")


def test_an_unknown_backend_raises_input_error():
    with pytest.raises(mp.InputError, match="--backend: expected one of torch, tensorflow"):
        mp.get_backend("jax")
    with pytest.raises(mp.InputError, match="--backend"):
        mp.calibrate("jax")


def test_report_of_a_missing_or_bad_file_raises_input_error(tmp_path):
    with pytest.raises(mp.InputError, match="no such file"):
        mp.report(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"device": {"name": "x"}, "results": [{"arch": 3}]}))
    with pytest.raises(mp.InputError, match="bad.json: "):
        mp.report(bad)


def test_build_and_bench_argument_errors():
    torch = pytest.importorskip("torch")
    with pytest.raises(mp.InputError, match="--precision: expected one of fp32, bf16, fp16"):
        mp.build(XOR, "seed-mlp", backend="torch", precision="fp8")
    with pytest.raises(mp.InputError, match="--device: expected one of auto, cpu, cuda"):
        mp.build(XOR, "seed-mlp", backend="torch", device="gpu")
    with pytest.raises(mp.InputError, match="--batch-size: expected an integer"):
        mp.bench(XOR, arch="seed-mlp", device="cpu", batch_size=0)
    with pytest.raises(mp.UnavailableError, match="fp16") as info:
        mp.bench(XOR, arch="seed-mlp", device="cpu", precision="fp16")  # no fp16 on a CPU
    assert info.value.exit_code == 3
    if not torch.cuda.is_available():
        with pytest.raises(mp.UnavailableError, match="--device cuda"):
            mp.build(XOR, "seed-mlp", backend="torch", device="cuda")
        with pytest.raises(mp.UnavailableError, match="--device cuda"):
            mp.calibrate("torch", device="cuda")


def test_bench_without_arch_raises_no_answer_error_when_nothing_fits():
    pytest.importorskip("torch")
    doc = _profile_dict(XOR)
    doc["budget"]["max_params"] = 5
    with pytest.raises(mp.NoAnswerError) as info:
        mp.bench(doc, device="cpu", quick=True)
    assert info.value.exit_code == 1


def test_a_missing_framework_is_unavailable_error_exit_3():
    """In a fresh interpreter where `import torch` fails, as if it were not installed."""
    code = textwrap.dedent(
        """
        import json, sys
        sys.modules["torch"] = None  # import torch now raises ModuleNotFoundError
        import modelpick as mp
        out = {}
        for name, call in [
            ("get_backend", lambda: mp.get_backend("torch")),
            ("build", lambda: mp.build("examples/xor-tabular.yaml", "seed-mlp", backend="torch")),
            ("bench", lambda: mp.bench("examples/xor-tabular.yaml", arch="seed-mlp",
                                       backend="torch", device="cpu", quick=True)),
            ("calibrate", lambda: mp.calibrate("torch", device="cpu", quick=True)),
        ]:
            try:
                call()
                out[name] = None
            except mp.ModelpickError as exc:
                out[name] = [type(exc).__name__, exc.exit_code, str(exc)]
        print(json.dumps(out))
        """
    )
    out = json.loads(_python(code))
    for name, got in out.items():
        assert got is not None, name
        kind, exit_code, message = got
        assert (kind, exit_code) == ("UnavailableError", 3), (name, got)
        assert "pip install 'modelpick[torch]'" in message, (name, message)


# --- warnings: a stored calibration that cannot be used -------------------------------------


@pytest.fixture
def damaged_calibration():
    """A torch calibration for this machine's CPU that is not JSON."""
    from modelpick.measure.calibration import _path, fingerprint

    device = mp.recommend(XOR).device
    path = _path(fingerprint(device), "torch")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    return path


@pytest.mark.parametrize(
    "call",
    [
        lambda **kw: mp.recommend(MNIST, **kw),
        lambda **kw: mp.estimate(MNIST, "seed-cnn", **kw),
    ],
    ids=["recommend", "estimate"],
)
def test_an_unusable_calibration_is_told_to_warn_once(call, damaged_calibration):
    heard = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(warn=heard.append)
    assert caught == []  # a callback replaces the warnings module
    assert len(heard) == 1 and "ignoring calibration file" in heard[0]
    assert str(damaged_calibration) in heard[0]
    assert not result.device.calibrated  # used as if there were none

    with pytest.warns(UserWarning, match="ignoring calibration file") as record:
        call()
    assert len(record) == 1


def test_bench_tells_warn_of_an_unusable_calibration(damaged_calibration):
    pytest.importorskip("torch")
    heard = []
    run = mp.bench(XOR, arch="seed-mlp", device="cpu", quick=True, warn=heard.append)
    assert len(heard) == 1 and "ignoring calibration file" in heard[0]
    assert run.to_dict()["device"]["calibrated"] is False


def test_the_warning_names_the_callers_line(damaged_calibration):
    with pytest.warns(UserWarning) as record:
        mp.recommend(MNIST)
    assert record[0].filename == __file__


def test_no_warning_without_a_stored_calibration():
    heard = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = mp.recommend(MNIST, warn=heard.append)
    assert heard == [] and not rec.device.calibrated


# --- bench: Ctrl-C keeps what was measured; save() is atomic --------------------------------


def test_ctrl_c_during_bench_keeps_what_was_measured(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    from modelpick.measure import bench as bench_module

    real = bench_module.bench_graph
    calls = []

    def interrupted_on_second(*args, **kwargs):
        calls.append(args[1].name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench_module, "bench_graph", interrupted_on_second)
    run = mp.bench(MNIST, top=3, device="cpu", precision="fp32", quick=True)
    assert run.interrupted and run.to_dict()["interrupted"] is True
    assert [r["status"] for r in run.results] == ["ok", "interrupted"]
    assert [r["arch"] for r in run.results] == calls
    assert not run.failed

    path = tmp_path / "partial.json"
    run.save(path)
    assert mp.report(path).to_dict()["interrupted"] is True


def test_bench_run_save_replaces_atomically_and_refuses_a_directory(tmp_path):
    run = api_module.BenchRun(
        {
            "date": "2026-01-01",
            "device": {"name": "cpu", "kind": "cpu", "key": "cpu"},
            "backend": "torch",
            "backend_version": "torch 0",
            "interrupted": False,
            "notes": [],
            "results": [],
        }
    )
    path = tmp_path / "run.json"
    assert run.save(path) == f"wrote {path}"
    path.write_text("old")
    assert run.save(path) == f"replaced {path}"
    assert json.loads(path.read_text()) == run.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no temporary left
    with pytest.raises(mp.InputError):
        run.save(tmp_path)
    assert mp.report(path).to_dict() == run.to_dict()


# --- imports are lazy -----------------------------------------------------------------------


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_loads_no_framework_typer_or_rich():
    code = textwrap.dedent(
        """
        import json, sys
        HEAVY = {"torch", "tensorflow", "keras", "typer", "rich", "click"}
        def loaded():
            return sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
        import modelpick
        after_import = loaded()
        ours = sorted(m for m in sys.modules if m.startswith("modelpick"))
        rec = modelpick.recommend("examples/mnist-laptop-cpu.yaml", top=3)
        modelpick.estimate("examples/mnist-laptop-cpu.yaml", "seed-cnn")
        modelpick.validate("examples/xor-tabular.yaml")
        modelpick.catalog_list(); modelpick.catalog_show("resnet18"); modelpick.schema()
        modelpick.doctor()
        print(json.dumps([after_import, ours, loaded(), rec.found]))
        """
    )
    after_import, ours, after_calls, found = json.loads(_python(code))
    assert after_import == []
    assert ours == ["modelpick"]  # names load on first use
    assert found and after_calls == []


def test_dir_lists_the_api_and_unknown_names_raise_attribute_error():
    names = set(dir(modelpick))
    assert names >= API_NAMES | {"__version__"}
    assert set(modelpick.__all__) == names
    with pytest.raises(AttributeError, match="has no attribute 'recomend'"):
        modelpick.recomend  # noqa: B018
    assert not hasattr(modelpick, "api_internal_name")
    assert modelpick.recommend is api_module.recommend
    assert modelpick.errors is errors

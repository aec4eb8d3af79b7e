"""Tests for modelpick.advise.hardware: the device table, GPU matching, device resolution,
CPU estimate."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelpick.advise import hardware
from modelpick.advise.hardware import GPUInfo, MachineInfo
from modelpick.errors import InputError, UnknownNameError

MIB = 1024**2
H100_SMI = GPUInfo(name="NVIDIA H100 80GB HBM3", memory_bytes=81559 * MIB, driver="550.54.15")


def fake_machine(
    gpus: tuple[GPUInfo, ...] = (),
    flags: frozenset[str] = frozenset({"avx2", "fma"}),
    cores: int = 4,
    mhz: float = 2000.0,
) -> MachineInfo:
    return MachineInfo(
        cpu_model="Fake CPU 9000",
        physical_cores=cores,
        logical_cores=2 * cores,
        cpu_freq_mhz=mhz,
        cpu_flags=flags,
        ram_bytes=32 * 1024**3,
        gpus=gpus,
        backends={"torch": None, "tensorflow": None},
    )


@pytest.fixture
def devices():
    return hardware.load_devices()


@pytest.fixture
def no_detection(monkeypatch):
    """Fail the test if resolve_device probes the machine when it was told not to need to."""

    def boom(*args, **kwargs):
        raise AssertionError("detect_machine called although the answer did not depend on it")

    monkeypatch.setattr(hardware, "detect_machine", boom)


# --------------------------------------------------------------------------- the table


def test_table_loads_with_positive_figures(devices):
    expected = {"h100-sxm", "h100-pcie", "h200", "a100-40gb", "a100-80gb", "l4", "t4", "a10g"}
    expected |= {"v100", "rtx-4090", "rtx-3090", "l40s"}
    assert expected <= set(devices)
    for key, d in devices.items():
        assert d.key == key and d.kind == "cuda" and d.name and d.source
        assert d.memory_bytes > 0 and d.bandwidth_bytes_per_s > 0 and d.launch_overhead_s > 0
        assert d.supports("fp32")
        assert all(v > 0 for v in d.peak_flops.values())
        assert set(d.peak_flops) <= {"fp32", "bf16", "fp16"}
        # Tensor cores are faster than plain FP32 on every GPU in the table.
        for p in ("bf16", "fp16"):
            if p in d.peak_flops:
                assert d.peak_flops[p] > d.peak_flops["fp32"], key
        assert d.compute_scale == {} and not d.detected


def test_table_uses_dense_not_sparse_and_knows_missing_bf16(devices):
    # Datasheet facts: H100 SXM BF16 is 989 TFLOPS dense (1,979 is the sparsity figure);
    # A100 is 312 dense; Turing (T4) and Volta (V100) have no bf16.
    assert devices["h100-sxm"].peak_flops["bf16"] == pytest.approx(989e12, rel=0.01)
    assert devices["a100-80gb"].peak_flops["bf16"] == pytest.approx(312e12, rel=0.01)
    assert devices["t4"].peak_flops["fp32"] == pytest.approx(8.1e12, rel=0.01)
    assert not devices["t4"].supports("bf16") and devices["t4"].supports("fp16")
    assert not devices["v100"].supports("bf16")
    assert devices["a100-80gb"].bandwidth_bytes_per_s > devices["a100-40gb"].bandwidth_bytes_per_s


def test_bad_yaml_is_an_input_error_naming_the_file(tmp_path):
    bad = tmp_path / "broken-devices.yaml"
    bad.write_text("devices: [key: x, {")
    with pytest.raises(InputError, match="broken-devices.yaml"):
        hardware.load_devices(bad)


def test_invalid_entry_is_an_input_error(tmp_path):
    bad = tmp_path / "devices.yaml"
    bad.write_text(
        "devices:\n  - key: x\n    name: X\n    memory_gb: -1\n    bandwidth_gb_s: 1\n"
        "    tflops: {fp32: 1}\n    launch_overhead_us: 1\n"
    )
    with pytest.raises(InputError, match="memory_gb"):
        hardware.load_devices(bad)
    with pytest.raises(InputError, match="nope.yaml"):
        hardware.load_devices(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("smi_name", "key"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200"),
        ("Tesla T4", "t4"),
        ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("NVIDIA GeForce RTX 3090", "rtx-3090"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA A10G", "a10g"),
        ("Tesla V100-SXM2-16GB", "v100"),
    ],
)
def test_match_gpu_on_nvidia_smi_names(devices, smi_name, key):
    matched = hardware.match_gpu(smi_name, devices)
    assert matched is not None and matched.key == key


@pytest.mark.parametrize(
    "smi_name", ["AMD Instinct MI300X", "NVIDIA GeForce RTX 3090 Ti", "NVIDIA H100 NVL", ""]
)
def test_match_gpu_does_not_guess_other_products(devices, smi_name):
    # A 3090 Ti or an H100 NVL is a different product from the table rows sharing its prefix.
    assert hardware.match_gpu(smi_name, devices) is None


# --------------------------------------------------------------------------- resolve_device


def test_resolve_cpu_uses_this_machines_cpu(devices, no_detection):
    profile, notes = hardware.resolve_device("cpu", None, fake_machine(), devices)
    assert profile.key == "cpu" and profile.kind == "cpu"
    assert any("cpu" in n.lower() and "estimat" in n for n in notes)


def test_resolve_cpu_probes_without_nvidia_smi(devices, monkeypatch):
    calls = []
    monkeypatch.setattr(
        hardware,
        "detect_machine",
        lambda gpus=True, backends=True: calls.append(gpus) or fake_machine(),
    )
    profile, notes = hardware.resolve_device("cpu", "a100-80gb", devices=devices)
    assert calls == [False]  # the CPU answer does not depend on the GPUs
    assert profile.key == "cpu"
    assert any("ignored" in n and "a100-80gb" in n for n in notes)


def test_resolve_cuda_named_gpu_skips_detection(devices, no_detection):
    profile, notes = hardware.resolve_device("cuda", "a100-80gb", devices=devices)
    assert profile.key == "a100-80gb" and not profile.detected
    assert any("budget.gpu" in n and "a100-80gb" in n for n in notes)


def test_resolve_cuda_detected_gpu_uses_detected_memory(devices, no_detection):
    machine = fake_machine(gpus=(H100_SMI,))
    profile, notes = hardware.resolve_device("cuda", None, machine, devices)
    assert profile.key == "h100-sxm" and profile.detected
    assert profile.memory_bytes == H100_SMI.memory_bytes
    assert any(H100_SMI.name in n for n in notes)


def test_resolve_cuda_without_gpu_defaults_to_t4_and_says_so(devices, no_detection):
    profile, notes = hardware.resolve_device("cuda", None, fake_machine(), devices)
    assert profile.key == "t4"
    assert any("no GPU detected" in n and "budget.gpu" in n and "T4" in n for n in notes)


def test_resolve_cuda_unknown_detected_gpu_is_conservative(devices, no_detection):
    odd = GPUInfo(name="NVIDIA H100 NVL", memory_bytes=95830 * MIB, driver="550")
    profile, notes = hardware.resolve_device("cuda", None, fake_machine(gpus=(odd,)), devices)
    assert profile.kind == "cuda" and profile.name == odd.name
    assert profile.memory_bytes == odd.memory_bytes
    for d in devices.values():
        assert profile.bandwidth_bytes_per_s <= d.bandwidth_bytes_per_s
        assert profile.peak_flops["fp32"] <= d.peak_flops["fp32"]
    assert not profile.supports("bf16")
    assert any("not in the device table" in n for n in notes)


def test_resolve_auto(devices, no_detection):
    with_gpu, gpu_notes = hardware.resolve_device("auto", None, fake_machine((H100_SMI,)), devices)
    assert with_gpu.key == "h100-sxm" and gpu_notes
    cpu, cpu_notes = hardware.resolve_device("auto", None, fake_machine(), devices)
    assert cpu.key == "cpu"
    assert any("no GPU detected" in n for n in cpu_notes)
    named, named_notes = hardware.resolve_device("auto", "l4", fake_machine(), devices)
    assert named.key == "l4" and any("budget.gpu" in n for n in named_notes)


def test_resolve_named_gpu_matching_this_machine_is_marked_detected(devices, no_detection):
    machine = fake_machine(gpus=(H100_SMI,))
    profile, _ = hardware.resolve_device("cuda", "h100-sxm", machine, devices)
    assert profile.detected and profile.memory_bytes == H100_SMI.memory_bytes
    other, notes = hardware.resolve_device("cuda", "t4", machine, devices)
    assert other.key == "t4" and any(H100_SMI.name in n for n in notes)


def test_unknown_gpu_key_suggests_the_closest(devices, no_detection):
    with pytest.raises(UnknownNameError) as err:
        hardware.resolve_device("cuda", "h100-sxn", fake_machine(), devices)
    assert "did you mean 'h100-sxm'" in str(err.value)
    assert "a100-80gb" in str(err.value)  # the known keys are listed
    assert err.value.exit_code == 2


def test_unknown_device_is_rejected(devices, no_detection):
    with pytest.raises(UnknownNameError, match="cuda"):
        hardware.resolve_device("cdua", None, fake_machine(), devices)


# --------------------------------------------------------------------------- cpu_profile


@pytest.mark.parametrize(
    ("flags", "flops_per_cycle"),
    [
        ({"avx512f", "avx2", "fma"}, 64),
        ({"avx2", "fma"}, 32),
        ({"sse4_2"}, 16),
    ],
)
def test_cpu_profile_peak_arithmetic(flags, flops_per_cycle):
    profile = hardware.cpu_profile(fake_machine(flags=frozenset(flags), cores=8, mhz=3000.0))
    assert profile.kind == "cpu" and profile.key == "cpu"
    assert profile.peak_flops["fp32"] == pytest.approx(8 * 3.0e9 * flops_per_cycle)
    assert not profile.supports("bf16") and not profile.supports("fp16")
    assert "estimate" in profile.source and "calibration" in profile.source
    assert profile.memory_bytes == 32 * 1024**3
    assert 0 < profile.launch_overhead_s < 1e-3


def test_cpu_profile_low_precision_needs_isa_support():
    base = {"avx512f", "avx2", "fma"}
    vnni = hardware.cpu_profile(fake_machine(flags=frozenset(base | {"avx512_bf16"})))
    assert vnni.supports("bf16") and not vnni.supports("fp16")
    # AVX-512 BF16 without AMX: supported, but assumed no faster than fp32 until measured
    assert vnni.precision_ratio["bf16"] == {"latency": 1.0, "train": 1.0}
    assert "assumed" in vnni.precision_ratio_source
    amx = hardware.cpu_profile(fake_machine(flags=frozenset(base | {"amx_bf16", "amx_fp16"})))
    assert amx.supports("bf16") and amx.supports("fp16")
    assert amx.peak_flops["bf16"] > amx.peak_flops["fp32"] and not amx.precision_ratio


def test_a_precision_that_is_not_faster_is_never_predicted_faster_nor_offered():
    """Issue #12: bf16 on a CPU without AMX was predicted 1.9× faster (measured: no gain)."""
    from modelpick.advise.catalog import build_named, load_catalog
    from modelpick.advise.predict import predict
    from modelpick.advise.scoring import choose_precisions
    from modelpick.graph import cost

    base = {"avx512f", "avx2", "fma", "avx512_bf16"}
    cpu = hardware.cpu_profile(fake_machine(flags=frozenset(base)))
    from modelpick.advise.profile import parse_profile

    profile = parse_profile(
        {
            "name": "t",
            "domain": "text",
            "task": "classification",
            "input": {"seq_len": 64, "vocab_size": 5000},
            "outputs": 2,
            "data": {"train_samples": 10_000},
            "budget": {"device": "cpu", "memory_gb": 8, "train_minutes": 10},
        }
    )
    built = build_named(load_catalog(), "transformer-d256-l4", profile)
    gc = cost(built.graph, "torch")
    f32, b16 = (predict(gc, cpu, p, 32, 10_000, 10) for p in ("fp32", "bf16"))
    assert b16.train_step_ms == pytest.approx(f32.train_step_ms)
    assert b16.latency_ms == pytest.approx(f32.latency_ms)
    assert b16.train_memory_bytes < f32.train_memory_bytes  # memory still follows the bytes
    chosen, notes = choose_precisions(None, cpu)
    assert chosen == ("fp32",) and notes[0].startswith("bf16 not considered")
    # measured slower (a calibration's ratio): predicted slower, so fp32 ranks above it
    slow = cpu._replace(precision_ratio={"bf16": {"latency": 2.0, "train": 1.01}})
    assert predict(gc, slow, "bf16", 32, 10_000, 10).latency_ms == pytest.approx(2 * f32.latency_ms)
    # measured faster: offered
    fast = cpu._replace(precision_ratio={"bf16": {"latency": 0.9, "train": 0.6}})
    assert choose_precisions(None, fast)[0] == ("fp32", "bf16")
    assert predict(gc, fast, "bf16", 32, 10_000, 10).epochs_in_budget == pytest.approx(
        f32.epochs_in_budget / 0.6
    )


def test_cpu_profile_bandwidth_is_capped_and_clock_has_a_fallback():
    big = hardware.cpu_profile(fake_machine(cores=128))
    small = hardware.cpu_profile(fake_machine(cores=2))
    assert 0 < small.bandwidth_bytes_per_s < big.bandwidth_bytes_per_s <= 100e9
    unknown_clock = hardware.cpu_profile(fake_machine(mhz=0.0))
    assert unknown_clock.peak_flops["fp32"] > 0 and "assumed" in unknown_clock.source


# --------------------------------------------------------------------------- detection


def test_detect_machine_on_this_machine():
    m = hardware.detect_machine(gpus=False)
    assert isinstance(m.cpu_model, str) and m.cpu_model
    assert 1 <= m.physical_cores <= m.logical_cores == (os.cpu_count() or m.logical_cores)
    assert m.cpu_freq_mhz >= 0
    assert m.ram_bytes > 256 * MIB
    assert m.gpus == ()
    assert set(m.backends) == {"torch", "tensorflow"}
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    assert m.backends["torch"] == torch_version
    assert hardware.cpu_profile(m).peak_flops["fp32"] > 0


def test_detection_never_imports_frameworks():
    src = Path(hardware.__file__).resolve().parents[2]
    code = (
        "import sys, modelpick.advise.hardware as h; h.detect_machine(); h.load_devices(); "
        "assert not {'torch', 'tensorflow'} & set(sys.modules), 'framework imported'"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_nvidia_smi_output_is_parsed(monkeypatch):
    monkeypatch.setattr(hardware.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    out = "NVIDIA H100 80GB HBM3, 81559, 550.54.15\nTesla T4, [N/A], 535.1\n"

    def fake_run(cmd, **kwargs):
        assert kwargs.get("timeout") is not None  # a hung driver must not hang modelpick
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(hardware.subprocess, "run", fake_run)
    gpus = hardware.detect_machine(gpus=True).gpus
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3", "Tesla T4"]
    assert gpus[0].memory_bytes == 81559 * MIB and gpus[0].driver == "550.54.15"
    assert gpus[1].memory_bytes == 0


@pytest.mark.parametrize(
    "failure", [subprocess.TimeoutExpired("nvidia-smi", 5), FileNotFoundError("gone")]
)
def test_nvidia_smi_failures_are_tolerated(monkeypatch, failure):
    monkeypatch.setattr(hardware.shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(hardware.subprocess, "run", fail)
    assert hardware.detect_machine(gpus=True).gpus == ()


def test_missing_nvidia_smi_is_not_run(monkeypatch):
    monkeypatch.setattr(hardware.shutil, "which", lambda name: None)

    def never(*args, **kwargs):
        raise AssertionError("nvidia-smi run although it is not on PATH")

    monkeypatch.setattr(hardware.subprocess, "run", never)
    assert hardware.detect_machine(gpus=True).gpus == ()

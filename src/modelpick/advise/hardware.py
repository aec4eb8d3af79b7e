"""Detect this machine and describe devices for the cost model.

Runs on every `modelpick recommend`, so it must stay cheap: no torch / tensorflow import (their
versions come from package metadata), and nvidia-smi is only run when an answer depends on it.
GPU figures come from configs/devices.yaml; CPU figures are estimated from cores, clock and ISA
flags until calibration replaces them.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from modelpick.errors import InputError, UnknownNameError

PRECISIONS = ("fp32", "bf16", "fp16")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
DEFAULT_GPU = "t4"  # the commonest cheap cloud GPU: the least surprising stand-in
_NVIDIA_SMI_TIMEOUT_S = 5.0
# Words that vary between nvidia-smi versions and carry no model information.
_VENDOR_WORDS = frozenset({"nvidia", "tesla", "geforce", "quadro"})
# A matched model name followed by one of these is a different product (3090 Ti, H100 NVL, ...).
_VARIANT_WORDS = frozenset({"ti", "super", "nvl", "laptop", "mobile", "max"})


class DeviceProfile(NamedTuple):
    key: str
    name: str
    kind: str  # "cpu" | "cuda"
    memory_bytes: int
    bandwidth_bytes_per_s: float
    peak_flops: dict[str, float]  # precision -> dense peak FLOP/s; absent = unsupported
    launch_overhead_s: float
    source: str
    detected: bool = False
    # Filled by calibration (`modelpick bench`): per node kind, the factors on a node's compute
    # time (FLOPs at peak) and memory time (bytes at peak bandwidth), and the fixed cost of one
    # forward call. Uncalibrated (both empty), a node takes the roofline max of the two. The
    # shared empty defaults are never mutated.
    compute_scale: dict[str, float] = {}  # noqa: RUF012
    memory_scale: dict[str, float] = {}  # noqa: RUF012
    call_overhead_s: float = 0.0  # 0: the framework default in predict.FRAMEWORK_CALL_S
    train_overhead_s: float = 0.0  # fixed cost of one training step (autograd, optimizer calls)
    module_overhead_s: float = -1.0  # per module call (a graph row); < 0: predict's default
    node_overhead_s: dict[str, float] = {}  # noqa: RUF012 - calibrated: per kind, per kernel
    calibration: str = ""  # what calibrated it, for humans
    aliases: tuple[str, ...] = ()  # nvidia-smi name fragments that identify this device
    # A reduced precision's time over fp32's, where the roofline cannot be trusted for it:
    # {"bf16": {"latency": batch-1 forward ratio, "train": training-step ratio}}. Measured by
    # calibration; assumed 1.0 on CPUs without AMX (no gain). predict() then scales the fp32
    # prediction instead of using the precision's peak.
    precision_ratio: dict[str, dict[str, float]] = {}  # noqa: RUF012
    precision_ratio_source: str = ""
    weight_stream_bytes_per_s: float = 0.0  # measured by calibration (0: not measured)
    usd_per_hour: float | None = None  # on-demand price of one device-hour (configs/devices.yaml)
    price_source: str = ""

    @property
    def calibrated(self) -> bool:
        return bool(self.compute_scale or self.memory_scale)

    def supports(self, precision: str) -> bool:
        return self.peak_flops.get(precision, 0.0) > 0.0


class GPUInfo(NamedTuple):
    name: str
    memory_bytes: int
    driver: str


class MachineInfo(NamedTuple):
    cpu_model: str
    physical_cores: int
    logical_cores: int
    cpu_freq_mhz: float
    cpu_flags: frozenset[str]
    ram_bytes: int
    gpus: tuple[GPUInfo, ...]
    backends: dict[str, str | None]


def _read_cpuinfo() -> tuple[str, frozenset[str], float]:
    """Model string, ISA flags and clock (MHz) from /proc/cpuinfo; empty values elsewhere."""
    model, flags, mhz = "", frozenset(), 0.0
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return model, flags, mhz
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not model and key in ("model name", "hardware", "cpu model"):
            model = value
        elif not flags and key in ("flags", "features"):  # x86 / ARM spelling
            flags = frozenset(value.split())
        elif not mhz and key == "cpu mhz":
            try:
                mhz = float(value)
            except ValueError:
                pass
    return model, flags, mhz


def _nvidia_gpus() -> tuple[GPUInfo, ...]:
    """GPUs as nvidia-smi lists them; () when it is missing, slow or failing."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        query = ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]
        out = subprocess.run(
            [exe, *query], capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    if out.returncode != 0:
        return ()
    gpus = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        try:
            mem = int(float(parts[1]) * 1024**2)  # nounits: MiB
        except ValueError:
            mem = 0  # "[N/A]" on some virtualised GPUs
        gpus.append(GPUInfo(name=parts[0], memory_bytes=mem, driver=parts[2]))
    return tuple(gpus)


def _backend_version(*dists: str) -> str | None:
    # Metadata only: importing torch/tensorflow would cost seconds on every run.
    import importlib.metadata

    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def detect_machine(gpus: bool = True, backends: bool = True) -> MachineInfo:
    """Describe this machine. gpus=False skips nvidia-smi (the only slow part); backends=False
    skips the package-metadata scan (`recommend` does not need it)."""
    import platform

    import psutil  # here, not at the top: ~30 ms that only detection needs

    model, flags, cpuinfo_mhz = _read_cpuinfo()
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    mhz = 0.0
    try:
        freq = psutil.cpu_freq()
        if freq is not None:
            # Prefer the rated maximum: peak FLOP/s is a peak figure; VMs often report max=0.
            mhz = float(freq.max or freq.current or 0.0)
    except (OSError, NotImplementedError, RuntimeError):
        pass
    return MachineInfo(
        cpu_model=model,
        physical_cores=int(physical),
        logical_cores=int(logical),
        cpu_freq_mhz=mhz or cpuinfo_mhz,
        cpu_flags=flags,
        ram_bytes=int(psutil.virtual_memory().total),
        gpus=_nvidia_gpus() if gpus else (),
        backends={
            "torch": _backend_version("torch"),
            "tensorflow": _backend_version("tensorflow", "tensorflow-cpu", "tensorflow-macos"),
        }
        if backends
        else {},
    )


def _default_table() -> tuple[Path | Any, str]:
    try:
        res = resources.files("modelpick.configs") / "devices.yaml"
        if res.is_file():
            return res, str(res)
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        pass
    # Not installed yet (PYTHONPATH=src): read the repository's configs/ directly.
    path = Path(__file__).resolve().parents[2] / "configs" / "devices.yaml"
    return path, str(path)


def _positive(entry: dict, field_name: str, where: str) -> float:
    value = entry.get(field_name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"{where}: '{field_name}' must be a positive number, got {value!r}")
    return float(value)


def _profile_from_entry(entry: Any, label: str, index: int) -> DeviceProfile:
    where = f"{label}: devices[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise InputError(f"{where}: each entry needs a string 'key'")
    key = entry["key"]
    where = f"{label}: device '{key}'"
    name, aliases, tflops = entry.get("name"), entry.get("aliases", []), entry.get("tflops")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: 'name' must be a non-empty string")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise InputError(f"{where}: 'aliases' must be a list of strings")
    if not isinstance(tflops, dict) or "fp32" not in tflops or set(tflops) - set(PRECISIONS):
        raise InputError(f"{where}: 'tflops' must map precisions {PRECISIONS} (fp32 required)")
    return DeviceProfile(
        key=key,
        name=name,
        kind="cuda",
        memory_bytes=int(_positive(entry, "memory_gb", where) * 1024**3),  # GiB, see the YAML
        bandwidth_bytes_per_s=_positive(entry, "bandwidth_gb_s", where) * 1e9,
        peak_flops={p: _positive(tflops, p, where) * 1e12 for p in PRECISIONS if p in tflops},
        launch_overhead_s=_positive(entry, "launch_overhead_us", where) * 1e-6,
        source=str(entry.get("source") or label),
        aliases=tuple(aliases),
        usd_per_hour=_positive(entry, "usd_per_hour", where) if "usd_per_hour" in entry else None,
        price_source=str(entry.get("price_source") or ""),
    )


def load_devices(path: str | Path | None = None) -> dict[str, DeviceProfile]:
    """The GPU table, keyed by device key (packaged configs/devices.yaml unless path is given)."""
    target, label = (Path(path), str(path)) if path is not None else _default_table()
    try:
        data = yaml.load(  # noqa: S506 - the safe loader, in C where available
            target.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read device table {label}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"device table {label} is not valid YAML: {exc}") from exc
    entries = data.get("devices") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{label}: expected a top-level 'devices:' list")
    devices: dict[str, DeviceProfile] = {}
    for i, entry in enumerate(entries):
        profile = _profile_from_entry(entry, label, i)
        if profile.key in devices:
            raise InputError(f"{label}: device key '{profile.key}' appears twice")
        devices[profile.key] = profile
    return devices


def cpu_profile(machine: MachineInfo) -> DeviceProfile:
    """Rough peak figures for the machine's CPU; calibration replaces them with measured ones."""
    flags = machine.cpu_flags
    # FP32 FLOP/cycle/core assuming two FMA units: lanes x 2 (FMA) x 2 (units). An upper bound:
    # some AVX-512 parts have one FMA unit, Zen 4 double-pumps 256-bit units.
    if "avx512f" in flags:
        per_cycle, isa = 64, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, isa = 32, "AVX2+FMA"
    else:
        per_cycle, isa = 16, "no AVX2/AVX-512 flags"
    cores = max(machine.physical_cores, 1)
    mhz = machine.cpu_freq_mhz
    clock_note = f"{mhz / 1000:.2f} GHz"
    if mhz <= 0:
        mhz, clock_note = 2500.0, "clock unknown, 2.5 GHz assumed"
    fp32 = cores * mhz * 1e6 * per_cycle
    peak = {"fp32": fp32}
    # AMX tiles do 1024 bf16/fp16 FLOP/cycle/core (Intel's figure). AVX-512 BF16/FP16 could
    # double the fp32 rate on paper, but PyTorch's CPU autocast pays casts around every op:
    # measured on such CPUs without AMX, a training step is no faster and batch-1 latency is
    # slower (docs/scoring.md, "Precision"). Until calibration measures the ratio, such a
    # precision is predicted exactly as fast as fp32, and not offered by default. Without
    # either flag, low precision is emulated: unsupported.
    ratio: dict[str, dict[str, float]] = {}
    for prec in ("bf16", "fp16"):
        if f"amx_{prec}" in flags:
            peak[prec] = cores * mhz * 1e6 * 1024
        elif f"avx512_{prec}" in flags:
            peak[prec] = fp32
            ratio[prec] = {"latency": 1.0, "train": 1.0}
    # No portable way to read DRAM bandwidth; ~10 GB/s per core, capped at a 100 GB/s server socket.
    bandwidth = min(10e9 * cores, 100e9)
    return DeviceProfile(
        key="cpu",
        name=machine.cpu_model,
        kind="cpu",
        memory_bytes=machine.ram_bytes,
        bandwidth_bytes_per_s=bandwidth,
        peak_flops=peak,
        launch_overhead_s=1e-5,  # PyTorch eager dispatch per op on CPU
        source=(
            f"estimate: {cores} cores x {clock_note} x {per_cycle} FP32 FLOP/cycle ({isa}), "
            f"~10 GB/s/core bandwidth; superseded by calibration"
        ),
        detected=True,
        precision_ratio=ratio,
        precision_ratio_source=(
            "assumed no faster than fp32 without AMX (calibrate to measure)" if ratio else ""
        ),
    )


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w and w not in _VENDOR_WORDS]


def _alias_matches(alias: list[str], name: list[str]) -> bool:
    n, padded = len(alias), [*name, ""]
    return any(
        name[i : i + n] == alias and padded[i + n] not in _VARIANT_WORDS
        for i in range(len(name) - n + 1)
    )


def match_gpu(name: str, devices: dict[str, DeviceProfile]) -> DeviceProfile | None:
    """Table entry for an nvidia-smi name ("NVIDIA H100 80GB HBM3" -> h100-sxm), or None.

    Aliases match as whole-word runs, so "A10" does not match "A100"; the longest matching alias
    wins, so "A100 80GB PCIe" beats "A100 80GB".
    """
    words = _words(name)
    best: tuple[int, int, str] | None = None
    for key, profile in devices.items():
        for alias in (key, profile.name, *profile.aliases):
            alias_words = _words(alias)
            if alias_words and _alias_matches(alias_words, words):
                rank = (len(alias_words), len("".join(alias_words)), key)
                if best is None or rank[:2] > best[:2]:
                    best = rank
    return devices[best[2]] if best else None


def _conservative_gpu(gpu: GPUInfo, devices: dict[str, DeviceProfile]) -> DeviceProfile:
    """A GPU not in the table: the table's lowest figures, so predictions err on the slow side."""
    table = list(devices.values())
    # fp16 runs on every CUDA GPU still in use; bf16 (Ampere and later) is not assumed.
    peak = {
        p: min(vals)
        for p in ("fp32", "fp16")
        if (vals := [d.peak_flops[p] for d in table if p in d.peak_flops])
    }
    return DeviceProfile(
        key="-".join(_words(gpu.name)) or "unknown-gpu",
        name=gpu.name,
        kind="cuda",
        memory_bytes=gpu.memory_bytes or min(d.memory_bytes for d in table),
        bandwidth_bytes_per_s=min(d.bandwidth_bytes_per_s for d in table),
        peak_flops=peak,
        launch_overhead_s=max(d.launch_overhead_s for d in table),
        source="conservative stand-in: lowest figures in the device table",
        detected=True,
    )


def _lookup_gpu(gpu: str, devices: dict[str, DeviceProfile]) -> DeviceProfile:
    wanted = gpu.strip().lower().replace("_", "-")
    if wanted in devices:
        return devices[wanted]
    matched = match_gpu(gpu, devices)  # also accept a name such as "NVIDIA A100-SXM4-80GB"
    if matched is not None:
        return matched
    keys = sorted(devices)
    # Same model, another variant first ("h100" -> h100-sxm, h100-pcie), then spelling.
    close = [k for k in keys if k.startswith(wanted)] or difflib.get_close_matches(
        wanted, keys, n=1, cutoff=0.5
    )
    hint = f" did you mean {' or '.join(repr(k) for k in close)}?" if close else ""
    raise UnknownNameError(f"unknown GPU '{gpu}';{hint} known: {', '.join(keys)}")


def check_gpu_key(gpu: str | None, devices: dict[str, DeviceProfile] | None = None) -> None:
    """Raise UnknownNameError when `gpu` (a profile's budget.gpu) names no device-table entry."""
    if gpu:
        _lookup_gpu(gpu, devices if devices is not None else load_devices())


def _from_detected(
    machine: MachineInfo, devices: dict[str, DeviceProfile]
) -> tuple[DeviceProfile, list[str]]:
    gpu = machine.gpus[0]
    notes = []
    if len(machine.gpus) > 1:
        notes.append(f"{len(machine.gpus)} GPUs detected; predicting for one ({gpu.name})")
    matched = match_gpu(gpu.name, devices)
    if matched is None:
        notes.append(
            f"detected GPU '{gpu.name}' is not in the device table: predicting with conservative "
            "figures (the table's lowest); add it to configs/devices.yaml or set budget.gpu"
        )
        return _conservative_gpu(gpu, devices), notes
    # nvidia-smi's memory is what is really there (e.g. a 32GB V100 matched to the 16GB row).
    profile = matched._replace(memory_bytes=gpu.memory_bytes or matched.memory_bytes, detected=True)
    notes.append(f"detected GPU '{gpu.name}': using table entry {matched.key} ({matched.source})")
    return profile, notes


def resolve_device(
    device: str,
    gpu: str | None,
    machine: MachineInfo | None = None,
    devices: dict[str, DeviceProfile] | None = None,
) -> tuple[DeviceProfile, list[str]]:
    """The device to predict for, plus notes on every assumption made to pick it.

    device: "auto" | "cpu" | "cuda"; gpu: optional table key (budget.gpu). A named gpu wins over
    detection for "auto" too: the user is planning for that GPU, not for this machine.
    """
    if device not in DEVICE_CHOICES:
        close = difflib.get_close_matches(str(device), DEVICE_CHOICES, n=1)
        hint = f" did you mean '{close[0]}'?" if close else ""
        raise UnknownNameError(f"unknown device '{device}';{hint} use one of {DEVICE_CHOICES}")
    if devices is None and (gpu or device != "cpu"):  # the CPU alone needs no table
        devices = load_devices()
    named = _lookup_gpu(gpu, devices) if gpu else None  # a typo is an error even if unused

    if device == "cpu":
        machine = machine or detect_machine(gpus=False, backends=False)
        notes = [
            f"device cpu: {machine.cpu_model} (this machine; peak FLOP/s and bandwidth estimated)"
        ]
        if named is not None:
            notes.append(f"budget.gpu = {named.key} ignored because device is cpu")
        return cpu_profile(machine), notes

    if named is not None:
        notes = [f"budget.gpu = {named.key}: predicting for {named.name} ({named.source})"]
        if device == "auto":
            notes[0] = "device auto with budget.gpu set: " + notes[0]
        if machine is not None and machine.gpus:
            here = match_gpu(machine.gpus[0].name, devices)
            if here is not None and here.key == named.key:
                return _from_detected(machine, devices)[0], notes
            notes.append(f"this machine has '{machine.gpus[0].name}', not {named.key}")
        return named, notes

    machine = machine or detect_machine(gpus=True, backends=False)
    if machine.gpus:
        return _from_detected(machine, devices)
    if device == "auto":
        return cpu_profile(machine), [
            f"device auto: no GPU detected, predicting for this CPU ({machine.cpu_model})"
        ]
    default = devices.get(DEFAULT_GPU) or next(iter(devices.values()))
    return default, [
        f"no GPU detected here and budget.gpu is not set: predicting for an {default.name}; "
        "set budget.gpu to choose"
    ]

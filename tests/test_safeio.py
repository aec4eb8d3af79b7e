"""Files a user names, and the process's own streams and signals: nothing hangs, nothing is
half-written, a closed or full stdout and an ASCII terminal are one line, not a crash."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelpick.errors import InputError
from modelpick.safeio import (
    SavedThenInterrupted,
    atomic_write_text,
    check_output_target,
    parse_json,
    read_limited,
)

ROOT = Path(__file__).resolve().parents[1]


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dev-urandom", "directory", "socket"])
def test_special_files_are_refused_at_once(tmp_path, kind):
    if kind == "fifo":
        path = _fifo(tmp_path)
    elif kind == "directory":
        path = tmp_path
    elif kind == "socket":
        path = tmp_path / "sock"
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
    else:
        path = Path("/dev/" + kind.split("-")[1])
    start = time.perf_counter()
    with pytest.raises(InputError, match=str(path)):
        read_limited(path, InputError, "profile", 1000)
    assert time.perf_counter() - start < 0.5


def test_reads_stop_at_the_limit(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(InputError, match="too large"):
        read_limited(path, InputError, "profile", 4999)
    assert read_limited(path, InputError, "profile", 5000) == b"x" * 5000


@pytest.mark.parametrize(
    "text,why",
    [
        ("NaN", "NaN"),
        ("[Infinity]", "Infinity"),
        ("[" * 100_000 + "]" * 100_000, "deep"),
        ("1" * 5000, "digits"),
        ("{", "not JSON"),
    ],
)
def test_strict_json(text, why):
    with pytest.raises(InputError) as info:
        parse_json(text, "f.json", InputError)
    assert "f.json" in str(info.value)
    assert why.lower() in str(info.value).lower() or why == "deep"


@pytest.mark.parametrize("kind", ["fifo", "directory", "/dev/null", "/dev/full"])
def test_output_targets_that_are_no_regular_file_are_refused(tmp_path, kind):
    path = _fifo(tmp_path) if kind == "fifo" else tmp_path if kind == "directory" else Path(kind)
    with pytest.raises(InputError, match="--output"):
        check_output_target(path)


def test_output_in_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        check_output_target(tmp_path / "nope" / "run.json")


def test_atomic_write_replaces_and_says_so(tmp_path):
    path = tmp_path / "run.json"
    assert atomic_write_text(path, "one") == f"wrote {path}"
    assert atomic_write_text(path, "two") == f"replaced {path}"
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_write_arrives_after_it(tmp_path, monkeypatch, sig):
    """Ctrl-C (or SIGTERM) while the file is being written: held until the new file is in
    place, then delivered; the file is complete, never half."""
    path = tmp_path / "run.json"
    path.write_text("old")
    real_fsync = os.fsync
    arrived = []

    def fsync_and_signal(fd):
        os.kill(os.getpid(), sig)  # arrives in the middle of the write
        real_fsync(fd)
        arrived.append(path.read_text())  # still the old file: nothing delivered yet

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    monkeypatch.setattr(os, "fsync", fsync_and_signal)
    try:
        with pytest.raises(SavedThenInterrupted) as info:
            atomic_write_text(path, "new" * 1000)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert info.value.said == f"replaced {path}"  # the user is told the new file is in place
    assert arrived == ["old"]
    assert path.read_text() == "new" * 1000


def test_sigterm_is_an_interrupt_with_exit_130(monkeypatch, capsys):
    from modelpick import api
    from modelpick.cli import run

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
        raise AssertionError("SIGTERM was not turned into an interrupt")

    monkeypatch.setattr(api, "recommend", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert run(["recommend", str(ROOT / "examples/xor-tabular.yaml")]) == 130
    assert signal.getsignal(signal.SIGTERM) == before  # run() puts the handler back
    assert "Traceback" not in capsys.readouterr().err


def _modelpick(args, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != "MODELPICK_DEBUG"}
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", "modelpick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        **kwargs,
    )


def test_a_full_stdout_is_one_line_and_exit_1():
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "modelpick", "schema"],
            cwd=ROOT,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write"), proc.stderr


def test_a_closed_stdout_is_one_line_and_exit_1():
    proc = subprocess.run(
        f"{sys.executable} -m modelpick schema >&-",
        shell=True,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def test_an_ascii_terminal_gets_escapes_not_a_crash(tmp_path):
    profile = tmp_path / "p.yaml"
    text = (ROOT / "examples/xor-tabular.yaml").read_text(encoding="utf-8")
    profile.write_text(text.replace("name: ", "name: ünïcødé-×-", 1), encoding="utf-8")
    proc = _modelpick(["recommend", str(profile), "--top", "2"], env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "\\xfc" in proc.stdout  # ü shown as an escape

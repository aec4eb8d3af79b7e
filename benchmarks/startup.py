"""Start-up cost of `modelpick recommend` against the floor of importing its dependencies.

    python benchmarks/startup.py [--runs 15] [--profile examples/mnist-laptop-cpu.yaml]

The goal (issue 8): the whole `recommend` run, end to end, takes at most 2× the time of
`python -c "import typer, rich, pydantic, yaml"` (issue 2 had asked for 1.5×). Also timed:
`import modelpick` alone (the lazy API must cost next to nothing) and `mp.recommend` from
Python. Wall-clock medians of fresh processes,
interleaved so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", default="examples/mnist-laptop-cpu.yaml")
    args = parser.parse_args()

    exe = shutil.which("modelpick")
    tool = [exe] if exe else [sys.executable, "-m", "modelpick"]
    floor_cmd = [sys.executable, "-c", "import typer, rich, pydantic, yaml"]
    cmds = {
        "floor: import typer, rich, pydantic, yaml": floor_cmd,
        # `import pydantic` is lazy; defining and validating any model loads the rest of it.
        "floor + from pydantic import BaseModel, TypeAdapter": [
            sys.executable,
            "-c",
            "import typer, rich, yaml; from pydantic import BaseModel, TypeAdapter",
        ],
        "a do-nothing Typer app with recommend's options": [
            sys.executable,
            str(ROOT / "benchmarks" / "typer_floor.py"),
            "recommend",
            args.profile,
        ],
        "python -c 'import modelpick'": [sys.executable, "-c", "import modelpick"],
        f"python: modelpick.recommend({args.profile!r})": [
            sys.executable,
            "-c",
            f"import modelpick; modelpick.recommend({args.profile!r})",
        ],
        f"modelpick recommend {args.profile}": [*tool, "recommend", args.profile],
        f"modelpick recommend {args.profile} --json": [*tool, "recommend", args.profile, "--json"],
    }
    for cmd in cmds.values():  # warm the page cache and .pyc files
        _time(cmd)
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            samples[name].append(_time(cmd))
    floor = statistics.median(next(iter(samples.values())))
    print(f"{'command':<62} {'median ms':>10} {'min ms':>8} {'× floor':>8}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:<62} {med * 1e3:>10.0f} {min(values) * 1e3:>8.0f} {med / floor:>8.2f}")
    worst = max(statistics.median(v) for v in samples.values()) / floor
    print(f"\ngoal: ≤ 2.00× floor; worst: {worst:.2f}× ({'met' if worst <= 2.0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

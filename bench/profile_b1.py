"""Where B1's time goes: py-spy samples each loop of bench/b1_handler_cost.py run alone.

Prints, per loop, the functions with the most samples inside the timed loop: "self" counts
samples where the function itself was running, "total" those where it was on the stack.
Needs py-spy (in requirements-dev.txt) and permission to trace a child (root, or ptrace_scope 0).

Usage: python -m bench.profile_b1 [--events 20000] [--rate 2000] [--top 25]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass

from bench.processes import PROJECT_DIR, bench_command

LOOP_FUNCTIONS = {"handler": "time_handler", "baseline": "time_baseline"}


@dataclass(frozen=True)
class Profile:
    samples: int
    self_samples: Counter[str]
    total_samples: Counter[str]


def frame_name(frame: str) -> str:
    """py-spy's raw frame `function (path/to/file.py:line)` without the line: one entry per function."""
    name, _, location = frame.partition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path.replace(PROJECT_DIR + os.sep, '')})"


def read_profile(raw_path: str, loop_function: str) -> Profile:
    """Only the samples taken inside the timed loop (warm-up included: it is the same code)."""
    self_samples: Counter[str] = Counter()
    total_samples: Counter[str] = Counter()
    samples = 0
    with open(raw_path, encoding="utf-8") as file:
        for line in file:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            inside = [index for index, frame in enumerate(frames) if frame.startswith(f"{loop_function} ")]
            if not inside:
                continue
            count = int(count_text)
            loop_frames = [frame_name(frame) for frame in frames[inside[0] + 1 :]]
            samples += count
            if loop_frames:
                self_samples[loop_frames[-1]] += count
            else:
                self_samples[f"{loop_function} (the loop itself)"] += count
            for name in set(loop_frames):
                total_samples[name] += count
    return Profile(samples, self_samples, total_samples)


def profile_loop(loop: str, events: int, rate: int, folder: str) -> Profile:
    raw_path = os.path.join(folder, f"{loop}.raw")
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    command = [
        py_spy,
        "record",
        "--format",
        "raw",
        "--rate",
        str(rate),
        "--output",
        raw_path,
        "--",
        *bench_command("b1_handler_cost", "--loop", loop, "--events", str(events)),
    ]
    subprocess.run(command, cwd=PROJECT_DIR, check=True, timeout=600, stdout=subprocess.DEVNULL)
    return read_profile(raw_path, LOOP_FUNCTIONS[loop])


def print_profile(loop: str, profile: Profile, top: int) -> None:
    print(f"\n{loop} loop: {profile.samples} samples inside {LOOP_FUNCTIONS[loop]}")
    for title, counter in (("self", profile.self_samples), ("total", profile.total_samples)):
        print(f"  by {title} time:")
        for name, count in counter.most_common(top):
            print(f"    {100 * count / max(profile.samples, 1):5.1f}%  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per loop (default 20000)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw-dir", help="keep py-spy's raw stacks (handler.raw, baseline.raw) in this folder")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spillway-profile-") as scratch:
        folder = arguments.raw_dir or scratch
        os.makedirs(folder, exist_ok=True)
        for loop in LOOP_FUNCTIONS:
            print_profile(loop, profile_loop(loop, arguments.events, arguments.rate, folder), arguments.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

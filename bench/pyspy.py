"""Where the time goes: py-spy samples a running process and its children from outside
(no change to the bridge), and the samples are summed per function.

py-spy is not one of the bridge's requirements: `.venv/bin/pip install py-spy` (root, or
ptrace allowed, is needed to attach to a running process).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
# What is the product's own code, for the "inclusive" list.
OWN = ("bridge/", "hooks/", "providers/")


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


def attach(pid: int, seconds: int, out: Path, idle: bool = False) -> subprocess.Popen[bytes]:
    """Start sampling `pid` and its children for `seconds` into `out` (collapsed stacks).

    `idle` keeps samples of threads waiting on a socket: right for a worker whose jobs wait
    on the database and the provider one after the other, wrong for web processes that
    mostly wait in accept()."""
    command = [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--duration", str(seconds)]
    command += ["--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"]
    if idle:
        command.append("--idle")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stacks(raw: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in raw.read_text(errors="replace").splitlines():
        head, _, count = line.rpartition(" ")
        if not count.isdigit() or ";" not in head:
            continue
        frames = [_short(frame) for frame in head.split(";")[1:]]  # [0] names the process
        stacks.append((frames, int(count)))
    return stacks


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", str(REPO) + "/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['function']} ({path})"


@dataclass
class Profile:
    """The functions with most samples, each as (function (file), share of all samples)."""

    samples: int
    self_time: list[tuple[str, float]]  # on top of the stack
    inclusive: list[tuple[str, float]]  # anywhere in the stack, the bridge's own code only

    def lines(self) -> list[str]:
        out = [f"  {self.samples} samples; top {len(self.self_time)} by own time:"]
        out += [f"    {share:6.1%}  {frame}" for frame, share in self.self_time]
        out.append(f"  top {len(self.inclusive)} of the bridge's functions, time inside them:")
        out += [f"    {share:6.1%}  {frame}" for frame, share in self.inclusive]
        return out


def top_frames(raw: Path, count: int = 10, within: str = "") -> Profile:
    """`within`: only the stacks with a frame containing it (one thread's work: with --idle,
    a thread that only waits, such as RQ's pub/sub listener, would count as much)."""
    stacks = [(frames, n) for frames, n in _stacks(raw) if any(within in frame for frame in frames)]
    total = sum(n for _, n in stacks)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            if any(part in frame for part in OWN):
                inclusive[frame] += n
    share = max(total, 1)
    return Profile(
        samples=total,
        self_time=[(frame, n / share) for frame, n in own.most_common(count)],
        inclusive=[(frame, n / share) for frame, n in inclusive.most_common(count)],
    )

"""Which files a process writes its metrics to: a numbered slot held with a file lock.

prometheus_client's multiprocess mode names each process's files after its pid
(`counter_<pid>.db`) and never deletes a counter file, so that totals survive the
process. That is right for gunicorn's long-lived workers and wrong for RQ's forking
worker, which forks a work-horse for every job: two new files per job, millions after
a few months, and every scrape reads them all.

So a process is named by a *slot* instead (`counter_s3.db`): the lowest number whose
`slot-<n>.lock` file it can `flock`. The kernel drops the lock when the process dies,
however it dies (SIGKILL included), and the next process takes the slot over, reading the
values its predecessor left and adding to them: totals stay monotonic, and the number of
files is bounded by the most processes ever alive at once. prometheus_client's one rule
for a process identifier ("distinct in simultaneously running processes") holds, since a
lock has one holder.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
from contextlib import suppress
from pathlib import Path

# `<type>[_<gauge mode>]_<identifier>.db`, as prometheus_client names its files.
_IDENTIFIER = re.compile(r"_([^_]+)\.db$")
_SLOT = re.compile(r"^s(\d+)$")


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding `path`'s exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by exec'd children (PEP 446)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _lock_path(directory: Path, slot: int) -> Path:
    return directory / f"slot-{slot}.lock"


class SlotIdentity:
    """A process identifier for `prometheus_client.values.MultiProcessValue`: "s<n>".

    Called on every metric update (prometheus_client compares it to notice a fork), so it
    answers from a cache while the pid is unchanged. After a fork the child closes the
    descriptor it inherited (the parent keeps its own, and with it the lock) and takes a
    slot of its own.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pid: int | None = None
        self._fd: int | None = None
        self._name = ""

    def __call__(self) -> str:
        if self._pid != os.getpid():
            self._take()
        return self._name

    def _take(self) -> None:
        self.release()
        for slot in itertools.count():
            fd = _try_lock(_lock_path(self.directory, slot))
            if fd is not None:
                self._pid, self._fd, self._name = os.getpid(), fd, f"s{slot}"
                return

    def release(self) -> None:
        """Give the slot up (a process switching directories); the kernel does it at exit."""
        if self._fd is not None:
            with suppress(OSError):
                os.close(self._fd)
        self._pid, self._fd, self._name = None, None, ""


def sweep(directory: Path, *, live_gauges_only: bool = False) -> list[str]:
    """Delete the metric files no live process writes; return their names.

    A file is left alone while its slot is held. The free slots are locked for the whole
    sweep, so a process starting meanwhile takes a new slot rather than one whose files are
    being deleted. Files named by pid (another prometheus_client user) go too, except with
    `live_gauges_only` (what gunicorn's `child_exit` asks for: the `live*` gauges of
    processes that are gone, like prometheus_client's own `mark_process_dead`).
    """
    held: dict[int, int | None] = {}
    deleted: list[str] = []
    try:
        for path in sorted(directory.glob("*.db")):
            if live_gauges_only and not path.name.startswith("gauge_live"):
                continue
            match = _IDENTIFIER.search(path.name)
            slot = _SLOT.match(match.group(1)) if match else None
            if slot is not None:
                number = int(slot.group(1))
                if number not in held:
                    held[number] = _try_lock(_lock_path(directory, number))
                if held[number] is None:
                    continue  # a live process's file
            elif live_gauges_only:
                continue
            path.unlink(missing_ok=True)
            deleted.append(path.name)
    finally:
        for fd in held.values():
            if fd is not None:
                os.close(fd)
    return deleted

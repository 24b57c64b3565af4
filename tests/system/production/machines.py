"""Machines simulated as processes: each one started with an environment of its own.

A "machine" here is one process group (gunicorn with its workers, an RQ worker, the
relay) that shares nothing with the others but the database and Redis named in its
environment, as on separate hosts. Its output goes to `<logs>/<name>.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from bridge.core.states import FINAL
from bridge.services import services
from tests.helpers import REPO, actions_of


@dataclass
class Machines:
    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(
        self, name: str, command: list[str] | str, env: dict[str, str], cwd: Path = REPO
    ) -> subprocess.Popen[bytes]:
        """Start `command` (a string runs through /bin/sh, as Procfile runners do)."""
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                shell=isinstance(command, str),
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        self.running[name] = process
        return process

    def run(self, name: str, command: list[str] | str, env: dict[str, str], timeout: float = 120) -> None:
        """Run a one-off command (a release step) to completion; it must succeed."""
        process = self.start(name, command, env)
        try:
            code = process.wait(timeout=timeout)
        finally:
            del self.running[name]
        assert code == 0, f"{name} exited {code}: {self.log(name)[-3000:]}"

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        for name, process in self.running.items():
            assert process.poll() is None, f"{name} exited {process.returncode}: {self.log(name)[-3000:]}"

    def stop(self) -> dict[str, int]:
        """SIGTERM every group (workers finish their job), then SIGKILL what is left; exit codes."""
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        codes = {}
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
        self.running.clear()
        return codes


def wait_ready(base_url: str, machines: Machines, timeout: float = 60) -> dict[str, Any]:
    """Poll GET /readyz until it answers 200; returns its checks (fails with the last answer)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        machines.check_alive()
        try:
            response = requests.get(f"{base_url}/readyz", timeout=2)
            last = (response.status_code, response.text)
            if response.status_code == 200:
                return response.json()["checks"]
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{base_url}/readyz never answered 200; last: {last}; logs in {machines.logs}")


def carried_out(app: Flask, event_id: int, machines: Machines, timeout: float = 60) -> list[Any]:
    """The event's Actions, its planning included, once the planning ran and all are final."""
    deadline = time.monotonic() + timeout
    actions: list[Any] = []
    while time.monotonic() < deadline:
        machines.check_alive()
        actions = actions_of(services(app), event_id, with_plan=True)
        if len(actions) > 1 and all(a.state in FINAL for a in actions):
            return actions
        time.sleep(0.2)
    states = [(a.channel, a.state) for a in actions]
    raise AssertionError(f"event {event_id} not carried out: {states}; logs in {machines.logs}")

"""The commands in the Procfile and in deploy/systemd/ are real: each one is started as
written (the units' /opt/bridge paths mapped to this checkout), the release step first,
and then /readyz must report the database, Redis and the relay OK, and a posted event
must be carried out by the worker the file starts."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from bridge.core.states import State
from bridge.inbound.signing import signed_request
from tests.helpers import REPO, SECRET, load_sample
from tests.support.prism import free_port
from tests.system.production.machines import Machines, carried_out, wait_ready

# Left out of `make check`: it starts the Procfile's and the systemd units' processes.
pytestmark = pytest.mark.slow

INSTALL_DIR = "/opt/bridge"  # where the units expect the checkout
VENV_BIN = str(Path(sys.executable).parent)


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def _unit(name: str) -> dict[str, str]:
    """The [Service] settings of a unit (one value per key: these units repeat none)."""
    found, section = {}, ""
    for line in (REPO / "deploy" / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key] = value
    return found


def _here(command: str) -> list[str]:
    """A unit's command line, run from this checkout instead of /opt/bridge."""
    words = shlex.split(command.replace("%i", "1"))
    assert words[0].startswith(f"{INSTALL_DIR}/.venv/bin/"), words
    return [os.path.join(VENV_BIN, Path(words[0]).name), *words[1:]]


def _environment(base_config: dict[str, Any], tmp_path: Path) -> tuple[dict[str, str], str]:
    port = free_port()
    env = {
        **os.environ,
        **{k: str(v) for k, v in base_config.items()},
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # as an activated venv, or a buildpack
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    return env, f"http://127.0.0.1:{port}"


def _post(base_url: str) -> int:
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    response = requests.post(f"{base_url}/webhooks/whmcs", data=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["event_id"]


def _check_running(app: Flask, base_url: str, machines: Machines) -> None:
    checks = wait_ready(base_url, machines)
    assert {checks[k] for k in ("database", "redis", "relay", "queue")} == {"ok"}, checks
    actions = carried_out(app, _post(base_url), machines)
    assert {a.state for a in actions} == {State.SENT}, [(a.channel, a.state, a.last_error) for a in actions]


def test_the_procfile_processes_run(make_app, base_config, tmp_path):
    entries = _procfile()
    assert {"release", "web", "worker", "relay"} <= set(entries)
    env, base_url = _environment(base_config, tmp_path)
    machines = Machines(tmp_path)
    try:
        machines.run("release", entries.pop("release"), env)
        for name, command in entries.items():
            machines.start(name, command, env)  # through /bin/sh, as Procfile runners do
        _check_running(make_app(), base_url, machines)
    finally:
        exits = machines.stop()
    assert set(exits.values()) <= {0, -15}, exits  # stopped by SIGTERM, none had to be killed


def test_the_systemd_units_run(make_app, base_config, tmp_path):
    units = {path.name: _unit(path.name) for path in sorted((REPO / "deploy" / "systemd").glob("*.service"))}
    assert {"bridge-web.service", "bridge-worker@.service", "bridge-relay.service"} <= set(units)
    env, base_url = _environment(base_config, tmp_path)
    env["PATH"] = "/usr/bin:/bin"  # systemd's: the units name their programs by full path
    machines = Machines(tmp_path)
    try:
        for name, unit in units.items():
            assert unit["WorkingDirectory"] == INSTALL_DIR and unit["EnvironmentFile"] == "/etc/bridge/bridge.env"
            if "ExecStartPre" in unit:
                machines.run(f"{name}-pre", _here(unit["ExecStartPre"]), env)
            machines.start(name, _here(unit["ExecStart"]), env)
        _check_running(make_app(), base_url, machines)
    finally:
        exits = machines.stop()
    assert set(exits.values()) <= {0, -15}, exits

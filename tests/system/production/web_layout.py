"""The production web layout, started for real: gunicorn with deploy/gunicorn.conf.py, and
Debian's nginx with deploy/nginx/bridge.conf in front of it.

nginx runs in the foreground from a temporary prefix (its own pid file, logs and temporary
folders), never as the system service. The shipped site file is used as written but for the
addresses, the certificate and the log folder, which are substituted in a copy; each
substitution must find its text, so the test follows the file rather than a copy of it.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.helpers import REPO
from tests.support.prism import free_port
from tests.system.production.machines import Machines

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = REPO / "deploy" / "nginx" / "bridge.conf"
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
VENV_BIN = Path(sys.executable).parent


def nginx_missing() -> str | None:
    """Why nginx cannot run here, or None."""
    if not os.access(NGINX, os.X_OK):
        return "nginx not found: `tools/setup.sh test` as root installs it (`apt-get install nginx`)"
    return None


def start_gunicorn(machines: Machines, config: dict[str, Any], instance: Path, workers: int = 2) -> str:
    """gunicorn as deploy/systemd/bridge-web.service starts it, bound to a free local port."""
    port = free_port()
    env = {
        **os.environ,
        **{k: str(v) for k, v in config.items()},
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "INSTANCE_PATH": str(instance),
    }
    machines.start("gunicorn", [str(VENV_BIN / "gunicorn"), "--config", str(GUNICORN_CONF), "wsgi:app"], env)
    return f"127.0.0.1:{port}"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key) made with openssl, valid for a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass(frozen=True)
class Proxy:
    https_url: str
    http_url: str
    cert: Path  # what clients verify the server with
    logs: Path  # the site's access log (bridge.access.log) and nginx's error.log

    @property
    def access_log(self) -> str:
        return (self.logs / "bridge.access.log").read_text(errors="replace")


def site_config(upstream: str, http_port: int, https_port: int, cert: Path, key: Path, logs: Path) -> str:
    text = SITE.read_text()
    substitutions = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "server 127.0.0.1:8000;": f"server {upstream};",
        "/etc/letsencrypt/live/bridge.tuhosting.example/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/bridge.tuhosting.example/privkey.pem": str(key),
        "/var/log/nginx/": f"{logs}/",
    }
    for shipped, here in substitutions.items():
        assert shipped in text, f"{SITE} no longer contains {shipped!r}: update the test's substitutions"
        text = text.replace(shipped, here)
    return text


def start_nginx(machines: Machines, upstream: str, folder: Path) -> Proxy:
    """nginx in the foreground with the shipped site in front of `upstream` (host:port)."""
    for name in ("logs", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(folder)
    http_port, https_port = free_port(), free_port()
    (folder / "bridge.conf").write_text(site_config(upstream, http_port, https_port, cert, key, folder / "logs"))
    temp = folder / "tmp"
    # The main file Debian's nginx.conf stands for: one http block including the site. As root,
    # the workers would run as nobody and could not read this private folder.
    (folder / "nginx.conf").write_text(
        f"""daemon off;
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    access_log {folder}/logs/default.access.log;
    include {folder}/bridge.conf;
}}
"""
    )
    command = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "logs" / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    machines.start("nginx", command, dict(os.environ))
    proxy = Proxy(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", cert, folder / "logs")
    wait_for_healthz(proxy.https_url, machines, verify=str(cert))
    return proxy


def wait_for_healthz(base_url: str, machines: Machines, verify: str | bool = True, timeout: float = 60) -> None:
    """Poll /healthz until it answers 200 (what was started is still running meanwhile)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        machines.check_alive()
        try:
            last = requests.get(f"{base_url}/healthz", timeout=2, verify=verify).status_code
            if last == 200:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{base_url}/healthz never answered 200 (last: {last}); logs in {machines.logs}")


def stalled_bodies(address: str, count: int, cert: Path | None = None, declared: int = 100_000) -> list[socket.socket]:
    """`count` connections to `address` (host:port), each having sent a webhook's headers that
    announce a `declared`-byte body, and one byte of it; then nothing more. TLS with `cert`."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(cert)) if cert else None
    head = (
        f"POST /webhooks/whmcs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n{{"
    ).encode()
    opened: list[socket.socket] = []
    for _ in range(count):
        connection = socket.create_connection((host, int(port)), timeout=10)
        if context is not None:
            connection = context.wrap_socket(connection, server_hostname=host)
        connection.sendall(head)
        opened.append(connection)
    return opened

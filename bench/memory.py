"""Part 5, memory: resident memory of a web process and a worker process after the monthly
run (bench/monthly.py calls this before it stops them), and database bytes per event.

RSS counts pages shared with the gunicorn master (copy-on-write after the fork) in every
worker; PSS shares them out, so the PSS of all web processes adds up to what they cost
together. The database's size is every bridge table with its indexes and TOAST
(pg_total_relation_size), or the SQLite file with its WAL.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.stage import BenchCluster, PartResult, Row
from bridge.store.db import Database
from bridge.store.models import Event

MB = 1024 * 1024


def process_memory(pid: int) -> dict[str, float]:
    """VmRSS and PSS of one process, in MB."""
    values = {}
    for source, key in (("status", "VmRSS:"), ("smaps_rollup", "Pss:")):
        try:
            for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
                if line.startswith(key):
                    values[key.rstrip(":").lower()] = int(line.split()[1]) * 1024 / MB
                    break
        except OSError:
            continue
    return {"rss_mb": round(values.get("vmrss", 0.0), 1), "pss_mb": round(values.get("pss", 0.0), 1)}


def database_bytes(database_url: str) -> tuple[dict[str, int], int]:
    """Bytes per table (with indexes) and the number of events."""
    db = Database(database_url)
    try:
        with db.session() as session:
            events = session.scalar(select(func.count()).select_from(Event)) or 0
            if db.backend != "postgresql":
                path = Path(make_url(database_url).database or "")
                files = [path, path.with_name(path.name + "-wal")]
                return {"sqlite file": sum(f.stat().st_size for f in files if f.exists())}, events
            rows = session.execute(
                text(
                    "SELECT tablename, pg_total_relation_size(quote_ident(tablename)) FROM pg_tables "
                    "WHERE schemaname = current_schema() ORDER BY 2 DESC"
                )
            ).all()
            return {name: int(size) for name, size in rows}, events
    finally:
        db.dispose()


def measure(cluster: BenchCluster, database_url: str) -> PartResult:
    web = {pid: process_memory(pid) for pid in cluster.web_processes()}
    workers = {process.pid: process_memory(process.pid) for process in cluster.workers}
    relay = process_memory(cluster.relay.pid) if cluster.relay else {}
    tables, events = database_bytes(database_url)
    total = sum(tables.values())
    biggest_web = max(web.values(), key=lambda m: m["rss_mb"])
    web_pss = sum(m["pss_mb"] for m in web.values())
    biggest_worker = max(workers.values(), key=lambda m: m["rss_mb"])
    rows = [
        Row(
            "memory",
            f"web process RSS (largest of {len(web)})",
            biggest_web["rss_mb"],
            "MB",
            note=f"PSS {biggest_web['pss_mb']:.0f} MB; all web processes PSS {web_pss:.0f} MB",
        ),
        Row(
            "memory",
            f"worker process RSS (largest of {len(workers)})",
            biggest_worker["rss_mb"],
            "MB",
            note=f"PSS {biggest_worker['pss_mb']:.0f} MB",
        ),
        Row(
            "memory",
            f"database bytes per event ({events} events)",
            total / max(events, 1),
            "B",
            note=f"{total / MB:.1f} MB in all; largest: "
            + ", ".join(f"{name} {size / MB:.1f} MB" for name, size in list(tables.items())[:3]),
        ),
    ]
    detail = {"web": web, "workers": workers, "relay": relay, "tables_bytes": tables, "events": events}
    return PartResult(rows=rows, detail=detail)

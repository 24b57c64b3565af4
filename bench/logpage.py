"""Time the delivery log's pages on a large history in PostgreSQL (issue 5's scale target:
under 200 ms server-side with 1,000,000 events).

    .venv/bin/python -m bench.logpage --database-url postgresql://postgres@127.0.0.1/bench \\
        [--events 1000000] [--redis-url redis://127.0.0.1:6379/14] [--runs 5]

Fills the database (once: it tops up to --events) with events and their actions (a planning,
a WhatsApp and an email each, 1 % of the emails failed) using generate_series, then asks the
app for each page in-process, logged in, and prints the median and worst time per page; writes
bench/results/logpage.json. The database is created if missing and kept for the next run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bridge import create_app
from bridge.logpage.auth import create_staff
from bridge.services import services
from bridge.store.db import Database
from bridge.store.migrate import upgrade

TYPES = "ARRAY['ClientAdd','InvoiceCreated','InvoicePaid','AfterModuleSuspend','ClientEdit']"
# A constant spliced into constant SQL: nothing from outside reaches the text.
FILL_EVENTS = f"""
INSERT INTO events (source, type, external_id, client_id, received_at, payload, search_text)
SELECT 'whmcs', ({TYPES})[1 + i % 5], 'bench-' || i, (1000 + i % 50000)::text,
       now() - ((CAST(:total AS bigint) - i) * interval '3 seconds'),
       json_build_object('event', ({TYPES})[1 + i % 5], 'params', json_build_object(
           'userid', 1000 + i % 50000, 'firstname', 'Nombre' || (i % 50000), 'lastname', 'Apellido',
           'email', 'cliente' || (i % 50000) || '@example.com', 'invoiceid', 100000 + i)),
       -- what bridge.store.search writes: intake's words plus the planner's (the WhatsApp number)
       ' bench-' || i || ' ' || (1000 + i % 50000) || ' nombre' || (i % 50000) || ' apellido cliente'
           || (i % 50000) || '@example.com ' || (100000 + i) || ' +54935155' || lpad((i % 100000)::text, 5, '0') || ' '
FROM generate_series(CAST(:start AS bigint), CAST(:total AS bigint)) AS i
"""  # noqa: S608
FILL_ACTIONS = """
INSERT INTO actions (event_id, hook, channel, recipient, content, state, attempts, dry_run,
                     provider_ref, last_error, created_at, updated_at)
SELECT e.id, c.hook, c.channel,
       CASE c.channel WHEN 'plan' THEN 'hooks' WHEN 'whatsapp' THEN '+54935155' || lpad((e.id % 100000)::text, 5, '0')
            ELSE 'cliente' || (e.id % 50000) || '@example.com' END,
       '{"body": "Hola"}'::json,
       CASE WHEN c.channel = 'email' AND e.id % 100 = 0 THEN 'failed' ELSE 'sent' END,
       1, false,
       CASE c.channel WHEN 'whatsapp' THEN 'SM' || md5(e.id::text) ELSE NULL END,
       CASE WHEN c.channel = 'email' AND e.id % 100 = 0 THEN 'SMTP refused' ELSE NULL END,
       e.received_at, e.received_at
FROM events e
CROSS JOIN (VALUES ('bridge.planner', 'plan'),
    ('hooks.helpers.messaging', 'whatsapp'), ('hooks.helpers.messaging', 'email'))
     AS c(hook, channel)
WHERE e.id > CAST(:after AS bigint)
"""


def ensure_database(url: str) -> None:
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
        if exists.scalar() is None:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def fill(db: Database, total: int) -> None:
    with db.engine.begin() as connection:
        have = connection.execute(text("SELECT count(*) FROM events")).scalar() or 0
        after = connection.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar() or 0
        if have >= total:
            return
        print(f"adding {total - have} events and their actions...", flush=True)
        started = time.perf_counter()
        connection.execute(text(FILL_EVENTS), {"start": have + 1, "total": total})
        connection.execute(text(FILL_ACTIONS), {"after": after})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE events"))
        connection.execute(text("VACUUM ANALYZE actions"))
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    ensure_database(args.database_url)
    app = create_app({"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url, "BRIDGE_ENV": "test"}, {})
    db = services(app).db
    upgrade(db)
    fill(db, args.events)
    with db.engine.connect() as connection:
        counts = connection.execute(text("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM actions)")).one()
        deep = connection.execute(
            text("SELECT received_at, id FROM events ORDER BY received_at DESC, id DESC OFFSET :n LIMIT 1"),
            {"n": int(counts[0] * 0.9)},
        ).one()
        sample = connection.execute(
            text("SELECT event_id, provider_ref FROM actions WHERE provider_ref LIKE 'SM%' ORDER BY id LIMIT 1")
        ).one()
        failed_client = connection.execute(
            text(
                "SELECT e.client_id FROM actions a JOIN events e ON e.id = a.event_id WHERE a.state = 'failed' LIMIT 1"
            )
        ).scalar()
    email = "bench@hosting.example"
    try:
        create_staff(db, email, "bench password 123")
    except ValueError:
        pass  # made by an earlier run
    client = app.test_client()
    page = client.get("/log/login").text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/log/login", data={"email": email, "password": "bench password 123", "csrf_token": token})

    cursor = f"{deep[0].isoformat()}_{deep[1]}"
    pages = {
        "list, first page": "/log/",
        "list, deep page (90 %)": f"/log/?before={cursor}",
        "list, state=failed": "/log/?state=failed",
        "list, state=failed, deep": f"/log/?state=failed&before={cursor}",
        "list, type + channel": "/log/?type=InvoicePaid&channel=email",
        "list, client id": f"/log/?client_id={failed_client}",
        "list, one day": "/log/?since=2026-01-01&until=2026-01-01",
        "list, search message sid": f"/log/?q={sample[1]}",
        "list, search event id": f"/log/?q={sample[0]}",
        "list, search email": "/log/?q=cliente4242@example.com",
        "list, search name": "/log/?q=Nombre4242",
        "list, search invoice number": f"/log/?q={100000 + sample[0]}",
        "list, search two words": "/log/?q=apellido+nombre4242",
        "event detail": f"/log/events/{sample[0]}",
        "chart, 7 days": "/log/chart?range=7d",
    }
    results = {}
    for name, url in pages.items():
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        results[name] = {"median_ms": round(statistics.median(timings), 1), "worst_ms": round(max(timings), 1)}
        print(f"{name:<32} median {results[name]['median_ms']:>8.1f} ms   worst {results[name]['worst_ms']:>8.1f} ms")
    out = Path(__file__).resolve().parent / "results" / "logpage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"events": counts[0], "actions": counts[1], "pages": results}, indent=2) + "\n")
    print(f"{counts[0]} events, {counts[1]} actions; written to {out}")


if __name__ == "__main__":
    main()

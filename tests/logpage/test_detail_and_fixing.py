"""An event's page (masked recipients, reveal on purpose, message, history, attempts) and
the fixes: retry one, retry all that the filters select, replay; each one audited."""

from __future__ import annotations

import html

from sqlalchemy import select

from bridge.core.states import State
from bridge.services import services
from bridge.store.models import Action, AuditEntry
from tests.helpers import actions_of, attempts_of, count, transitions_of
from tests.logpage.conftest import EMAIL, csrf_of
from tests.logpage.test_list import other_client


def audit_rows(svc) -> list[tuple[str, str, int | None, int | None]]:
    with svc.db.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(a.staff_email, a.verb, a.event_id, a.action_id) for a in rows]


def test_the_event_page_shows_everything_but_the_recipients(staff_client, seed, log_app):
    event_id = seed.event()
    svc = services(log_app)
    whatsapp, _ = actions_of(svc, event_id)
    page = html.unescape(staff_client.get(f"/log/events/{event_id}").text)
    assert "+54 9 351 ***-**34" in page and "l***@radioandina.example" in page
    # Nowhere in full: not in the message, not in the payload.
    assert "lucia@radioandina.example" not in page and "555-1234" not in page and "5551234" not in page
    assert "Hola Lucía" in page  # the rendered message
    assert '"email": "l***@radioandina.example"' in page and '"phonenumber": "0351 15 ***-**34"' in page
    assert '"firstname": "Lucía"' in page  # accents as they are, not \\u escapes
    assert "SMTP unreachable: ConnectionRefusedError" in page  # the attempt's error
    assert "gave up after 1 attempts" in page  # the state history's reason
    assert "S3cret!plain" not in page and '"password"' not in page  # the stored payload, redacted
    assert whatsapp.provider_ref in page
    assert page.count('class="retry"') == 1  # only the failed email can be retried


def test_reveal_is_a_recorded_post(staff_client, seed, log_app):
    event_id = seed.event()
    svc = services(log_app)
    whatsapp, _ = actions_of(svc, event_id)
    page = staff_client.get(f"/log/events/{event_id}").text
    revealed = staff_client.post(f"/log/actions/{whatsapp.id}/reveal", data={"csrf_token": csrf_of(page)})
    assert revealed.status_code == 200
    assert '<span class="recipient revealed">+54 9 351 555 1234</span>' in revealed.text or (
        "+54 9 351 555-1234" in revealed.text
    )
    assert "lucia@radioandina.example" not in revealed.text  # only the one asked for
    assert audit_rows(svc) == [(EMAIL, "reveal", event_id, whatsapp.id)]
    again = staff_client.get(f"/log/events/{event_id}").text
    assert "+54 9 351 ***-**34" in again  # masked again on the next visit
    assert f"{EMAIL}: reveal action {whatsapp.id}" in again  # shown on the event


def test_retry_one_failed_action(staff_client, seed, log_app, run_worker):
    event_id = seed.event()
    svc = services(log_app)
    _, email = actions_of(svc, event_id)
    page = staff_client.get(f"/log/events/{event_id}").text
    response = staff_client.post(f"/log/actions/{email.id}/retry", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 302
    assert actions_of(svc, event_id)[1].state == State.QUEUED
    assert transitions_of(svc, email.id)[-1] == (
        "failed",
        "queued",
        f"retried by {EMAIL} from the delivery log (action {email.id})",
    )
    assert audit_rows(svc) == [(EMAIL, "retry", event_id, email.id)]
    assert run_worker(log_app) == 1  # the job was queued
    assert [a.number for a in attempts_of(svc, email.id)] == [1, 2]
    # A second click on a stale page changes nothing.
    with svc.db.session() as session:
        state = session.scalar(select(Action.state).where(Action.id == email.id))
    assert state == State.FAILED  # the SMTP server is still down
    staff_client.post(f"/log/actions/{actions_of(svc, event_id)[0].id}/retry", data={"csrf_token": csrf_of(page)})
    assert actions_of(svc, event_id)[0].state == State.SENT
    assert count(svc, AuditEntry) == 1


def test_replay_plans_the_event_again_linked_to_the_old_planning(staff_client, seed, log_app, run_worker):
    event_id = seed.event()
    svc = services(log_app)
    before = actions_of(svc, event_id, with_plan=True)
    page = staff_client.get(f"/log/events/{event_id}").text
    assert staff_client.post(f"/log/events/{event_id}/replay", data={"csrf_token": csrf_of(page)}).status_code == 302
    while run_worker(log_app):
        pass
    after = actions_of(svc, event_id, with_plan=True)
    new = after[len(before) :]
    assert [a.channel for a in new] == ["plan", "whatsapp", "email"]
    assert new[0].replay_of_id == before[0].id and new[0].state == State.SENT
    assert [a.state for a in before] == [a.state for a in after[: len(before)]]  # the old ones are kept
    assert audit_rows(svc) == [(EMAIL, "replay", event_id, new[0].id)]
    assert f"replay of action {before[0].id}" in staff_client.get(f"/log/events/{event_id}").text


def test_retry_all_failed_matching_the_filters_after_a_confirmation(staff_client, seed, log_app, run_worker):
    lucia = seed.event()
    again = seed.event()
    marco = seed.event("ClientAdd", other_client())
    svc = services(log_app)
    confirm = staff_client.get("/log/retry-failed?client_id=1042")
    assert '<p id="retry-count">2 failed actions match the current filters.</p>' in confirm.text
    assert count(svc, AuditEntry) == 0  # looking changes nothing
    response = staff_client.post("/log/retry-failed", data={"client_id": "1042", "csrf_token": csrf_of(confirm.text)})
    assert response.status_code == 302 and response.headers["Location"] == "/log/?client_id=1042"
    states = {e: [a.state for a in actions_of(svc, e) if a.channel == "email"] for e in (lucia, again, marco)}
    assert states == {lucia: ["queued"], again: ["queued"], marco: ["failed"]}
    assert sorted(e for _, verb, e, _ in audit_rows(svc) if verb == "retry") == [lucia, again]
    assert run_worker(log_app) == 2
    # The state filter is replaced by "failed": the page's "retry all failed" link works from any view.
    assert "2 failed actions" in staff_client.get("/log/retry-failed?client_id=1042&state=sent").text

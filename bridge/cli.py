"""`flask --app wsgi <command>`: migrate, send a signed test event, show recent work,
run a worker or the relay, or everything at once in the embedded mode (`up`)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import click
import requests
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from bridge.ops.metrics_server import metrics_server_command
from bridge.services import services
from bridge.store.models import Action, ActionTransition, Event

SAMPLES = Path(__file__).resolve().parent / "samples"


def register_commands(app: Flask) -> None:
    app.cli.add_command(migrate_command)
    app.cli.add_command(send_test_event)
    app.cli.add_command(recent)
    app.cli.add_command(worker_command)
    app.cli.add_command(relay_command)
    app.cli.add_command(up_command)
    app.cli.add_command(debit_cycle_command)
    app.cli.add_command(renewal_scan_command)
    app.cli.add_command(create_staff_command)
    app.cli.add_command(set_password_command)
    app.cli.add_command(deactivate_staff_command)
    app.cli.add_command(activate_staff_command)
    app.cli.add_command(create_api_token_command)
    app.cli.add_command(list_api_tokens_command)
    app.cli.add_command(revoke_api_token_command)
    app.cli.add_command(prune_command)
    app.cli.add_command(metrics_server_command)
    app.cli.add_command(templates_group)


def _app() -> Flask:
    from flask import current_app

    return current_app._get_current_object()  # type: ignore[attr-defined]


@click.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations."""
    from bridge.store.migrate import upgrade

    svc = services(_app())
    upgrade(svc.db)
    click.echo(f"database at head ({svc.db.url.render_as_string(hide_password=True)})")


@click.command("send-test-event")
@click.argument("event_type", default="ClientAdd")
@click.option("--url", default=None, help="Bridge base URL (default: http://127.0.0.1:$PORT).")
@click.option(
    "--params", "params_file", type=click.Path(exists=True, dir_okay=False), help="JSON file with hook params."
)
def send_test_event(event_type: str, url: str | None, params_file: str | None) -> None:
    """Post a signed WHMCS event with sample data to the running bridge."""
    from bridge.inbound.signing import signed_request

    svc = services(_app())
    path = Path(params_file) if params_file else SAMPLES / f"{event_type}.json"
    if not path.exists():
        raise click.ClickException(f"no sample params for {event_type}; pass --params FILE")
    params = json.loads(path.read_text())
    body, headers = signed_request(svc.settings.webhook_secrets[0], event_type, params)
    base = url or f"http://127.0.0.1:{svc.settings.port}"
    try:
        response = requests.post(f"{base}/webhooks/whmcs", data=body, headers=headers, timeout=10)
    except requests.RequestException as exc:
        raise click.ClickException(f"could not reach the bridge at {base}: {exc}") from None
    click.echo(f"{response.status_code} {response.text.strip()}")
    if response.status_code >= 300:
        raise SystemExit(1)


@click.command("recent")
@click.option("--limit", default=10, show_default=True)
def recent(limit: int) -> None:
    """Show the latest events and their actions."""
    svc = services(_app())
    with svc.db.session() as session:
        events = session.scalars(select(Event).order_by(Event.id.desc()).limit(limit)).all()
        if not events:
            click.echo("no events yet")
        for event in events:
            when = f"{event.received_at:%Y-%m-%d %H:%M:%S}"
            click.echo(f"event {event.id}  {when}  {event.source}/{event.type}  client {event.client_id or '-'}")
            actions = session.scalars(select(Action).where(Action.event_id == event.id).order_by(Action.id)).all()
            for action in actions:
                if action.channel == "plan":
                    last = session.scalars(
                        select(ActionTransition.reason)
                        .where(ActionTransition.action_id == action.id)
                        .order_by(ActionTransition.id.desc())
                    ).first()
                    click.echo(f"    planning {action.state}: {last}")
                    continue
                dry = "  [DRY RUN: nothing was sent]" if action.dry_run else ""
                why = f"  ({action.last_error})" if action.last_error else ""
                click.echo(
                    f"    action {action.id}  {action.channel:<8} {action.state:<10} to {action.recipient}"
                    f"  attempts {action.attempts}{dry}{why}"
                )


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker_command(burst: bool) -> None:
    """Run an RQ worker on the bridge's queue (as `rq worker -w rq.SimpleWorker` would,
    with this app's settings).

    RQ's SimpleWorker runs each job in this process instead of forking a work-horse per
    job: the fork, the re-import of provider modules in the child and a fresh database
    connection per job cost more than the job itself (7 jobs/s forking vs about 25 here
    on SQLite, bench/production.py has the current figures). What forking would buy,
    surviving a job that crashes the interpreter, the relay already gives: a worker that
    dies mid-job leaves its Action in `sending`, and the relay takes it back after
    RELAY_SENDING_TIMEOUT_SECONDS. Job timeouts still apply (SIGALRM in this process).
    RQ logs at WARNING: the bridge writes its own line per attempt.
    """
    from rq import SimpleWorker

    from bridge import jobs

    app = _app()
    svc = services(app)
    jobs.bind_app(app)
    name = f"bridge-{socket.gethostname()}-{os.getpid()}"
    worker = SimpleWorker([svc.queue.queue], connection=svc.redis, name=name)
    worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")


@click.command("relay")
@click.option("--once", is_flag=True, help="One pass, then exit.")
def relay_command(once: bool) -> None:
    """Re-queue what the queue lost and queue due retries every RELAY_INTERVAL_SECONDS;
    report dead letters to the staff every DEAD_LETTER_REPORT_SECONDS; ask Twilio about the
    WhatsApp templates under review every TEMPLATE_POLL_SECONDS; start the daily debit cycle
    after DEBIT_CYCLE_HOUR; check the debit group's suspension exemption (at start, daily);
    from [reminders] send_hour, scan the renewals once a day and send the clients' notices of
    the day."""
    from datetime import timedelta

    from bridge.scheduled import debit_group_check, notice_digest, renewal_scan
    from bridge.scheduled.dead_letters import report_dead_letters
    from bridge.scheduled.debit_cycle import run_if_due
    from bridge.scheduled.template_sync import poll_templates
    from bridge.store.models import utcnow
    from bridge.wiring import build_content_api, build_relay

    svc = services(_app())
    relay = build_relay(svc)
    content = build_content_api(svc.settings)
    poll_every = timedelta(seconds=svc.settings.template_poll_seconds)
    next_report = time.monotonic()
    while True:
        try:
            report = relay.run_once()
            if time.monotonic() >= next_report:
                report_dead_letters(svc)
                next_report = time.monotonic() + svc.settings.dead_letter_report_seconds
            poll_templates(svc, content, utcnow(), poll_every)
            if svc.settings.pagos360_api_key:
                run_if_due(svc, utcnow())
            debit_group_check.run_if_due(svc, utcnow())
            renewal_scan.run_if_due(svc, utcnow())
            notice_digest.send_due_notices(svc, utcnow())
            if once:
                click.echo(json.dumps(report.__dict__))
                return
        except Exception as exc:  # the relay must outlive a database or Redis blip
            if once:
                raise
            click.echo(f"relay pass failed: {exc}", err=True)
        time.sleep(svc.settings.relay_interval_seconds)


@click.command("up")
def up_command() -> None:
    """Embedded mode: migrate, then run web, worker and relay together until Ctrl-C.

    With no Twilio credentials the WhatsApp templates are synced at start (a dry run
    approves them all), so that messages go as templates, as they would in production."""
    from bridge.ops.runner import run_all
    from bridge.scheduled.template_sync import sync_templates
    from bridge.wiring import build_content_api

    app = _app()
    svc = services(app)

    def dry_run_templates() -> None:
        content = build_content_api(svc.settings)
        if content.dry_run:
            report = sync_templates(svc.db, svc.catalog, content)
            click.echo(f"bridge: WhatsApp templates (dry run): {report.summary()}")

    run_all(app, prepare=dry_run_templates)


@click.command("debit-cycle")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), help="Run as of this day (default today).")
def debit_cycle_command(day: object) -> None:
    """Plan the card debits due now (the relay runs this daily by itself); safe to repeat."""
    from bridge.scheduled.debit_cycle import run_debit_cycle

    _run_daily_job(run_debit_cycle, day)


@click.command("renewal-scan")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), help="Run as of this day (default today).")
def renewal_scan_command(day: object) -> None:
    """Keep the notices of domains and services due at a lead day (the relay runs this daily by
    itself); safe to repeat: a notice is kept once. The relay's next pass sends them."""
    from bridge.scheduled.renewal_scan import run_renewal_scan

    _run_daily_job(run_renewal_scan, day)


def _run_daily_job(run: Any, day: object) -> None:
    """A daily job run by hand, as of `day` (default today, company time): its summary, and
    its errors on stderr."""
    from datetime import datetime

    svc = services(_app())
    today = day.date() if isinstance(day, datetime) else datetime.now(svc.settings.tz).date()
    report = run(svc, today)
    click.echo(report.summary())
    for error in report.errors:
        click.echo(f"  error: {error}", err=True)


@click.command("create-staff")
@click.argument("email")
@click.option("--password", help="For scripts; without it the password is asked for (not echoed).")
def create_staff_command(email: str, password: str | None) -> None:
    """Add a staff account that can log in to the delivery log."""
    from bridge.logpage.auth import create_staff

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        staff_id = create_staff(services(_app()).db, email, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"staff account {staff_id} created for {email.strip().lower()}")


@click.command("set-password")
@click.argument("email")
@click.option("--password", help="For scripts; without it the password is asked for twice (not echoed).")
def set_password_command(email: str, password: str | None) -> None:
    """Give a staff account a new password; every session of the account ends."""
    from bridge.logpage.auth import set_password

    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(services(_app()).db, email, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password changed for {email.strip().lower()}; its sessions have ended")


@click.command("deactivate-staff")
@click.argument("email")
def deactivate_staff_command(email: str) -> None:
    """Stop a staff account: its sessions end and it cannot log in (activate-staff undoes it)."""
    _set_active(email, active=False)
    click.echo(f"{email.strip().lower()} deactivated; its sessions have ended")


@click.command("activate-staff")
@click.argument("email")
def activate_staff_command(email: str) -> None:
    """Let a deactivated staff account log in again."""
    _set_active(email, active=True)
    click.echo(f"{email.strip().lower()} can log in again")


def _set_active(email: str, *, active: bool) -> None:
    from bridge.logpage.auth import set_active

    try:
        set_active(services(_app()).db, email, active)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("create-api-token")
@click.argument("name")
def create_api_token_command(name: str) -> None:
    """Make a token for the read-only JSON API (/api/events, /api/actions); shown only once."""
    from bridge.logpage.api import create_api_token

    token = create_api_token(services(_app()).db, name)
    click.echo(token)


@click.command("list-api-tokens")
def list_api_tokens_command() -> None:
    """The JSON API's tokens: id, name, when made, last used and revoked (never the token)."""
    from bridge.logpage.api_tokens import list_api_tokens

    tokens = list_api_tokens(services(_app()).db)
    if not tokens:
        click.echo("no API tokens")
    for token in tokens:
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "live"
        click.echo(f"{token.id:>4}  {token.name:<24}  made {token.created_at:%Y-%m-%d %H:%M}  used {used}  {state}")


@click.command("revoke-api-token")
@click.argument("name")
def revoke_api_token_command(name: str) -> None:
    """Revoke the API token(s) with this name: refused from their next request on."""
    from bridge.logpage.api_tokens import revoke_api_tokens

    revoked = revoke_api_tokens(services(_app()).db, name)
    if not revoked:
        raise click.ClickException(f"no live API token named {name!r} (see list-api-tokens)")
    click.echo(f"revoked {revoked} API token(s) named {name!r}")


@click.command("prune")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Default: RETENTION_DAYS (180).")
def prune_command(days: int | None) -> None:
    """Delete events older than N days, with their actions, transitions and attempts, in batches."""
    from bridge.logpage.retention import prune

    svc = services(_app())
    days = days or svc.settings.retention_days
    deleted = prune(svc.db, days)
    click.echo(f"deleted {deleted} events older than {days} days")


@click.group("templates", cls=AppGroup)
def templates_group() -> None:
    """WhatsApp templates: make them on Twilio from the message files, and see their state."""


@templates_group.command("sync")
def templates_sync_command() -> None:
    """Submit every event x language routed to WhatsApp for approval; safe to repeat."""
    from bridge.scheduled.template_sync import sync_templates
    from bridge.wiring import build_content_api

    svc = services(_app())
    content = build_content_api(svc.settings)
    report = sync_templates(svc.db, svc.catalog, content)
    for made in report.made:
        click.echo(f"  submitted {made}")
    for label in report.no_text:
        click.echo(f"  no whatsapp_template text: {label}", err=True)
    for error in report.errors:
        click.echo(f"  error: {error}", err=True)
    dry = "  [DRY RUN: no Twilio credentials, every template counts as approved]" if content.dry_run else ""
    click.echo(report.summary() + dry)
    if report.errors:
        raise SystemExit(1)


@templates_group.command("status")
def templates_status_command() -> None:
    """Every WhatsApp notice with its template's state: approved, pending, rejected (with
    Twilio's reason) or missing."""
    from bridge.store.templates import template_states

    svc = services(_app())
    with svc.db.session() as session:
        states = template_states(session, svc.catalog, dry_run=not svc.settings.twilio_configured)
    for state in states:
        click.echo(state.describe())
    missing = sum(1 for state in states if not state.usable)
    click.echo(f"{len(states)} WhatsApp notices, {missing} without an approved template")

"""The delivery log's pages under /log/: login, the list, an event, the fixes, exports, chart.

Every view but the login needs a staff session, and every POST its CSRF token: both are
checked once, in `_guard`, before any view runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from bridge.core.states import State
from bridge.inbound import event_sources
from bridge.logpage import chart, conversations, export, queries
from bridge.logpage.auth import (
    LoginLimit,
    LoginLimited,
    Staff,
    WrongCredentials,
    authenticate,
    change_own_password,
    login_manager,
)
from bridge.logpage.filters import INTERNAL_CHANNELS, Filters
from bridge.logpage.fixing import audit, replay_event, retry_actions, retryable_channels
from bridge.logpage.forms import ButtonForm, LoginForm, PasswordForm
from bridge.logpage.security import csrf, safe_next_path
from bridge.logpage.sessions import end_session
from bridge.logpage.shown import shown_event
from bridge.services import services
from bridge.store.models import Action, StaffUser
from bridge.store.templates import template_states

blueprint = Blueprint(
    "logpage",
    __name__,
    url_prefix="/log",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PUBLIC_ENDPOINTS = frozenset({"logpage.login", "logpage.static"})


@blueprint.before_request
def _guard() -> BaseResponse | None:
    if request.endpoint in PUBLIC_ENDPOINTS and request.method == "GET":
        return None
    if request.method == "POST":
        csrf.protect()  # 400 without a valid token, login form included
    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@blueprint.after_request
def _no_store(response: Response) -> Response:
    # Pages show customers' data: keep them out of shared caches and the back-button cache.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@blueprint.errorhandler(queries.BadCursor)
def _bad_cursor(exc: queries.BadCursor) -> BadRequest:
    # A hand-edited or cut link: say what is wrong with it rather than show some other page.
    return BadRequest(str(exc))


def _staff() -> Staff:
    return current_user._get_current_object()


def _tz() -> ZoneInfo:
    return services().settings.tz


# --- access ---------------------------------------------------------------------------


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        svc = services()
        try:
            staff = authenticate(
                svc.db, form.email.data or "", form.password.data or "", request.remote_addr or "-", _login_limit()
            )
        except LoginLimited:
            flash("Too many failed logins for this account: try again later.", "error")
            status = 429
        except WrongCredentials:
            flash("Wrong email or password.", "error")
            status = 401
        else:
            _begin(staff)
            return redirect(safe_next_path(request.args.get("next")) or url_for("logpage.events"))
    elif request.method == "POST":
        status = 400
    return render_template("logpage/login.html", form=form), status


def _login_limit() -> LoginLimit:
    """LOGIN_MAX_FAILURES within LOGIN_WINDOW_SECONDS: the one limit for a login and for the
    current password asked on the password page."""
    settings = services().settings
    return LoginLimit(settings.login_max_failures, settings.login_window_seconds)


def _begin(staff: Staff) -> None:
    """Log `staff` in on a Flask session of its own: whatever the cookie held before
    (the CSRF token above all) is dropped, so nothing from before the login carries over."""
    flask_session.clear()
    login_user(staff)


@blueprint.post("/logout")
def logout() -> BaseResponse:
    with services().db.session() as session:
        end_session(session, _staff().session_token)
    logout_user()
    flask_session.clear()
    return redirect(url_for("logpage.login"))


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def account_password() -> Any:
    """A staff member's own new password: every other session of the account ends, this
    browser stays logged in on a new one."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            staff = change_own_password(
                services().db,
                _staff(),
                form.current.data or "",
                form.new.data or "",
                request.remote_addr or "-",
                _login_limit(),
            )
        except LoginLimited:
            flash("Too many wrong passwords for this account: try again later.", "error")
            status = 429
        except WrongCredentials:
            flash("The current password is wrong.", "error")
            status = 401
        except ValueError as exc:
            flash(f"Not changed: {exc}.", "error")
            status = 400
        else:
            _begin(staff)
            flash("Password changed. Every other session of this account has ended.")
            return redirect(url_for("logpage.events"))
    elif request.method == "POST":
        status = 400
    return render_template("logpage/account_password.html", form=form), status


# --- reading --------------------------------------------------------------------------


@blueprint.get("/")
@login_required
def events() -> str:
    filters = Filters.from_args(request.args)
    svc = services()
    with svc.db.session() as session:
        page = queries.events_page(session, filters, svc.settings, request.args.get("before", ""))
        counts = queries.state_counts(session, filters, svc.settings)
        types = queries.event_types(svc.hooks.event_types(), filters.type)
    return render_template(
        "logpage/events.html",
        page=page,
        counts=counts,
        count_cap=queries.COUNT_CAP,
        filters=filters,
        types=types,
        sources=event_sources(),
        channels=sorted({*svc.providers, *INTERNAL_CHANNELS}),
        states=[s.value for s in State],
        refresh=svc.settings.log_refresh_seconds,
        tz=_tz(),
    )


@blueprint.get("/events/<id:event_id>")
@login_required
def event(event_id: int) -> str:
    return _render_event(event_id, revealed=frozenset())


def _render_event(event_id: int, revealed: frozenset[int]) -> str:
    svc = services()
    with svc.db.session() as session:
        detail = queries.event_detail(session, event_id)
        staff_emails = frozenset(session.scalars(select(StaffUser.email)))
    if detail is None:
        abort(404)
    return render_template(
        "logpage/event.html",
        shown=shown_event(detail, revealed, staff_emails),
        retryable=retryable_channels(svc),
        form=ButtonForm(),
        tz=_tz(),
    )


@blueprint.get("/chart")
@login_required
def chart_page() -> str:
    span = request.args.get("range", "24h")
    if span not in chart.RANGES:
        span = "24h"
    with services().db.session() as session:
        data = chart.hourly_counts(session, chart.RANGES[span])
    return render_template(
        "logpage/chart.html", svg=chart.render_svg(data, _tz()), data=data, span=span, ranges=list(chart.RANGES)
    )


@blueprint.get("/conversations")
@login_required
def conversations_page() -> str:
    """The numbers that wrote on WhatsApp, the latest first."""
    with services().db.session() as session:
        rows = conversations.numbers(session)
    return render_template("logpage/conversations.html", rows=rows, tz=_tz())


@blueprint.get("/conversations/<id:event_id>")
@login_required
def conversation_page(event_id: int) -> str:
    """The conversation of the number that sent message `event_id`, in time order."""
    with services().db.session() as session:
        found = conversations.conversation(session, event_id)
    if found is None:
        abort(404)
    return render_template("logpage/conversation.html", conversation=found, tz=_tz(), now=datetime.now(UTC))


@blueprint.get("/templates")
@login_required
def templates_page() -> str:
    """Every WhatsApp notice with its template's state, as `flask templates status` lists them."""
    svc = services()
    with svc.db.session() as session:
        states = template_states(session, svc.catalog, dry_run=not svc.settings.twilio_configured)
    return render_template(
        "logpage/templates.html", states=states, missing=sum(1 for s in states if not s.usable), tz=_tz()
    )


# --- acting ---------------------------------------------------------------------------


@blueprint.post("/actions/<id:action_id>/reveal")
@login_required
def reveal(action_id: int) -> str:
    """Show this Action's recipient in full, once, and record who looked."""
    svc = services()
    with svc.db.session() as session:
        action = session.get(Action, action_id)
        if action is None:
            abort(404)
        event_id = action.event_id
        audit(session, _staff(), "reveal", event_id, action_id, f"{action.channel} recipient shown")
    return _render_event(event_id, revealed=frozenset({action_id}))


@blueprint.post("/actions/<id:action_id>/retry")
@login_required
def retry(action_id: int) -> BaseResponse:
    svc = services()
    with svc.db.session() as session:
        event_id = session.scalar(select(Action.event_id).where(Action.id == action_id))
    if event_id is None:
        abort(404)
    moved = retry_actions(svc, _staff(), [action_id], f"action {action_id}")
    flash(f"Action {action_id} queued again." if moved else f"Action {action_id} is not failed: left alone.")
    return redirect(url_for("logpage.event", event_id=event_id))


@blueprint.post("/events/<id:event_id>/replay")
@login_required
def replay(event_id: int) -> BaseResponse:
    svc = services()
    with svc.db.session() as session:
        if queries.event_detail(session, event_id) is None:
            abort(404)
    new_id = replay_event(svc, _staff(), event_id)
    flash(f"Event {event_id} is planned again (planning action {new_id}).")
    return redirect(url_for("logpage.event", event_id=event_id))


@blueprint.route("/retry-failed", methods=["GET", "POST"])
@login_required
def retry_failed() -> Any:
    """GET: how many failed Actions the filters select, and a button; POST: retry them."""
    filters = Filters.from_args(request.values)
    selected = Filters(**{**filters.to_args(), "state": State.FAILED.value})
    svc = services()
    channels = retryable_channels(svc)
    with svc.db.session() as session:
        query = queries.matching_actions(selected, svc.settings).where(Action.channel.in_(channels))
        ids = [action.id for action, _ in session.execute(query)]
    if request.method == "GET":
        return render_template("logpage/retry_failed.html", filters=filters, count=len(ids), form=ButtonForm())
    described = ", ".join(f"{k}={v}" for k, v in filters.to_args().items()) or "no filters"
    moved = retry_actions(svc, _staff(), ids, f"all failed matching {described}")
    flash(f"{len(moved)} failed actions queued again.")
    # Typed loosely: url_for also takes keyword options (_external: bool, ...) that no filter is.
    link_args: dict[str, Any] = filters.to_args()
    return redirect(url_for("logpage.events", **link_args))


# --- exporting ------------------------------------------------------------------------


@blueprint.get("/export.<any(csv, xlsx):kind>")
@login_required
def export_list(kind: str) -> Response:
    filters = Filters.from_args(request.args)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with services().db.session() as session:
        data = export.rows(session, queries.matching_actions(filters, services().settings))
        if kind == "csv":
            body: bytes | str = "".join(export.to_csv(data))
            mimetype = "text/csv; charset=utf-8"
        else:
            body = export.to_xlsx(data)
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="delivery-log-{stamp}.{kind}"'
    return response

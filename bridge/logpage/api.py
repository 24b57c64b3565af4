"""A read-only JSON API for scripts and monitoring: /api/events and /api/actions, the
page's filters as query parameters, a staff API token as `Authorization: Bearer <token>`.

Tokens are made with `flask --app wsgi create-api-token NAME`; only their SHA-256 is kept.
Recipients are masked, as on the page: revealing one is a logged-in, audited act.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select, update

from bridge.inbound.rejections import rejection
from bridge.logpage import queries
from bridge.logpage.filters import Filters
from bridge.logpage.shown import shown_row
from bridge.services import services
from bridge.store.db import Database
from bridge.store.models import Action, ApiToken, Event, utcnow

blueprint = Blueprint("api", __name__, url_prefix="/api")
MAX_LIMIT = 500


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(db: Database, name: str) -> str:
    """A new token, shown once: the database keeps only its hash."""
    token = "brg_" + secrets.token_urlsafe(32)
    with db.session() as session:
        session.add(ApiToken(name=name, token_hash=token_hash(token)))
    return token


@blueprint.before_request
def _authenticate() -> Response | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _refuse("an API token is needed: Authorization: Bearer <token>")
    digest = token_hash(token.strip())
    with services().db.session() as session:
        # A revoked token (flask revoke-api-token) is refused from its next request on.
        found = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)))
        # The lookup is by hash; compare again in constant time all the same.
        if found is None or not hmac.compare_digest(found.token_hash, digest):
            return _refuse("unknown API token")
        session.execute(update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=utcnow()))
    return None


@blueprint.errorhandler(queries.BadCursor)
def _bad_cursor(exc: queries.BadCursor) -> Response:
    return rejection(400, str(exc), "bad_cursor")


def _refuse(error: str) -> Response:
    response = jsonify(error=error)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


class BadLimit(ValueError):
    """`limit` is not a whole number from 1 to MAX_LIMIT: a script that asked for something
    else should hear so, not silently get another page size."""


@blueprint.errorhandler(BadLimit)
def _bad_limit(exc: BadLimit) -> Response:
    return rejection(400, str(exc), "bad_limit")


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return queries.PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_LIMIT):
        raise BadLimit(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw[:20]!r}")
    return int(raw)


@blueprint.get("/events")
def events() -> Any:
    filters = Filters.from_args(request.args)
    svc = services()
    with svc.db.session() as session:
        page = queries.events_page(session, filters, svc.settings, request.args.get("before", ""), _limit())
    return jsonify(
        events=[
            {
                "id": row.id,
                "received_at": row.received_at.isoformat(),
                "source": row.source,
                "type": row.type,
                "client_id": row.client_id,
                "client_name": row.client_name,
                "actions": [
                    {"id": a.id, "channel": a.channel, "state": a.state, "dry_run": a.dry_run} for a in row.actions
                ],
            }
            for row in page.rows
        ],
        next_before=page.next_cursor,
    )


@blueprint.get("/actions")
def actions() -> Any:
    """Newest first; `before_id` pages on (the last id seen); a malformed one is a 400."""
    filters = Filters.from_args(request.args)
    svc = services()
    query = (
        select(Action, Event)
        .join(Event, Event.id == Action.event_id)
        .where(*queries.event_conditions(filters, svc.settings), *queries.action_conditions(filters))
        .order_by(Action.id.desc())
    )
    before = queries.decode_id_cursor(request.args.get("before_id", ""), "before_id")
    if before is not None:
        query = query.where(Action.id < before)
    limit = _limit()
    with svc.db.session() as session:
        found = session.execute(query.limit(limit + 1)).all()
        items = [
            {
                "id": action.id,
                "event_id": event.id,
                "event_type": event.type,
                "channel": action.channel,
                "state": action.state,
                **shown_row(action),  # recipient and last_error, masked
                "attempts": action.attempts,
                "dry_run": action.dry_run,
                "provider_ref": action.provider_ref,
                "created_at": action.created_at.isoformat(),
                "updated_at": action.updated_at.isoformat(),
            }
            for action, event in found[:limit]
        ]
    return jsonify(actions=items, next_before_id=items[-1]["id"] if len(found) > limit else None)

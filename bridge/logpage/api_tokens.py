"""The JSON API's tokens as the command line lists and revokes them (`list-api-tokens`,
`revoke-api-token`). A revoked token keeps its row, so the list still shows when it was
made, last used and revoked; the API refuses it from its next request on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from bridge.store.db import Database
from bridge.store.models import ApiToken, utcnow


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_api_tokens(db: Database) -> list[TokenInfo]:
    """Every token, oldest first, revoked ones included (never the token itself)."""
    with db.session() as session:
        rows = session.scalars(select(ApiToken).order_by(ApiToken.id))
        return [TokenInfo(t.id, t.name, t.created_at, t.last_used_at, t.revoked_at) for t in rows]


def revoke_api_tokens(db: Database, name: str) -> int:
    """Revoke every live token with this name; how many were revoked (0: none by that name
    is live). Names need not be unique, and a name is what the operator knows a token by."""
    with db.session() as session:
        result = session.execute(
            update(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        return result.rowcount or 0  # type: ignore[attr-defined]

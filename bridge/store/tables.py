"""The bridge's busiest tables as SQLAlchemy Core tables, for the statements on the hot paths.

A statement built on a mapped class (`update(Action)`) runs through the ORM's execution
path even when it only writes columns; built on the table it is plain Core, which costs less
than the statement itself (issue 16's profile). The intake, every state move and the
attempt rows use these.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from bridge.store.models import Action, ActionTransition, Attempt, Event

EVENTS = cast(Table, Event.__table__)
ACTIONS = cast(Table, Action.__table__)
TRANSITIONS = cast(Table, ActionTransition.__table__)
ATTEMPTS = cast(Table, Attempt.__table__)

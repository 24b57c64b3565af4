"""The Action state machine: which moves are allowed, and which states are final.

(stored) queued -> sending -> sent -> delivered -> read
                      |                    \\-> undelivered / failed (receipts)
                      +-> retrying -> queued -> ...
                      +-> failed | skipped
An Action is stored `queued` (or final: a recorded skip, a failed hook) and its job put on
the queue after that commit (bridge.store.queueing). Every move is written as an ActionTransition
row with its reason (bridge.store.transitions).
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    # Stored by versions before Actions were stored `queued`; nothing stores it now. Still
    # claimable, and queued by the relay, so that rows left by an upgrade are carried out.
    PENDING = "pending"
    QUEUED = "queued"  # its job is on the queue, or will be (after the commit, or by the relay)
    SENDING = "sending"  # a worker claimed it and is talking to the provider
    RETRYING = "retrying"  # a transient error; waits for next_attempt_at
    SENT = "sent"  # the provider accepted it (or the dry run recorded it)
    DELIVERED = "delivered"  # delivery receipt
    READ = "read"  # read receipt
    UNDELIVERED = "undelivered"  # the provider accepted it but could not deliver it
    FAILED = "failed"  # permanent error, or retries exhausted
    SKIPPED = "skipped"  # nothing to do, with the reason (no phone number, opted out...)


# States a worker may claim an action from. Claiming is a compare-and-set on these.
CLAIMABLE = frozenset({State.PENDING, State.QUEUED, State.RETRYING})

# States in which no worker will ever touch the action again by itself.
FINAL = frozenset({State.SENT, State.DELIVERED, State.READ, State.UNDELIVERED, State.FAILED, State.SKIPPED})

ALLOWED: dict[State, frozenset[State]] = {
    # -> retrying: put back until the sender's next slot under its rate limit.
    State.PENDING: frozenset({State.QUEUED, State.SENDING, State.SKIPPED, State.RETRYING}),
    State.QUEUED: frozenset({State.QUEUED, State.SENDING, State.SKIPPED, State.RETRYING}),
    State.SENDING: frozenset({State.SENT, State.RETRYING, State.FAILED, State.SKIPPED}),
    State.RETRYING: frozenset({State.QUEUED, State.SENDING, State.FAILED}),
    State.SENT: frozenset({State.DELIVERED, State.READ, State.UNDELIVERED, State.FAILED}),
    State.DELIVERED: frozenset({State.READ}),
    State.READ: frozenset(),
    State.UNDELIVERED: frozenset(),
    State.FAILED: frozenset({State.QUEUED}),  # a staff retry
    State.SKIPPED: frozenset(),
}


def can_move(old: State | str, new: State | str) -> bool:
    return State(new) in ALLOWED[State(old)]

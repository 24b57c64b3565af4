"""The executor contract: what the Deliverer calls to carry out an Action of a channel.

Every channel has one executor, looked up in the one table `bridge.wiring.build_executors`
builds: the planner (`plan`), the payment guard (`whmcs_payment`), and every other provider
through `ProviderExecutor`. The Deliverer knows no channel: it claims the Action, writes the
attempt row, calls `carry_out`, records the outcome and stores the follow-up Actions the
result carries. Adding a channel is one provider module (its `send`, its `rate_key` and
`per_second`) and its line in `bridge.wiring.build_providers`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

from bridge.core.actions import PlannedAction
from bridge.store.db import Database
from bridge.store.models import Action
from providers import Provider, SendResult


@dataclass(frozen=True)
class Executed(SendResult):
    """What carrying out an Action gave: the provider's answer and, for an executor that
    plans (the planner), the follow-up Actions to store `queued` in the transaction that
    records this one as done, and words for the log page's search of the event."""

    follow_up: tuple[tuple[str, PlannedAction], ...] = ()
    search_words: tuple[object, ...] = ()

    @classmethod
    def of(cls, sent: SendResult) -> Executed:
        """A provider's plain answer, with nothing to follow."""
        if isinstance(sent, Executed):
            return sent
        return cls(**{f.name: getattr(sent, f.name) for f in fields(SendResult)})


class Executor(Protocol):
    """Carries out the Actions of one channel.

    `rate_key` names the sender whose send rate is shared by every worker, and `per_second`
    is that rate; either None: not paced. `carry_out` is called once per attempt, after the
    claim (`attempt_id` is the open attempt row); it raises ProviderError when the attempt
    did not succeed (its `permanent`, `throttled` and `skip` decide what follows)."""

    @property
    def channel(self) -> str: ...

    @property
    def rate_key(self) -> str | None: ...

    @property
    def per_second(self) -> float | None: ...

    def carry_out(self, action: Action, attempt_id: int) -> Executed: ...


class Recorder:
    """An executor that writes the bridge's own record and calls nobody outside (a number's
    consent, a cancellation, a scheduled notice): not paced."""

    rate_key: str | None = None
    per_second: float | None = None

    def __init__(self, db: Database) -> None:
        self.db = db


class ProviderExecutor:
    """A provider as an executor: sends the Action's content to its recipient.

    Reads the provider's attributes at each use, so a provider changed in place (its
    credentials rotated, a test's bad deploy) is what the next attempt sees."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @property
    def channel(self) -> str:
        return self.provider.channel

    @property
    def rate_key(self) -> str | None:
        return self.provider.rate_key

    @property
    def per_second(self) -> float | None:
        return self.provider.per_second

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        return Executed.of(self.provider.send(action.recipient, action.content))

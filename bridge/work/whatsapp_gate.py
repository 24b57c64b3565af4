"""What may go to a WhatsApp number now: the customer's consent and WhatsApp's 24-hour window,
checked when the message is about to be sent (not when it was planned: a message may wait
in the queue while the customer opts out, or while their window closes).

- A number that opted out (STOP, BAJA, …) gets nothing but the confirmation of its own
  choice: the Action is `skipped`, with the word and the day.
- A message with an approved template (`content_sid`) may go at any time. A free-form one
  goes only while the window the customer's last message opened is still open; otherwise
  it is not attempted (Twilio would accept it, then report 63016 undelivered) and fails at
  once with the reason, for the fallback to take up. A message marked `free_form_in_window`
  (a staff answer in a conversation) goes as its own words inside the window and as its
  template outside it; sending it keeps the conversation going.

With WhatsApp a dry run nothing leaves the machine, and every template counts as approved
(bridge.scheduled.template_sync): only consent is checked.
"""

from __future__ import annotations

from bridge.core.actions import CONSENT_CHANNEL
from bridge.store.db import Database
from bridge.store.models import Action, utcnow
from bridge.store.whatsapp_numbers import number_state, set_consent, touch_conversation, window_open
from bridge.work.executors import Executed, ProviderExecutor, Recorder
from providers import Provider
from providers.base import ProviderError

# The code on an Action WhatsApp could not carry because the window was closed (the
# fallback reads it like Twilio's own 63016).
WINDOW_CLOSED = "window_closed"


class OptedOut(ProviderError):
    """The number opted out of WhatsApp: no fault, nothing to retry (the Action is skipped)."""

    skip = True


class WhatsAppGate(ProviderExecutor):
    """The WhatsApp provider as an executor, behind the consent and window checks."""

    def __init__(self, db: Database, provider: Provider, *, dry_run: bool) -> None:
        super().__init__(provider)
        self.db = db
        self.dry_run = dry_run

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        content = action.content or {}
        with self.db.reading() as session:
            state = number_state(session, action.recipient)
        if state is not None and state.opted_out and not content.get("consent_notice") and not content.get("staff"):
            when = f" on {state.consent_changed_at:%Y-%m-%d}" if state.consent_changed_at else ""
            raise OptedOut(
                f"the customer opted out of WhatsApp ({state.consent_keyword or 'opt-out'}{when})", permanent=True
            )
        now = utcnow()
        open_now = self.dry_run or window_open(state, now)
        if content.get("content_sid") and content.get("free_form_in_window") and open_now:
            # A conversation (a staff answer): inside the window the person's own words go,
            # not the template that only points at them.
            content = {k: v for k, v in content.items() if k not in ("content_sid", "content_variables")}
        if not content.get("content_sid") and not open_now:
            raise ProviderError(
                "not attempted: no approved WhatsApp template for this notice, and the customer's 24-hour"
                " window is closed (WhatsApp would not deliver a free-form message)",
                permanent=True,
                code=WINDOW_CLOSED,
            )
        sent = Executed.of(self.provider.send(action.recipient, content))
        conversation = content.get("conversation_id")
        if isinstance(conversation, int):
            with self.db.session() as session:
                touch_conversation(session, conversation, now)
                session.commit()
        return sent


class ConsentRecorder(Recorder):
    """The `whatsapp_consent` executor: stores a number's opt-out or opt-in (the Action a
    keyword message plans, so that the change is on the event's page like any other)."""

    channel = CONSENT_CHANNEL

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        content = action.content or {}
        opted_out = bool(content.get("opted_out"))
        keyword = str(content.get("keyword") or "")
        with self.db.session() as session:
            set_consent(session, action.recipient, opted_out=opted_out, keyword=keyword, at=utcnow())
            session.commit()
        word = "opted out of" if opted_out else "opted back into"
        return Executed(
            provider_ref=f"consent-{'out' if opted_out else 'in'}", detail={"note": f"{word} WhatsApp ({keyword})"}
        )

"""`[reminders]` in routing.toml, and the rules that decide which scheduled notice is due.

A client hears their scheduled notices of a day in one message (ScheduledNotices): payment
reminders and overdue notices of invoices (WHMCS's InvoicePaymentReminder, which WHMCS fires
for each reminder email it sends) and the domains and services that renew or expire at one of
the lead days (bridge.scheduled.renewal_scan). Notices wait `hold_minutes` (so that a WHMCS
cron run's several reminders of one client go together) and go from `send_hour` on, company
time (the renewal scan runs then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.core.settings import SettingsError

# WHMCS's cron passes these as InvoicePaymentReminder's `type` (testdata/samples/whmcs_hooks/
# README.md); any other value is told as a generic overdue notice, never refused.
REMINDER_KINDS = ("reminder", "firstoverdue", "secondoverdue", "thirdoverdue")
GENERIC_REMINDER = "overdue"


@dataclass(frozen=True)
class ReminderPolicy:
    invoice_reminders: bool = True  # InvoicePaymentReminder reaches the client on WhatsApp
    lead_days: tuple[int, ...] = (30, 7, 1)  # days before a domain or service renews or expires
    hold_minutes: int = 30
    send_hour: int = 9
    # Card debits rejected this many cycles in a row take the client out of the debit group.
    rejected_cycles: int = 2

    def due_lead(self, days_left: int) -> int | None:
        """The lead day whose notice is due `days_left` days before the date: the nearest
        lead day at or after it. A day missed (the bridge down) is caught up on the next day
        that falls in the same lead's stretch, once; once the next lead day has come, the
        missed one is dropped for it. None: no notice (too far ahead, or already past)."""
        if days_left < 0:
            return None
        reached = [lead for lead in self.lead_days if lead >= days_left]
        return min(reached) if reached else None


def reminder_kind(whmcs_type: str) -> str:
    kind = whmcs_type.strip().lower()
    return kind if kind in REMINDER_KINDS else GENERIC_REMINDER


def reminder_policy(spec: Mapping[str, Any], where: Path) -> ReminderPolicy:
    defaults = ReminderPolicy()
    leads = spec.get("lead_days", defaults.lead_days)
    if not isinstance(leads, (list, tuple)) or not all(isinstance(d, int) and d > 0 for d in leads):
        raise SettingsError(f"{where}: [reminders] lead_days: a list of whole days, e.g. [30, 7, 1]")
    hour = spec.get("send_hour", defaults.send_hour)
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise SettingsError(f"{where}: [reminders] send_hour: an hour from 0 to 23")
    return ReminderPolicy(
        invoice_reminders=bool(spec.get("invoice_reminders", defaults.invoice_reminders)),
        lead_days=tuple(sorted(set(leads), reverse=True)),
        hold_minutes=int(spec.get("hold_minutes", defaults.hold_minutes)),
        send_hour=hour,
        rejected_cycles=int(spec.get("rejected_cycles", defaults.rejected_cycles)),
    )

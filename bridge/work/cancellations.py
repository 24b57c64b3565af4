"""The `cancellation` executor: keeps a client's request to cancel a service, for the debit
cycle (bridge.scheduled.debit_cycle asks Pagos360 for no more debits of that service's
invoices: at once for an immediate cancellation, after `ends_on` for one at the end of the
billing period). A second request for the same service replaces the first."""

from __future__ import annotations

from datetime import date

from bridge.core.actions import CANCELLATION_CHANNEL
from bridge.store.models import Action, ServiceCancellation, utcnow
from bridge.work.executors import Executed, Recorder


class CancellationRecorder(Recorder):
    channel = CANCELLATION_CHANNEL

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        content = action.content or {}
        service_id = str(content.get("service_id") or "")
        ends = content.get("ends_on")
        ends_on = date.fromisoformat(str(ends)) if ends else None
        immediate = bool(content.get("immediate"))
        with self.db.session() as session:
            row = session.get(ServiceCancellation, service_id) or ServiceCancellation(service_id=service_id)
            row.client_id = str(content.get("client_id") or "")
            row.immediate, row.ends_on, row.requested_at = immediate, ends_on, utcnow()
            session.add(row)
            session.commit()
        when = "from today" if immediate else f"for invoices due from {ends_on or 'the end of the paid period'} on"
        return Executed(provider_ref=f"service {service_id}", detail={"note": f"no more card debits {when}"})

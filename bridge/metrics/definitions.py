"""The counters and the histogram the bridge's processes write, one object per process.

Built only by `bridge.metrics.configure`, after PROMETHEUS_MULTIPROC_DIR is set and the
slot-named value class installed: a metric object picks its value class when a labelled
child is first used, so objects built before that would write nowhere the scrape reads.
They belong to no registry: /metrics reads the files, not the objects.

Labels are bounded sets only (sources, event types the views accepted, channels, outcomes,
states, reasons, route patterns): never an id, a phone number or a path.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Histogram

# Attempts range from a dry run (microseconds) to a planning with several WHMCS API calls
# or a provider at its timeout (TWILIO_TIMEOUT_SECONDS 10, SMTP 15, WHMCS 10 per call).
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)


def _counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    return Counter(name, documentation, list(labels), registry=None)


class BridgeMetrics:
    def __init__(self) -> None:
        self.events_received = _counter(
            "bridge_events_received_total",
            "Events accepted by the webhook endpoints (repeats of a recorded event included).",
            ["source", "type"],
        )
        self.events_duplicate = _counter(
            "bridge_events_duplicate_total",
            "Accepted events that were already recorded (a resend): nothing new was planned.",
            ["source"],
        )
        self.requests_rejected = _counter(
            "bridge_requests_rejected_total",
            "Requests refused by the machine endpoints, by route pattern and reason; nothing was stored.",
            ["route", "reason"],
        )
        self.attempts = _counter(
            "bridge_attempts_total",
            "Finished attempts by channel (the provider) and outcome; 'lost': closed by the relay.",
            ["channel", "outcome"],
        )
        self.attempt_duration = Histogram(
            "bridge_attempt_duration_seconds",
            "How long one attempt took, by channel (the provider's call, or the planning).",
            ["channel"],
            buckets=ATTEMPT_BUCKETS,
            registry=None,
        )
        self.actions_finished = _counter(
            "bridge_actions_finished_total",
            "Moves of an Action into a final state (sent, delivered, read, undelivered, failed, skipped).",
            ["channel", "state"],
        )
        self.relay_recoveries = _counter(
            "bridge_relay_recoveries_total",
            "Actions the relay put back: never_queued, job_lost, stuck_sending.",
            ["kind"],
        )
        self.relay_retries = _counter(
            "bridge_relay_retries_queued_total",
            "Actions the relay queued because their retry was due.",
        )
        self.rate_limit_waits = _counter(
            "bridge_rate_limit_waits_total",
            "Sends held by the shared rate limit: 'waited' for a slot, or 'deferred' (put back for later).",
            ["channel", "outcome"],
        )
        self.rate_limit_wait_seconds = _counter(
            "bridge_rate_limit_wait_seconds_total",
            "Time workers spent waiting for a send slot.",
            ["channel"],
        )

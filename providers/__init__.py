"""How things are sent: one module per outside system, each with one `send` verb.

Providers take plain values (credentials, URLs, timeouts) and know nothing of the bridge:
`bridge.wiring` builds them from the settings, and gives a channel whose credentials are
not set a DryRun that records what it would have sent, so the bridge runs end to end on a
fresh machine.
"""

from __future__ import annotations

from providers.base import Provider, ProviderError, SendResult

__all__ = ["Provider", "ProviderError", "SendResult"]

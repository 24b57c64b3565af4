"""The bridge's vocabulary, shared by every layer and by hooks/: what an event is
(events, event_data, event_fields, whmcs_params), what a handler asks for (actions), the
states an Action goes through, phones, retry timing, the company's configuration
(settings, catalog), the invoice rules and how recipients are masked.

Nothing here touches the database, Redis or the network, and nothing here imports another
part of the bridge: every arrow points into core, none out of it.
"""

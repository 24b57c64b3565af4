"""From an event to its Actions: the planner is the executor of the `plan` channel. It
looks up what the event's handlers declared they need (WHMCS through `enrichment`, card
direct debit through `direct_debit`), runs the handlers of hooks/ and returns their
Actions as the planning's follow-ups. It never stores them itself: the worker does, in the
transaction that records the planning done.
"""

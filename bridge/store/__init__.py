"""The outbox: the database (models, migrations, search words) and the one way state
changes, for every layer. `outbox.record_event` stores an event with its planning and
`outbox.store_planned` the Actions a planning returned; `transitions.move` is the only
write of an Action's state; `queueing.queue_after_commit` puts an Action's job on Redis
(`queue`) after the commit that made it `queued`.
"""

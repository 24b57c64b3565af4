"""Work that runs by the clock, from the relay, once per day across any number of relays,
each with a CLI command to run it by hand: the card debit cycle and the dead-letter report.
Each records an event of source `bridge` and stores its Actions through the outbox, so
that it is carried out and logged like every other event.
"""

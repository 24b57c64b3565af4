"""Carrying Actions out, in the background: the worker's Deliverer claims an Action, writes
its attempt, paces it by its channel's send rate (`ratelimit`), calls the one executor of
its channel (`executors`: the planner, the payment guard of `payments`, or a provider) and
records the outcome. The relay puts back on the queue whatever Redis or a dead worker lost.
"""

"""The job of RQ's own baseline in bench/delivery.py: it does nothing, so what is measured is
what RQ costs per job (dequeue, the work-horse, bookkeeping in Redis)."""


def noop() -> None:
    """Nothing at all."""

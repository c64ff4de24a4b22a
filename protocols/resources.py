"""Resource checks made before a run builds anything.

A protocol may define ``estimate_memory(config, jobs) -> (bytes, detail)``:
what the run will hold in memory at its peak (all parallel workers together)
and a short text of what dominates it.  :func:`check_memory` compares it with
the memory the machine has free and refuses the run with the estimate, before
any network is built, instead of letting it swap or be killed after hours.

>>> check_memory(10 * 2**20, "chaos", "2 x 1000 neurons", available=2**30)
>>> check_memory(3 * 2**30, "chaos", "21000 neurons", available=2**30)
Traceback (most recent call last):
...
protocols.config.UsageError: chaos needs about 3.0 GiB of memory (21000 neurons), more than the 1.0 GiB free on this machine; make the network smaller, use fewer --jobs or a bigger machine
"""
from __future__ import annotations

from protocols.config import UsageError

#: the most grid points one run may hold (a run of more is refused before any task is made)
MAX_POINTS = 100_000
#: the most time steps one simulation may take (about 2.8 hours of network time at 0.1 ms)
MAX_STEPS = 10**8


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``.

    >>> format_bytes(3 * 2**30), format_bytes(512)
    ('3.0 GiB', '512 B')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def available_memory() -> int:
    """Bytes of memory free for a new run (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(need_bytes: float, what: str, detail: str = "", *,
                 available: int | None = None) -> None:
    """Refuse (``UsageError``) when ``need_bytes`` exceeds the free memory."""
    available = available_memory() if available is None else int(available)
    if need_bytes > available:
        shown = f" ({detail})" if detail else ""
        raise UsageError(f"{what} needs about {format_bytes(need_bytes)} of memory{shown}, more "
                         f"than the {format_bytes(available)} free on this machine; make the "
                         "network smaller, use fewer --jobs or a bigger machine")


def workers(jobs: int | None, n_tasks: int) -> int:
    """How many worker processes a run of ``n_tasks`` points will use."""
    import os

    cores = os.cpu_count() or 1
    return max(1, min(jobs or cores, max(n_tasks, 1)))

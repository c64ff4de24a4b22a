"""Hierarchical random streams: session -> block -> trial.

Every random quantity of a run is drawn from a stream addressed by
``(session, block, trial, purpose)``, using :class:`numpy.random.SeedSequence`
spawn keys.  Addressing (rather than spawning in sequence) makes each stream
independent of the order in which points or trials are computed, so a grid
point gives the same numbers whether it runs first, last, alone, in a joblib
worker or after a resume.

- *session*: the ``seed.session`` integer of a config.
- *block*: one network structure (one grid point of the heterogeneity grid;
  block 0 for a single chaos run).
- *trial*: one trial inside a block: its initial state and its noise (the
  chaos protocol's independent trials are 1..n; trial 0 is the shared
  control's realisation); block-level streams use ``trial=None``.
- *purpose*: what the numbers are for (``"structure"``, ``"thresholds"``,
  ``"initial_state"``, ``"noise"``, ``"perturbation"``, ``"input"``,
  ``"channel_spikes"``), so that
  adding a new use of randomness never shifts the existing ones.

Structure is drawn in numpy from these streams, not by Brian2, so the same
seed builds the same network on every back-end.

>>> a = stream(1, block=3, purpose="structure").integers(0, 1000, 3)
>>> b = stream(1, block=3, purpose="structure").integers(0, 1000, 3)
>>> bool((a == b).all())
True
>>> c = stream(1, block=4, purpose="structure").integers(0, 1000, 3)
>>> bool((a == c).all())
False
"""
from __future__ import annotations

import numpy as np

#: Fixed codes of the purposes; append new ones, never renumber.
PURPOSES = {
    "structure": 0,
    "thresholds": 1,
    "initial_state": 2,
    "noise": 3,
    "perturbation": 4,
    "input": 5,
    "channel_spikes": 6,
}

_NO_TRIAL = 2**32 - 1  # spawn-key slot used for block-level streams


def seed_sequence(session: int, block: int = 0, trial: int | None = None,
                  purpose: str = "structure") -> np.random.SeedSequence:
    """The :class:`~numpy.random.SeedSequence` of one addressed stream."""
    if not isinstance(session, (int, np.integer)) or session < 0:
        raise ValueError(f"session seed must be a non-negative integer, got {session!r}")
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    if block < 0 or (trial is not None and trial < 0):
        raise ValueError(f"block and trial must be >= 0, got block={block}, trial={trial}")
    key = (int(block), _NO_TRIAL if trial is None else int(trial), PURPOSES[purpose])
    return np.random.SeedSequence(int(session), spawn_key=key)


def stream(session: int, block: int = 0, trial: int | None = None,
           purpose: str = "structure") -> np.random.Generator:
    """A numpy ``Generator`` for one addressed stream (see module docstring)."""
    return np.random.Generator(np.random.PCG64(seed_sequence(session, block, trial, purpose)))


def integer_seed(session: int, block: int = 0, trial: int | None = None,
                 purpose: str = "noise") -> int:
    """A 31-bit integer for seeding Brian2's own generator (``brian2.seed``).

    >>> integer_seed(7, block=2) == integer_seed(7, block=2)
    True
    """
    return int(seed_sequence(session, block, trial, purpose).generate_state(1)[0] >> 1)

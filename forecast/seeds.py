"""The one seed-splitting convention of a pipecast run.

A run has one seed; each part of it (the fit, the simulation, each backtest month, …) gets
a child of ``numpy.random.SeedSequence(seed)``, turned into an int so that it can be passed
on, logged and reused. Child ``i`` is the same whatever else runs, in any process.
"""

from __future__ import annotations

import numpy as np


def child_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent child seeds of ``seed``: ``SeedSequence(seed).spawn(n)[i]`` as int."""
    return [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(seed).spawn(n)]


def child_sequence(seed: int, i: int) -> np.random.SeedSequence:
    """Child ``i`` of ``SeedSequence(seed)`` as a sequence (for a stream of its own:
    ``numpy.random.default_rng(child_sequence(seed, i))``); the same as
    ``SeedSequence(seed).spawn(n)[i]`` for any ``n > i``."""
    return np.random.SeedSequence(seed, spawn_key=(i,))

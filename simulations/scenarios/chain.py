"""The weekly chain of a new deal, solved backwards: a compiled kernel (numba).

A scenario that sets a win rate or a cycle length solves for the logit shift that gives it
(:func:`simulations.scenarios.apply.bisect`: ~50 evaluations of
:func:`simulations.scenarios.apply.chain_values` over every posterior draw). Each
evaluation is a backward recursion over stages and weeks of scalar updates per draw;
written as numpy operations over the draws it cost ~12 array operations per (stage, week)
plus large temporaries, and made such a scenario take seconds. Here it is one compiled
loop: the weekly probabilities of staying, advancing and being won, then the recursion.
``tests/test_scenario_chain.py`` keeps the numpy version and checks the two agree.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def chain_recursion(a: np.ndarray, dur: np.ndarray, week_bucket: np.ndarray,
                    offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward recursion of the weekly chain, one row of ``offset`` at a time.

    Parameters
    ----------
    a
        ``(P, 3, S)`` stage intercepts of the three outcomes (advance, won, lost).
    dur
        ``(P, 3, B)`` time-in-stage effects per duration bucket.
    week_bucket
        ``(W,)`` the duration bucket of each week in the stage; the last week repeats for
        ever.
    offset
        ``(N, 3)`` logit offsets; row ``i`` belongs to posterior draw ``i % P``.

    Returns
    -------
    p_win, t_won
        ``(N, S)``: the probability that a deal entering stage ``s`` is eventually won, and
        ``E[days until won · 1{won}]`` (see ``chain_values``).
    """
    n_p, _, n_s = a.shape
    n, n_w = offset.shape[0], week_bucket.shape[0]
    p_win = np.zeros((n, n_s))
    t_won = np.zeros((n, n_s))
    stay = np.empty(n_w)
    adv = np.empty(n_w)
    won = np.empty(n_w)
    for i in range(n):
        p = i % n_p
        v_next = 0.0
        m_next = 0.0
        k_next = 0.0
        for s in range(n_s - 1, -1, -1):
            for w in range(n_w):
                b = week_bucket[w]
                e_adv = 0.0 if s == n_s - 1 else math.exp(a[p, 0, s] + dur[p, 0, b] + offset[i, 0])
                e_won = math.exp(a[p, 1, s] + dur[p, 1, b] + offset[i, 1])
                e_lost = math.exp(a[p, 2, s] + dur[p, 2, b] + offset[i, 2])
                den = 1.0 + (e_adv + e_won + e_lost)
                stay[w], adv[w], won[w] = 1.0 / den, e_adv / den, e_won / den
            last = n_w - 1
            leave = max(1.0 - stay[last], 1e-300)
            v = (won[last] + adv[last] * v_next) / leave
            m = (won[last] + adv[last] * (v_next + m_next) + stay[last] * v) / leave
            k = (won[last] + adv[last] * (v_next + k_next)) / leave
            for w in range(n_w - 2, -1, -1):
                m = won[w] + adv[w] * (v_next + m_next) + stay[w] * (v + m)
                k = won[w] + adv[w] * (v_next + k_next) + stay[w] * k
                v = won[w] + adv[w] * v_next + stay[w] * v
            p_win[i, s] = v
            t_won[i, s] = 7.0 * m - 4.0 * k + v
            v_next, m_next, k_next = v, m, k
    return p_win, t_won

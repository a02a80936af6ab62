"""The compiled chain recursion (scenarios) against the numpy version it replaced."""

from __future__ import annotations

import numpy as np

from forecast.data.cells import MAX_WEEK, duration_bucket
from simulations.scenarios.chain import chain_recursion


def numpy_chain(a, dur, offset):
    """The numpy recursion ``chain_values`` used before the kernel (frozen reference)."""
    wb = duration_bucket(np.arange(MAX_WEEK + 1))
    eta = a[..., None] + dur[:, :, None, wb] + offset[..., None, None]
    ex = np.exp(eta)
    ex[..., 0, -1, :] = 0.0
    den = 1.0 + ex.sum(axis=-3)
    stay, adv, won = 1.0 / den, ex[..., 0, :, :] / den, ex[..., 1, :, :] / den
    n_s, n_w = stay.shape[-2:]
    p_win, t_won = np.zeros(stay.shape[:-1]), np.zeros(stay.shape[:-1])
    v_next, m_next, k_next = (np.zeros(stay.shape[:-2]) for _ in range(3))
    for s in range(n_s - 1, -1, -1):
        st, ad, wo = stay[..., s, :], adv[..., s, :], won[..., s, :]
        leave = np.maximum(1.0 - st[..., -1], 1e-300)
        v = (wo[..., -1] + ad[..., -1] * v_next) / leave
        m = (wo[..., -1] + ad[..., -1] * (v_next + m_next) + st[..., -1] * v) / leave
        k = (wo[..., -1] + ad[..., -1] * (v_next + k_next)) / leave
        for w in range(n_w - 2, -1, -1):
            m = wo[..., w] + ad[..., w] * (v_next + m_next) + st[..., w] * (v + m)
            k = wo[..., w] + ad[..., w] * (v_next + k_next) + st[..., w] * k
            v = wo[..., w] + ad[..., w] * v_next + st[..., w] * v
        p_win[..., s], t_won[..., s] = v, 7.0 * m - 4.0 * k + v
        v_next, m_next, k_next = v, m, k
    return p_win, t_won


def test_kernel_equals_the_numpy_recursion():
    rng = np.random.default_rng(7)
    n_p, n_s = 6, 5
    n_b = int(duration_bucket(np.arange(MAX_WEEK + 1)).max()) + 1
    a = rng.normal([-1.5, -3.0, -2.5], 0.5, size=(n_p, n_s, 3)).transpose(0, 2, 1).copy()
    dur = rng.normal(0.0, 0.4, size=(n_p, 3, n_b))
    offset = rng.normal(0.0, 1.0, size=(4, n_p, 3))  # four units, like per-owner shifts
    want_p, want_t = numpy_chain(a, dur, offset)
    wb = duration_bucket(np.arange(MAX_WEEK + 1)).astype(np.int64)
    got_p, got_t = chain_recursion(a, dur, wb, offset.reshape(-1, 3))
    np.testing.assert_allclose(got_p.reshape(want_p.shape), want_p, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got_t.reshape(want_t.shape), want_t, rtol=1e-12, atol=0)
    assert np.all((want_p > 0) & (want_p < 1))


def test_a_deal_that_cannot_be_won_has_no_win_time():
    n_p, n_s, n_b = 2, 3, int(duration_bucket(np.arange(MAX_WEEK + 1)).max()) + 1
    a = np.zeros((n_p, 3, n_s))
    a[:, 1, :] = -800.0  # exp underflows to exactly 0: never won
    wb = duration_bucket(np.arange(MAX_WEEK + 1)).astype(np.int64)
    p_win, t_won = chain_recursion(a, np.zeros((n_p, 3, n_b)), wb, np.zeros((n_p, 3)))
    assert np.all(p_win == 0.0) and np.all(t_won == 0.0)


def test_a_deal_won_in_its_first_week_wins_on_day_four_on_average():
    # Won (almost) surely in week 0 of the only stage: the engine books the win on day
    # 7·0 + u + 1 with u uniform on 0..6, so E[day] = 4 (7·m − 4·k + v = 7 − 4 + 1).
    n_b = int(duration_bucket(np.arange(MAX_WEEK + 1)).max()) + 1
    a = np.full((1, 3, 1), -30.0)
    a[0, 1, 0] = 30.0
    wb = duration_bucket(np.arange(MAX_WEEK + 1)).astype(np.int64)
    p_win, t_won = chain_recursion(a, np.zeros((1, 3, n_b)), wb, np.zeros((1, 3)))
    assert abs(p_win[0, 0] - 1.0) < 1e-12
    assert abs(t_won[0, 0] - 4.0) < 1e-9

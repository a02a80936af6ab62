"""Monte Carlo revenue simulation: win-time distributions per cell, one uniform per deal and path.

For each posterior draw, a deal's chance of being won within ``τ`` days depends only on
its cell (stage, weeks in stage, days of the current week already passed, owner, segment,
covariate pattern). The engine computes these win-time distributions once per cell and
posterior draw by backward recursion over the weekly stay/advance/won/lost chain, at the
resolution of days: a week's event falls on one of its days and the next stage starts that
day, as in the data the model was fitted on (:func:`simulations.engine.reference.win_cdfs`).
It then turns one uniform number per deal into its win day and the quantile of its booked ÷
expected ratio (:func:`simulations.engine.reference.draw_day`). New deals arrive per owner
and month (negative binomial), get a created day, segment, entry stage and size, and follow
the same chain.

This module holds the run itself: :class:`SimulationResult`, :func:`simulate`,
:func:`simulate_paths` (any set of paths of a run, bit for bit), :func:`assemble` and
:func:`concat_results` (joining such sets), and :func:`absorbed_by_horizon_end` (the
recursion's exact chances, no Monte Carlo). The compiled code is in
:mod:`simulations.engine.kernels`, its numpy reference in :mod:`simulations.engine.reference`,
the per-run planning (cells, groups, memory budgets) in :mod:`simulations.engine.plan`.

Speed
-----
The work is done by compiled kernels (numba, ``nogil``) on a few threads:

* the win-time distributions are computed once per *posterior draw*, not per path: paths
  are processed grouped by the posterior draw they use, so 10,000 paths over 1,000
  posterior draws cost 1,000 recursions;
* the recursion runs one (owner, segment, covariate) group at a time, stage by stage and
  week in stage by week in stage, each a contiguous loop over days, and only as far as
  some open deal's cell (or the new deals' entry) needs it
  (:func:`simulations.engine.kernels.win_times_and_open_deals`);
* each open deal of a path costs one uniform (numpy's PCG64) and a comparison with its
  cell's chance of being won by the horizon's end; for the deals that are won, a binary
  search over the cell's daily CDF, evaluated from the recursion's rows while they are in
  cache (no table of daily CDFs is stored), then one normal quantile for the booked ÷
  expected ratio; the new deals of a path cost five uniforms each.

Memory is bounded by :data:`simulations.engine.plan.CHUNK_BYTES` (per-path random numbers
of one chunk; small, so they stay in cache while used) and
:data:`simulations.engine.plan.TABLE_BYTES` (new deals' tables of a batch of posterior
draws), whatever the number of draws; the outputs are
``(n_draws, n_months, n_owners)``.

Reproducibility
---------------
Path ``i`` uses posterior draw ``i mod P`` and its own generator
``PCG64(SeedSequence(seed, spawn_key=(i,)))`` — the ``i``-th child of
``SeedSequence(seed).spawn(n)`` — and every number of a path is computed from that path's
inputs alone, by the same scalar code. Results therefore do not depend on ``chunk_size``,
the number of threads, the order in which paths are computed, or on which machine
computes which paths (:func:`simulate_paths`, :mod:`simulations.engine.distributed`).

Per path, the generator gives, in this order: ``n_open`` uniforms (one per open deal, in
the order of their cells), ``(n_owners, n_months)`` gamma then Poisson numbers (the
negative-binomial counts of new deals, as their gamma–Poisson mixture), then
``5 · n_new`` uniforms (created day, segment, entry stage, size quantile, win time of each
new deal).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from forecast.data.cells import MAX_WEEK, duration_bucket
from forecast.posterior import COV_SIGN
from simulations.engine.calendar import drift_levels, with_month_shocks
from simulations.engine.inputs import SimulationInputs
from simulations.engine.kernels import (
    NEW_DEAL_UNIFORMS,
    FlowDraws,
    Ledger,
    NewDealModel,
    NewDeals,
    OpenDraws,
    WinTables,
    as_f64,
    as_i64,
    book_new_deals,
    win_times_and_open_deals,
)
from simulations.engine.plan import Plan, chunk_size_for, make_plan, tables_per_batch


@dataclass(frozen=True)
class SimulationResult:
    """Simulated revenue paths.

    Attributes
    ----------
    revenue
        ``(n_draws, n_months, n_owners)`` booked revenue.
    months, owners, teams
        Labels of the axes; ``teams`` maps owner → team.
    deal_month
        ``(n_draws, n_open_deals)`` month index in which each open deal is won (−1: not in
        the horizon), when ``keep_deal_outcomes`` was asked for.
    deal_revenue
        ``(n_draws, n_open_deals)`` booked amount of each open deal when won in the
        horizon (0 otherwise), with ``keep_deal_outcomes``.
    new_revenue
        ``(n_draws, n_months, n_owners)`` part of ``revenue`` from deals not yet created.
    seed
        The run's seed.
    """

    revenue: np.ndarray
    months: tuple[str, ...]
    owners: tuple[str, ...]
    teams: dict[str, str]
    new_revenue: np.ndarray
    deal_month: np.ndarray | None = None
    deal_revenue: np.ndarray | None = None
    deal_ids: np.ndarray | None = None
    seed: int = 0

    @property
    def n_draws(self) -> int:
        return self.revenue.shape[0]

    def total(self) -> np.ndarray:
        """``(n_draws, n_months)`` company revenue."""
        return self.revenue.sum(axis=2)


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True) if hi > lo]


# stand-ins for arrays a kernel call does not write (typed as the real ones: one compilation)
_NO_F3 = np.zeros((0, 0, 0))
_NO_I16 = np.zeros((1, 1), dtype=np.int16)
_NO_F = np.zeros((1, 1))


def with_run_months(inputs: SimulationInputs, seed: int) -> SimulationInputs:
    """``inputs`` with the months' own effects of the run ``seed`` drawn into its
    ``week_effect`` (:func:`~simulations.engine.calendar.with_month_shocks`; ``month_sigma``
    then ``None``), and the drift's steps into the quarters after ``as_of``'s
    (:func:`~simulations.engine.calendar.drift_levels`; ``drift_sigma`` then ``None``):
    what every part of a run must share (a scenario's hired reps are simulated apart, and
    a month's luck is everyone's)."""
    if inputs.month_sigma is None and inputs.drift_sigma is None:
        return inputs
    week = inputs.week_effect
    if week is None:
        week = np.zeros((inputs.n_posterior, inputs.n_grid, 3))
    if inputs.month_sigma is not None:
        week = with_month_shocks(week, inputs.month_sigma, inputs.horizon, seed)
    if inputs.drift_sigma is not None:
        week = week + drift_levels(inputs.drift_sigma, inputs.horizon.as_of, week.shape[1],
                                   seed, inputs.fiscal_year_start)
    part = inputs.part_effect  # an open deal's current week began before as_of: no new month
    return replace(inputs, week_effect=week, month_sigma=None, drift_sigma=None,
                   part_effect=np.zeros((inputs.n_posterior, 7, 3)) if part is None else part)


def _flow_draws(inputs: SimulationInputs) -> FlowDraws:
    """The deal-flow posterior as the kernels read it (with ``month_sigma`` still set, as
    :func:`absorbed_by_horizon_end` has it: the months' average, no month's own effect)."""
    week, part = inputs.week_effect, inputs.part_effect
    if inputs.month_sigma is not None or inputs.drift_sigma is not None:
        if week is None:
            week = np.zeros((inputs.n_posterior, inputs.n_grid, 3))
        if part is None:
            part = np.zeros((inputs.n_posterior, 7, 3))
    return FlowDraws(a=as_f64(inputs.a), dur=as_f64(inputs.dur),
                     owner_eff=as_f64(inputs.owner_eff), segment_eff=as_f64(inputs.segment_eff),
                     xb=as_f64(inputs.xb), cov_sign=COV_SIGN,
                     bucket_of=as_i64(duration_bucket(np.arange(MAX_WEEK + 1))),
                     week_off=as_f64(np.zeros((inputs.n_posterior, 1, 3))
                                     if week is None else week),
                     part_off=as_f64(np.zeros((inputs.n_posterior, 0, 3))
                                     if part is None else part))


def _open_draws(inputs: SimulationInputs, path_start: np.ndarray, u: np.ndarray) -> OpenDraws:
    """The open deals' uniforms ``u`` of a block of paths and their overrides."""
    d = inputs.deals
    return OpenDraws(path_start=as_i64(path_start), u=u, delay=as_i64(d.delay_days),
                     override=as_i64(d.override), forced_day=as_i64(d.forced_day))


def _ledger(inputs: SimulationInputs, plan: Plan, rows: np.ndarray, revenue: np.ndarray,
            keep: bool, deal_month: np.ndarray, deal_rev: np.ndarray) -> Ledger:
    """Where the won open deals of result rows ``rows`` are booked."""
    d = inputs.deals
    return Ledger(rows=as_i64(rows), owner=as_i64(d.owner), amount=as_f64(d.amount),
                  ratio_mu=as_f64(inputs.ratio_mu), ratio_sigma=as_f64(inputs.ratio_sigma),
                  size_multiplier=float(inputs.size_multiplier), day_month=plan.day_month,
                  revenue=revenue, keep=bool(keep), deal_month=deal_month, deal_rev=deal_rev)


def win_tables(inputs: SimulationInputs, plan: Plan, ps: np.ndarray, tables: WinTables,
               absorb_lost: bool = False,
               open_deals: tuple[OpenDraws, Ledger] | None = None,
               flow: FlowDraws | None = None) -> None:
    """Fill ``tables`` for posterior draws ``ps`` and, with ``open_deals``, draw and book the
    open deals of a block of paths (:func:`simulations.engine.kernels.win_times_and_open_deals`).

    ``tables.last[j, c]``: open cell ``c``'s chance of being won (``absorb_lost``: closed)
    by the horizon's last day; ``tables.new[j, r, s·K + k, τ − 1]``: new-deal CDFs (``K``
    calendar weeks, :attr:`Plan.n_grid`);
    ``tables.open[j, c, τ − 1]`` (where it has rows): each open cell's daily CDF.
    ``flow``: the posterior as the kernels read it (default :func:`_flow_draws` of
    ``inputs``).
    """
    if open_deals is None:
        open_deals = (
            _open_draws(inputs, np.zeros(len(ps) + 1, dtype=np.int64),
                        np.zeros((0, max(len(inputs.deals), 1)))),
            _ledger(inputs, plan, np.zeros(0, dtype=np.int64), _NO_F3, False, _NO_I16, _NO_F))
    draws, ledger = open_deals
    win_times_and_open_deals(as_i64(ps), bool(absorb_lost), flow or _flow_draws(inputs),
                             plan.layout(), tables, draws, ledger)


def absorbed_by_horizon_end(inputs: SimulationInputs, absorb_lost: bool = False,
                            threads: int | None = None) -> np.ndarray:
    """``(P, n_open)``: each open deal's probability of being won (``absorb_lost``: won or
    lost) by the horizon's last day, under every posterior draw — the simulator's own
    recursion (:func:`simulations.engine.reference.win_cdfs`, compiled), no Monte Carlo
    (a plan without the new deals, which these probabilities do not use)."""
    plan = make_plan(inputs, new_deals=False)
    n_p, n_s = inputs.n_posterior, len(inputs.stages)
    out = np.zeros((n_p, len(inputs.deals)))
    if not len(inputs.deals):
        return out
    per_batch = tables_per_batch(plan, n_s)

    def work(lo: int, hi: int) -> None:
        t_last = np.empty((min(per_batch, hi - lo), plan.n_cells))
        t_new = np.empty((len(t_last), max(plan.n_new_rows, 1), n_s * plan.n_grid,
                          plan.days))
        for b0 in range(lo, hi, per_batch):
            b1 = min(b0 + per_batch, hi)
            win_tables(inputs, plan, np.arange(b0, b1),
                       WinTables(t_last[: b1 - b0], t_new[: b1 - b0], _NO_F3), absorb_lost)
            out[b0:b1] = t_last[: b1 - b0, plan.deal_cell]

    _run(work, _split(n_p, _threads(threads)))
    return out


def _run(fn: Callable[..., None], pieces: list[tuple[int, ...]]) -> None:
    """``fn(*piece)`` for each piece, on one thread per piece (the kernels release the GIL)."""
    if len(pieces) <= 1:
        for piece in pieces:
            fn(*piece)
        return
    with ThreadPoolExecutor(len(pieces)) as pool:
        list(pool.map(lambda piece: fn(*piece), pieces))


def simulate(inputs: SimulationInputs, n_draws: int, seed: int, chunk_size: int | None = None,
             keep_deal_outcomes: bool = False,
             progress: Callable[[int, int], None] | None = None,
             threads: int | None = None) -> SimulationResult:
    """Simulate ``n_draws`` revenue paths over ``inputs.horizon``.

    Parameters
    ----------
    inputs
        Posterior arrays and open deals (:func:`simulations.engine.inputs.build_inputs`).
    n_draws
        Number of simulated paths; path ``i`` uses posterior draw ``i mod P``.
    seed
        Seed of the run; path ``i`` draws from ``SeedSequence(seed).spawn(n_draws)[i]``.
    chunk_size
        Paths whose random numbers are held at once (memory bound); never changes the
        results.
    keep_deal_outcomes
        Also return each open deal's win month and revenue per path.
    progress
        Called as ``progress(done, n_draws)`` after each chunk.
    threads
        Threads running the compiled kernels (default: the CPUs this process may use);
        never changes the results.
    """
    return simulate_paths(inputs, range(n_draws), seed, chunk_size=chunk_size,
                          keep_deal_outcomes=keep_deal_outcomes, progress=progress,
                          threads=threads)


def simulate_paths(inputs: SimulationInputs, paths: Sequence[int] | np.ndarray, seed: int,
                   chunk_size: int | None = None, keep_deal_outcomes: bool = False,
                   progress: Callable[[int, int], None] | None = None,
                   threads: int | None = None) -> SimulationResult:
    """Paths ``paths`` (indices) of the run ``simulate(inputs, n, seed)``, any ``n > max(paths)``.

    Row ``k`` of the result is exactly row ``paths[k]`` of the full run's, so sets of paths
    can be computed anywhere and joined (:func:`concat_results`, :func:`assemble`).

    Parameters
    ----------
    inputs, seed, chunk_size, keep_deal_outcomes, threads
        As in :func:`simulate`.
    paths
        Distinct path indices ≥ 0, e.g. ``range(start, stop)``.
    progress
        Called as ``progress(done, len(paths))`` after each chunk.
    """
    paths = np.asarray(paths, dtype=np.int64).reshape(-1)
    if paths.size and paths.min() < 0:
        raise ValueError("path indices must be >= 0")
    hz, d = inputs.horizon, inputs.deals
    n, n_open, n_o, n_m = len(paths), len(d), len(inputs.owners), hz.n_months
    n_s = len(inputs.stages)
    revenue = np.zeros((n, n_m, n_o))
    new_revenue = np.zeros((n, n_m, n_o))
    deal_month = np.full((n, n_open), -1, dtype=np.int16) if keep_deal_outcomes else None
    deal_rev = np.zeros((n, n_open)) if keep_deal_outcomes else None
    result = SimulationResult(
        revenue=revenue, months=hz.months, owners=inputs.owners, teams=inputs.teams,
        new_revenue=new_revenue, deal_month=deal_month, deal_revenue=deal_rev,
        deal_ids=d.deal_id, seed=seed)
    if n == 0:
        return result

    inputs = with_run_months(inputs, seed)
    plan = make_plan(inputs)
    n_threads = _threads(threads)
    chunk = max(1, chunk_size or chunk_size_for(inputs))
    n_p = inputs.n_posterior
    alpha = as_f64(inputs.alpha)
    new_model = NewDealModel(
        first_day=as_i64(hz.first_day), last_day=as_i64(hz.last_day),
        segment_mix=as_f64(inputs.segment_mix), entry_cum=as_f64(plan.entry_cum),
        size_mu=as_f64(inputs.size_mu), size_sigma=as_f64(inputs.size_sigma),
        size_multiplier=float(inputs.size_multiplier),
        new_row_lookup=as_i64(plan.new_row_lookup), day_month=plan.day_month,
        n_grid=plan.n_grid)
    per_batch = tables_per_batch(plan, n_s)
    flow = _flow_draws(inputs)

    # paths grouped by the posterior draw they use: each draw's distributions are computed
    # once for all of its paths in a chunk
    p_of = paths % n_p
    by_draw = np.argsort(p_of, kind="stable")

    # one buffer of uniforms per piece of a chunk, reused by the next chunks (a fresh
    # allocation each time costs page faults)
    u_bufs = [np.empty((min(chunk, n), n_open)) for _ in range(min(n_threads, n))]

    def block(lo: int, hi: int, piece: int) -> None:
        """Rows ``by_draw[lo:hi]`` of the result (sorted by posterior draw)."""
        rows = as_i64(by_draw[lo:hi])
        idx, p_row = paths[rows], as_i64(p_of[rows])
        ps, first = np.unique(p_row, return_index=True)
        path_start = np.append(first, hi - lo)
        u = u_bufs[piece][: hi - lo]
        counts = np.empty((hi - lo, n_o, n_m), dtype=np.int64)
        new_u = []
        for j in range(hi - lo):
            rng = np.random.Generator(np.random.PCG64(
                np.random.SeedSequence(seed, spawn_key=(int(idx[j]),))))
            rng.random(out=u[j])
            p = p_row[j]
            # negative binomial as its gamma–Poisson mixture (much faster in numpy)
            lam = rng.standard_gamma(alpha[p], (n_o, n_m)) * plan.nb_scale[p]
            counts[j] = rng.poisson(lam)
            new_u.append(rng.random(NEW_DEAL_UNIFORMS * int(counts[j].sum())))
        ledger = _ledger(inputs, plan, rows, revenue, keep_deal_outcomes,
                         deal_month if keep_deal_outcomes else _NO_I16,
                         deal_rev if keep_deal_outcomes else _NO_F)
        offsets = np.zeros(hi - lo + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in new_u])
        uniforms = np.concatenate(new_u) if offsets[-1] else np.zeros(0)
        # the posterior draws' tables in batches under TABLE_BYTES; a path's numbers do not
        # depend on the batch it falls in
        n_tab = min(per_batch, len(ps))
        t_last = np.empty((n_tab, plan.n_cells))
        t_new = np.empty((n_tab, max(plan.n_new_rows, 1), n_s * plan.n_grid, plan.days))
        for b0 in range(0, len(ps), per_batch):
            b1 = min(b0 + per_batch, len(ps))
            starts = path_start[b0 : b1 + 1]
            tables = WinTables(last=t_last[: b1 - b0], new=t_new[: b1 - b0], open=_NO_F3)
            win_tables(inputs, plan, ps[b0:b1], tables,
                       open_deals=(_open_draws(inputs, starts, u), ledger), flow=flow)
            q0, q1 = starts[0], starts[-1]
            if offsets[q1] > offsets[q0]:
                trow = as_i64(np.repeat(np.arange(b1 - b0), np.diff(starts)))
                new = NewDeals(counts=counts[q0:q1], uniforms=uniforms,
                               offsets=offsets[q0 : q1 + 1], rows=rows[q0:q1],
                               table_row=trow, draw=p_row[q0:q1])
                book_new_deals(new, new_model, tables.new, revenue, new_revenue)

    # chunks and their pieces end where a posterior draw's paths end, where that is near
    draw_ends = np.append(np.flatnonzero(np.diff(p_of[by_draw])) + 1, n)
    c0 = 0
    while c0 < n:
        c1 = _snap(draw_ends, c0 + chunk // 2, min(c0 + chunk, n))
        cuts = [c0] + [_snap(draw_ends, c0 + (2 * i - 1) * (c1 - c0) // (2 * n_threads),
                             c0 + (c1 - c0) * i // n_threads) for i in range(1, n_threads)]
        cuts = sorted(set(cuts) | {c1})
        _run(block, [(a, b, i) for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:],
                                                                 strict=True))])
        c0 = c1
        if progress is not None:
            progress(c1, n)
    return result


def _snap(ends: np.ndarray, lo: int, hi: int) -> int:
    """The last of the sorted positions ``ends`` in ``(lo, hi]``, or ``hi`` if none is."""
    i = int(np.searchsorted(ends, hi, side="right")) - 1
    return int(ends[i]) if i >= 0 and ends[i] > lo else hi


def assemble(parts: Sequence[tuple[np.ndarray, SimulationResult]], n_draws: int
             ) -> SimulationResult:
    """One result of ``n_draws`` paths from ``(paths, result)`` pieces covering them all."""
    if not parts:
        raise ValueError("no results to join")
    first = parts[0][1]
    covered = np.zeros(n_draws, dtype=bool)

    def empty(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else np.empty((n_draws,) + x.shape[1:], dtype=x.dtype)

    out = {name: empty(getattr(first, name))
           for name in ("revenue", "new_revenue", "deal_month", "deal_revenue")}
    for idx, part in parts:
        idx = np.asarray(idx, dtype=np.int64)
        covered[idx] = True
        for name, arr in out.items():
            if (arr is None) != (getattr(part, name) is None):
                raise ValueError(f"parts differ: some have {name}, some not")
            if arr is not None:
                arr[idx] = getattr(part, name)
    if not covered.all():
        raise ValueError(f"{int((~covered).sum())} of {n_draws} paths are missing")
    return SimulationResult(
        revenue=out["revenue"], months=first.months, owners=first.owners, teams=first.teams,
        new_revenue=out["new_revenue"], deal_month=out["deal_month"],
        deal_revenue=out["deal_revenue"], deal_ids=first.deal_ids, seed=first.seed)


def concat_results(parts: Sequence[SimulationResult]) -> SimulationResult:
    """Join consecutive blocks of paths (:func:`simulate_paths`) into one result."""
    if not parts:
        raise ValueError("no results to join")
    first = parts[0]

    def cat(name: str):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values, axis=0)

    return SimulationResult(
        revenue=cat("revenue"), months=first.months, owners=first.owners, teams=first.teams,
        new_revenue=cat("new_revenue"), deal_month=cat("deal_month"),
        deal_revenue=cat("deal_revenue"), deal_ids=first.deal_ids, seed=first.seed)

"""What the Monte Carlo engine consumes: plain arrays, built from a fitted posterior.

Scenarios (win odds, volume, cycle speed, deal size, headcount, forced deals) are
transformations of a :class:`SimulationInputs` into another; the engine knows nothing of
PyMC or pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.cells import MAX_WEEK
from forecast.data.covariates import pattern_effects
from forecast.data.snapshot import Snapshot
from forecast.posterior import PipelinePosterior
from simulations.engine.calendar import (
    calendar_offsets,
    calendar_weeks,
    month_day_shares,
    month_of_year_offsets,
    slot_day_shares,
)
from simulations.engine.horizon import Horizon

MODEL, FORCE_WON, FORCE_LOST = 0, 1, 2
#: deals created in this many days before ``as_of`` give deals not yet created their
#: covariate mix
NEW_DEAL_MIX_DAYS = 365


@dataclass(frozen=True)
class DealBook:
    """The open deals at ``as_of``, one entry per deal.

    Attributes
    ----------
    deal_id
        Ids, for outputs.
    owner, segment
        Codes into :attr:`SimulationInputs.owners` and the segments.
    xb
        Column of :attr:`SimulationInputs.xb` holding the deal's covariate effect.
    stage, week, part
        Stage held, completed weeks in it at ``as_of`` (capped at the last bucket) and the
        days of the current week already passed without an event (0..6): the day after
        ``as_of`` is day ``part`` of week ``week`` of the stage.
    amount
        Expected amount (booked amount = expected × the booked/expected ratio).
    override
        ``MODEL`` (0), ``FORCE_WON`` (1, on ``forced_day``) or ``FORCE_LOST`` (2).
    forced_day
        Day offset of a forced win.
    delay_days
        Days added to a simulated win date (a slipping deal).
    """

    deal_id: np.ndarray
    owner: np.ndarray
    segment: np.ndarray
    xb: np.ndarray
    stage: np.ndarray
    week: np.ndarray
    part: np.ndarray
    amount: np.ndarray
    override: np.ndarray
    forced_day: np.ndarray
    delay_days: np.ndarray

    def __len__(self) -> int:
        return len(self.deal_id)


@dataclass(frozen=True)
class SimulationInputs:
    """Arrays of posterior draws (``P`` of them) and the book of open deals.

    Flow: ``a (P,3,S)``, ``dur (P,3,B)``, ``owner_eff (P,3,O)``, ``segment_eff (P,3,G)``,
    ``xb (P, X)`` covariate effects (column ``X-1``: deals not yet created, the mean effect
    of the deals created in the :data:`NEW_DEAL_MIX_DAYS` before ``as_of``).
    Arrivals: ``arr_b0 (P,)``, ``arr_owner_eff (P,O)``, ``season (P,12)``, ``alpha (P,)``,
    ``arrival_multiplier (O, M)`` (0 for reps not creating deals), ``segment_mix (P,O,G)``,
    ``entry_stage (P,S)``. Amounts: ``size_mu``/``size_sigma (P,G)`` of won new deals'
    log amount, ``ratio_mu``/``ratio_sigma (P,)``, ``size_multiplier`` (scalar).
    Calendar (``None`` without one, :mod:`simulations.engine.calendar`): ``week_effect
    (P, K, 3)``, the offsets of the advance, won and lost logits in the horizon's week ``k``
    (days ``7k + 1 .. 7k + 7``), and ``part_effect (P, 7, 3)``, those of an open deal's
    current week when ``r`` days of it have passed (row ``r``: the week began on day
    ``1 − r``). ``month_sigma (P, 3)``: the spread of a future month's own effect on each
    logit, drawn per run (:func:`simulations.engine.calendar.with_month_shocks`).
    ``drift_sigma (P, 3)``: the step of the stage intercepts' random walk per fiscal
    quarter (``drift: true``; ``a`` is the level of ``as_of``'s quarter), the steps of later
    quarters drawn per run (:func:`simulations.engine.calendar.drift_levels`), and
    ``fiscal_year_start`` the month its quarters start from.
    """

    horizon: Horizon
    owners: tuple[str, ...]
    teams: dict[str, str]
    segments: tuple[str, ...]
    stages: tuple[str, ...]
    deals: DealBook
    a: np.ndarray
    dur: np.ndarray
    owner_eff: np.ndarray
    segment_eff: np.ndarray
    xb: np.ndarray
    arr_b0: np.ndarray
    arr_owner_eff: np.ndarray
    season: np.ndarray
    alpha: np.ndarray
    arrival_multiplier: np.ndarray
    segment_mix: np.ndarray
    entry_stage: np.ndarray
    size_mu: np.ndarray
    size_sigma: np.ndarray
    ratio_mu: np.ndarray
    ratio_sigma: np.ndarray
    size_multiplier: float = 1.0
    week_effect: np.ndarray | None = None
    part_effect: np.ndarray | None = None
    month_sigma: np.ndarray | None = None
    drift_sigma: np.ndarray | None = None
    fiscal_year_start: int = 1

    @property
    def n_posterior(self) -> int:
        return self.a.shape[0]

    @property
    def n_grid(self) -> int:
        """Weeks of the horizon with their own calendar effect (1: no calendar)."""
        if self.week_effect is not None:
            return self.week_effect.shape[1]
        if self.month_sigma is None and self.drift_sigma is None:
            return 1
        return calendar_weeks(self.horizon.days)


def deal_book(snapshot: Snapshot, posterior: PipelinePosterior) -> tuple[DealBook, np.ndarray]:
    """The open deals of ``snapshot`` coded against ``posterior``'s index, and ``xb``."""
    index = posterior.index
    open_deals = snapshot.open_deals
    codes = index.codes(open_deals)
    known = codes["pattern"] >= 0
    xb_known = pattern_effects(index.covariates, index.patterns, posterior.flow.beta_cat,
                               posterior.flow.beta_num)
    enc_new, inv = (np.unique(codes["encoded"][~known], axis=0, return_inverse=True)
                    if (~known).any() else (np.zeros((0, index.covariates.n_columns)),
                                            np.zeros(0, dtype=int)))
    xb_new = pattern_effects(index.covariates, enc_new, posterior.flow.beta_cat,
                             posterior.flow.beta_num)
    xb = np.concatenate([xb_known, xb_new, new_deal_effect(snapshot, posterior)[:, None]],
                        axis=1)
    col = codes["pattern"].copy()
    col[~known] = xb_known.shape[1] + inv.reshape(-1)
    amount = open_deals["amount"].to_numpy(dtype=float)
    if "expected_amount" in open_deals:
        amount = open_deals["expected_amount"].fillna(open_deals["amount"]).to_numpy(float)
    n = len(open_deals)
    observed = open_deals["days_in_stage"].to_numpy() + 1  # entry day .. as_of
    book = DealBook(
        deal_id=open_deals["deal_id"].to_numpy(dtype=object),
        owner=codes["owner"].astype(np.int64), segment=codes["segment"].astype(np.int64),
        xb=col.astype(np.int64), stage=open_deals["stage_idx"].to_numpy(dtype=np.int64),
        week=np.minimum(observed // 7, MAX_WEEK).astype(np.int64),
        part=(observed % 7).astype(np.int64),
        amount=amount, override=np.zeros(n, dtype=np.int8),
        forced_day=np.zeros(n, dtype=np.int64), delay_days=np.zeros(n, dtype=np.int64))
    return book, xb


def new_deal_effect(snapshot: Snapshot, posterior: PipelinePosterior) -> np.ndarray:
    """``(P,)`` mean covariate effect ``x·β`` of the deals created in the
    :data:`NEW_DEAL_MIX_DAYS` before ``as_of`` (all deals if none): the covariate mix that
    deals not yet created are given.

    Covariate effects sum to zero over *levels*, so ``x·β = 0`` is the average level, not
    the average deal: with a common level of negative effect, a zero would make new deals
    look better than the deals reps actually create.
    """
    index, flow = posterior.index, posterior.flow
    if index.covariates.n_columns == 0:
        return np.zeros(posterior.n_draws)
    deals = snapshot.deals
    recent = deals[deals["created_at"] > snapshot.as_of - pd.Timedelta(days=NEW_DEAL_MIX_DAYS)]
    enc = index.covariates.encode(recent if len(recent) else deals)
    patterns, counts = np.unique(enc, axis=0, return_counts=True)
    xb = pattern_effects(index.covariates, patterns, flow.beta_cat, flow.beta_num)
    return xb @ (counts / counts.sum())


def build_inputs(snapshot: Snapshot, posterior: PipelinePosterior, horizon: Horizon, *,
                 other_date: bool = False) -> SimulationInputs:
    """Simulation inputs of a fitted posterior over ``horizon``.

    ``snapshot`` must be at the fit's ``as_of``, unless ``other_date`` is set: the forecast
    bridge (:mod:`simulations.evaluation.bridge`) applies one fit to the pipeline of an
    earlier date, to tell what the data changed from what the model learned.
    """
    if not other_date and str(snapshot.as_of.date()) != posterior.index.as_of:
        raise ValueError(f"snapshot as_of {snapshot.as_of.date()} differs from the model's "
                         f"{posterior.index.as_of}")
    book, xb = deal_book(snapshot, posterior)
    index = posterior.index
    active = posterior.arrivals.active.astype(float)
    mult = np.repeat(active[:, None], horizon.n_months, axis=1)
    am = posterior.amounts
    a, week_effect, part_effect = posterior.flow.a, None, None
    if posterior.flow.calendar is not None:
        # the slots' effects sum to zero unweighted, but the slots cover ~30, 30, 16 and 14
        # days: their day-weighted mean goes into the intercepts, so that what reads the
        # hazards without the calendar (scenario calibration, the added-deal
        # recommendation, a deal's eventual win probability) has the average *day's* odds;
        # the engine's sum a + week effect is unchanged
        mean = posterior.flow.calendar @ slot_day_shares(index.fiscal_year_start)  # (P, 3)
        week_effect, part_effect = calendar_offsets(posterior.flow.calendar - mean[:, :, None],
                                                    horizon.as_of, horizon.days,
                                                    index.fiscal_year_start)
        a = a + mean[:, :, None]
    if posterior.flow.month_of_year is not None:
        # as the slots': the effects' day-weighted mean over the year goes into the
        # intercepts, the departures from it into the weeks' offsets
        season = posterior.flow.month_of_year
        mean = season @ month_day_shares()  # (P, 3)
        week, part = month_of_year_offsets(season - mean[:, :, None], horizon.as_of,
                                           horizon.days)
        week_effect = week if week_effect is None else week_effect + week
        part_effect = part if part_effect is None else part_effect + part
        a = a + mean[:, :, None]
    return SimulationInputs(
        horizon=horizon, owners=tuple(index.owners), teams=dict(index.owner_team),
        segments=tuple(index.segments), stages=tuple(index.stages), deals=book,
        a=a, dur=posterior.flow.dur, owner_eff=posterior.flow.owner_eff,
        segment_eff=posterior.flow.segment_eff, xb=xb, arr_b0=posterior.arrivals.b0,
        arr_owner_eff=posterior.arrivals.owner_eff, season=posterior.arrivals.season,
        alpha=posterior.arrivals.alpha, arrival_multiplier=mult, segment_mix=am.segment_mix,
        entry_stage=am.entry_stage, size_mu=am.mu, size_sigma=am.sigma, ratio_mu=am.ratio_mu,
        ratio_sigma=am.ratio_sigma, week_effect=week_effect, part_effect=part_effect,
        month_sigma=posterior.flow.month_sigma, drift_sigma=posterior.flow.drift_sigma,
        fiscal_year_start=index.fiscal_year_start)


def booked_to_date(snapshot: Snapshot) -> pd.DataFrame:
    """Revenue already won by ``as_of``: ``owner``, ``month`` (YYYY-MM), ``revenue``."""
    won = snapshot.deals[snapshot.deals["status"] == "won"]
    return (won.assign(month=won["closed_at"].dt.strftime("%Y-%m"))
            .groupby(["owner", "month"], as_index=False)["amount"].sum()
            .rename(columns={"amount": "revenue"}))

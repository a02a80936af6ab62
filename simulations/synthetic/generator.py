"""Synthetic CRM datasets simulated from exactly the deal-flow model pipecast fits.

The generator draws a dataset directory (see CONTRACT.md) together with the true
parameters that produced it, so that the models can be checked by parameter recovery.

The model, in weekly discrete time
----------------------------------
Each week a deal in open stage ``s`` that has completed ``d`` weeks in that stage either
stays, advances to the next stage, is won or is lost, with probabilities
``softmax([0, eta_advance, eta_won, eta_lost])`` where, for ``k`` in ``OUTCOMES``::

    eta[k] = a[k, s] + dur[k, b(d)] + owner_eff[k, o] + seg_eff[k, g] + cov_term[k]

``b(d)`` is :func:`forecast.data.cells.duration_bucket` (``dur[k, 0] = 0``),
``cov_term[won] = +x.beta / 2``, ``cov_term[lost] = -x.beta / 2``, ``cov_term[advance] = 0``
(``x.beta`` is the sum of the deal's covariate level effects, i.e. the log odds ratio of
won against lost), and advancing from the last stage is impossible. A deal's weekly grid
is anchored at its stage entry: week ``w`` covers days ``[entry + 7w, entry + 7w + 7)``
and an event in it falls on a uniformly drawn day of that week, which is also the entry
day of the next stage. Events after ``end`` are not observed: such deals are open.

Deals arrive per rep and calendar month, NegativeBinomial with mean
``exp(b0 + u_owner + season[month]) * (fraction of the month the rep is active)`` and
dispersion ``alpha`` (variance ``mu + mu**2 / alpha``), on uniform days of the month.
Amounts are LogNormal per segment; a won deal books ``expected * exp(N(mu_r, sigma_r))``.

Long because the generator, the quantities derived from its truth and the writer of its
files are one simulation, kept together so that they cannot drift apart.

All randomness comes from named children of ``np.random.SeedSequence(seed)``, so the
same config and seed give byte-identical files.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import fft as sp_fft

from forecast.data.cells import DURATION_EDGES_WEEKS, duration_bucket
from forecast.data.config import DEFAULT_STAGES
from forecast.data.periods import QUARTER_SLOTS, quarter_label, quarter_number, quarter_slot
from forecast.models.seasonal import MONTH_NAMES

#: Events besides "stay", in the order of the first axis of ``a``, ``dur`` and effects.
OUTCOMES: tuple[str, ...] = ("advance", "won", "lost")
#: Named random streams; each is an independent child of the seed's SeedSequence.
STREAMS: tuple[str, ...] = (
    "owner_effects", "u_owner", "arrivals", "attributes", "transitions", "amounts",
    "close_guess", "quota", "month_effects", "drift",
)
#: Version of the generator's algorithm (recorded in truth.json).
GENERATOR_VERSION = 1
#: above this many covariate level combinations, those with equal x.beta are merged
MAX_PATTERNS = 4096
N_BUCKETS = len(DURATION_EDGES_WEEKS)
_STATUS = ("open", "won", "lost")


@dataclass(frozen=True)
class SegmentSpec:
    """A customer segment: its hazard effects, deal sizes and typical cycle.

    Attributes
    ----------
    name
        Segment label written to ``deals.csv``.
    effects
        ``seg_eff`` on the logits of (advance, won, lost).
    amount_median
        Median expected amount; ``expected_amount ~ LogNormal(log(median), amount_sigma)``.
    amount_sigma
        Log-scale standard deviation of the expected amount.
    typical_cycle_days
        What reps think a deal takes to close (centre of ``expected_close_at``).
    """

    name: str
    effects: tuple[float, float, float]
    amount_median: float
    amount_sigma: float
    typical_cycle_days: int


@dataclass(frozen=True)
class CovariateSpec:
    """A categorical column of ``deals.csv`` with known effects on the win odds.

    Attributes
    ----------
    column
        Column name.
    levels
        Its values.
    probs
        Probability of each level (independent of everything else).
    beta
        Log odds ratio of won against lost of each level (0 for a reference level).
    """

    column: str
    levels: tuple[str, ...]
    probs: tuple[float, ...]
    beta: tuple[float, ...]


@dataclass(frozen=True)
class RepSpec:
    """A sales rep.

    Attributes
    ----------
    name
        Owner label.
    team
        Team label.
    segment_mix
        Probability of each segment (in ``GeneratorConfig.segments`` order) for the rep's deals.
    joins_months_before_end
        A new rep: active from the first day of the month this many months before the month
        after ``end`` (3 → the last three months up to ``end``). ``None``: active throughout.
    leaves_months_before_end
        A rep who left: last active day is the end of the month this many months before
        ``end``'s month. ``None``: still active.
    quota_factor
        Quota over expected won revenue; ``None`` draws it from ``quota_factor_range``.
    """

    name: str
    team: str
    segment_mix: tuple[float, ...]
    joins_months_before_end: int | None = None
    leaves_months_before_end: int | None = None
    quota_factor: float | None = None


def _default_segments() -> tuple[SegmentSpec, ...]:
    return (
        SegmentSpec("smb", (0.50, 0.35, 0.20), 8_000.0, 0.55, 60),
        SegmentSpec("mid-market", (0.0, 0.0, 0.0), 30_000.0, 0.60, 90),
        SegmentSpec("enterprise", (-0.50, -0.35, -0.20), 120_000.0, 0.70, 120),
    )


def _default_covariates() -> tuple[CovariateSpec, ...]:
    return (
        CovariateSpec("product", ("core", "analytics", "platform"), (0.5, 0.3, 0.2),
                      (0.0, 0.3, -0.25)),
        CovariateSpec("source", ("inbound", "outbound", "partner", "event"),
                      (0.35, 0.35, 0.15, 0.15), (0.0, -0.5, 0.35, -0.15)),
        CovariateSpec("budget_confirmed", ("no", "yes"), (0.6, 0.4), (0.0, 0.8)),
    )


def _default_reps() -> tuple[RepSpec, ...]:
    return (
        RepSpec("ana.silva", "velocity", (0.8, 0.2, 0.0)),
        RepSpec("ben.okafor", "velocity", (0.9, 0.1, 0.0)),
        RepSpec("chloe.martin", "velocity", (0.7, 0.3, 0.0)),
        RepSpec("dev.patel", "velocity", (1.0, 0.0, 0.0), leaves_months_before_end=13),
        RepSpec("elena.rossi", "growth", (0.2, 0.8, 0.0)),
        RepSpec("farid.haddad", "growth", (0.1, 0.7, 0.2)),
        RepSpec("grace.kim", "growth", (0.0, 1.0, 0.0)),
        RepSpec("hugo.schmidt", "growth", (0.3, 0.7, 0.0), joins_months_before_end=3),
        RepSpec("ines.garcia", "strategic", (0.0, 0.3, 0.7)),
        RepSpec("jonas.berg", "strategic", (0.0, 0.2, 0.8)),
        RepSpec("keiko.tanaka", "strategic", (0.0, 0.0, 1.0)),
        RepSpec("liam.walsh", "strategic", (0.0, 0.5, 0.5)),
    )


@dataclass(frozen=True)
class GeneratorConfig:
    """Every true parameter of a synthetic dataset (defaults: ~5,000 deals, 2024-01..2026-10).

    Attributes
    ----------
    start, end
        First and last day (inclusive, ``YYYY-MM-DD``) of deal creation and observation.
    n_deals
        Expected number of deals; sets ``b0`` when ``b0`` is ``None``.
    b0
        Arrival log-rate intercept (deals per rep-month); ``None`` derives it from ``n_deals``.
    stages
        Open stages in pipeline order.
    a
        ``a[k][s]``: stage logits of (advance, won, lost); ``a[0][-1]`` is ignored.
    dur
        ``dur[k][b]``: duration-bucket logits, one per ``DURATION_EDGES_WEEKS`` bucket,
        ``dur[k][0] == 0``.
    sigma_owner
        Standard deviations of the owner effects on (advance, won, lost).
    segments, covariates, reps
        See :class:`SegmentSpec`, :class:`CovariateSpec`, :class:`RepSpec`.
    sigma_u, alpha, season
        Arrivals: owner log-rate sd, NegativeBinomial dispersion, month-of-year effects
        (January first, summing to zero).
    ratio_mu, ratio_sigma
        Log of booked over expected amount of a won deal ~ N(ratio_mu, ratio_sigma).
    close_guess_mu, close_guess_sigma
        ``expected_close_at = created + typical_cycle_days * exp(N(mu, sigma))``.
    crm_probabilities
        Hand-set CRM stage probabilities written to ``pipeline.yaml``.
    quota_months
        Number of months after ``end`` with quotas (plus the quarters they fall in).
    quota_factor_range
        Range of the uniform quota factors of reps without an explicit one.
    calendar
        ``calendar[k][q]``: effect on logit ``k`` (advance, won, lost) of a week that starts
        in slot ``q`` of its calendar quarter (:data:`~forecast.data.periods.QUARTER_SLOTS`:
        month 1, 2, 3, the last two weeks); all 0 by default (no calendar). The derived
        expectations in the truth (win probabilities, expected revenue, quotas) average
        over the calendar as if it were not there.
    sigma_month
        Standard deviations of a random effect per calendar month on the won and lost
        logits (a good month for everyone, a bad one); 0 by default.
    month_of_year
        ``month_of_year[k][j]``: effect on the won (``k`` 0) and lost (``k`` 1) logits of a
        week that starts in month ``j`` of the year (January first); all 0 by default. Like
        the calendar, the derived expectations in the truth leave it out.
    sigma_drift
        Standard deviations of the quarter-to-quarter steps of a random walk of the
        (advance, won, lost) stage intercepts over the calendar quarters from ``start`` to
        ``end``; the walk is 0 in ``end``'s quarter, so ``a`` is the latest level (and the
        derived expectations in the truth use it). 0 by default (no drift).
    """

    start: str = "2024-01-01"
    end: str = "2026-10-31"
    n_deals: float = 5000.0
    b0: float | None = None
    stages: tuple[str, ...] = DEFAULT_STAGES
    a: tuple[tuple[float, ...], ...] = (
        (-1.1, -1.3, -1.4, -1.6, 0.0),
        (-6.5, -5.5, -4.5, -3.3, -2.0),
        (-2.3, -2.4, -2.6, -2.8, -2.7),
    )
    dur: tuple[tuple[float, ...], ...] = (
        (0.0, 0.2, 0.1, -0.2, -0.6, -1.0, -1.5, -2.0),
        (0.0, 0.2, 0.1, -0.2, -0.6, -1.0, -1.5, -2.0),
        (0.0, 0.1, 0.15, 0.1, 0.0, -0.2, -0.4, -0.6),
    )
    sigma_owner: tuple[float, float, float] = (0.25, 0.4, 0.4)
    segments: tuple[SegmentSpec, ...] = field(default_factory=_default_segments)
    covariates: tuple[CovariateSpec, ...] = field(default_factory=_default_covariates)
    reps: tuple[RepSpec, ...] = field(default_factory=_default_reps)
    sigma_u: float = 0.25
    alpha: float = 6.0
    season: tuple[float, ...] = (-0.10, 0.0, 0.20, 0.0, 0.05, 0.20,
                                 -0.15, -0.30, 0.20, 0.05, 0.05, -0.20)
    ratio_mu: float = -0.05
    ratio_sigma: float = 0.15
    close_guess_mu: float = -0.15
    close_guess_sigma: float = 0.35
    crm_probabilities: tuple[float, ...] = (0.1, 0.2, 0.4, 0.6, 0.8)
    quota_months: int = 3
    quota_factor_range: tuple[float, float] = (0.8, 1.3)
    calendar: tuple[tuple[float, ...], ...] = ((0.0,) * 4,) * 3
    sigma_month: tuple[float, float] = (0.0, 0.0)
    month_of_year: tuple[tuple[float, ...], ...] = ((0.0,) * 12, (0.0,) * 12)
    sigma_drift: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise ValueError("GeneratorConfig: " + "; ".join(problems))

    @classmethod
    def small(cls, **overrides) -> GeneratorConfig:
        """The default model with ~1,500 deals (for tests); ``overrides`` replace fields."""
        return cls(**{"n_deals": 1500.0, **overrides})

    @classmethod
    def win_loss_table(cls, **overrides) -> GeneratorConfig:
        """A small win/loss table: one open stage, ~450 deals, 18 reps, one segment and 20
        categorical attributes with 2 to 5 levels (half of them without effect), like a
        real 448-deal export scored with ``pipecast score``; ``overrides`` replace fields.
        """
        names = ("industry", "region", "source", "product", "company_size", "champion",
                 "budget", "timeline", "competitor", "channel", "contract", "pricing",
                 "demo", "trial", "referral", "decision_maker", "use_case", "tier",
                 "language", "quarter")
        covs = []
        for j, name in enumerate(names):
            n_lv = 2 + j % 4
            probs = np.arange(n_lv, 0, -1, dtype=float)
            probs = np.round(probs / probs.sum(), 4)
            probs[0] = round(1.0 - probs[1:].sum(), 4)
            effect = 0.0 if j % 2 else 0.3 + 0.1 * (j % 3)
            beta = effect * np.linspace(-1.0, 1.0, n_lv)
            beta = np.round(beta - probs @ beta, 2)  # no shift of the average win odds
            covs.append(CovariateSpec(name, tuple(f"{name[:3]}{k}" for k in range(n_lv)),
                                      tuple(map(float, probs)), tuple(map(float, beta))))
        reps = tuple(RepSpec(f"rep{i:02d}", ("east", "west", "north")[i % 3], (1.0,))
                     for i in range(18))
        base = {
            "start": "2024-07-01", "end": "2026-06-30", "n_deals": 450.0,
            "stages": ("open",), "a": ((0.0,), (-2.6,), (-2.2,)),
            "sigma_owner": (0.0, 0.4, 0.3), "crm_probabilities": (0.4,),
            "segments": (SegmentSpec("all", (0.0, 0.0, 0.0), 20_000.0, 0.6, 60),),
            "covariates": tuple(covs), "reps": reps,
        }
        return cls(**{**base, **overrides})

    @classmethod
    def quarter_end(cls, **overrides) -> GeneratorConfig:
        """The default model with a quarter-end calendar, as real B2B exports show it
        (``docs/calendar-baseline.md``): deals are won late in a quarter and lost early
        (pipelines are cleaned at its start), with a random effect per month; ``overrides``
        replace fields."""
        base = {"calendar": ((0.0, 0.0, 0.0, 0.0), (-0.5, 0.0, 0.35, 0.9),
                             (0.2, 0.1, -0.1, -0.4)),
                "sigma_month": (0.15, 0.15)}
        return cls(**{**base, **overrides})

    @classmethod
    def seasonal(cls, **overrides) -> GeneratorConfig:
        """``quarter_end()`` with month-of-year effects on the won and lost odds: a year-end
        push in December, an August lull, pipelines cleaned in January. In each month of the
        quarter (January, April, July, October; February, …) they sum to zero, so that the
        quarter calendar's slots do not absorb them and the truth is what the month-of-year
        effects can identify; ``overrides`` replace fields."""
        base = {"month_of_year": (
            (-0.2, 0.05, -0.05, 0.05, 0.1, -0.05, 0.0, -0.35, -0.2, 0.15, 0.2, 0.3),
            (0.3, 0.0, 0.05, -0.1, -0.05, 0.0, -0.1, 0.15, 0.05, -0.1, -0.1, -0.1))}
        return cls.quarter_end(**{**base, **overrides})

    @classmethod
    def drifting(cls, **overrides) -> GeneratorConfig:
        """The default model whose stage intercepts drift from quarter to quarter (a random
        walk with steps of sd 0.1 on advancing and 0.2 on winning and losing); with
        ``quarter_end()``'s fields in ``overrides`` it has the calendar too."""
        return cls(**{"sigma_drift": (0.1, 0.2, 0.2), **overrides})

    def with_covariate_betas(self, betas: dict[str, dict[str, float]]) -> GeneratorConfig:
        """A copy with the named covariate level effects replaced (others kept)."""
        covs = []
        for cov in self.covariates:
            new = betas.get(cov.column, {})
            unknown = set(new) - set(cov.levels)
            if unknown:
                raise ValueError(f"{cov.column} has no levels {sorted(unknown)}")
            covs.append(replace(cov, beta=tuple(float(new.get(lv, b))
                                                for lv, b in zip(cov.levels, cov.beta,
                                                                 strict=True))))
        return replace(self, covariates=tuple(covs))

    @property
    def start_day(self) -> int:
        return _day(self.start)

    @property
    def end_day(self) -> int:
        return _day(self.end)


def _config_problems(c: GeneratorConfig) -> list[str]:
    """Every inconsistency of a config, as messages."""
    n_s, problems = len(c.stages), []
    try:
        if _day(c.end) < _day(c.start):
            problems.append(f"end {c.end} is before start {c.start}")
    except ValueError as exc:
        problems.append(f"start/end must be YYYY-MM-DD dates ({exc})")
    if n_s < 1 or len(set(c.stages)) != n_s:
        problems.append("stages must be non-empty and distinct")
    if len(c.a) != 3 or any(len(row) != n_s for row in c.a):
        problems.append(f"a must be 3 rows (advance, won, lost) of {n_s} stage values")
    if len(c.dur) != 3 or any(len(row) != N_BUCKETS or row[0] != 0 for row in c.dur):
        problems.append(f"dur must be 3 rows of {N_BUCKETS} bucket values starting with 0")
    if len(c.sigma_owner) != 3 or min(c.sigma_owner) < 0:
        problems.append("sigma_owner must be 3 non-negative values")
    if len(c.season) != 12 or abs(sum(c.season)) > 1e-9:
        problems.append("season must be 12 month effects summing to zero")
    if len(c.calendar) != 3 or any(len(row) != len(QUARTER_SLOTS) for row in c.calendar):
        problems.append(f"calendar must be 3 rows of {len(QUARTER_SLOTS)} slot effects")
    if len(c.sigma_month) != 2 or min(c.sigma_month) < 0:
        problems.append("sigma_month must be 2 non-negative values (won, lost)")
    if len(c.month_of_year) != 2 or any(len(row) != 12 for row in c.month_of_year):
        problems.append("month_of_year must be 2 rows (won, lost) of 12 month effects")
    if len(c.sigma_drift) != 3 or min(c.sigma_drift) < 0:
        problems.append("sigma_drift must be 3 non-negative values (advance, won, lost)")
    if len(c.crm_probabilities) != n_s:
        problems.append("crm_probabilities needs one value per stage")
    if c.alpha <= 0 or c.sigma_u < 0 or c.n_deals <= 0:
        problems.append("alpha and n_deals must be positive, sigma_u non-negative")
    n_g = len(c.segments)
    if n_g < 1 or len({s.name for s in c.segments}) != n_g:
        problems.append("segments must be non-empty with distinct names")
    for cov in c.covariates:
        if not len(cov.levels) == len(cov.probs) == len(cov.beta) or not np.isclose(
                sum(cov.probs), 1.0):
            problems.append(f"covariate {cov.column}: levels, probs (sum 1), beta must align")
    if not c.reps or len({r.name for r in c.reps}) != len(c.reps):
        problems.append("reps must be non-empty with distinct names")
    for rep in c.reps:
        if len(rep.segment_mix) != n_g or not np.isclose(sum(rep.segment_mix), 1.0):
            problems.append(f"rep {rep.name}: segment_mix needs {n_g} values summing to 1")
    return problems


@dataclass(frozen=True)
class SyntheticData:
    """A generated dataset and its ground truth.

    Attributes
    ----------
    deals
        ``deals.csv`` rows (dates as ``datetime64``, ``closed_at`` NaT while open).
    stage_history
        ``deal_id``, ``stage``, ``entered_at``: one row per stage entered.
    quotas
        ``owner`` (rep, team or ``total``), ``period`` (``YYYY-MM`` / ``YYYY-Qn``), ``quota``.
    pipeline
        Contents of ``pipeline.yaml``.
    truth
        Every true parameter in named form (written to ``truth.json``).
    """

    deals: pd.DataFrame
    stage_history: pd.DataFrame
    quotas: pd.DataFrame
    pipeline: dict
    truth: dict

    def to_dataset(self):
        """The generated tables as a validated :class:`forecast.data.dataset.Dataset`, as
        if :func:`write_dataset` had written them and they were loaded."""
        from forecast.data.dataset import dataset_from_frames

        p = self.pipeline
        return dataset_from_frames(self.deals, tuple(p["stages"]), self.stage_history,
                                   self.quotas, crm_probabilities=p.get("crm_probabilities"),
                                   covariates=tuple(p.get("covariates") or ()),
                                   fiscal_year_start=p.get("fiscal_year_start", 1),
                                   calendar=p.get("calendar", False),
                                   drift=p.get("drift", False),
                                   seasonal=p.get("seasonal", False))


@dataclass(frozen=True)
class _Params:
    """Resolved numeric parameters of one generated dataset."""

    a: np.ndarray            # (3, S), advance from last stage = -inf
    dur: np.ndarray          # (3, B)
    owner_eff: np.ndarray    # (3, O)
    seg_eff: np.ndarray      # (3, G)
    u_owner: np.ndarray      # (O,)
    b0: float
    active_from: np.ndarray  # (O,) day numbers
    active_until: np.ndarray  # (O,) day numbers
    quota_factor: np.ndarray  # (O,)
    calendar: np.ndarray     # (3, 4) effects of the quarter's slots
    month_eff: np.ndarray    # (3, n_months) from the start month (advance row 0)
    first_month: int         # the start month, as datetime64[M] months since 1970-01
    drift: np.ndarray        # (3, n_quarters) intercepts' walk, 0 in the last quarter
    moy: np.ndarray          # (3, 12) month-of-year effects (advance row 0), January first
    first_quarter: int       # quarter_number of the start day


# ---------------------------------------------------------------- dates


def _day(text: str) -> int:
    """Day number (days since 1970-01-01) of an ISO date."""
    return int(np.datetime64(text, "D").astype(np.int64))


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _month_first(month: np.ndarray) -> np.ndarray:
    """First day numbers of ``datetime64[M]`` months."""
    return month.astype("datetime64[D]").astype(np.int64)


def _month_last(month: np.ndarray) -> np.ndarray:
    return _month_first(month + 1) - 1


def _month_of(day: int) -> np.datetime64:
    return np.datetime64(int(day), "D").astype("datetime64[M]")


def _month_index(days: np.ndarray, first_month: int) -> np.ndarray:
    """Months since ``first_month`` (``datetime64[M]`` as an int) of day numbers."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) - first_month


def _rep_windows(config: GeneratorConfig) -> tuple[np.ndarray, np.ndarray]:
    """First and last active day of every rep (open-ended reps get wide bounds)."""
    end_month = _month_of(config.end_day)
    lo = np.full(len(config.reps), np.iinfo(np.int32).min, dtype=np.int64)
    hi = np.full(len(config.reps), np.iinfo(np.int32).max, dtype=np.int64)
    for i, rep in enumerate(config.reps):
        if rep.joins_months_before_end is not None:
            lo[i] = _month_first(np.array([end_month + 1 - rep.joins_months_before_end]))[0]
        if rep.leaves_months_before_end is not None:
            hi[i] = _month_last(np.array([end_month - rep.leaves_months_before_end]))[0]
    return lo, hi


# ---------------------------------------------------------------- parameters


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(c) for name, c in zip(STREAMS, children, strict=True)}


def _season_rate(config: GeneratorConfig, days: np.ndarray) -> np.ndarray:
    """``exp(season[month]) / days_in_month`` of each day: the per-day arrival weight."""
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    moy = months.astype(np.int64) % 12
    dim = _month_last(months) - _month_first(months) + 1
    return np.exp(np.asarray(config.season)[moy]) / dim


def _arrival_weights(config: GeneratorConfig, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per rep, sum over observed active days of ``exp(season) / days_in_month``."""
    days = np.arange(config.start_day, config.end_day + 1)
    rate = _season_rate(config, days)
    active = (days[None, :] >= lo[:, None]) & (days[None, :] <= hi[:, None])
    return (active * rate[None, :]).sum(axis=1)


def _draw_params(config: GeneratorConfig, rng: dict[str, np.random.Generator]) -> _Params:
    """Draw the random true parameters (owner effects, u_owner, quota factors)."""
    n_o = len(config.reps)
    a = np.array(config.a, dtype=float)
    a[0, -1] = -np.inf
    owner_eff = rng["owner_effects"].standard_normal((3, n_o)) * np.asarray(
        config.sigma_owner)[:, None]
    u_owner = rng["u_owner"].standard_normal(n_o) * config.sigma_u
    lo, hi = _rep_windows(config)
    b0 = config.b0
    if b0 is None:
        weight = float((np.exp(u_owner) * _arrival_weights(config, lo, hi)).sum())
        if weight <= 0:
            raise ValueError("no rep is active between start and end")
        b0 = float(np.log(config.n_deals / weight))
    low, high = config.quota_factor_range
    drawn = rng["quota"].uniform(low, high, n_o)
    factor = np.array([r.quota_factor if r.quota_factor is not None else f
                       for r, f in zip(config.reps, drawn, strict=True)])
    first = int(_month_of(config.start_day).astype(np.int64))
    n_months = int(_month_of(config.end_day).astype(np.int64)) - first + 1
    month_eff = np.zeros((3, n_months))
    month_eff[1:] = rng["month_effects"].standard_normal((2, n_months)) * np.asarray(
        config.sigma_month)[:, None]
    q0 = int(quarter_number(np.datetime64(config.start_day, "D")))
    n_q = int(quarter_number(np.datetime64(config.end_day, "D"))) - q0 + 1
    walk = np.cumsum(rng["drift"].standard_normal((3, n_q)) * np.asarray(
        config.sigma_drift)[:, None], axis=1)
    return _Params(a=a, dur=np.array(config.dur, dtype=float), owner_eff=owner_eff,
                   seg_eff=np.array([s.effects for s in config.segments], dtype=float).T,
                   u_owner=u_owner, b0=b0, active_from=lo, active_until=hi,
                   quota_factor=factor, calendar=np.array(config.calendar, dtype=float),
                   month_eff=month_eff, first_month=first, drift=walk - walk[:, -1:],
                   moy=np.vstack([np.zeros(12), np.array(config.month_of_year, dtype=float)]),
                   first_quarter=q0)


def softmax_probs(eta: np.ndarray) -> np.ndarray:
    """Probabilities of (stay, advance, won, lost) from logits ``eta[..., 3]`` (stay = 0)."""
    full = np.concatenate([np.zeros(eta.shape[:-1] + (1,)), eta], axis=-1)
    full = full - full.max(axis=-1, keepdims=True)
    e = np.exp(full)
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- deals


def _arrivals(config: GeneratorConfig, p: _Params,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw owner-month deal counts and creation days.

    Returns
    -------
    owner, created
        Per deal, sorted by creation day then owner.
    counts
        ``(n_owners, n_months)`` deals created per rep and month.
    """
    months = np.arange(_month_of(config.start_day), _month_of(config.end_day) + 1)
    first, last = _month_first(months), _month_last(months)
    lo = np.maximum(np.maximum(first, config.start_day)[None, :], p.active_from[:, None])
    hi = np.minimum(np.minimum(last, config.end_day)[None, :], p.active_until[:, None])
    n_active = np.clip(hi - lo + 1, 0, None)
    mu = np.exp(p.b0 + p.u_owner[:, None]
                + np.asarray(config.season)[months.astype(np.int64) % 12][None, :])
    mu = mu * n_active / (last - first + 1)[None, :]
    counts = rng.negative_binomial(config.alpha, config.alpha / (config.alpha + mu))
    counts = np.where(n_active > 0, counts, 0)
    flat = counts.ravel()
    owner = np.repeat(np.repeat(np.arange(len(config.reps)), len(months)), flat)
    created = np.repeat(lo.ravel(), flat) + rng.integers(0, np.repeat(n_active.ravel(), flat))
    order = np.lexsort((owner, created))
    return owner[order], created[order], counts


def _choose(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _attributes(config: GeneratorConfig, owner: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Segment and covariate level codes of every deal."""
    mix = np.array([r.segment_mix for r in config.reps], dtype=float)
    segment = _choose(rng, mix[owner])
    levels = np.zeros((len(owner), len(config.covariates)), dtype=np.int64)
    for j, cov in enumerate(config.covariates):
        levels[:, j] = _choose(rng, np.broadcast_to(np.asarray(cov.probs), (len(owner),
                                                                             len(cov.probs))))
    return segment, levels


def _xbeta(config: GeneratorConfig, levels: np.ndarray) -> np.ndarray:
    """Sum of each row's covariate level effects."""
    out = np.zeros(len(levels))
    for j, cov in enumerate(config.covariates):
        out += np.asarray(cov.beta, dtype=float)[levels[:, j]]
    return out


def _base_eta(p: _Params, owner: np.ndarray, segment: np.ndarray,
              xbeta: np.ndarray) -> np.ndarray:
    """``(3, n)`` logit terms that do not depend on stage or duration."""
    cov = np.stack([np.zeros_like(xbeta), 0.5 * xbeta, -0.5 * xbeta])
    return p.owner_eff[:, owner] + p.seg_eff[:, segment] + cov


@dataclass
class _Paths:
    """Simulated life of every deal up to ``end``."""

    stage: np.ndarray     # final (or closing) stage index
    status: np.ndarray    # 0 open, 1 won, 2 lost
    closed: np.ndarray    # day number, -1 while open
    hist_deal: np.ndarray
    hist_stage: np.ndarray
    hist_day: np.ndarray


def _simulate_paths(p: _Params, created: np.ndarray, base: np.ndarray, end_day: int,
                    rng: np.random.Generator) -> _Paths:
    """Step every live deal one week at a time until it closes or its week passes ``end``."""
    n = len(created)
    stage = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int64)
    closed = np.full(n, -1, dtype=np.int64)
    hist = [(np.arange(n), np.zeros(n, dtype=np.int64), created.astype(np.int64))]
    live = np.arange(n)
    weeks = np.zeros(n, dtype=np.int64)
    week_start = created.astype(np.int64).copy()
    dated = bool(p.calendar.any() or p.month_eff.any() or p.drift.any() or p.moy.any())
    while live.size:
        s = stage[live]
        eta = base[:, live] + p.a[:, s] + p.dur[:, duration_bucket(weeks)]
        if dated:  # the week's place in its quarter, its month's own effect, its quarter's
            eta = eta + p.calendar[:, quarter_slot(week_start)] + p.month_eff[
                :, np.clip(_month_index(week_start, p.first_month), 0,
                           p.month_eff.shape[1] - 1)] + p.drift[
                :, np.clip(quarter_number(week_start) - p.first_quarter, 0,
                           p.drift.shape[1] - 1)] + p.moy[
                :, week_start.astype("datetime64[D]").astype("datetime64[M]").astype(
                    np.int64) % 12]
        probs = softmax_probs(eta.T)
        cum = np.cumsum(probs, axis=1)
        u = rng.random(live.size)
        event = np.minimum((u[:, None] >= cum[:, :3]).sum(axis=1), 3)
        day = week_start + rng.integers(0, 7, live.size)
        seen = (event > 0) & (day <= end_day)
        adv = seen & (event == 1)
        fin = seen & (event > 1)
        stage[live[adv]] += 1
        hist.append((live[adv], stage[live[adv]], day[adv]))
        status[live[fin]] = event[fin] - 1
        closed[live[fin]] = day[fin]
        weeks = np.where(adv, 0, weeks + 1)
        week_start = np.where(adv, day, week_start + 7)
        keep = ~fin & ~((event > 0) & ~seen) & (week_start <= end_day)
        live, weeks, week_start = live[keep], weeks[keep], week_start[keep]
    deal, stg, day = (np.concatenate(x) for x in zip(*hist, strict=True))
    return _Paths(stage=stage, status=status, closed=closed, hist_deal=deal, hist_stage=stg,
                  hist_day=day)


def _amounts(config: GeneratorConfig, segment: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Expected amount of every deal and the amount it books if won (2 decimals)."""
    med = np.array([s.amount_median for s in config.segments])
    sig = np.array([s.amount_sigma for s in config.segments])
    z = rng.standard_normal((2, len(segment)))
    expected = np.round(np.exp(np.log(med[segment]) + sig[segment] * z[0]), 2)
    booked = np.round(expected * np.exp(config.ratio_mu + config.ratio_sigma * z[1]), 2)
    return expected, booked


def _close_guess(config: GeneratorConfig, segment: np.ndarray, created: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """The rep's expected close day: creation + a noisy guess of the segment's cycle."""
    typical = np.array([s.typical_cycle_days for s in config.segments], dtype=float)
    z = rng.standard_normal(len(segment))
    guess = typical[segment] * np.exp(config.close_guess_mu + config.close_guess_sigma * z)
    return created + np.maximum(np.round(guess), 7).astype(np.int64)


# ---------------------------------------------------------------- truth-derived quantities


def covariate_patterns(config: GeneratorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of covariate levels: its probability and ``x.beta``.

    With more than :data:`MAX_PATTERNS` combinations (many covariates) the combinations
    with equal ``x.beta`` are merged (their probabilities summed), which leaves every
    quantity derived from the patterns unchanged.
    """
    if not config.covariates:
        return np.ones(1), np.zeros(1)
    if np.prod([len(c.levels) for c in config.covariates]) > MAX_PATTERNS:
        dist: dict[float, float] = {0.0: 1.0}
        for cov in config.covariates:
            nxt: dict[float, float] = {}
            for xb, pr in dist.items():
                for b, q in zip(cov.beta, cov.probs, strict=True):
                    key = round(xb + float(b), 9)
                    nxt[key] = nxt.get(key, 0.0) + pr * float(q)
            dist = nxt
        keys = sorted(dist)
        return np.array([dist[k] for k in keys]), np.array(keys)
    combos = np.array(list(itertools.product(*[range(len(c.levels))
                                               for c in config.covariates])))
    prob = np.ones(len(combos))
    for j, cov in enumerate(config.covariates):
        prob *= np.asarray(cov.probs)[combos[:, j]]
    return prob, _xbeta(config, combos)


def _weekly_outcomes(eta_sb: np.ndarray, n_weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcome pmf of one stay by completed weeks, and the outcome mass after ``n_weeks``.

    Parameters
    ----------
    eta_sb
        ``(..., S, B, 3)`` logits per stage and duration bucket.

    Returns
    -------
    pmf
        ``(..., S, n_weeks, 3)``: probability the stay ends in week ``w`` with advance/won/lost.
    tail
        ``(..., S, 3)``: probability it ends with each outcome after ``n_weeks`` weeks.
    """
    probs = softmax_probs(eta_sb)
    pw = probs[..., duration_bucket(np.arange(n_weeks)), :]
    surv = np.cumprod(pw[..., 0], axis=-1)
    before = np.concatenate([np.ones(surv.shape[:-1] + (1,)), surv[..., :-1]], axis=-1)
    pmf = before[..., None] * pw[..., 1:]
    last = probs[..., -1, :]
    tail = surv[..., -1:] * last[..., 1:] / np.maximum(1.0 - last[..., :1], 1e-300)
    return pmf, tail


def _pattern_logits(config: GeneratorConfig, p: _Params, owner_eff: np.ndarray,
                    seg_eff: np.ndarray) -> np.ndarray:
    """``(G, P, S, B, 3)`` logits of one owner's effects for every segment and pattern."""
    _, xb = covariate_patterns(config)
    cov = np.stack([np.zeros_like(xb), 0.5 * xb, -0.5 * xb], axis=-1)          # (P, 3)
    stage_dur = p.a.T[:, None, :] + p.dur.T[None, :, :]                          # (S, B, 3)
    return (stage_dur[None, None] + cov[None, :, None, None, :]
            + seg_eff.T[:, None, None, None, :] + owner_eff[None, None, None, None, :])


def _win_probabilities(config: GeneratorConfig, p: _Params, owner_eff: np.ndarray) -> np.ndarray:
    """``(G, P, S)`` probability that a deal entering each stage is eventually won."""
    pmf, tail = _weekly_outcomes(_pattern_logits(config, p, owner_eff, p.seg_eff), 2 * 52)
    total = pmf.sum(axis=-2) + tail                                  # (G, P, S, 3)
    n_s = total.shape[-2]
    win = np.zeros(total.shape[:-1])
    win[..., n_s - 1] = total[..., n_s - 1, 1]
    for s in range(n_s - 2, -1, -1):
        win[..., s] = total[..., s, 1] + total[..., s, 0] * win[..., s + 1]
    return win


def _win_time_pmf(config: GeneratorConfig, p: _Params, owner_eff: np.ndarray,
                  horizon: int) -> np.ndarray:
    """``(G, P, horizon)`` daily pmf of the time from creation to a win (semi-Markov)."""
    n_weeks = horizon // 7 + 1
    pmf, _ = _weekly_outcomes(_pattern_logits(config, p, owner_eff, p.seg_eff), n_weeks)
    weekly = np.moveaxis(pmf[..., :2], -1, 0)                        # (2, G, P, S, W)
    daily = np.repeat(weekly, 7, axis=-1)[..., :horizon] / 7.0
    n_s = daily.shape[-2]
    size = sp_fft.next_fast_len(n_s * horizon + 1, real=True)
    f_adv, f_won = sp_fft.rfft(daily, size, axis=-1)                 # (G, P, S, F) each
    reach = np.ones(f_adv.shape[:-2] + f_adv.shape[-1:], dtype=complex)
    won = np.zeros_like(reach)
    for s in range(n_s):
        won += reach * f_won[..., s, :]
        reach = reach * f_adv[..., s, :]
    return np.clip(sp_fft.irfft(won, size, axis=-1)[..., :horizon], 0.0, None)


def _expected_won_revenue(config: GeneratorConfig, p: _Params,
                          months: list[np.datetime64]) -> np.ndarray:
    """``(O, len(months))`` expected booked revenue of deals won in each month, per rep.

    Integrates the arrival rate from ``start`` on (the rep's activity window included,
    months after ``end`` too) against the rep's time-to-win distribution.
    """
    month_arr = np.array(months, dtype="datetime64[M]")
    first, last = _month_first(month_arr), _month_last(month_arr)
    horizon = int(last.max() - config.start_day + 1)
    days = np.arange(config.start_day, config.start_day + horizon)
    rate = _season_rate(config, days)
    prob, _ = covariate_patterns(config)
    med = np.array([s.amount_median for s in config.segments])
    sig = np.array([s.amount_sigma for s in config.segments])
    mean_amount = np.exp(np.log(med) + sig ** 2 / 2 + config.ratio_mu + config.ratio_sigma ** 2 / 2)
    out = np.zeros((len(config.reps), len(months)))
    for o, rep in enumerate(config.reps):
        won = _win_time_pmf(config, p, p.owner_eff[:, o], horizon)          # (G, P, T)
        value = np.asarray(rep.segment_mix) * mean_amount
        curve = np.einsum("g,p,gpt->t", value, prob, won)
        cum = np.concatenate([[0.0], np.cumsum(curve)])                   # cum[t+1] = H(t)
        active = (days >= p.active_from[o]) & (days <= p.active_until[o])
        lam = np.exp(p.b0 + p.u_owner[o]) * rate * active
        for m in range(len(months)):
            hi = np.clip(last[m] - days + 1, 0, horizon)
            lo = np.clip(first[m] - days, 0, horizon)
            out[o, m] = float(lam @ (cum[hi] - cum[lo]))
    return out


# ---------------------------------------------------------------- frames


def _quota_periods(config: GeneratorConfig) -> tuple[list[np.datetime64], list[str]]:
    """Months needed for quotas (all months of the touched quarters) and the periods written."""
    end_month = _month_of(config.end_day)
    ahead = [end_month + i for i in range(1, config.quota_months + 1)]
    quarters = sorted({(int(str(m)[:4]), (int(str(m)[5:7]) - 1) // 3 + 1) for m in ahead})
    months = sorted({np.datetime64(f"{y}-{3 * (q - 1) + i + 1:02d}", "M")
                     for y, q in quarters for i in range(3)} | set(ahead))
    periods = [str(m) for m in ahead] + [f"{y}-Q{q}" for y, q in quarters]
    return months, periods


def _quotas_frame(config: GeneratorConfig, p: _Params,
                  expected: np.ndarray, months: list[np.datetime64],
                  periods: list[str]) -> pd.DataFrame:
    """Quotas of every rep still active after ``end``, every team and ``total``.

    A rep's monthly quota is its quota factor times its expected won revenue, rounded to
    hundreds; teams, ``total`` and quarters add up the rounded monthly quotas.
    """
    per_month = np.round(expected * p.quota_factor[:, None], -2)
    col = {str(m): i for i, m in enumerate(months)}

    def value(row: np.ndarray, period: str) -> float:
        if "Q" in period:
            y, q = int(period[:4]), int(period[-1])
            return float(sum(row[col[f"{y}-{3 * (q - 1) + i + 1:02d}"]] for i in range(3)))
        return float(row[col[period]])

    active = [o for o in range(len(config.reps)) if p.active_until[o] > config.end_day]
    rows = []
    for o in sorted(active, key=lambda i: config.reps[i].name):
        rows += [(config.reps[o].name, per, value(per_month[o], per)) for per in periods]
    teams = sorted({config.reps[o].team for o in active})
    for team in teams:
        members = [o for o in active if config.reps[o].team == team]
        rows += [(team, per, value(per_month[members].sum(0), per)) for per in periods]
    rows += [("total", per, value(per_month[active].sum(0), per)) for per in periods]
    return pd.DataFrame(rows, columns=["owner", "period", "quota"])


def _dates(days: np.ndarray) -> pd.Series:
    """Day numbers to ``datetime64[ns]`` (negative → NaT)."""
    out = pd.to_datetime(np.where(days >= 0, days, 0).astype("datetime64[D]")).astype(
        "datetime64[ns]")
    return pd.Series(out).where(days >= 0)


def _deals_frame(config: GeneratorConfig, owner: np.ndarray, created: np.ndarray,
                 segment: np.ndarray, levels: np.ndarray, paths: _Paths,
                 amounts: tuple[np.ndarray, np.ndarray], close_guess: np.ndarray,
                 ids: np.ndarray) -> pd.DataFrame:
    expected, booked = amounts
    reps = config.reps
    frame = pd.DataFrame({
        "deal_id": ids,
        "created_at": _dates(created),
        "stage": np.asarray(config.stages, dtype=object)[paths.stage],
        "status": np.asarray(_STATUS, dtype=object)[paths.status],
        "closed_at": _dates(paths.closed),
        "amount": np.where(paths.status == 1, booked, expected),
        "owner": np.array([r.name for r in reps], dtype=object)[owner],
        "segment": np.array([s.name for s in config.segments], dtype=object)[segment],
        "team": np.array([r.team for r in reps], dtype=object)[owner],
        "expected_close_at": _dates(close_guess),
        "expected_amount": expected,
    })
    for j, cov in enumerate(config.covariates):
        frame[cov.column] = np.asarray(cov.levels, dtype=object)[levels[:, j]]
    return frame


def _history_frame(config: GeneratorConfig, paths: _Paths, ids: np.ndarray) -> pd.DataFrame:
    order = np.lexsort((paths.hist_stage, paths.hist_day, paths.hist_deal))
    return pd.DataFrame({
        "deal_id": ids[paths.hist_deal[order]],
        "stage": np.asarray(config.stages, dtype=object)[paths.hist_stage[order]],
        "entered_at": _dates(paths.hist_day[order]),
    })


# ---------------------------------------------------------------- truth


def _named(values: np.ndarray, names: tuple[str, ...] | list[str]) -> dict[str, float]:
    return {n: (None if not np.isfinite(v) else float(v))
            for n, v in zip(names, values, strict=True)}


def _truth(config: GeneratorConfig, p: _Params, seed: int, expected: np.ndarray,
           months: list[np.datetime64], n_deals: int) -> dict:
    """All true parameters, keyed by name."""
    owners = [r.name for r in config.reps]
    segs = [s.name for s in config.segments]
    prob, _ = covariate_patterns(config)
    avg = _win_probabilities(config, p, np.zeros(3))                      # (G, P, S)
    win_stage = np.einsum("p,gps->gs", prob, avg)
    p_win_owner = {}
    for o, rep in enumerate(config.reps):
        w = np.einsum("p,gp->g", prob, _win_probabilities(config, p, p.owner_eff[:, o])[..., 0])
        p_win_owner[rep.name] = float(np.dot(rep.segment_mix, w))
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "start": config.start,
        "end": config.end,
        "n_deals": int(n_deals),
        "stages": list(config.stages),
        "outcomes": list(OUTCOMES),
        "duration_edges_weeks": list(DURATION_EDGES_WEEKS),
        "a": {k: _named(p.a[i], config.stages) for i, k in enumerate(OUTCOMES)},
        "dur": {k: [float(v) for v in p.dur[i]] for i, k in enumerate(OUTCOMES)},
        "sigma_owner": _named(np.asarray(config.sigma_owner), OUTCOMES),
        "owner_effects": {k: _named(p.owner_eff[i], owners) for i, k in enumerate(OUTCOMES)},
        "segment_effects": {k: _named(p.seg_eff[i], segs) for i, k in enumerate(OUTCOMES)},
        "covariates": {c.column: dict(zip(c.levels, map(float, c.beta), strict=True))
                       for c in config.covariates},
        "covariate_probs": {c.column: dict(zip(c.levels, map(float, c.probs), strict=True))
                            for c in config.covariates},
        "arrivals": {
            "b0": float(p.b0), "alpha": float(config.alpha), "sigma_u": float(config.sigma_u),
            "u_owner": _named(p.u_owner, owners),
            "season": [float(v) for v in config.season],
        },
        "amounts": {s.name: {"mu": float(np.log(s.amount_median)), "sigma": s.amount_sigma,
                             "median": s.amount_median} for s in config.segments},
        "ratio": {"mu": config.ratio_mu, "sigma": config.ratio_sigma},
        "reps": {r.name: {
            "team": r.team,
            "segment_mix": dict(zip(segs, map(float, r.segment_mix), strict=True)),
            "active_from": _iso(max(p.active_from[o], config.start_day)),
            "active_until": (None if r.leaves_months_before_end is None
                             else _iso(p.active_until[o])),
            "quota_factor": float(p.quota_factor[o]),
        } for o, r in enumerate(config.reps)},
        "derived": {
            "p_win_from_stage": {g: _named(win_stage[i], config.stages)
                                 for i, g in enumerate(segs)},
            "p_win_by_owner": p_win_owner,
            "expected_won_revenue": {
                owners[o]: {str(m): float(expected[o, j]) for j, m in enumerate(months)}
                for o in range(len(owners))},
        },
        "config": asdict(config),
        **_calendar_truth(config, p),
    }


def _calendar_truth(config: GeneratorConfig, p: _Params) -> dict:
    """``calendar`` (slot → outcome → effect), ``drift`` (``YYYY-Qn`` → outcome → level
    against the last quarter) with ``sigma_drift``, ``month_of_year`` (``Jan`` … → won and
    lost effects) and ``month_effects`` (``YYYY-MM`` → won and lost effects), when the
    config has them."""
    out: dict = {}
    if p.calendar.any():
        out["calendar"] = {slot: {k: float(p.calendar[i, q]) for i, k in enumerate(OUTCOMES)}
                           for q, slot in enumerate(QUARTER_SLOTS)}
    if p.drift.any():
        out["drift"] = {quarter_label(p.first_quarter + q): {
            k: float(p.drift[i, q]) for i, k in enumerate(OUTCOMES)}
            for q in range(p.drift.shape[1])}
        out["sigma_drift"] = _named(np.asarray(config.sigma_drift), OUTCOMES)
    if p.moy.any():
        out["month_of_year"] = {name: {"won": float(p.moy[1, j]), "lost": float(p.moy[2, j])}
                                for j, name in enumerate(MONTH_NAMES)}
    if p.month_eff.any():
        months = np.datetime64(p.first_month, "M") + np.arange(p.month_eff.shape[1])
        out["month_effects"] = {str(m): {"won": float(p.month_eff[1, j]),
                                         "lost": float(p.month_eff[2, j])}
                                for j, m in enumerate(months)}
    return out


# ---------------------------------------------------------------- public API


def generate(config: GeneratorConfig, seed: int) -> SyntheticData:
    """Simulate a dataset from ``config`` with random seed ``seed``.

    Parameters
    ----------
    config
        The true parameters.
    seed
        Seed of the ``SeedSequence`` every random stream is spawned from.

    Returns
    -------
    SyntheticData
        Frames, ``pipeline.yaml`` contents and the truth.
    """
    rng = _streams(seed)
    p = _draw_params(config, rng)
    owner, created, _ = _arrivals(config, p, rng["arrivals"])
    if owner.size == 0:
        raise ValueError("the config produced no deals; raise n_deals or widen start..end")
    segment, levels = _attributes(config, owner, rng["attributes"])
    base = _base_eta(p, owner, segment, _xbeta(config, levels))
    paths = _simulate_paths(p, created, base, config.end_day, rng["transitions"])
    amounts = _amounts(config, segment, rng["amounts"])
    guess = _close_guess(config, segment, created, rng["close_guess"])
    width = max(6, len(str(owner.size)))
    ids = np.array([f"D{i:0{width}d}" for i in range(1, owner.size + 1)], dtype=object)
    quota_months, periods = _quota_periods(config)
    end_month = _month_of(config.end_day)
    months = sorted(set(quota_months) | {end_month - i for i in range(12)})
    expected = _expected_won_revenue(config, p, months)
    pipeline = {
        "stages": list(config.stages),
        "crm_probabilities": {s: float(v) for s, v in zip(config.stages,
                                                          config.crm_probabilities,
                                                          strict=True)},
        "covariates": [c.column for c in config.covariates],
    }
    return SyntheticData(
        deals=_deals_frame(config, owner, created, segment, levels, paths, amounts, guess, ids),
        stage_history=_history_frame(config, paths, ids),
        quotas=_quotas_frame(config, p, expected, months, periods),
        pipeline=pipeline,
        truth=_truth(config, p, seed, expected, months, owner.size),
    )


def _as_text(frame: pd.DataFrame, money: tuple[str, ...] = ()) -> pd.DataFrame:
    """Dates as ``YYYY-MM-DD`` (empty when missing), money with 2 decimals."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d").fillna("").astype(object)
        elif c in money:
            out[c] = [f"{v:.2f}" for v in out[c]]
    return out


def write_dataset(data: SyntheticData, out: Path) -> None:
    """Write ``deals.csv``, ``stage_history.csv``, ``quotas.csv``, ``pipeline.yaml``, ``truth.json``.

    Parameters
    ----------
    data
        A generated dataset.
    out
        Directory to write into (created if missing; files in it are overwritten).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _as_text(data.deals, ("amount", "expected_amount")).to_csv(
        out / "deals.csv", index=False, lineterminator="\n")
    _as_text(data.stage_history).to_csv(out / "stage_history.csv", index=False,
                                        lineterminator="\n")
    quotas = data.quotas.assign(quota=[f"{v:.0f}" for v in data.quotas["quota"]])
    quotas.to_csv(out / "quotas.csv", index=False, lineterminator="\n")
    (out / "pipeline.yaml").write_text(
        yaml.safe_dump(data.pipeline, sort_keys=False, default_flow_style=False),
        encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(data.truth, indent=2) + "\n", encoding="utf-8")

"""Baseline revenue forecasts: the methods sales teams use today (see ``docs/scoring.md``).

Each baseline is fitted on a :class:`~forecast.data.snapshot.Snapshot` only, so it uses
nothing that was not known at ``as_of``, and gives point forecasts of booked revenue per
calendar month::

    model = BASELINES["stage_conversion"]().fit(snapshot)
    model.predict_revenue(["2024-07", "2024-08", "2024-09"])            # Series by month
    model.predict_revenue(["2024-07", "2024-08"], by_owner=True)        # months x owners

Months are ``YYYY-MM`` strings of the calendar months after ``as_of``: month 1 is the
month holding ``as_of + 1 day`` (for a mid-month ``as_of`` only the rest of that month
counts, for a month-end ``as_of`` it is the next month). :func:`horizon_months` lists
them. Revenue expected to close on or before ``as_of`` but not yet booked (an overdue
close date) is placed in month 1.

The deal-based baselines (:class:`WeightedPipeline`, :class:`StageConversion`,
:class:`LogisticWin`) give each open deal an expected revenue ``p_win * amount`` and one
expected close date, and put the whole expected revenue in that date's month; they keep
the per-deal figures in ``deal_forecasts_`` and give per-deal probabilities with
``predict_proba`` (for the deal-level Brier score). :class:`RunRate` ignores the pipeline.

Known limits: ``amount`` and ``expected_close_at`` have no history, so a snapshot taken
before the extract date sees their current values (see :mod:`forecast.data.snapshot`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit

from forecast.data.snapshot import Snapshot
from simulations.engine.horizon import make_horizon

__all__ = [
    "BASELINES",
    "Baseline",
    "LogisticWin",
    "RunRate",
    "StageConversion",
    "WeightedPipeline",
    "horizon_months",
]

OTHER = "(other)"
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# --------------------------------------------------------------------------- months


def first_month(as_of: str | pd.Timestamp) -> pd.Period:
    """Month 1 of a forecast made at ``as_of``: the month holding ``as_of + 1 day``."""
    return (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).to_period("M")


def horizon_months(as_of: str | pd.Timestamp, horizon: int) -> list[str]:
    """The ``horizon`` months after ``as_of`` as ``YYYY-MM`` strings (month 1 first).

    The same months as :func:`simulations.engine.horizon.make_horizon`.

    Parameters
    ----------
    as_of
        The forecast date.
    horizon
        Number of months (>= 1).
    """
    return list(make_horizon(as_of, horizon).months)


def _parse_months(month_periods: Iterable[str | pd.Period], as_of: pd.Timestamp
                  ) -> list[pd.Period]:
    first = first_month(as_of)
    periods = []
    for m in month_periods:
        if isinstance(m, pd.Period):
            p = m.asfreq("M")
        elif isinstance(m, str) and MONTH_RE.match(m.strip()):
            p = pd.Period(m.strip(), freq="M")
        else:
            raise ValueError(f"month {m!r} is not a YYYY-MM month")
        if p < first:
            raise ValueError(f"month {p} is not after as_of={as_of.date()}: the first month "
                             f"of the horizon is {first}")
        periods.append(p)
    return periods


def first_month_fraction(as_of: pd.Timestamp) -> float:
    """Share of month 1 that lies after ``as_of`` (1.0 for a month-end ``as_of``)."""
    first = first_month(as_of)
    remaining = (first.end_time.normalize() - pd.Timestamp(as_of).normalize()).days
    return min(remaining, first.days_in_month) / first.days_in_month


def _close_months(dates: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Calendar month of each date; dates on or before ``as_of`` go to month 1."""
    dates = pd.to_datetime(dates).astype("datetime64[ns]")
    first = first_month(as_of)
    months = dates.dt.to_period("M")
    return months.where(~(dates <= as_of), first)


# --------------------------------------------------------------------------- base classes


class Baseline:
    """Common interface of the baselines: ``fit(snapshot)`` then ``predict_revenue``."""

    name: str = "baseline"

    def __init__(self) -> None:
        self.snapshot_: Snapshot | None = None

    @property
    def as_of(self) -> pd.Timestamp:
        return self._fitted().as_of

    def _fitted(self) -> Snapshot:
        if self.snapshot_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(snapshot) first")
        return self.snapshot_

    def fit(self, snapshot: Snapshot) -> Baseline:  # pragma: no cover - abstract
        raise NotImplementedError

    def _contributions(self, periods: list[pd.Period]) -> pd.DataFrame:
        """Expected revenue rows ``owner``, ``month`` (Period), ``revenue``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def owners(self) -> list[str]:
        """Every rep with a deal in the snapshot (the columns of a per-owner forecast)."""
        return sorted(self._fitted().deals["owner"].unique())

    def predict_revenue(self, month_periods: Sequence[str | pd.Period], *,
                        by_owner: bool = False) -> pd.Series | pd.DataFrame:
        """Expected booked revenue per month (point forecast).

        Parameters
        ----------
        month_periods
            ``YYYY-MM`` months, none before month 1 (the month holding ``as_of + 1 day``).
        by_owner
            Split by rep.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            A Series indexed by month (``YYYY-MM``, in the order given) named ``revenue``;
            with ``by_owner`` a frame of months by owners (every rep in the snapshot),
            whose row sums are the Series.
        """
        snap = self._fitted()
        periods = _parse_months(month_periods, snap.as_of)
        labels = [str(p) for p in periods]
        contrib = self._contributions(periods)
        contrib = contrib[contrib["month"].isin(set(periods))]
        owners = self.owners()
        table = (contrib.assign(month=contrib["month"].astype(str))
                 .pivot_table(index="month", columns="owner", values="revenue",
                              aggfunc="sum", fill_value=0.0)
                 .reindex(index=labels, columns=owners, fill_value=0.0)
                 .astype(float))
        table.index.name = "month"
        table.columns.name = "owner"
        if by_owner:
            return table
        return table.sum(axis=1).rename("revenue")


class _TimeToClose:
    """Historical time from entering a stage to being won, for timing open deals.

    For each stage ``s``: the days from the start of the spell in ``s`` to ``closed_at``
    of every deal that had a spell in ``s`` and was won by ``as_of``.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        deals = snapshot.deals
        won = deals.loc[deals["status"] == "won", ["deal_id", "closed_at"]]
        spells = snapshot.spells[["deal_id", "stage_idx", "start"]].merge(won, on="deal_id")
        days = (spells["closed_at"] - spells["start"]).dt.days.to_numpy(dtype=float)
        self.by_stage = {int(s): np.sort(days[(spells["stage_idx"] == s).to_numpy()])
                         for s in spells["stage_idx"].unique()}
        self.pooled = np.sort(days)

    @staticmethod
    def _conditional_median(times: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
        """Median of ``T - d`` over ``T > d`` for each elapsed ``d``; 0 where no ``T > d``.

        ``times`` is sorted and not empty.
        """
        k = np.searchsorted(times, elapsed, side="right")
        m = len(times) - k
        safe = np.maximum(m, 1)
        lo = np.minimum(k + (safe - 1) // 2, len(times) - 1)
        hi = np.minimum(k + safe // 2, len(times) - 1)
        med = (times[lo] + times[hi]) / 2 - elapsed
        return np.where(m > 0, med, 0.0)

    def remaining_days(self, stage_idx: np.ndarray, days_in_stage: np.ndarray) -> np.ndarray:
        """Expected days from ``as_of`` to close (>= 0; 0 = overdue → month 1).

        The median remaining time ``T - d`` over historical won deals from the same stage
        that were still open ``d`` days after entering it (``T > d``), ``d`` being the
        deal's days in stage; the result is rounded up to whole days. Stages with no won history use all stages pooled; with no
        won deal at all every deal is due at once (month 1).
        """
        stage_idx = np.asarray(stage_idx, dtype=int)
        elapsed = np.asarray(days_in_stage, dtype=float)
        out = np.zeros(len(stage_idx))
        for s in np.unique(stage_idx):
            mask = stage_idx == s
            times = self.by_stage.get(int(s), self.pooled)
            if len(times):
                out[mask] = self._conditional_median(times, elapsed[mask])
        return np.ceil(out)


class _DealBaseline(Baseline):
    """A baseline that forecasts each open deal: ``p_win * amount`` at one close date."""

    def __init__(self) -> None:
        super().__init__()
        self.deal_forecasts_: pd.DataFrame | None = None
        self._timing: _TimeToClose | None = None

    def fit(self, snapshot: Snapshot) -> _DealBaseline:
        """Learn from ``snapshot`` and forecast its open deals.

        Parameters
        ----------
        snapshot
            What was known at ``as_of``.

        Returns
        -------
        self
        """
        self.snapshot_ = snapshot
        self._timing = _TimeToClose(snapshot)
        self._learn(snapshot)
        open_ = snapshot.open_deals
        p = self.predict_proba(open_) if len(open_) else np.zeros(0)
        close = self._close_dates(snapshot, open_)
        self.deal_forecasts_ = pd.DataFrame({
            "deal_id": open_["deal_id"].to_numpy(),
            "owner": open_["owner"].to_numpy(),
            "stage": open_["stage"].to_numpy(),
            "amount": open_["amount"].to_numpy(dtype=float),
            "p_win": p,
            "expected_revenue": p * open_["amount"].to_numpy(dtype=float),
            "close_date": close.to_numpy(),
            "close_month": _close_months(close, snapshot.as_of).to_numpy(),
        })
        return self

    def _learn(self, snapshot: Snapshot) -> None:
        """Fit whatever ``predict_proba`` needs (nothing by default)."""

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:  # pragma: no cover
        """Win probability of each deal (rows of a snapshot's ``deals``)."""
        raise NotImplementedError

    def _timed_dates(self, snapshot: Snapshot, deals: pd.DataFrame) -> pd.Series:
        """Close dates from the historical time to close (``as_of`` + remaining days)."""
        if self._timing is None:
            raise RuntimeError("not fitted")
        days = self._timing.remaining_days(deals["stage_idx"].to_numpy(),
                                           deals["days_in_stage"].to_numpy())
        dates = snapshot.as_of + pd.to_timedelta(days, unit="D")
        return pd.Series(dates, index=deals.index).astype("datetime64[ns]")

    def _close_dates(self, snapshot: Snapshot, deals: pd.DataFrame) -> pd.Series:
        return self._timed_dates(snapshot, deals)

    def total(self) -> float:
        """Sum of ``p_win * amount`` over all open deals, whatever their close date."""
        self._fitted()
        return float(self.deal_forecasts_["expected_revenue"].sum())

    def _contributions(self, periods: list[pd.Period]) -> pd.DataFrame:
        f = self.deal_forecasts_
        return pd.DataFrame({"owner": f["owner"], "month": f["close_month"],
                             "revenue": f["expected_revenue"]})


def _stage_index(snapshot: Snapshot, deals: pd.DataFrame) -> np.ndarray:
    """Stage position of each deal (from ``stage_idx`` or the ``stage`` name)."""
    if "stage_idx" in deals:
        return deals["stage_idx"].to_numpy(dtype=int)
    index = {s: i for i, s in enumerate(snapshot.stages)}
    idx = deals["stage"].map(index)
    if idx.isna().any():
        bad = sorted(set(deals.loc[idx.isna(), "stage"]))
        raise ValueError(f"unknown stages {bad}; pipeline stages are {list(snapshot.stages)}")
    return idx.to_numpy(dtype=int)


# --------------------------------------------------------------------------- baselines


class WeightedPipeline(_DealBaseline):
    """The CRM weighted pipeline: each open deal's ``amount`` × its stage's CRM probability.

    Probabilities are ``snapshot.dataset.config.crm_probabilities`` (``pipeline.yaml``,
    else the CRM-style defaults). A deal's revenue goes to the month of its
    ``expected_close_at`` (the rep's close date) when the column exists and the date is
    set; a date on or before ``as_of`` (overdue) goes to month 1. Deals with no expected
    close date are timed like :class:`StageConversion` (median historical time to a win
    from their stage). :meth:`total` is the classic single-number weighted pipeline.
    """

    name = "weighted_pipeline"

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:
        """The CRM probability of each deal's stage."""
        snap = self._fitted()
        probs = np.array([snap.dataset.config.crm_probabilities[s] for s in snap.stages])
        return probs[_stage_index(snap, deals)]

    def _close_dates(self, snapshot: Snapshot, deals: pd.DataFrame) -> pd.Series:
        timed = self._timed_dates(snapshot, deals)
        if "expected_close_at" not in deals:
            return timed
        expected = pd.to_datetime(deals["expected_close_at"]).astype("datetime64[ns]")
        return expected.where(expected.notna(), timed)


class StageConversion(_DealBaseline):
    """Historical stage-to-win conversion × amount, timed by the historical time to close.

    ``p_s`` = of the deals that were in stage ``s`` (had a spell there) and were decided
    (won or lost) by ``as_of``, the fraction won. A stage with no decided deal uses the
    win rate of all decided deals; with none at all, the CRM probability. An open deal in
    stage ``s`` contributes ``p_s * amount`` in the month of ``as_of + r``, ``r`` the median
    remaining time to a win of historical won deals that were in ``s`` at least as long
    as this deal has been (see ``docs/scoring.md``).

    Attributes
    ----------
    stage_rates_
        Frame per stage: ``stage``, ``won``, ``decided``, ``p_win`` (after fallbacks),
        ``source`` (``history``, ``pooled`` or ``crm``).
    """

    name = "stage_conversion"

    def __init__(self) -> None:
        super().__init__()
        self.stage_rates_: pd.DataFrame | None = None

    def _learn(self, snapshot: Snapshot) -> None:
        self.stage_rates_ = stage_win_rates(snapshot)

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:
        """The learned conversion rate of each deal's stage."""
        snap = self._fitted()
        return self.stage_rates_["p_win"].to_numpy()[_stage_index(snap, deals)]


def stage_win_rates(snapshot: Snapshot) -> pd.DataFrame:
    """Per stage, the fraction of decided deals that had been in it and were won.

    Parameters
    ----------
    snapshot
        What was known at ``as_of``.

    Returns
    -------
    pandas.DataFrame
        ``stage``, ``stage_idx``, ``won``, ``decided``, ``p_win``, ``source``.
    """
    status = snapshot.deals.set_index("deal_id")["status"]
    spells = snapshot.spells[["deal_id", "stage_idx"]].drop_duplicates()
    st = spells["deal_id"].map(status)
    decided = spells[st.isin(("won", "lost")).to_numpy()]
    won = st[st.isin(("won", "lost"))] == "won"
    n_stages = len(snapshot.stages)
    n_dec = np.bincount(decided["stage_idx"].to_numpy(dtype=int), minlength=n_stages)
    n_won = np.bincount(decided["stage_idx"].to_numpy(dtype=int),
                        weights=won.to_numpy(dtype=float), minlength=n_stages)
    closed = snapshot.deals["status"].isin(("won", "lost"))
    pooled_n = int(closed.sum())
    pooled = (snapshot.deals["status"] == "won").sum() / pooled_n if pooled_n else np.nan
    crm = np.array([snapshot.dataset.config.crm_probabilities[s] for s in snapshot.stages])
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = n_won / n_dec
    source = np.where(n_dec > 0, "history", "pooled" if pooled_n else "crm")
    p = np.where(n_dec > 0, rate, pooled if pooled_n else crm)
    return pd.DataFrame({"stage": list(snapshot.stages), "stage_idx": np.arange(n_stages),
                         "won": n_won.astype(int), "decided": n_dec, "p_win": p,
                         "source": source})


class RunRate(Baseline):
    """Trailing average of booked revenue, flat over the horizon.

    The rate is the revenue of deals won in the ``window_months`` calendar months up to
    ``as_of`` (``(as_of - window, as_of]``) divided by ``window_months``; if the data start
    (first ``created_at``) is inside the window, by the months actually covered. Each
    month of the horizon gets the rate, month 1 only its share after ``as_of``. Per owner
    the same from each rep's wins.

    Parameters
    ----------
    window_months
        Length of the trailing window.

    Attributes
    ----------
    monthly_rate_
        Company revenue per month.
    owner_rates_
        Series of revenue per month by owner.
    """

    name = "run_rate"

    def __init__(self, window_months: int = 3) -> None:
        super().__init__()
        if window_months < 1:
            raise ValueError("window_months must be at least 1")
        self.window_months = window_months
        self.monthly_rate_: float | None = None
        self.owner_rates_: pd.Series | None = None

    def fit(self, snapshot: Snapshot) -> RunRate:
        """Compute the trailing rate from deals won by ``snapshot.as_of``.

        Parameters
        ----------
        snapshot
            What was known at ``as_of``.

        Returns
        -------
        self
        """
        self.snapshot_ = snapshot
        as_of = snapshot.as_of
        start = as_of - pd.DateOffset(months=self.window_months)
        deals = snapshot.deals
        data_start = deals["created_at"].min() - pd.Timedelta(days=1)
        covered_from = max(start, data_start)
        covered = self.window_months * (as_of - covered_from).days / (as_of - start).days
        won = deals[(deals["status"] == "won") & (deals["closed_at"] > start)
                    & (deals["closed_at"] <= as_of)]
        by_owner = won.groupby("owner")["amount"].sum()
        by_owner = by_owner.reindex(sorted(deals["owner"].unique()), fill_value=0.0)
        self.owner_rates_ = (by_owner / covered if covered > 0 else by_owner * 0.0).astype(float)
        self.monthly_rate_ = float(self.owner_rates_.sum())
        return self

    def _contributions(self, periods: list[pd.Period]) -> pd.DataFrame:
        first = first_month(self.as_of)
        frac = first_month_fraction(self.as_of)
        rows = []
        for p in periods:
            share = frac if p == first else 1.0
            rows.append(pd.DataFrame({"owner": self.owner_rates_.index,
                                      "month": p, "revenue": self.owner_rates_.to_numpy() * share}))
        if not rows:
            return pd.DataFrame({"owner": [], "month": [], "revenue": []})
        return pd.concat(rows, ignore_index=True)


class LogisticWin(_DealBaseline):
    """Frequentist logistic regression of won vs lost, × amount, timed like StageConversion.

    Training rows: every (decided deal, stage it was in) pair of the snapshot, i.e. each
    won or lost deal once per stage it held (``expand_stages=True``), outcome 1 if won.
    An open deal in stage ``s`` is then scored as "a deal that was in ``s``", the question
    :class:`StageConversion` answers. With ``expand_stages=False`` each closed deal is one
    row with the stage it closed from; that is the textbook setup but biased for open
    deals (a won deal has reached the last stage, so early stages look hopeless).

    Features: stage (one-hot), standardised ``log1p(amount)``, and ``owner`` and
    ``segment`` (one-hot; levels with fewer than ``min_level_count`` decided deals are
    pooled as ``(other)``, as are levels unseen at prediction time; a column with a
    single level is dropped). All one-hot levels are kept (no reference level): the
    ridge penalty identifies them.

    Fit: statsmodels GLM binomial (logit link, i.e. ``Logit``) with an L2 penalty
    ``ridge / 2 * ||beta||^2`` on all coefficients but the intercept
    (``fit_regularized(L1_wt=0)``, BFGS), equivalent to independent N(0, 1/ridge) priors
    on the log-odds effects. The penalty keeps the fit finite under perfect separation
    (a rep who won every deal). With fewer than ``min_deals`` decided deals, or only one
    outcome among them, it falls back to :class:`StageConversion` rates (``fallback_``
    says why).

    Parameters
    ----------
    ridge
        L2 penalty on the log-odds coefficients (prior precision).
    min_level_count
        Fewer decided deals than this → the level is pooled into ``(other)``.
    categorical
        Categorical columns used besides stage (those missing from the deals are skipped).
    expand_stages
        One training row per stage held (default) or per deal.
    min_deals
        Fewest decided deals to fit the regression.
    """

    name = "logistic"

    def __init__(self, ridge: float = 1.0, min_level_count: int = 5,
                 categorical: tuple[str, ...] = ("owner", "segment"),
                 expand_stages: bool = True, min_deals: int = 10) -> None:
        super().__init__()
        if ridge <= 0:
            raise ValueError("ridge must be > 0 (it keeps separated data fittable)")
        self.ridge = ridge
        self.min_level_count = min_level_count
        self.categorical = tuple(categorical)
        self.expand_stages = expand_stages
        self.min_deals = min_deals
        self.params_: pd.Series | None = None
        self.levels_: dict[str, list[str]] = {}
        self.fallback_: str | None = None
        self.fit_warnings_: list[str] = []
        self._amount_center = 0.0
        self._amount_scale = 1.0
        self._stage_rates: np.ndarray | None = None

    # design matrix -----------------------------------------------------------------

    def _design(self, stage_idx: np.ndarray, deals: pd.DataFrame) -> pd.DataFrame:
        cols: dict[str, np.ndarray] = {"const": np.ones(len(deals))}
        for s, name in enumerate(self._fitted().stages):
            cols[f"stage[{name}]"] = (stage_idx == s).astype(float)
        amount = np.log1p(deals["amount"].to_numpy(dtype=float))
        cols["log_amount"] = (amount - self._amount_center) / self._amount_scale
        for col, levels in self.levels_.items():
            if col in deals:
                values = deals[col].astype(str)
                values = values.where(values.isin(set(levels)), OTHER).to_numpy()
            else:
                values = np.full(len(deals), OTHER, dtype=object)
            for lev in levels:
                cols[f"{col}[{lev}]"] = (values == lev).astype(float)
        return pd.DataFrame(cols, index=deals.index)

    def _learn(self, snapshot: Snapshot) -> None:
        self.fallback_ = None
        self.fit_warnings_ = []
        self.params_ = None
        self._stage_rates = stage_win_rates(snapshot)["p_win"].to_numpy()
        closed = snapshot.closed_deals
        n_won = int((closed["status"] == "won").sum())
        if len(closed) < self.min_deals:
            self.fallback_ = (f"only {len(closed)} decided deals (< min_deals={self.min_deals}); "
                              "using stage conversion rates")
            return
        if n_won in (0, len(closed)):
            self.fallback_ = "all decided deals have the same outcome; using stage conversion rates"
            return

        if self.expand_stages:
            rows = snapshot.spells[["deal_id", "stage_idx"]].drop_duplicates()
            rows = rows.merge(closed.drop(columns=["stage_idx"]), on="deal_id")
        else:
            rows = closed
        stage_idx = rows["stage_idx"].to_numpy(dtype=int)
        amount = np.log1p(closed["amount"].to_numpy(dtype=float))
        self._amount_center = float(amount.mean())
        sd = float(amount.std())
        self._amount_scale = sd if sd > 0 else 1.0
        self.levels_ = {}
        for col in self.categorical:
            if col not in closed:
                continue
            counts = closed[col].astype(str).value_counts()
            if len(counts) < 2:
                continue
            kept = sorted(counts.index[counts >= self.min_level_count])
            if (counts < self.min_level_count).any():
                kept.append(OTHER)
            self.levels_[col] = kept
        X = self._design(stage_idx, rows)
        y = (rows["status"] == "won").to_numpy(dtype=float)
        alpha = np.full(X.shape[1], self.ridge / len(y))
        alpha[0] = 0.0
        start = np.zeros(X.shape[1])
        start[0] = np.log(y.mean() / (1 - y.mean()))
        model = sm.GLM(y, X.to_numpy(), family=sm.families.Binomial())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = model.fit_regularized(alpha=alpha, L1_wt=0.0, start_params=start)
            except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - defensive
                self.fallback_ = f"logistic fit failed ({exc}); using stage conversion rates"
                return
        self.fit_warnings_ = [str(w.message) for w in caught]
        params = np.asarray(result.params, dtype=float)
        if not np.all(np.isfinite(params)):  # pragma: no cover - defensive
            self.fallback_ = "logistic fit gave non-finite coefficients; using stage rates"
            return
        self.params_ = pd.Series(params, index=X.columns)

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:
        """Win probability of each deal, in (0, 1).

        Parameters
        ----------
        deals
            Rows with ``stage`` (or ``stage_idx``), ``amount`` and the categorical columns
            (e.g. ``snapshot.open_deals``).

        Returns
        -------
        numpy.ndarray
        """
        snap = self._fitted()
        stage_idx = _stage_index(snap, deals)
        if self.params_ is None:
            return np.clip(self._stage_rates[stage_idx], 1e-9, 1 - 1e-9)
        X = self._design(stage_idx, deals)
        return expit(X.to_numpy() @ self.params_.to_numpy())


#: Baseline classes by the names the backtest reports them under.
BASELINES: dict[str, type[Baseline]] = {
    "weighted_pipeline": WeightedPipeline,
    "stage_conversion": StageConversion,
    "run_rate": RunRate,
    "logistic": LogisticWin,
}

"""A frequentist logistic regression of won vs lost, timed like stage conversion."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit

from forecast.data.snapshot import Snapshot
from simulations.evaluation.baselines.base import OTHER, DealBaseline, stage_positions
from simulations.evaluation.baselines.deal import stage_win_rates


class LogisticWin(DealBaseline):
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
        stage_idx = stage_positions(snap, deals)
        if self.params_ is None:
            return np.clip(self._stage_rates[stage_idx], 1e-9, 1 - 1e-9)
        X = self._design(stage_idx, deals)
        return expit(X.to_numpy() @ self.params_.to_numpy())

"""The CRM's weighted pipeline and the stage-conversion baseline (per open deal)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.snapshot import Snapshot
from simulations.evaluation.baselines.base import DealBaseline, stage_positions


class WeightedPipeline(DealBaseline):
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
        return probs[stage_positions(snap, deals)]

    def _close_dates(self, snapshot: Snapshot, deals: pd.DataFrame) -> pd.Series:
        timed = self._timed_dates(snapshot, deals)
        if "expected_close_at" not in deals:
            return timed
        expected = pd.to_datetime(deals["expected_close_at"]).astype("datetime64[ns]")
        return expected.where(expected.notna(), timed)


class StageConversion(DealBaseline):
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
        return self.stage_rates_["p_win"].to_numpy()[stage_positions(snap, deals)]


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

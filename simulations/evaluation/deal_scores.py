"""Deal scoring: which open deals will win, when, and why.

For every posterior draw the fitted deal-flow model gives each open deal a weekly chain
over (stage, week in stage): stay, advance, won or lost (:func:`simulations.engine.reference.hazards`).
Everything here is an exact function of those hazards, so there is no Monte Carlo noise:

* ``p_win`` — probability of *eventually* being won, from the deal's stage and week in
  stage: the absorption probability of the chain, solved exactly stage by stage
  (:func:`eventual_absorption`; the last week-in-stage bucket repeats forever, which is a
  geometric series).
* ``p_win_in_horizon`` / ``p_close_in_horizon`` — probability of being won / of being
  closed (won *or* lost) by the last day of the horizon: the engine's backward recursion
  (:func:`simulations.engine.reference.win_cdfs`, daily; its compiled kernel,
  :func:`simulations.engine.simulate.absorbed_by_horizon_end`) with won, or won + lost, as the
  absorbing event, read at the horizon's last day, so they match the Monte Carlo
  forecast's per-deal figures.

Posterior draws give each probability's mean and 90% interval. The *drivers* are the
model's effects on the log odds of winning rather than losing: covariate levels
(zero-sum, so relative to the average level), standardised numeric covariates (per
standard deviation), and owner and segment effects (``eff[won] − eff[lost]``). See
``docs/scoring_deals.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.cells import MAX_WEEK
from forecast.data.metrics import stage_time_thresholds
from forecast.data.safe_output import safe_csv_frame
from forecast.data.snapshot import Snapshot
from forecast.posterior import PipelinePosterior
from simulations.engine.horizon import Horizon, make_horizon
from simulations.engine.inputs import SimulationInputs, build_inputs
from simulations.engine.reference import hazards
from simulations.engine.simulate import absorbed_by_horizon_end

#: central interval of the per-deal probabilities (5% and 95% quantiles)
LEVEL = 0.90
#: working-memory budget of one chunk of posterior draws
CHUNK_BYTES = 128 * 2**20
#: smallest |log-odds effect| named in ``top_up`` / ``top_down``
MIN_EFFECT = 0.05

SCORE_COLUMNS = [
    "deal_id", "owner", "team", "segment", "stage", "amount", "p_win", "p_win_lo",
    "p_win_hi", "p_win_in_horizon", "p_close_in_horizon", "expected_value",
    "expected_value_in_horizon", "days_in_stage", "norm_days", "days_over_norm", "stale",
    "top_up", "top_down",
]
DRIVER_COLUMNS = [
    "source", "covariate", "kind", "level", "n_deals", "n_won", "n_lost", "sd",
    "log_odds_mean", "log_odds_sd", "lo", "hi", "lo_94", "hi_94", "odds_ratio",
    "odds_ratio_lo", "odds_ratio_hi", "p_positive",
]


# --------------------------------------------------------------------------- probabilities


def eventual_absorption(p_stay: np.ndarray, p_adv: np.ndarray,
                        p_absorb: np.ndarray) -> np.ndarray:
    """Exact probability of ending in the absorbing event from every (stage, week) state.

    The chain: from ``(s, d)`` the deal is absorbed with ``p_absorb``, advances to
    ``(s + 1, 0)`` with ``p_adv``, stays to ``(s, min(d + 1, W))`` with ``p_stay``, and
    otherwise ends in the other absorbing state. At the last week ``W`` the hazards repeat,
    so ``V(s, W) = (absorb + adv·V(s+1, 0)) / (1 − stay)``; earlier weeks follow
    ``V(s, d) = absorb + adv·V(s+1, 0) + stay·V(s, d+1)``.

    Parameters
    ----------
    p_stay, p_adv, p_absorb
        ``(..., S, W + 1)`` weekly probabilities (advancing from the last stage is 0).

    Returns
    -------
    numpy.ndarray
        ``(..., S, W + 1)`` absorption probabilities.
    """
    v = np.zeros_like(p_absorb)
    nxt = np.zeros(p_absorb.shape[:-2])
    last = p_absorb.shape[-1] - 1
    for s in range(p_absorb.shape[-2] - 1, -1, -1):
        leave = 1.0 - p_stay[..., s, last]
        num = p_absorb[..., s, last] + p_adv[..., s, last] * nxt
        v[..., s, last] = np.where(leave > 0, num / np.where(leave > 0, leave, 1.0), 0.0)
        for d in range(last - 1, -1, -1):
            v[..., s, d] = (p_absorb[..., s, d] + p_adv[..., s, d] * nxt
                            + p_stay[..., s, d] * v[..., s, d + 1])
        nxt = v[..., s, 0]
    return v


def part_week_absorption(v: np.ndarray, p_stay: np.ndarray, p_adv: np.ndarray,
                         p_absorb: np.ndarray, idx: tuple[np.ndarray, ...]) -> np.ndarray:
    """Eventual absorption of deals that already spent ``part`` days of week ``week``
    without an event: the rest of the week (7 − part days) carries the conditional hazard,
    then the next week starts.

    ``v`` is :func:`eventual_absorption`'s ``(C, G, S, W)``; ``idx`` is ``(group, stage,
    week, part)``; returns ``(C, n_deals)``.
    """
    g, s, k, r = idx
    w = v.shape[-1]
    st, ad, ab = (x[:, g, s, k] for x in (p_stay, p_adv, p_absorb))
    nxt = np.where(s + 1 < v.shape[2], v[:, g, np.minimum(s + 1, v.shape[2] - 1), 0], 0.0)
    later = v[:, g, s, np.minimum(k + 1, w - 1)]
    return ((7 - r) * (ab + ad * nxt) + 7.0 * st * later) / (7.0 - r * (1.0 - st))


@dataclass(frozen=True)
class DealProbabilities:
    """Per posterior draw and open deal: ``(P, n_deals)`` arrays.

    Attributes
    ----------
    deal_id
        The deals, in the order of the columns.
    p_win
        Probability of eventually being won.
    p_win_in_horizon, p_close_in_horizon
        Probability of being won, and of being won or lost, by the horizon's last day.
    """

    deal_id: np.ndarray
    p_win: np.ndarray
    p_win_in_horizon: np.ndarray
    p_close_in_horizon: np.ndarray


def _deal_groups(inputs: SimulationInputs) -> tuple[np.ndarray, ...]:
    """Distinct (owner, segment, xb) of the open deals and each deal's group."""
    d = inputs.deals
    keys = np.stack([d.owner, d.segment, d.xb], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    return uniq[:, 0], uniq[:, 1], uniq[:, 2], inv.reshape(-1)


def deal_probabilities(inputs: SimulationInputs, chunk_size: int | None = None
                       ) -> DealProbabilities:
    """``p_win``, ``p_win_in_horizon`` and ``p_close_in_horizon`` of every open deal.

    Scenario overrides of the deal book (forced wins, delays) are ignored: these are the
    model's probabilities.

    Parameters
    ----------
    inputs
        Posterior arrays and open deals (:func:`simulations.engine.inputs.build_inputs`); its
        horizon sets the "in horizon" window.
    chunk_size
        Posterior draws computed together (memory bound; results unchanged).
    """
    d = inputs.deals
    n, n_p = len(d), inputs.n_posterior
    out = {k: np.zeros((n_p, n)) for k in ("win", "win_h", "close_h")}
    if n == 0:
        return DealProbabilities(d.deal_id, out["win"], out["win_h"], out["close_h"])
    g_owner, g_segment, g_xb, group = _deal_groups(inputs)
    per_draw = 8 * len(g_owner) * len(inputs.stages) * (MAX_WEEK + 1) * 12
    chunk = chunk_size or int(max(1, min(n_p, CHUNK_BYTES // per_draw)))
    idx = (group, d.stage, d.week, d.part)
    for start in range(0, n_p, chunk):
        pidx = np.arange(start, min(start + chunk, n_p))
        p_stay, p_adv, p_won = hazards(inputs, pidx, g_owner, g_segment, g_xb)
        out["win"][pidx] = part_week_absorption(eventual_absorption(p_stay, p_adv, p_won),
                                                p_stay, p_adv, p_won, idx)
    out["win_h"] = absorbed_by_horizon_end(inputs)
    out["close_h"] = absorbed_by_horizon_end(inputs, absorb_lost=True)
    return DealProbabilities(d.deal_id, out["win"], out["win_h"], out["close_h"])


# --------------------------------------------------------------------------- drivers


@dataclass(frozen=True)
class _Factor:
    """Posterior draws of one effect on the win-vs-loss log odds."""

    source: str
    covariate: str
    kind: str
    level: str
    draws: np.ndarray
    sd: float = float("nan")


def _factors(posterior: PipelinePosterior) -> list[_Factor]:
    """Every effect of the model on the log odds of winning rather than losing."""
    index, flow = posterior.index, posterior.flow
    spec = index.covariates
    out: list[_Factor] = []
    ci = ni = 0
    for j, col in enumerate(spec.columns):
        if spec.kinds[j] == "categorical":
            for k, lvl in enumerate(spec.levels[j]):
                out.append(_Factor("covariate", col, "categorical", lvl, flow.beta_cat[ci][:, k]))
            ci += 1
        else:
            out.append(_Factor("covariate", col, "numeric", "per sd", flow.beta_num[:, ni],
                               float(spec.sds[j])))
            ni += 1
    for source, names, eff in (("owner", index.owners, flow.owner_eff),
                               ("segment", index.segments, flow.segment_eff)):
        if len(names) > 1:
            for k, name in enumerate(names):
                out.append(_Factor(source, source, "categorical", name,
                                   eff[:, 1, k] - eff[:, 2, k]))
    return out


def _level_counts(deals: pd.DataFrame, factor: _Factor) -> tuple[int, int, int]:
    """Deals, won and lost deals with the factor's level (with a value, if numeric)."""
    values = deals[factor.covariate].astype("string").str.strip().fillna("")
    mask = values != "" if factor.kind == "numeric" else values == factor.level
    status = deals.loc[mask.to_numpy(), "status"]
    return int(mask.sum()), int((status == "won").sum()), int((status == "lost").sum())


def driver_table(snapshot: Snapshot, posterior: PipelinePosterior) -> pd.DataFrame:
    """Each covariate level's (and owner's and segment's) effect on the win odds.

    Effects are on the log odds of winning rather than losing in a week. Categorical
    effects sum to zero over a column's levels, so each is relative to the average level
    (unweighted); a numeric effect is per standard deviation of the column (``sd``, in
    its units). Owner and segment effects are ``eff[won] − eff[lost]`` of the flow model
    (they also move the advance hazard, which is not shown here).

    Returns
    -------
    pandas.DataFrame
        :data:`DRIVER_COLUMNS`: ``source`` (covariate, owner, segment), ``covariate``,
        ``kind``, ``level``, ``n_deals``/``n_won``/``n_lost`` (deals created by ``as_of``),
        ``sd``, ``log_odds_mean``, ``log_odds_sd``, ``lo``-``hi`` (90% interval),
        ``lo_94``-``hi_94`` (94%), ``odds_ratio`` (exp of the mean) with its 90% interval,
        ``p_positive`` (posterior probability the effect raises the odds).
    """
    rows = []
    for f in _factors(posterior):
        q = np.quantile(f.draws, [0.05, 0.95, 0.03, 0.97])
        n, won, lost = _level_counts(snapshot.deals, f)
        mean = float(f.draws.mean())
        rows.append({
            "source": f.source, "covariate": f.covariate, "kind": f.kind, "level": f.level,
            "n_deals": n, "n_won": won, "n_lost": lost, "sd": f.sd, "log_odds_mean": mean,
            "log_odds_sd": float(f.draws.std()), "lo": q[0], "hi": q[1], "lo_94": q[2],
            "hi_94": q[3], "odds_ratio": np.exp(mean), "odds_ratio_lo": np.exp(q[0]),
            "odds_ratio_hi": np.exp(q[1]), "p_positive": float((f.draws > 0).mean())})
    return pd.DataFrame(rows, columns=DRIVER_COLUMNS)


def deal_contributions(open_deals: pd.DataFrame, posterior: PipelinePosterior
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each factor's posterior-mean contribution to each deal's win-vs-loss log odds.

    Factors are the covariate columns, ``(owner)`` and ``(segment)`` (when the model has
    more than one of them). An unseen or missing categorical value contributes 0, the
    pooled mean; a missing numeric value 0, the mean.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(effects, labels)``, both indexed like ``open_deals`` with one column per factor:
        the contribution, and its ``name=value`` label.
    """
    index, flow = posterior.index, posterior.flow
    spec = index.covariates
    codes = index.codes(open_deals)
    effects, labels = {}, {}
    ci = ni = 0
    for j, col in enumerate(spec.columns):
        raw = open_deals[col].astype("string").str.strip().fillna("").to_numpy(dtype=object)
        x = codes["encoded"][:, j]
        if spec.kinds[j] == "categorical":
            means = np.append(flow.beta_cat[ci].mean(axis=0), 0.0)  # −1 → pooled mean
            effects[col] = means[x.astype(int)]
            ci += 1
        else:
            effects[col] = flow.beta_num[:, ni].mean() * x
            ni += 1
        labels[col] = [f"{col}={v}" for v in raw]
    for source, names in (("owner", index.owners), ("segment", index.segments)):
        if len(names) > 1:
            eff = getattr(flow, f"{source}_eff")
            means = (eff[:, 1] - eff[:, 2]).mean(axis=0)
            effects[f"({source})"] = means[codes[source].astype(int)]
            labels[f"({source})"] = [f"{source}={v}" for v in open_deals[source]]
    return (pd.DataFrame(effects, index=open_deals.index),
            pd.DataFrame(labels, index=open_deals.index))


def top_factors(effects: pd.DataFrame, labels: pd.DataFrame, n_top: int = 3,
                min_effect: float = MIN_EFFECT) -> tuple[list[str], list[str]]:
    """``top_up`` and ``top_down`` texts: the largest positive / negative contributions.

    Each text lists up to ``n_top`` factors as ``name=value (+0.42)`` separated by ``"; "``,
    largest first; contributions smaller than ``min_effect`` in size are left out.
    """
    up, down = [], []
    for i in range(len(effects)):
        e, lab = effects.iloc[i].to_numpy(dtype=float), labels.iloc[i].to_numpy(dtype=object)
        order = np.argsort(-e, kind="stable")
        up.append("; ".join(f"{lab[k]} ({e[k]:+.2f})" for k in order[:n_top]
                            if e[k] >= min_effect))
        order = np.argsort(e, kind="stable")
        down.append("; ".join(f"{lab[k]} ({e[k]:+.2f})" for k in order[:n_top]
                              if e[k] <= -min_effect))
    return up, down


# --------------------------------------------------------------------------- scores


def stage_norms(snapshot: Snapshot, quantile: float = 0.9) -> np.ndarray:
    """Per stage, the ``quantile`` of days won deals spent in it (NaN without any)."""
    thr = stage_time_thresholds(snapshot, quantile)
    return thr.sort_values("stage_idx")["threshold_days"].to_numpy(dtype=float)


def score_deals(snapshot: Snapshot, posterior: PipelinePosterior,
                horizon: int | Horizon = 3, norm_quantile: float = 0.9,
                n_top: int = 3) -> pd.DataFrame:
    """The ``deal_scores.csv`` table: one row per deal open at ``snapshot.as_of``.

    Parameters
    ----------
    snapshot
        The snapshot the posterior was fitted on (its open deals are scored).
    posterior
        The fitted model.
    horizon
        Months after ``as_of`` (or a :class:`~simulations.engine.horizon.Horizon`) of the
        "in horizon" probabilities.
    norm_quantile
        Quantile of won deals' days in a stage taken as the stage's norm (0.9: P90, as in
        :func:`forecast.data.metrics.stale_deals`).
    n_top
        Factors named in ``top_up`` and ``top_down``.

    Returns
    -------
    pandas.DataFrame
        :data:`SCORE_COLUMNS`, highest ``expected_value`` first (``deal_id`` breaks ties);
        empty (with the columns) when no deal is open.
    """
    hz = horizon if isinstance(horizon, Horizon) else make_horizon(snapshot.as_of, horizon)
    opn = snapshot.open_deals
    if opn.empty:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in SCORE_COLUMNS})
    probs = deal_probabilities(build_inputs(snapshot, posterior, hz))
    tail = (1 - LEVEL) / 2
    lo, hi = np.quantile(probs.p_win, [tail, 1 - tail], axis=0)
    effects, labels = deal_contributions(opn, posterior)
    up, down = top_factors(effects, labels, n_top)
    norm = stage_norms(snapshot, norm_quantile)[opn["stage_idx"].to_numpy(dtype=int)]
    days = opn["days_in_stage"].to_numpy(dtype=float)
    amount = opn["amount"].to_numpy(dtype=float)
    p_win, p_win_h = probs.p_win.mean(axis=0), probs.p_win_in_horizon.mean(axis=0)
    out = pd.DataFrame({
        "deal_id": opn["deal_id"].to_numpy(dtype=object),
        "owner": opn["owner"].to_numpy(dtype=object), "team": opn["team"].to_numpy(dtype=object),
        "segment": opn["segment"].to_numpy(dtype=object),
        "stage": opn["stage"].to_numpy(dtype=object), "amount": amount,
        "p_win": p_win, "p_win_lo": lo, "p_win_hi": hi, "p_win_in_horizon": p_win_h,
        "p_close_in_horizon": probs.p_close_in_horizon.mean(axis=0),
        "expected_value": p_win * amount, "expected_value_in_horizon": p_win_h * amount,
        "days_in_stage": days.astype(int), "norm_days": norm, "days_over_norm": days - norm,
        "stale": days > norm, "top_up": up, "top_down": down,
    })
    return out.sort_values(["expected_value", "deal_id"], ascending=[False, True],
                           kind="stable").reset_index(drop=True)


def _dtype(column: str) -> str:
    if column in ("deal_id", "owner", "team", "segment", "stage", "top_up", "top_down"):
        return "object"
    if column == "stale":
        return "bool"
    return "int64" if column == "days_in_stage" else "float64"


# --------------------------------------------------------------------------- report helpers


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def focus_table(scores: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The monthly report's "deals to focus on": the ``n`` open deals with the most
    expected revenue in the horizon (``p_win_in_horizon × amount``), formatted.

    Parameters
    ----------
    scores
        :func:`score_deals` output (or ``deal_scores.csv`` read back).
    n
        Rows to keep.

    Returns
    -------
    pandas.DataFrame
        ``deal``, ``owner``, ``stage``, ``amount``, ``p_win`` ("62% (48–75%)"),
        ``won_in_horizon`` ("40%"), ``expected_in_horizon``, ``days_in_stage`` ("45 / norm
        30, stale"), ``why_up``, ``why_down``; text cells are plain strings (escape them
        for HTML, e.g. ``DataFrame.to_html`` does by default).
    """
    cols = ["deal", "owner", "stage", "amount", "p_win", "won_in_horizon",
            "expected_in_horizon", "days_in_stage", "why_up", "why_down"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    top = scores.sort_values(["expected_value_in_horizon", "deal_id"],
                             ascending=[False, True], kind="stable").head(n)

    def days(row: pd.Series) -> str:
        if pd.isna(row["norm_days"]):
            return f"{int(row['days_in_stage'])}"
        flag = ", stale" if bool(row["stale"]) else ""
        return f"{int(row['days_in_stage'])} / norm {row['norm_days']:.0f}{flag}"

    return pd.DataFrame({
        "deal": top["deal_id"].to_numpy(), "owner": top["owner"].to_numpy(),
        "stage": top["stage"].to_numpy(), "amount": top["amount"].round(0).to_numpy(),
        "p_win": [f"{_pct(p)} ({_pct(lo)}–{_pct(hi)})" for p, lo, hi in
                  zip(top["p_win"], top["p_win_lo"], top["p_win_hi"], strict=True)],
        "won_in_horizon": [_pct(p) for p in top["p_win_in_horizon"]],
        "expected_in_horizon": top["expected_value_in_horizon"].round(0).to_numpy(),
        "days_in_stage": [days(r) for _, r in top.iterrows()],
        "why_up": top["top_up"].fillna("").to_numpy(),
        "why_down": top["top_down"].fillna("").to_numpy(),
    }, columns=cols)


def write_scores(out: str | Path, scores: pd.DataFrame, drivers: pd.DataFrame) -> None:
    """Write ``deal_scores.csv`` and ``drivers.csv`` into ``out``, formula-safe.

    Text cells go through :func:`forecast.data.safe_output.safe_csv_frame`; probabilities and
    effects are rounded to 6 decimals, money to 2.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    money = ["amount", "expected_value", "expected_value_in_horizon"]
    s = scores.copy()
    for col in s.columns:
        if pd.api.types.is_float_dtype(s[col]):
            s[col] = s[col].round(2 if col in money else 6)
    d = drivers.copy()
    for col in d.columns:
        if pd.api.types.is_float_dtype(d[col]):
            d[col] = d[col].round(6)
    safe_csv_frame(s).to_csv(out / "deal_scores.csv", index=False, lineterminator="\n")
    safe_csv_frame(d).to_csv(out / "drivers.csv", index=False, lineterminator="\n")

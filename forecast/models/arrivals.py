"""Arrival of new deals: a seasonal negative-binomial count per owner and month.

``created[o, m] ~ NegBin(mu, alpha)``, ``log mu = b0 + u[o] + season[month_of_year] +
log(exposure)``, with owner effects partially pooled (a new rep with little history is
pulled towards the team's typical rate; non-centred where reps have few deals, see
:func:`non_centred_owners`) and zero-sum month-of-year effects. An owner's
window starts in the month of their first deal; the month of ``as_of`` counts for the
fraction of it observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm

from forecast.data.snapshot import Snapshot
from forecast.models.config import ModelConfig
from forecast.models.flow import group_scale, spread_is_clear
from forecast.posterior import ArrivalPosterior, stack_draws


@dataclass(frozen=True)
class ArrivalData:
    """Monthly creation counts per owner: one row per (owner, month) in the owner's window."""

    owner: np.ndarray
    month_of_year: np.ndarray
    exposure: np.ndarray
    count: np.ndarray
    active: np.ndarray  # (n_owners,) bool: still creating deals at as_of


def arrival_data(snapshot: Snapshot, owners: list[str], config: ModelConfig) -> ArrivalData:
    """Count deals created per owner and calendar month up to ``as_of``."""
    deals = snapshot.deals
    as_of = snapshot.as_of
    code = {o: i for i, o in enumerate(owners)}
    month = deals["created_at"].dt.to_period("M")
    counts = deals.assign(m=month, o=deals["owner"].map(code)).groupby(["o", "m"]).size()
    last_month = as_of.to_period("M")
    rows = []
    first = deals.assign(m=month).groupby("owner")["m"].min()
    for owner, start in first.items():
        for m in pd.period_range(start, last_month, freq="M"):
            expo = 1.0 if m < last_month else as_of.day / m.days_in_month
            rows.append((code[owner], m.month - 1, expo, counts.get((code[owner], m), 0)))
    arr = np.array(rows, dtype=float)
    last_created = deals.groupby("owner")["created_at"].max()
    has_open = deals[deals["status"] == "open"].groupby("owner").size()
    cutoff = as_of - pd.Timedelta(days=config.inactive_after_days)
    active = np.array([(last_created.get(o, pd.NaT) > cutoff) or has_open.get(o, 0) > 0
                       for o in owners])
    return ArrivalData(owner=arr[:, 0].astype(int), month_of_year=arr[:, 1].astype(int),
                       exposure=arr[:, 2], count=arr[:, 3].astype(int), active=active)


def non_centred_owners(data: ArrivalData, n_owners: int, config: ModelConfig) -> bool:
    """Whether the owners' arrival effects are non-centred: unless the owners' raw log
    rates (deals per month, ½ added) clearly differ (:func:`spread_is_clear`), as where
    reps have few deals each."""
    if config.group_effects != "auto":
        return config.group_effects == "noncentered"
    deals = np.bincount(data.owner, weights=data.count, minlength=n_owners) + 0.5
    months = np.bincount(data.owner, weights=data.exposure, minlength=n_owners)
    return not spread_is_clear(np.log(deals / np.maximum(months, 1e-9)), 1.0 / deals)


def add_arrival_block(data: ArrivalData, n_owners: int, config: ModelConfig) -> None:
    """Add the arrival variables and likelihood to the current ``pm.Model`` context."""
    model = pm.modelcontext(None)
    rate = data.count.sum() / max(data.exposure.sum(), 1e-9)
    b0 = pm.Normal("arr_b0", np.log(max(rate, 0.1)), config.arrival_intercept_sd)
    log_mu = b0 + np.log(data.exposure)
    if n_owners > 1:
        if "owner" not in model.coords:
            model.add_coord("owner", np.arange(n_owners))
        s_u = group_scale("arr_sigma_owner", config.arrival_owner_sd)
        if non_centred_owners(data, n_owners, config):
            raw = pm.ZeroSumNormal("arr_owner_eff_raw", sigma=1.0, dims="owner")
            u = pm.Deterministic("arr_owner_eff", s_u * raw, dims="owner")
        else:
            u = pm.ZeroSumNormal("arr_owner_eff", sigma=s_u, dims="owner")
        log_mu = log_mu + u[data.owner]
    model.add_coord("month_of_year", np.arange(1, 13))
    season = pm.ZeroSumNormal("arr_season", sigma=config.season_sd, dims="month_of_year")
    log_mu = log_mu + season[data.month_of_year]
    alpha = pm.Gamma("arr_alpha", alpha=2.0, beta=0.1)
    pm.NegativeBinomial("arr_count", mu=pm.math.exp(log_mu), alpha=alpha, observed=data.count)


def extract_arrivals(posterior, data: ArrivalData, n_owners: int) -> ArrivalPosterior:
    b0 = stack_draws(posterior, "arr_b0")
    owner = (stack_draws(posterior, "arr_owner_eff") if "arr_owner_eff" in posterior
             else np.zeros((len(b0), n_owners)))
    return ArrivalPosterior(b0=b0, owner_eff=owner, season=stack_draws(posterior, "arr_season"),
                            alpha=stack_draws(posterior, "arr_alpha"), active=data.active)

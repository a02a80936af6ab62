"""Deal sizes and the make-up of new deals (conjugate models, exact posterior draws).

* Booked amount of won deals per segment: log-normal with a normal–inverse-gamma prior
  centred on all segments together (a segment with few wins borrows from the rest).
* Booked ÷ expected amount of won deals: log-normal, learned when ``deals.csv`` has an
  ``expected_amount`` column (the rep's estimate before the win); otherwise taken as 1.
* Segment mix of each owner's new deals (Dirichlet, prior = the company's mix) and the
  stage new deals enter in (Dirichlet).
"""

from __future__ import annotations

import numpy as np

from forecast.data.snapshot import Snapshot
from forecast.posterior import AmountPosterior


def nig_draws(x: np.ndarray, mu0: float, var0: float, n_draws: int,
              rng: np.random.Generator, kappa0: float = 1.0, a0: float = 2.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Draws of (mu, sigma) of a normal sample ``x`` under a normal–inverse-gamma prior.

    The prior has mean ``mu0`` (worth ``kappa0`` observations) and prior mean variance
    ``var0`` (``a0 = 2`` makes that a weak prior).
    """
    n = len(x)
    xbar = float(x.mean()) if n else mu0
    ss = float(((x - xbar) ** 2).sum()) if n else 0.0
    kn = kappa0 + n
    mun = (kappa0 * mu0 + n * xbar) / kn
    an = a0 + n / 2
    bn = var0 * (a0 - 1) + 0.5 * ss + kappa0 * n * (xbar - mu0) ** 2 / (2 * kn)
    var = bn / rng.gamma(an, 1.0, size=n_draws)
    mu = rng.normal(mun, np.sqrt(var / kn))
    return mu, np.sqrt(var)


def fit_amounts(snapshot: Snapshot, owners: list[str], segments: list[str], n_draws: int,
                rng: np.random.Generator) -> AmountPosterior:
    """Exact posterior draws of the amount and new-deal mix models at ``snapshot.as_of``."""
    d = snapshot.deals
    won = d[(d["status"] == "won") & (d["amount"] > 0)]
    basis = won if len(won) >= 2 else d[d["amount"] > 0]
    if len(basis) == 0:
        raise ValueError("no deal with a positive amount before as_of: deal sizes cannot be "
                         "learned")
    logs = np.log(basis["amount"].to_numpy())
    mu0, var0 = float(logs.mean()), float(max(logs.var(), 1e-4))
    mu = np.empty((n_draws, len(segments)))
    sigma = np.empty_like(mu)
    for g, seg in enumerate(segments):
        x = np.log(basis.loc[basis["segment"] == seg, "amount"].to_numpy())
        mu[:, g], sigma[:, g] = nig_draws(x, mu0, var0, n_draws, rng)

    learned = "expected_amount" in d.columns
    if learned:
        w = won[won["expected_amount"].notna() & (won["expected_amount"] > 0)]
        learned = len(w) >= 2
    if learned:
        r = np.log(w["amount"].to_numpy() / w["expected_amount"].to_numpy())
        ratio_mu, ratio_sigma = nig_draws(r, 0.0, float(max(r.var(), 1e-4)), n_draws, rng)
    else:
        ratio_mu, ratio_sigma = np.zeros(n_draws), np.zeros(n_draws)

    seg_code = d["segment"].map({s: i for i, s in enumerate(segments)}).to_numpy()
    own_code = d["owner"].map({o: i for i, o in enumerate(owners)}).to_numpy()
    counts = np.zeros((len(owners), len(segments)))
    np.add.at(counts, (own_code, seg_code), 1)
    prior = 2.0 * counts.sum(axis=0) / counts.sum() + 1e-3
    mix = rng.gamma(prior[None, None, :] + counts[None], 1.0,
                    size=(n_draws, len(owners), len(segments)))
    mix /= mix.sum(axis=2, keepdims=True)

    first = snapshot.spells.drop_duplicates("deal_id")["stage_idx"].to_numpy()
    n_st = len(snapshot.stages)
    entry = rng.gamma(1.0 + np.bincount(first, minlength=n_st), 1.0, size=(n_draws, n_st))
    entry /= entry.sum(axis=1, keepdims=True)
    return AmountPosterior(mu=mu, sigma=sigma, ratio_mu=ratio_mu, ratio_sigma=ratio_sigma,
                           ratio_learned=learned, segment_mix=mix, entry_stage=entry)

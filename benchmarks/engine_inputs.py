"""Hand-built :class:`~simulations.engine.inputs.SimulationInputs` of any size, for benchmarks.

The hazards are the synthetic generator's defaults (:class:`simulations.synthetic.generator.
GeneratorConfig`): 5 stages, 12 reps, 3 segments, 24 covariate patterns; posterior draws
scatter around them as a fitted posterior would.
"""

from __future__ import annotations

import numpy as np

from forecast.data.cells import MAX_WEEK
from simulations.engine.horizon import make_horizon
from simulations.engine.inputs import DealBook, SimulationInputs
from simulations.synthetic.generator import GeneratorConfig


def realistic_inputs(n_open: int, n_posterior: int = 1000, months: int = 3,
                     as_of: str = "2026-10-31", seed: int = 0) -> SimulationInputs:
    """Inputs with ``n_open`` open deals and ``n_posterior`` posterior draws.

    Parameters
    ----------
    n_open
        Open deals, spread over reps (with the generator's segment mixes), covariate
        patterns, stages and weeks in stage.
    n_posterior
        Posterior draws ``P``.
    months
        Horizon after ``as_of``.
    seed
        Seed of the made-up deals and posterior scatter.
    """
    cfg = GeneratorConfig()
    rng = np.random.default_rng(seed)
    n_s = len(cfg.stages)
    n_o, n_g = len(cfg.reps), len(cfg.segments)
    n_x = int(np.prod([len(c.levels) for c in cfg.covariates]))
    p = n_posterior

    def scatter(mean: np.ndarray, sd: float) -> np.ndarray:
        return np.asarray(mean)[None] + sd * rng.standard_normal((p,) + np.shape(mean))

    a = scatter(np.array(cfg.a), 0.05)
    dur = scatter(np.array(cfg.dur), 0.05)
    dur[:, :, 0] = 0.0
    owner_true = rng.normal(0.0, 1.0, (3, n_o)) * np.array(cfg.sigma_owner)[:, None]
    owner_eff = scatter(owner_true - owner_true.mean(axis=1, keepdims=True), 0.05)
    seg_true = np.array([s.effects for s in cfg.segments]).T
    segment_eff = scatter(seg_true - seg_true.mean(axis=1, keepdims=True), 0.05)
    levels = np.array(np.meshgrid(*[np.array(c.beta) for c in cfg.covariates],
                                  indexing="ij")).reshape(len(cfg.covariates), -1).sum(axis=0)
    xb = np.concatenate([scatter(levels - levels.mean(), 0.05), np.zeros((p, 1))], axis=1)

    mix = np.array([r.segment_mix for r in cfg.reps])
    owner = rng.integers(0, n_o, n_open)
    segment = np.array([rng.choice(n_g, p=mix[o]) for o in owner], dtype=np.int64)
    pattern = rng.integers(0, n_x, n_open)
    stage = rng.choice(n_s, n_open, p=[0.35, 0.25, 0.2, 0.12, 0.08])
    week = np.minimum(rng.geometric(0.08, n_open) - 1, MAX_WEEK)
    amount = np.exp(rng.normal(np.log(25_000.0), 1.0, n_open))
    part = rng.integers(0, 7, n_open)
    book = DealBook(
        deal_id=np.array([f"D{i:07d}" for i in range(n_open)], dtype=object),
        owner=owner.astype(np.int64), segment=segment, xb=pattern.astype(np.int64),
        stage=stage.astype(np.int64), week=week.astype(np.int64), part=part, amount=amount,
        override=np.zeros(n_open, dtype=np.int8), forced_day=np.zeros(n_open, dtype=np.int64),
        delay_days=np.zeros(n_open, dtype=np.int64))
    entry = np.zeros(n_s)
    entry[:2] = (0.8, 0.2)
    return SimulationInputs(
        horizon=make_horizon(as_of, months),
        owners=tuple(r.name for r in cfg.reps), teams={r.name: r.team for r in cfg.reps},
        segments=tuple(s.name for s in cfg.segments), stages=tuple(cfg.stages), deals=book,
        a=a, dur=dur, owner_eff=owner_eff, segment_eff=segment_eff, xb=xb,
        arr_b0=scatter(np.log(12.0), 0.05), arr_owner_eff=scatter(np.zeros(n_o), 0.2),
        season=scatter(np.array(cfg.season), 0.05), alpha=np.exp(scatter(np.log(6.0), 0.1)),
        arrival_multiplier=np.ones((n_o, months)),
        segment_mix=np.broadcast_to(mix, (p, n_o, n_g)).copy(),
        entry_stage=np.tile(entry, (p, 1)),
        size_mu=scatter(np.log([s.amount_median for s in cfg.segments]), 0.05),
        size_sigma=np.abs(scatter(np.array([s.amount_sigma for s in cfg.segments]), 0.02)),
        ratio_mu=scatter(-0.05, 0.01), ratio_sigma=np.abs(scatter(0.15, 0.01)))

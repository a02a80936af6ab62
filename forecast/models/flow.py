"""The deal-flow model: each week a deal in a stage stays, advances, is won or is lost.

Weekly multinomial-logit hazards (stay is the reference)::

    eta[k] = a[k, stage] + dur[k, bucket] + owner[k, o] + segment[k, g] + cov[k]·(x·β)
             (+ calendar[k, slot] with ``pipeline.yaml: calendar: true``)
             (+ drift[k, quarter] with ``drift: true``)

for k in (advance, won, lost), with ``cov = (0, +½, −½)``: ``x·β`` is the covariates' log
odds ratio of winning rather than losing. Owner, segment and covariate-level effects are
partially pooled (zero-sum normal with a Gamma(2, 2/scale) spread). Where the levels
have plenty of events the centred form samples best; where an outcome's events per level
are few (median below :data:`CENTRED_MIN_EVENTS`, e.g. *advance* in an export without
stage history) its effects are non-centred (``sigma · z``), which avoids the funnel
between a small spread and the effects (:func:`pooled_effects`). A categorical covariate's
level effects, and the arrival model's owner effects, are non-centred unless the levels'
raw estimates clearly differ (:func:`spread_is_clear`): thin evidence per level, or
effects near zero, make the same funnel. ``dur`` is a random walk over
time-in-stage buckets; advancing from the last stage is impossible. With the quarter
calendar, ``calendar[k, ·]`` are the effects of the slot of the fiscal quarter a week
starts in (month 1, 2, 3, last two weeks), zero-sum per outcome, centred where the
slots clearly differ and non-centred where they do not (:func:`calendar_effects`). With
drift, ``drift[k, ·]`` is a random walk over the fiscal quarters of the history (summing
to zero in the model; read back anchored at the last quarter, so that ``a`` is the latest
quarter's level: :func:`drift_effects`, :func:`extract_flow`). Group effects sum to
zero over their levels (``ZeroSumNormal``), so the intercepts are the average rep's,
segment's and covariate mix's, and a level the model never saw gets effect 0, the pooled
mean; this also removes the ridge between intercepts and effects that slows NUTS down. The likelihood is
evaluated on :class:`~forecast.data.cells.CellTable` counts (sufficient statistics), with
its gradient, by one fused kernel (:mod:`forecast.models.flow_density`).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from forecast.data.cells import DURATION_EDGES_WEEKS, CellTable
from forecast.data.covariates import CovariateSpec
from forecast.data.periods import QUARTER_SLOTS
from forecast.models.config import ModelConfig
from forecast.models.flow_density import FlowDesign, flow_loglik
from forecast.posterior import COV_SIGN, OUTCOMES, FlowPosterior, stack_draws

#: the covariate blocks' vectors, whose columns are also in the posterior one by one
#: (``beta[col]``, ``sigma_cov[col]``): diagnostics name those rather than the vectors
PER_COLUMN_VECTORS = ("sigma_cov", "beta_cat_z", "beta_num")
#: an outcome's group effects are centred when the median level has this many events (and
#: the levels clearly differ, :func:`non_centred_outcomes`)
CENTRED_MIN_EVENTS = 10
#: with fewer segments than this, their effects have a fixed-scale prior (no learned spread)
POOLED_MIN_SEGMENTS = 5
#: level effects (covariate levels; owners' arrival rates) are centred when the spread of
#: the levels' raw estimates, less their noise, is this many times the median level's
#: sampling variance (the spread is three standard errors or more)
CENTRED_MIN_SIGNAL = 9.0


def add_flow_block(
    cells: CellTable, spec: CovariateSpec, patterns: np.ndarray, config: ModelConfig,
    quarter_labels: list[str] | None = None,
) -> None:
    """Add the deal-flow variables and likelihood to the current ``pm.Model`` context
    (``quarter_labels``: the names of the drift's quarters, see :func:`drift_effects`)."""
    model = pm.modelcontext(None)
    n_b = len(DURATION_EDGES_WEEKS)
    model.add_coord("outcome", OUTCOMES)
    model.add_coord("stage", np.arange(cells.n_stages))
    model.add_coord("bucket_step", np.arange(1, n_b))
    a = pm.Normal("a", config.intercept_mu, config.intercept_sd, dims=("outcome", "stage"))
    steps = pm.Normal("dur_steps", 0.0, config.duration_step_sd, dims=("outcome", "bucket_step"))
    dur = pt.concatenate([pt.zeros((3, 1)), pt.cumsum(steps, axis=1)], axis=1)
    pm.Deterministic("dur", dur)

    # eta = X @ theta with X the cells' design (one-hot blocks, numeric covariates); the
    # likelihood and its gradient are one numba pass over X's non-zeros (flow_density)
    blocks = [(one_hot(cells.stage, cells.n_stages), a), (one_hot(cells.bucket, n_b), dur)]
    if cells.n_owners > 1:
        model.add_coord("owner", np.arange(cells.n_owners))
        s_o = group_scale("sigma_owner", config.owner_sd, dims="outcome")
        owner_eff = pooled_effects("owner_eff", s_o, cells, cells.owner, cells.n_owners,
                                   config, dims=("outcome", "owner"))
        blocks.append((one_hot(cells.owner, cells.n_owners), owner_eff))
    if cells.n_segments > 1:
        model.add_coord("segment", np.arange(cells.n_segments))
        if cells.n_segments >= POOLED_MIN_SEGMENTS:
            s_g = group_scale("sigma_segment", config.segment_sd, dims="outcome")
            seg_eff = pooled_effects("segment_eff", s_g, cells, cells.segment,
                                     cells.n_segments, config, dims=("outcome", "segment"))
        else:  # too few to learn a spread from; a learned one met a funnel (docs/model.md)
            seg_eff = pm.ZeroSumNormal("segment_eff", sigma=config.segment_sd,
                                       dims=("outcome", "segment"))
        blocks.append((one_hot(cells.segment, cells.n_segments), seg_eff))
    if cells.n_slots > 1:
        blocks.append((one_hot(cells.slot, cells.n_slots), calendar_effects(cells, config)))
    if cells.n_quarters > 1:
        blocks.append((one_hot(cells.quarter, cells.n_quarters), drift_effects(cells, config,
                                                                          quarter_labels)))
    cov = covariate_block(spec, patterns[cells.pattern], config, cells.counts[:, 2:4])
    if cov is not None:
        x_cov, beta = cov
        blocks.append((x_cov, pt.as_tensor(COV_SIGN)[:, None] * beta[None, :]))
    theta = pt.concatenate([t for _, t in blocks], axis=1)  # (3, n_columns)
    design = FlowDesign.from_blocks([x for x, _ in blocks], cells.counts,
                                    cells.stage == cells.n_stages - 1, cells.partial)
    pm.Potential("flow_loglik", flow_loglik(theta, design))


def calendar_effects(cells: CellTable, config: ModelConfig):
    """``(3, 4)`` quarter-calendar effects: per outcome zero-sum over the slots of
    :data:`~forecast.data.periods.QUARTER_SLOTS` with spread ``σ_k ~ Gamma(2,
    2/calendar_sd)``, centred where the slots' raw rates of the outcome clearly differ and
    non-centred otherwise (:func:`calendar_non_centred`). Summing to zero over the slots
    (unweighted), the effects are each slot's departure from the average slot and ``a`` the
    average slot's intercept. Registered as ``calendar`` (dims outcome, slot).
    """
    model = pm.modelcontext(None)
    model.add_coord("slot", list(QUARTER_SLOTS))
    sigma = group_scale("sigma_calendar", config.calendar_sd, dims="outcome")
    return pooled_effects("calendar", sigma, cells, cells.slot, cells.n_slots, config,
                          dims=("outcome", "slot"), non_centred=calendar_non_centred(cells,
                                                                                     config))


def drift_effects(cells: CellTable, config: ModelConfig, labels: list[str] | None = None):
    """``(3, n_quarters)`` drift of the stage intercepts over the history's fiscal quarters:
    per outcome a random walk from the quarter :attr:`CellTable.walk_start` on,
    ``drift[q+1] − drift[q] ~ Normal(0, σ_k)``, ``σ_k ~ Gamma(2, 2/drift_sd)``, summing to
    zero over the walk's quarters, so that in the model ``a`` is the intercept of the
    average quarter (pinned down by all the history) and the walk its departures;
    :func:`extract_flow` re-anchors both at the last quarter for what reads the posterior.
    The quarters before the walk (an export's months without recorded closes) share one
    level of their own per outcome, ``drift_before ~ Normal(0, drift_before_sd)``, outside
    the walk: they inform neither its steps nor their spread. Where an outcome's walk
    quarters clearly move (:func:`drift_non_centred` false) the levels themselves are the
    parameters (each pinned down by its quarter's data; the walk's density on their
    differences), written in the orthonormal zero-sum basis; elsewhere the steps are
    non-centred (``σ_k · z``). Registered as ``drift`` (dims outcome, quarter, the quarters
    before the walk repeating their level) and ``sigma_drift``.
    """
    model = pm.modelcontext(None)
    n_q, s = cells.n_quarters, cells.walk_start
    n_w = n_q - s
    model.add_coord("quarter", labels or [str(q) for q in range(n_q)])
    sigma = group_scale("sigma_drift", config.drift_sd, dims="outcome")
    rows = [pt.zeros(n_w)] * 3
    nc = drift_non_centred(cells, config)
    if n_w > 1:
        basis = pt.as_tensor(zero_sum_basis(n_w))  # (W, W − 1)
        if nc.any():
            idx = np.flatnonzero(nc)
            z = pm.Normal("drift_steps_z", 0.0, 1.0, shape=(len(idx), n_w - 1))
            walk = pt.concatenate([pt.zeros((len(idx), 1)), pt.cumsum(z, axis=1)], axis=1)
            walk = (walk - walk.mean(axis=1, keepdims=True)) * sigma[idx][:, None]
            for j, k in enumerate(idx):
                rows[k] = walk[j]
        if not nc.all():
            idx = np.flatnonzero(~nc)
            w = pm.Flat("drift_levels_w", shape=(len(idx), n_w - 1))
            # (n, W), each row summing to zero; a product and a sum rather than a dot: no BLAS
            levels = (w[:, None, :] * basis[None, :, :]).sum(axis=2)
            steps = levels[:, 1:] - levels[:, :-1]
            pm.Potential("drift_walk", pm.logp(pm.Normal.dist(0.0, sigma[idx][:, None]),
                                               steps).sum())
            for j, k in enumerate(idx):
                rows[k] = levels[j]
    drift = pt.stack(rows)
    if s > 0:
        before = pm.Normal("drift_before", 0.0, config.drift_before_sd, dims="outcome")
        drift = pt.concatenate([pt.repeat(before[:, None], s, axis=1), drift], axis=1)
    return pm.Deterministic("drift", drift, dims=("outcome", "quarter"))


def drift_non_centred(cells: CellTable, config: ModelConfig) -> np.ndarray:
    """Which outcomes' drift steps are non-centred (``(3,)`` bool): those whose walk
    quarters' raw log odds against staying (½ added to each count) do not clearly move from
    quarter to quarter (:func:`spread_is_clear` on the successive differences)."""
    if config.group_effects != "auto":
        return np.full(3, config.group_effects == "noncentered")
    log_odds, variances = raw_log_odds(cells, cells.quarter, cells.n_quarters)
    log_odds, variances = log_odds[cells.walk_start:], variances[cells.walk_start:]
    if len(log_odds) < 2:
        return np.ones(3, dtype=bool)
    steps, step_var = np.diff(log_odds, axis=0), variances[1:] + variances[:-1]
    return unclear_outcomes(steps, step_var)


def calendar_non_centred(cells: CellTable, config: ModelConfig) -> np.ndarray:
    """Which outcomes' calendar effects are non-centred (``(3,)`` bool).

    Each slot holds a quarter of the history's deal-weeks, so an outcome's four effects are
    pinned down by thousands of events and only the spread of four levels is loosely known.
    Where the effects are clearly apart from each other, the centred form samples best;
    where they are near zero (no calendar in that outcome, e.g. advancing), the centred
    form makes a funnel with a small spread and the non-centred one is used. "Clearly
    apart" is :func:`spread_is_clear` on each slot's raw log odds of the outcome against
    staying (½ added to each count). On generated quarter-end data (won and lost with a
    calendar, advance without) this mix sampled without divergences where all non-centred
    and all centred did not.
    """
    if config.group_effects != "auto":
        return np.full(3, config.group_effects == "noncentered")
    return unclear_outcomes(*raw_log_odds(cells, cells.slot, cells.n_slots))


def raw_log_odds(cells: CellTable, codes: np.ndarray, n_levels: int) -> tuple[np.ndarray, ...]:
    """``(n_levels, 3)`` raw log odds of advancing, winning and losing against staying per
    level of ``codes`` (½ added to each count), and their sampling variances."""
    counts = np.full((n_levels, 4), 0.5)
    np.add.at(counts, codes, cells.counts)
    return (np.log(counts[:, 1:] / counts[:, :1]),
            1.0 / counts[:, 1:] + 1.0 / counts[:, :1])


def non_centred_outcomes(cells: CellTable, codes: np.ndarray, n_levels: int,
                         config: ModelConfig) -> np.ndarray:
    """Which outcomes' effects over the levels ``codes`` are non-centred (``(3,)`` bool):
    those whose median level has fewer than :data:`CENTRED_MIN_EVENTS` events, or whose
    levels' raw log odds against staying do not clearly differ (:func:`spread_is_clear`:
    effects near zero, which the data pin down less well than their spread, a funnel for the
    centred form: the reps' won effects of a generated 1,500-deal dataset diverged so)."""
    if config.group_effects != "auto":
        return np.full(3, config.group_effects == "noncentered")
    events = np.zeros((n_levels, 3))
    np.add.at(events, codes, cells.counts[:, 1:])
    unclear = unclear_outcomes(*raw_log_odds(cells, codes, n_levels))
    return (np.median(events, axis=0) < CENTRED_MIN_EVENTS) | unclear


def pooled_effects(name: str, sigma, cells: CellTable, codes: np.ndarray, n_levels: int,
                   config: ModelConfig, dims: tuple[str, str],
                   non_centred: np.ndarray | None = None):
    """``(3, n_levels)`` zero-sum effects with spread ``sigma (3,)``, per outcome centred
    (``ZeroSumNormal(sigma)``) or non-centred (``sigma · ZeroSumNormal(1)``; which:
    ``non_centred``, or :func:`non_centred_outcomes`), registered as ``name`` either way."""
    nc = (non_centred_outcomes(cells, codes, n_levels, config) if non_centred is None
          else np.asarray(non_centred, dtype=bool))
    if not nc.any():
        return pm.ZeroSumNormal(name, sigma=sigma[:, None], dims=dims)
    raw_scale = pt.where(pt.as_tensor(nc), 1.0, sigma)
    raw = pm.ZeroSumNormal(f"{name}_raw", sigma=raw_scale[:, None], dims=dims)
    return pm.Deterministic(name, raw * pt.where(pt.as_tensor(nc), sigma, 1.0)[:, None],
                            dims=dims)


def one_hot(codes: np.ndarray, n: int) -> np.ndarray:
    """``(len(codes), n)`` 0/1 matrix."""
    out = np.zeros((len(codes), n))
    out[np.arange(len(codes)), codes] = 1.0
    return out


def group_scale(name: str, scale: float, **kwargs):
    """Spread of partially pooled effects: Gamma(2, 2/scale), mean ``scale``.

    A zero-avoiding prior keeps NUTS out of the funnel when there are few groups (three
    segments, say), while still letting the data pull the spread towards small values.
    """
    return pm.Gamma(name, alpha=2.0, beta=2.0 / scale, **kwargs)


def unclear_outcomes(estimates: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """``(3,)`` bool: per outcome (a column of ``estimates``, ``(n_levels, 3)``), whether the
    levels do *not* clearly differ (:func:`spread_is_clear`): where to non-centre."""
    return np.array([not spread_is_clear(estimates[:, k], variances[:, k])
                     for k in range(estimates.shape[1])])


def spread_is_clear(estimates: np.ndarray, variances: np.ndarray) -> bool:
    """Whether levels' raw estimates (with sampling ``variances``) clearly differ.

    The spread of the true effects is estimated by moments, ``τ² = var(estimates) −
    mean(variances)``. Where ``τ²`` is at least :data:`CENTRED_MIN_SIGNAL` times the
    median level's variance, each level's data pin its effect down well against the
    spread: the centred form samples best. Otherwise (thin evidence per level, or effects
    near zero) the posterior couples the effects to their spread, a funnel, which the
    non-centred form (``sigma · z``) avoids.
    """
    if len(estimates) < 2:
        return False
    tau2 = float(np.var(estimates, ddof=1) - np.mean(variances))
    return tau2 >= CENTRED_MIN_SIGNAL * float(np.median(variances))


def non_centred_covariate(codes: np.ndarray, n_levels: int, closed: np.ndarray | None,
                          config: ModelConfig) -> bool:
    """Whether a categorical covariate's level effects are non-centred.

    ``codes`` are the rows' level codes (−1: unseen) and ``closed`` their ``(n, 2)`` won
    and lost counts; a level's raw estimate is its log odds of won against lost (with
    ½ added to each count) and :func:`spread_is_clear` decides.
    """
    if config.group_effects != "auto" or closed is None:
        return config.group_effects == "noncentered"
    seen = codes >= 0
    events = np.full((n_levels, 2), 0.5)
    np.add.at(events, codes[seen], closed[seen])
    log_odds = np.log(events[:, 0] / events[:, 1])
    return not spread_is_clear(log_odds, (1.0 / events).sum(axis=1))


def zero_sum_basis(n: int) -> np.ndarray:
    """``(n, n − 1)`` orthonormal basis of the vectors of length ``n`` that sum to zero.

    It is the linear map of PyMC's ``ZeroSumNormal`` transform (``extend_axis``), so that
    ``basis @ z`` with ``z ~ Normal(0, σ)`` is ``ZeroSumNormal(σ)``, in the same
    unconstrained coordinates.
    """
    if n < 2:  # one level: effect 0; none (a column empty in every training deal): nothing
        return np.zeros((n, 0))
    eye = np.eye(n - 1)
    total = eye.sum(axis=0, keepdims=True)
    norm = total / (np.sqrt(n) + n)
    return np.vstack([eye, norm - total / np.sqrt(n)]) - norm


def block_diagonal(blocks: list[np.ndarray]) -> np.ndarray:
    """The block-diagonal matrix of ``blocks`` (any shapes, empty ones included)."""
    out = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)))
    r = c = 0
    for b in blocks:
        out[r : r + b.shape[0], c : c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


def categorical_effects(columns: list[str], n_levels: list[int], non_centred: np.ndarray,
                        config: ModelConfig):
    """Zero-sum level effects of every categorical covariate, as one vector.

    Column ``j``'s effects are ``ZeroSumNormal(σ_j)`` (centred) or ``σ_j ·
    ZeroSumNormal(1)`` (non-centred, ``non_centred[j]``) with ``σ_j ~ Gamma(2, 2/scale)``,
    written as one normal vector ``beta_cat_z`` of all columns' free coordinates and one
    constant block-diagonal :func:`zero_sum_basis`: the same model in the same
    unconstrained coordinates as one ``ZeroSumNormal`` per column, with a few graph nodes
    instead of a dozen per column (a 20-column win/loss table had ~560). ``sigma_cov[col]``
    and ``beta[col]`` are kept per column as deterministics (diagnostics, the posterior
    arrays). Returns the ``(Σ n_levels,)`` effects in column order.
    """
    k = len(columns)
    free = np.repeat(np.arange(k), [max(n - 1, 0) for n in n_levels])
    full = np.repeat(np.arange(k), n_levels)
    sigma = group_scale("sigma_cov", config.covariate_sd, shape=k)
    nc = np.asarray(non_centred, dtype=float)
    z = pm.Normal("beta_cat_z", 0.0, nc[free] + (1.0 - nc[free]) * sigma[free],
                  shape=len(free))
    basis = block_diagonal([zero_sum_basis(n) for n in n_levels])
    # a product and a row sum rather than a matrix-vector dot: no BLAS op in the graph
    effects = (basis * z[None, :]).sum(axis=1) * (nc[full] * sigma[full] + (1.0 - nc[full]))
    start = 0
    for j, (col, n) in enumerate(zip(columns, n_levels, strict=True)):
        pm.Deterministic(f"sigma_cov[{col}]", sigma[j])
        pm.Deterministic(f"beta[{col}]", effects[start : start + n])
        start += n
    return effects


def covariate_block(spec: CovariateSpec, x: np.ndarray, config: ModelConfig,
                    closed: np.ndarray | None = None):
    """Covariate design of the rows of ``x`` and its coefficients (``None`` without covariates).

    Returns ``(X, beta)`` with ``X @ beta`` the rows' ``x·β``: the categorical columns
    first, one indicator column per level (an unseen level, code −1, has none: the pooled
    mean; their effects: :func:`categorical_effects`), then each numeric column's
    standardised value. The design is as wide as the levels plus the numeric columns,
    however many distinct covariate patterns there are (with a numeric covariate nearly
    every deal is a pattern of its own). ``closed``: the rows' ``(n, 2)`` won and lost
    counts, which choose each categorical covariate's parametrisation
    (:func:`non_centred_covariate`; without them, the centred form unless
    ``config.group_effects`` says otherwise).
    """
    if spec.n_columns == 0:
        return None
    cat = [j for j, kind in enumerate(spec.kinds) if kind == "categorical"]
    num = [j for j, kind in enumerate(spec.kinds) if kind != "categorical"]
    columns, coefs = [], []
    if cat:
        n_levels = [len(spec.levels[j]) for j in cat]
        codes = [x[:, j].astype(int) for j in cat]
        nc = np.array([non_centred_covariate(c, n, closed, config)
                       for c, n in zip(codes, n_levels, strict=True)])
        coefs.append(categorical_effects([spec.columns[j] for j in cat], n_levels, nc,
                                         config))
        for c, n in zip(codes, n_levels, strict=True):
            seen = np.flatnonzero(c >= 0)
            indicator = np.zeros((len(x), n))
            indicator[seen, c[seen]] = 1.0
            columns.append(indicator)
    if num:
        beta_num = pm.Normal("beta_num", 0.0, config.numeric_sd, shape=len(num))
        for i, j in enumerate(num):
            pm.Deterministic(f"beta[{spec.columns[j]}]", beta_num[i])
            columns.append(x[:, j : j + 1].astype(float))
        coefs.append(beta_num)
    return np.concatenate(columns, axis=1), pt.concatenate(coefs)


def extract_flow(posterior, cells: CellTable, spec: CovariateSpec) -> FlowPosterior:
    """Read a :class:`FlowPosterior` from an ArviZ posterior group."""
    a = stack_draws(posterior, "a")
    p = a.shape[0]
    owner = (stack_draws(posterior, "owner_eff") if "owner_eff" in posterior
             else np.zeros((p, 3, cells.n_owners)))
    sigma_o = (stack_draws(posterior, "sigma_owner") if "sigma_owner" in posterior
               else np.zeros((p, 3)))
    seg = (stack_draws(posterior, "segment_eff") if "segment_eff" in posterior
           else np.zeros((p, 3, cells.n_segments)))
    beta_cat, beta_num = [], []
    for j, col in enumerate(spec.columns):
        b = stack_draws(posterior, f"beta[{col}]")
        if spec.kinds[j] == "categorical":
            beta_cat.append(b)
        else:
            beta_num.append(b)
    num = np.stack(beta_num, axis=1) if beta_num else np.zeros((p, 0))
    calendar = (stack_draws(posterior, "calendar").astype(np.float64)
                if cells.n_slots > 1 else None)
    drift = drift_sigma = None
    if cells.n_quarters > 1:  # anchored at the last quarter: a is the latest level
        drift = stack_draws(posterior, "drift").astype(np.float64)
        a = a + drift[:, :, -1:]
        drift = drift - drift[:, :, -1:]
        drift_sigma = stack_draws(posterior, "sigma_drift").astype(np.float64)
    return FlowPosterior(a=a, dur=stack_draws(posterior, "dur"), owner_eff=owner,
                         segment_eff=seg, sigma_owner=sigma_o, beta_cat=beta_cat, beta_num=num,
                         calendar=calendar, drift=drift, drift_sigma=drift_sigma)

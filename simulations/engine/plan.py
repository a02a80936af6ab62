"""Planning of a simulation run: what does not depend on the path.

This module holds the :class:`Plan` of a run (:func:`make_plan`): the distinct (owner,
segment, covariate pattern) groups of open and new deals, the open deals' cells (group,
stage, week in stage, days of the week passed) sorted so that the compiled recursion can
visit them stage by stage, the new deals' table rows and arrival scales; and the memory
budgets that size a run's chunks of paths and batches of posterior draws
(:func:`chunk_size_for`, :func:`tables_per_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.data.cells import MAX_WEEK
from simulations.engine.inputs import SimulationInputs
from simulations.engine.kernels import CellLayout, as_f64, as_i64

#: memory budget of one chunk's per-path working arrays (random numbers); small enough to
#: stay in cache between being drawn and being used
CHUNK_BYTES = 16 * 2**20
#: memory budget of the tables of one batch of posterior draws (:func:`tables_per_batch`)
TABLE_BYTES = 128 * 2**20
#: most paths in one chunk
MAX_CHUNK = 4096


def _groups(inputs: SimulationInputs) -> tuple[np.ndarray, ...]:
    """Distinct (owner, segment, xb) groups of open deals and of new deals."""
    d = inputs.deals
    n_xb = inputs.xb.shape[1]
    o_n, g_n = len(inputs.owners), len(inputs.segments)
    keys = (d.owner * g_n + d.segment) * n_xb + d.xb
    active = np.flatnonzero(inputs.arrival_multiplier.sum(axis=1) > 0)
    new_keys = ((active[:, None] * g_n + np.arange(g_n)[None, :]) * n_xb + (n_xb - 1)).ravel()
    uniq, inv = np.unique(np.concatenate([keys, new_keys]), return_inverse=True)
    g_owner, rest = uniq // (g_n * n_xb), uniq % (g_n * n_xb)
    g_segment, g_xb = rest // n_xb, rest % n_xb
    open_group = inv[: len(keys)]
    new_group = inv[len(keys):].reshape(len(active), g_n)
    new_lookup = np.full((o_n, g_n), -1)
    new_lookup[active] = new_group
    return g_owner, g_segment, g_xb, open_group, new_lookup


@dataclass(frozen=True)
class Plan:
    """Everything about a run that does not depend on the path."""

    days: int
    g_owner: np.ndarray
    g_segment: np.ndarray
    g_xb: np.ndarray
    cell_start: np.ndarray     # (G + 1,) open cells of group g: cell_start[g]:cell_start[g+1]
    cell_stage: np.ndarray
    cell_week: np.ndarray
    cell_part: np.ndarray      # days of the cell's current week already passed (0..6)
    deal_cell: np.ndarray      # (n_open,) open cell of each deal
    new_row: np.ndarray        # (G,) row of the group in the new-deal table, −1: none
    new_row_lookup: np.ndarray  # (O, n_segments) new-deal table row of (owner, segment)
    nb_scale: np.ndarray       # (P, O, M) scale of the arrivals' gamma (mean / alpha)
    entry_cum: np.ndarray      # (P, S) cumulative entry-stage probabilities
    day_month: np.ndarray
    deal_order: np.ndarray     # (n_open,) deals sorted by cell
    cell_deals: np.ndarray     # (n_cells + 1,) deals of cell c: deal_order[cell_deals[c]:...]
    n_grid: int = 1            # weeks of the horizon with their own calendar (K)

    @property
    def n_cells(self) -> int:
        return len(self.cell_stage)

    @property
    def n_new_rows(self) -> int:
        return int(self.new_row.max()) + 1 if self.new_row.size else 0

    def layout(self) -> CellLayout:
        """The groups and cells as the compiled kernels read them."""
        return CellLayout(
            days=int(self.days), g_owner=as_i64(self.g_owner), g_segment=as_i64(self.g_segment),
            g_xb=as_i64(self.g_xb), cell_start=as_i64(self.cell_start),
            cell_stage=as_i64(self.cell_stage), cell_week=as_i64(self.cell_week),
            cell_part=as_i64(self.cell_part), new_row=as_i64(self.new_row),
            cell_deals=as_i64(self.cell_deals), deal_order=as_i64(self.deal_order))


def make_plan(inputs: SimulationInputs, new_deals: bool = True) -> Plan:
    """The :class:`Plan` of a run on ``inputs`` (``new_deals=False``: without the new-deal
    rows, so that the kernel computes only the open deals' tables, skipping the new deals'
    daily CDFs and the stages below each group's open deals)."""
    hz, d = inputs.horizon, inputs.deals
    n_s, n_w = len(inputs.stages), MAX_WEEK + 1
    g_owner, g_segment, g_xb, open_group, new_lookup = _groups(inputs)
    n_g = len(g_owner)
    key = ((open_group * n_s + d.stage) * n_w + d.week) * 7 + d.part
    cells, deal_cell = np.unique(key, return_inverse=True)
    cell_part, cells = cells % 7, cells // 7
    cell_group, rest = cells // (n_s * n_w), cells % (n_s * n_w)
    cell_stage, cell_week = rest // n_w, rest % n_w
    cell_start = np.searchsorted(cell_group, np.arange(n_g + 1))
    deal_cell = deal_cell.reshape(-1)
    deal_order = np.argsort(deal_cell, kind="stable")
    new_groups = np.unique(new_lookup[new_lookup >= 0]) if new_deals else np.zeros(0, int)
    new_row = np.full(n_g, -1)
    new_row[new_groups] = np.arange(len(new_groups))
    new_row_lookup = np.where(new_lookup >= 0, new_row[np.maximum(new_lookup, 0)], -1)
    # arrivals: the same whole-array computation whatever paths are simulated
    moy = hz.month_of_year() - 1
    log_mu = (inputs.arr_b0[:, None, None] + inputs.arr_owner_eff[:, :, None]
              + inputs.season[:, moy][:, None, :])
    mu = np.exp(log_mu) * hz.fraction_of_month()[None, None, :] * inputs.arrival_multiplier
    alpha = as_f64(inputs.alpha)[:, None, None]
    return Plan(
        days=hz.days, g_owner=g_owner, g_segment=g_segment, g_xb=g_xb,
        cell_start=cell_start,
        cell_stage=cell_stage, cell_week=cell_week, cell_part=cell_part, deal_cell=deal_cell,
        new_row=new_row, new_row_lookup=new_row_lookup, nb_scale=mu / alpha,
        entry_cum=np.cumsum(inputs.entry_stage, axis=1), day_month=hz.day_month(),
        deal_order=deal_order,
        cell_deals=np.searchsorted(deal_cell[deal_order], np.arange(len(cells) + 1)),
        n_grid=inputs.n_grid)


def chunk_size_for(inputs: SimulationInputs) -> int:
    """Paths per chunk under :data:`CHUNK_BYTES`."""
    per_path = 8 * (len(inputs.deals) + 64)
    return int(max(1, min(MAX_CHUNK, CHUNK_BYTES // per_path)))


def tables_per_batch(plan: Plan, n_stages: int) -> int:
    """Posterior draws whose tables (each open cell's chance by the horizon's end, the new
    deals' daily CDFs, per calendar week) fit in :data:`TABLE_BYTES` together."""
    per_draw = 8 * (plan.n_cells + plan.days * plan.n_new_rows * n_stages * plan.n_grid) + 1
    return int(max(1, min(4096, TABLE_BYTES // per_draw)))

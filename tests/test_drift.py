"""Drift of the stage intercepts over fiscal quarters (``pipeline.yaml``: ``drift: true``):
quarter numbers, the switch, the cells split by quarter, the model's random walk, the
engine's future steps and the generator's truth (fast; the recovery test is in
``tests/test_recovery.py``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import PIPELINE_YAML, random_spells, tiny_posterior, write_dataset

from benchmarks.engine_inputs import realistic_inputs
from forecast.data.cells import EVENTS, build_cells, duration_bucket
from forecast.data.dataset import load_dataset
from forecast.data.periods import (
    quarter_label,
    quarter_number,
    quarter_number_and_change,
    quarter_slot,
    quarter_start,
)
from forecast.data.problems import DataValidationError
from forecast.models.config import ModelConfig
from simulations.engine import simulate as E
from simulations.engine.calendar import drift_levels
from simulations.synthetic.generator import GeneratorConfig, generate


# ------------------------------------------------------------------ quarter numbers
@pytest.mark.parametrize("fys", [1, 2, 12])
def test_quarter_numbers_count_fiscal_quarters_every_day(fys):
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2025-12-31"))
    q, change = quarter_number_and_change(days, fys)
    assert np.all(np.diff(q) >= 0) and set(np.diff(q)) == {0, 1}
    starts = quarter_start(q, fys)
    assert np.all(starts <= days) and np.all(days < change)
    assert np.array_equal(change, quarter_start(q + 1, fys))
    for d, n in zip(days[::17], q[::17], strict=True):  # by hand: months since the FY start
        date = dt.date.fromisoformat(str(d))
        months = (date.year - 1970) * 12 + date.month - 1 - (fys - 1)
        assert n == months // 3
    first = pd.Timestamp(starts[0])
    assert (first.month - fys) % 3 == 0 and first.day == 1


def test_quarter_labels():
    q = int(quarter_number(np.datetime64("2017-08-15")))
    assert quarter_label(q) == "2017-Q3"
    assert quarter_label(int(quarter_number(np.datetime64("2017-08-15"), 2)), 2) == "2017-08..10"
    assert quarter_label(int(quarter_number(np.datetime64("2017-12-15"), 12)), 12) == \
        "2017-12..02"


# ------------------------------------------------------------------ the switch
def test_drift_switch_is_read_checked_and_defaults_to_off(tmp_path):
    off = load_dataset(write_dataset(tmp_path / "off"))
    on = load_dataset(write_dataset(tmp_path / "on", pipeline=PIPELINE_YAML + "drift: true\n"))
    assert off.config.drift is False and on.config.drift is True
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "bad", pipeline=PIPELINE_YAML + "drift: 1\n"))
    assert any("drift must be true or false" in p.message for p in err.value.problems)


def test_fingerprint_and_fit_id_keep_their_old_values_with_drift_off(tmp_path):
    from forecast.models.config import SamplerConfig
    from forecast.models.store import dataset_fingerprint, fit_id

    ds = load_dataset(write_dataset(tmp_path / "d"))
    on = replace(ds, config=replace(ds.config, drift=True))
    assert dataset_fingerprint(on) != dataset_fingerprint(ds)
    assert fit_id(ModelConfig(drift_sd=0.3), SamplerConfig()) != fit_id(ModelConfig(),
                                                                       SamplerConfig())


# ------------------------------------------------------------------ cells by quarter
def cells_by_hand(spells: pd.DataFrame, codes, calendar: bool, fys: int) -> dict:
    """One deal-week at a time, each in the cell of its week's slot and quarter."""
    q0 = int(quarter_number(np.datetime64(spells["start"].min().date()), fys))
    out: dict = defaultdict(lambda: np.zeros(10, dtype=np.int64))

    def cell(group, start, w):
        day = np.array([start + 7 * w])
        slot = int(quarter_slot(day, fys)[0]) if calendar else 0
        return (group[0], int(duration_bucket(np.array([w]))[0]), *group[1:], slot,
                int(quarter_number(day, fys)[0]) - q0)

    for i, row in enumerate(spells.itertuples(index=False)):
        start = np.datetime64(row.start.date())
        days = max((row.end - row.start).days, 0)
        censored = row.outcome == "censored"
        k, r = ((days + 1) // 7, (days + 1) % 7) if censored else (days // 7, 0)
        group = (row.stage_idx, *(int(c[i]) for c in codes))
        for w in range(k):
            out[cell(group, start, w)][0] += 1
        if not censored:
            out[cell(group, start, k)][EVENTS.index(row.outcome)] += 1
        elif r:
            out[cell(group, start, k)][3 + r] += 1
    return {key: v for key, v in out.items() if v.any()}


def as_dict(table) -> dict:
    keys = zip(table.stage, table.bucket, table.owner, table.segment, table.pattern,
               table.slot, table.quarter, strict=True)
    rows = np.concatenate([table.counts, table.partial], axis=1)
    return {tuple(int(x) for x in key): rows[i] for i, key in enumerate(keys)}


@pytest.mark.parametrize(("calendar", "fys"), [(False, 1), (True, 1), (True, 2), (False, 12)])
def test_cells_by_quarter_equal_a_week_by_week_count(calendar, fys):
    rng = np.random.default_rng(fys + 10 * calendar)
    spells = random_spells(rng)
    codes = (rng.integers(0, 3, len(spells)), rng.integers(0, 2, len(spells)),
             rng.integers(0, 2, len(spells)))
    frozen = spells.copy()
    table = build_cells(spells, *codes, n_stages=3, n_owners=3, n_segments=2, n_patterns=2,
                        calendar=calendar, fiscal_year_start=fys, drift=True)
    pd.testing.assert_frame_equal(spells, frozen)
    assert table.n_slots == (4 if calendar else 1)
    assert table.n_quarters == table.quarter.max() + 1 >= 12
    assert table.first_quarter == quarter_number(np.datetime64(spells["start"].min().date()),
                                                 fys)
    got, expected = as_dict(table), cells_by_hand(spells, codes, calendar, fys)
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        assert got[key].tolist() == row.tolist(), key


def test_cells_by_month_carry_the_quarter_of_their_month():
    """The months' cells (the month variation's) and the quarters' cells of the same
    spells hold the same counts per quarter and slot."""
    rng = np.random.default_rng(5)
    spells = random_spells(rng, 500)
    zero = np.zeros(len(spells), dtype=np.int64)
    sizes = dict(n_stages=3, n_owners=1, n_segments=1, n_patterns=1)
    first = np.datetime64(spells["start"].min().date(), "M")
    by_q = build_cells(spells, zero, zero, zero, **sizes, calendar=True, drift=True)
    by_m = build_cells(spells, zero, zero, zero, **sizes, calendar=True, drift=True,
                       first_month=first)
    for t in (by_q, by_m):
        assert t.n_quarters == by_q.n_quarters
    key_q = by_q.quarter * 4 + by_q.slot
    key_m = by_m.quarter * 4 + by_m.slot % 4
    n = int(key_q.max()) + 1
    for col in range(4):
        assert np.array_equal(np.bincount(key_q, by_q.counts[:, col], n),
                              np.bincount(key_m, by_m.counts[:, col], n))


# ------------------------------------------------------------------ the model's walk
def test_flow_model_drift_is_a_zero_sum_walk_in_either_parametrisation():
    """Non-centred: drawn from the prior, the walk sums to zero over the quarters and its
    steps are Normal(0, σ). Centred (the levels are the parameters): the model's density
    moves with the levels exactly as the walk's density of their differences."""
    pm = pytest.importorskip("pymc")
    from scipy import stats

    from forecast.data.covariates import CovariateSpec
    from forecast.models.flow import add_flow_block, drift_effects, zero_sum_basis

    rng = np.random.default_rng(3)
    spells = random_spells(rng, 300)
    zero = np.zeros(len(spells), dtype=np.int64)
    cells = build_cells(spells, zero, zero, zero, 3, 1, 1, 1, drift=True)
    labels = [f"q{i}" for i in range(cells.n_quarters)]
    with pm.Model() as model:
        add_flow_block(cells, CovariateSpec(), np.zeros((1, 0)),
                       ModelConfig(group_effects="noncentered"), quarter_labels=labels)
    assert model.named_vars_to_dims["drift"] == ("outcome", "quarter")
    assert list(model.coords["quarter"]) == labels
    drift, sigma = pm.draw([model["drift"], model["sigma_drift"]], draws=4000, random_seed=1)
    assert np.abs(drift.sum(axis=-1)).max() < 1e-9
    steps = np.diff(drift, axis=-1) / sigma[:, :, None]
    assert abs(steps.std() - 1.0) < 0.03 and abs(steps.mean()) < 0.03

    n_q = cells.n_quarters
    with pm.Model(coords={"outcome": ["advance", "won", "lost"]}) as centred:
        drift_effects(cells, ModelConfig(group_effects="centered"))
    logp = centred.compile_logp()
    basis = zero_sum_basis(n_q)
    point = {"sigma_drift_log__": np.log([0.1, 0.2, 0.3])}
    values = []
    for seed in (1, 2):
        w = np.random.default_rng(seed).normal(0, 0.3, (3, n_q - 1))
        levels = w @ basis.T
        by_hand = stats.norm.logpdf(np.diff(levels, axis=1), 0.0,
                                    np.array([0.1, 0.2, 0.3])[:, None]).sum()
        values.append((logp({**point, "drift_levels_w": w}), by_hand))
    assert values[1][0] - values[0][0] == pytest.approx(values[1][1] - values[0][1], rel=1e-9)
    plain = build_cells(spells, zero, zero, zero, 3, 1, 1, 1)
    with pm.Model() as m2:
        add_flow_block(plain, CovariateSpec(), np.zeros((1, 0)), ModelConfig())
    assert "drift" not in m2.named_vars and plain.n_quarters == 1


def test_the_walk_starts_after_the_months_without_recorded_closes():
    """An export that records no close before mid-August 2023 (its earlier spells end in
    advances only): the walk starts at 2023-Q4 (the first close falls in Q3's second
    month); the quarters before share one level of their own, outside the walk."""
    pm = pytest.importorskip("pymc")
    from forecast.data.cells import walk_start
    from forecast.data.covariates import CovariateSpec
    from forecast.models.flow import add_flow_block

    rng = np.random.default_rng(8)
    spells = random_spells(rng, 400)
    early = (spells["end"] < "2023-08-15") & spells["outcome"].isin(["won", "lost"])
    spells.loc[early, "outcome"] = "advance"
    zero = np.zeros(len(spells), dtype=np.int64)
    cells = build_cells(spells, zero, zero, zero, 3, 1, 1, 1, drift=True)
    assert cells.first_quarter == quarter_number(np.datetime64("2023-01-01"))
    assert cells.walk_start == 3  # 2023-Q4
    whole = build_cells(random_spells(np.random.default_rng(8), 400), zero, zero, zero,
                        3, 1, 1, 1, drift=True)
    assert whole.walk_start == 0  # closes from the first month on
    assert build_cells(spells, zero, zero, zero, 3, 1, 1, 1).walk_start == 0  # no drift
    assert walk_start(np.array([], dtype="datetime64[D]"), 0, 5) == 0
    assert walk_start(np.array(["1970-12-20"], dtype="datetime64[D]"), 0, 3) == 2  # at most last
    n_q = cells.n_quarters
    with pm.Model() as model:
        add_flow_block(cells, CovariateSpec(), np.zeros((1, 0)),
                       ModelConfig(group_effects="noncentered"))
    drift, before = pm.draw([model["drift"], model["drift_before"]], draws=4000,
                            random_seed=2)
    assert drift.shape == (4000, 3, n_q)
    assert np.array_equal(drift[:, :, :3], np.repeat(before[:, :, None], 3, axis=2))
    assert np.abs(drift[:, :, 3:].sum(axis=-1)).max() < 1e-9
    assert abs(before.std() - ModelConfig().drift_before_sd) < 0.05
    with pm.Model() as centred:
        add_flow_block(cells, CovariateSpec(), np.zeros((1, 0)),
                       ModelConfig(group_effects="centered"))
    assert centred["drift_levels_w"].type.shape == (3, n_q - 4)
    assert np.isfinite(centred.compile_logp()(centred.initial_point()))


def test_calendar_and_drift_wait_for_a_whole_quarter_of_recorded_closes():
    """Generated closes from January 2025 with ``calendar: true`` and ``drift: true``: as of
    2025-03-30 the history holds no whole quarter of closes, so the cells are built without
    either effect and the fit's diagnostics would say so; as of 2025-03-31, one (Q1): the
    calendar's slots (drift has one quarter, nothing to walk yet); as of 2025-08-15 both.
    An export whose first close falls in a quarter's last month counts from the next."""
    from forecast.data.cells import MIN_CLOSED_QUARTERS, closed_quarters
    from forecast.data.snapshot import build_snapshot
    from forecast.models.fit import spell_cells, time_effects_withheld
    from forecast.posterior import ModelIndex
    from pipecast.model_notes import time_effects_withheld_note

    cfg = GeneratorConfig.drifting(covariates=(), n_deals=600.0, start="2025-01-01",
                                   end="2026-05-31")
    data = generate(cfg, 4)
    data = replace(data, pipeline={**data.pipeline, "drift": True, "calendar": True})
    dataset = data.to_dataset()
    assert MIN_CLOSED_QUARTERS == 1

    def cells_as_of(day):
        snap = build_snapshot(dataset, day)
        return time_effects_withheld(snap), spell_cells(snap, ModelIndex.from_snapshot(snap))

    (withheld, n), cells = cells_as_of("2025-03-30")
    assert withheld == ("calendar", "drift") and n == 0
    assert (cells.n_slots, cells.n_quarters) == (1, 1)
    (withheld, n), cells = cells_as_of("2025-03-31")
    assert withheld == () and n == 1 and cells.n_slots == 4 and cells.n_quarters == 1
    (withheld, n), cells = cells_as_of("2025-08-15")
    assert withheld == () and n == 2 and cells.n_slots == 4 and cells.n_quarters == 3
    plain = build_snapshot(replace(data, pipeline={**data.pipeline, "drift": False,
                                                   "calendar": False}).to_dataset(),
                           "2025-03-30")
    assert time_effects_withheld(plain) == ((), 0)
    march = np.array(["2017-03-01", "2017-04-11"], dtype="datetime64[D]")
    assert [closed_quarters(march, d) for d in ("2017-06-29", "2017-06-30", "2017-12-31")] \
        == [0, 1, 3]
    assert closed_quarters(march[:0], "2017-12-31") == 0
    note = time_effects_withheld_note(["calendar", "drift"], 0, 1)
    assert "`calendar: true` and `drift: true`" in note and "no whole quarter" in note
    assert "1 whole quarter of" in time_effects_withheld_note(["drift"], 1, 2)
    from pipecast.commands.common import fit_line

    diag = {"rhat_max": 1.004, "divergences": 0}
    assert fit_line(diag) == "R-hat max 1.004, divergences 0"
    line = fit_line({**diag, "time_effects_withheld": {"effects": ["calendar", "drift"],
                                                       "full_quarters": 0, "needed": 1}})
    assert "calendar and drift not fitted" in line and "0 whole quarter(s)" in line


def test_a_drift_dataset_fingerprint_carries_the_drift_revision(tmp_path, monkeypatch):
    from forecast.models import store

    ds = load_dataset(write_dataset(tmp_path / "d", pipeline=PIPELINE_YAML + "drift: true\n"))
    now = store.dataset_fingerprint(ds)
    monkeypatch.setattr(store, "MODEL_REVISIONS", {})
    assert store.dataset_fingerprint(ds) != now  # fits of the earlier drift do not match
    off = replace(ds, config=replace(ds.config, drift=False))
    monkeypatch.setattr(store, "MODEL_REVISIONS", {"drift": 2})
    plain = store.dataset_fingerprint(off)
    monkeypatch.setattr(store, "MODEL_REVISIONS", {})
    assert store.dataset_fingerprint(off) == plain  # without drift: unchanged


# ------------------------------------------------------------------ the engine
AS_OF = "2026-08-31"  # a horizon of 3 months crosses into the next quarter


@pytest.fixture(scope="module")
def inputs():
    return realistic_inputs(300, n_posterior=3, months=3, as_of=AS_OF, seed=4)


def test_drift_levels_start_at_zero_and_step_once_per_quarter():
    sigma = np.array([[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]])
    lv = drift_levels(sigma, AS_OF, 20, seed=3)
    weeks = np.datetime64(AS_OF) + 1 + 7 * np.arange(20)
    ahead = quarter_number(weeks) - quarter_number(np.datetime64(AS_OF))
    assert set(ahead) == {0, 1, 2}
    assert np.all(lv[:, ahead == 0] == 0.0) and np.all(lv[1] == 0.0)
    for j in (1, 2):  # one level per quarter entered, the second the first plus a step
        assert np.ptp(lv[0, ahead == j], axis=0).max() == 0.0
    assert np.all(lv[0, ahead == 1] != 0.0)
    # a quarter's step is its own: the same in a shorter horizon and for fewer draws
    np.testing.assert_array_equal(drift_levels(sigma[:1], AS_OF, 8, seed=3), lv[:1, :8])
    assert not np.array_equal(drift_levels(sigma, AS_OF, 20, seed=4), lv)


def test_a_zero_drift_is_the_engine_without_one_and_a_drift_widens_the_quarter_after(
        inputs):
    base = E.simulate(inputs, 400, seed=3).revenue.sum(axis=2)  # (paths, months)
    zero = replace(inputs, drift_sigma=np.zeros((inputs.n_posterior, 3)))
    np.testing.assert_allclose(E.simulate(zero, 400, seed=3).revenue.sum(axis=2), base,
                               rtol=1e-9)
    wide = replace(inputs, drift_sigma=np.full((inputs.n_posterior, 3), 0.6))
    runs = np.stack([E.simulate(wide, 400, seed=s).revenue.sum(axis=2) for s in range(6)])
    # September is in the as-of quarter: its numbers do not move with the drift's steps
    np.testing.assert_allclose(runs[:, :, 0].mean(axis=1), base[:, 0].mean(), rtol=0.15)
    # October and November: each run draws its own step, so run means spread out
    spread = runs[:, :, 1:].mean(axis=1).std(axis=0) / base[:, 1:].mean(axis=0)
    assert spread.min() > 0.05


def test_simulating_with_drift_does_not_depend_on_threads_or_chunks(inputs):
    wide = replace(inputs, drift_sigma=np.full((inputs.n_posterior, 3), 0.3))
    ref = E.simulate(wide, 40, seed=9, threads=1, chunk_size=40)
    res = E.simulate(wide, 40, seed=9, threads=2, chunk_size=7)
    assert np.array_equal(ref.revenue, res.revenue)


# ------------------------------------------------------------------ the generator
def test_generator_drift_truth_is_a_walk_to_zero_in_the_last_quarter():
    cfg = GeneratorConfig.drifting(n_deals=600.0, start="2025-01-01", end="2026-05-31")
    data = generate(cfg, 4)
    truth = data.truth
    assert list(truth["drift"]) == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1",
                                    "2026-Q2"]
    assert truth["drift"]["2026-Q2"] == {"advance": 0.0, "won": 0.0, "lost": 0.0}
    assert truth["sigma_drift"] == {"advance": 0.1, "won": 0.2, "lost": 0.2}
    flat = generate(replace(cfg, sigma_drift=(0.0, 0.0, 0.0)), 4)
    assert "drift" not in flat.truth
    # the drift moves the deals' outcomes; everything drawn before it is the same
    assert data.deals["created_at"].equals(flat.deals["created_at"])
    assert not data.deals["status"].equals(flat.deals["status"])
    with pytest.raises(ValueError, match="sigma_drift"):
        GeneratorConfig(sigma_drift=(0.1, -0.1, 0.0))


# ------------------------------------------------------------------ the report
def test_drift_profile_plot_and_note_by_hand():
    import matplotlib

    matplotlib.use("Agg")
    from pipecast.model_notes import drift_note
    from simulations.plots.drift import drift_profile, plot_drift

    draws = np.zeros((200, 3, 3))
    draws[:, 1, 0] = np.log(0.5) + np.linspace(-0.1, 0.1, 200)  # won odds half today's
    draws[:, 2, 0] = np.log(1.5)
    quarters = ["2024-Q1", "2024-Q2", "2024-Q3"]
    prof = drift_profile(draws, quarters)
    assert len(prof) == 9 and set(prof["quarter"]) == set(quarters)
    row = prof[(prof["outcome"] == "won") & (prof["quarter"] == "2024-Q1")].iloc[0]
    assert row["odds"] == pytest.approx(0.5, rel=1e-3)
    assert row["odds_lower"] < 0.5 < row["odds_upper"]
    note = drift_note(prof, {"won": 0.21, "lost": 0.05})
    assert "In 2024-Q1 a week's odds of a win were ×0.50" in note
    assert "of a loss ×1.50" in note and "2024-Q3, the latest quarter" in note
    assert "spread 0.21 on the won and 0.05 on the lost" in note
    assert "fresh step" not in drift_note(prof)
    assert "outside the walk" not in note
    later = drift_note(prof, walk_start="2024-Q2")  # 2024-Q1 before the walk
    assert "In 2024-Q2 a week's odds of a win were ×1.00" in later
    assert "The quarters before 2024-Q2 record no close" in later
    ax = plot_drift(draws, quarters)
    assert [t.get_text() for t in ax.get_xticklabels()] == quarters
    shaded = plot_drift(draws, quarters, walk_start="2024-Q2")
    assert len(shaded.patches) == len(ax.patches) + 1
    assert any("the walk" in t.get_text() for t in shaded.texts)
    twelve = [f"{2024 + q // 4}-Q{q % 4 + 1}" for q in range(12)]
    ax12 = plot_drift(np.zeros((20, 3, 12)), twelve)  # at most six labels: none overlap
    assert [t.get_text() for t in ax12.get_xticklabels()] == twelve[::2]
    with pytest.raises(ValueError, match="3 quarters of draws but 2 names"):
        drift_profile(draws, quarters[:2])


def test_the_months_expected_counts_take_their_quarters_level():
    """With drift, a month's expected events are those of its quarter's level: ``a`` (the
    latest quarter's) plus the drift of the month's quarter."""
    from forecast.data.cells import CellTable
    from forecast.data.covariates import CovariateSpec
    from forecast.models.month_variation import month_counts
    from forecast.posterior import FlowPosterior

    first = np.datetime64("2023-01", "M")
    counts = np.array([[80, 0, 15, 5], [40, 0, 6, 4], [40, 0, 6, 4]])
    cells = CellTable(stage=np.zeros(3, dtype=np.int64), bucket=np.zeros(3, dtype=np.int64),
                      owner=np.zeros(3, dtype=np.int64), segment=np.zeros(3, dtype=np.int64),
                      pattern=np.zeros(3, dtype=np.int64), counts=counts,
                      partial=np.zeros((3, 6), dtype=np.int64), n_stages=1, n_owners=1,
                      n_segments=1, n_patterns=1, n_slots=4 * 6,
                      slot=np.array([0 * 4 + 0, 2 * 4 + 2, 4 * 4 + 1]), n_quarters=2,
                      quarter=np.array([0, 0, 1]))
    a = np.zeros((4, 3, 1))
    a[:, 0], a[:, 1], a[:, 2] = -50.0, np.log(0.1), np.log(0.05)
    drift = np.zeros((4, 3, 2))
    drift[:, 1, 0] = np.log(0.5)  # the first quarter's won odds half the latest's
    flow = FlowPosterior(a=a, dur=np.zeros((4, 3, 8)), owner_eff=np.zeros((4, 3, 1)),
                         segment_eff=np.zeros((4, 3, 1)), sigma_owner=np.zeros((4, 3)),
                         beta_cat=[], beta_num=np.zeros((4, 0)), calendar=np.zeros((4, 3, 4)),
                         drift=drift, drift_sigma=np.zeros((4, 3)))
    got = month_counts(cells, first, flow, CovariateSpec(), np.zeros((1, 0)))
    assert got.months == ("2023-02", "2023-03", "2023-04", "2023-05")
    np.testing.assert_allclose(got.expected[1, 1], 50 * 0.05 / 1.10)  # March: quarter 0
    np.testing.assert_allclose(got.expected[3, 1], 50 * 0.10 / 1.15)  # May: quarter 1


def test_posterior_arrays_round_trip_the_drift_and_old_ones_load_without(tmp_path):
    from forecast.posterior import FlowPosterior, PipelinePosterior

    rng = np.random.default_rng(0)
    p = 5
    flow = FlowPosterior(a=rng.normal(size=(p, 3, 2)), dur=rng.normal(size=(p, 3, 8)),
                         owner_eff=np.zeros((p, 3, 1)), segment_eff=np.zeros((p, 3, 1)),
                         sigma_owner=np.zeros((p, 3)), beta_cat=[], beta_num=np.zeros((p, 0)),
                         drift=rng.normal(size=(p, 3, 6)), drift_sigma=rng.random((p, 3)))
    post = tiny_posterior(flow, p, diagnostics={"drift": {
        "quarters": [f"2025-Q{i}" for i in range(1, 5)]}})
    post.save(tmp_path / "p.npz")
    back = PipelinePosterior.load(tmp_path / "p.npz")
    assert np.array_equal(back.flow.drift, flow.drift)
    assert np.array_equal(back.flow.drift_sigma, flow.drift_sigma)
    assert back.diagnostics["drift"]["quarters"][0] == "2025-Q1"
    arrays, meta = post.to_arrays()  # as written before the fields existed
    del arrays["flow.drift"], arrays["flow.drift_sigma"]
    old = PipelinePosterior.from_arrays(arrays, meta)
    assert old.flow.drift is None and old.flow.drift_sigma is None

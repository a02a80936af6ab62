"""The quarter calendar, fit side: fiscal quarter slots, the ``calendar`` switch of
``pipeline.yaml``, exposure cells split by slot, the model's calendar block and the
posterior arrays that carry it (the fit that recovers it is in ``test_recovery.py``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import PIPELINE_YAML, random_spells, write_dataset

from forecast.data.cells import EVENTS, build_cells, duration_bucket
from forecast.data.dataset import load_dataset
from forecast.data.periods import QUARTER_SLOTS, quarter_slot, quarter_slot_and_change
from forecast.data.problems import DataValidationError
from forecast.models.config import ModelConfig, SamplerConfig
from forecast.models.store import dataset_fingerprint, fit_id
from forecast.posterior import PipelinePosterior

DAYS = np.arange(np.datetime64("2022-11-20"), np.datetime64("2026-03-10"))


# ------------------------------------------------------------------ fiscal quarter slots
def slot_by_hand(day: dt.date, fiscal_year_start: int) -> int:
    """The slot of one day, from the definition: month of the fiscal quarter, or 3 in its
    last 14 days."""
    month_of_quarter = (day.month - fiscal_year_start) % 3
    first = dt.date(day.year, day.month, 1)
    for _ in range(3 - month_of_quarter):  # the first day of the next fiscal quarter
        first = (first + dt.timedelta(days=32)).replace(day=1)
    return 3 if (first - day).days <= 14 else month_of_quarter


@pytest.mark.parametrize("fys", [1, 2, 4, 12])
def test_quarter_slot_matches_the_definition_every_day(fys):
    expected = [slot_by_hand(d, fys) for d in DAYS.astype(dt.date)]
    assert quarter_slot(DAYS, fys).tolist() == expected
    as_numbers = DAYS.astype(np.int64)
    assert quarter_slot(as_numbers, fiscal_year_start=fys).tolist() == expected


def test_fiscal_quarters_from_february_and_december():
    days = np.array(["2024-02-01", "2024-04-16", "2024-04-17", "2024-05-01", "2024-07-31"],
                    dtype="datetime64[D]")
    assert quarter_slot(days, fiscal_year_start=2).tolist() == [0, 2, 3, 0, 3]
    # from December: Dec–Feb, Mar–May, ...; February (28 or 29 days) is month 3
    days = np.array(["2023-12-01", "2024-01-31", "2024-02-15", "2024-02-16", "2023-02-14",
                     "2023-02-15", "2024-03-01"], dtype="datetime64[D]")
    assert quarter_slot(days, fiscal_year_start=12).tolist() == [0, 1, 2, 3, 2, 3, 0]
    assert quarter_slot(days).tolist() == [2, 0, 1, 1, 1, 1, 2]  # calendar quarters


@pytest.mark.parametrize("fys", [1, 2, 12])
def test_slot_change_is_the_first_day_of_another_slot(fys):
    slot, change = quarter_slot_and_change(DAYS[:-200], fys)
    all_slots = quarter_slot(DAYS, fys)
    pos = (change - DAYS[0]).astype(np.int64)
    assert (quarter_slot(change, fys) != slot).all()
    for i in range(len(slot)):  # every day from the date up to the change keeps its slot
        assert (all_slots[i:pos[i]] == slot[i]).all()


@pytest.mark.parametrize("bad", [0, 13, 2.5, True])
def test_quarter_slot_refuses_a_month_out_of_range(bad):
    with pytest.raises(ValueError, match="fiscal_year_start"):
        quarter_slot(DAYS[:3], bad)


# ------------------------------------------------------------------ the switch
def test_calendar_switch_is_read_and_defaults_to_off(tmp_path):
    off = load_dataset(write_dataset(tmp_path / "off"))
    on = load_dataset(write_dataset(tmp_path / "on", pipeline=PIPELINE_YAML
                                    + "calendar: true\nfiscal_year_start: 2\n"))
    assert off.config.calendar is False and off.config.fiscal_year_start == 1
    assert on.config.calendar is True and on.config.fiscal_year_start == 2


def test_calendar_switch_is_checked_with_the_other_keys(tmp_path):
    text = PIPELINE_YAML + "calendar: yes please\nfiscal_year_start: 0\n"
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "d", pipeline=text))
    messages = [p.message for p in err.value.problems]
    assert any("calendar must be true or false" in m for m in messages), messages
    assert any("fiscal_year_start must be a month number" in m for m in messages), messages


def test_fingerprint_changes_with_the_calendar_only_when_it_is_on(tmp_path):
    """pipeline.yaml is in the data fingerprint (the fit cache's key): switching the
    calendar on misses the cache; a dataset without it keeps the fingerprint it had before
    the key existed, so fits saved then still match."""
    import hashlib
    import json
    from dataclasses import asdict

    from forecast.models import store

    ds = load_dataset(write_dataset(tmp_path / "d"))
    on = replace(ds, config=replace(ds.config, calendar=True))
    assert dataset_fingerprint(on) != dataset_fingerprint(ds)
    seasonal = replace(on, config=replace(on.config, seasonal=True))
    assert dataset_fingerprint(seasonal) != dataset_fingerprint(on)
    before = hashlib.sha256()  # the fingerprint as computed before the key existed
    for frame in (ds.deals, ds.stage_history, ds.quotas):
        store._frame_hash(before, frame)
    cfg = {k: v for k, v in asdict(ds.config).items() if k not in ("calendar", "drift",
                                                                     "seasonal")}
    before.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    assert dataset_fingerprint(ds) == before.hexdigest()[:32]
    # the same for the model's id: calendar_sd (drift_sd, drift_before_sd) at its default
    # leaves the id as it was
    later = ("calendar_sd", "drift_sd", "drift_before_sd")
    assert set(store.MODEL_ADDED_LATER) == set(later)
    old_id = store._sha({"model_type": store.MODEL_TYPE, "model": {
        k: v for k, v in ModelConfig().to_dict().items() if k not in later},
        "sampler": store.sampler_key(SamplerConfig()), "version": store.package_version()})
    assert fit_id(ModelConfig(), SamplerConfig()) == old_id[:16]
    assert fit_id(ModelConfig(calendar_sd=0.5), SamplerConfig()) != old_id[:16]


# ------------------------------------------------------------------ cells by slot
def cells_by_hand(spells: pd.DataFrame, codes: tuple[np.ndarray, ...], calendar: bool,
                  fys: int) -> dict[tuple, np.ndarray]:
    """The counts, one deal-week at a time: week ``w`` starts on ``start + 7w``; stays,
    the event's week and the censored part-week each in the cell of their week's slot."""
    out: dict[tuple, np.ndarray] = defaultdict(lambda: np.zeros(10, dtype=np.int64))
    for i, row in enumerate(spells.itertuples(index=False)):
        start = np.datetime64(row.start.date())
        days = max((row.end - row.start).days, 0)
        censored = row.outcome == "censored"
        k, r = ((days + 1) // 7, (days + 1) % 7) if censored else (days // 7, 0)

        group = (row.stage_idx, *(int(c[i]) for c in codes))
        for w in range(k):
            out[_cell(group, start, w, calendar, fys)][0] += 1
        if not censored:
            out[_cell(group, start, k, calendar, fys)][EVENTS.index(row.outcome)] += 1
        elif r:
            out[_cell(group, start, k, calendar, fys)][3 + r] += 1
    return {key: v for key, v in out.items() if v.any()}


def _cell(group: tuple, start: np.datetime64, w: int, calendar: bool, fys: int) -> tuple:
    """(stage, bucket, owner, segment, pattern, slot) of week ``w`` of a spell."""
    s = int(quarter_slot(np.array([start + 7 * w]), fys)[0]) if calendar else 0
    return (group[0], int(duration_bucket(np.array([w]))[0]), *group[1:], s)


def as_dict(table) -> dict[tuple, np.ndarray]:
    keys = zip(table.stage, table.bucket, table.owner, table.segment, table.pattern,
               table.slot, strict=True)
    rows = np.concatenate([table.counts, table.partial], axis=1)
    return {tuple(int(x) for x in key): rows[i] for i, key in enumerate(keys)}


@pytest.mark.parametrize("fys", [1, 2, 12])
def test_cells_by_slot_equal_a_week_by_week_count(fys):
    rng = np.random.default_rng(fys)
    spells = random_spells(rng)
    codes = (rng.integers(0, 3, len(spells)), rng.integers(0, 2, len(spells)),
             rng.integers(0, 2, len(spells)))
    frozen = spells.copy()
    table = build_cells(spells, *codes, n_stages=3, n_owners=3, n_segments=2, n_patterns=2,
                        calendar=True, fiscal_year_start=fys)
    pd.testing.assert_frame_equal(spells, frozen)  # the caller's frame is left alone
    assert table.n_slots == 4 and set(np.unique(table.slot)) == {0, 1, 2, 3}
    got, expected = as_dict(table), cells_by_hand(spells, codes, True, fys)
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        assert got[key].tolist() == row.tolist(), key
    # the spell table has what the test is about: part-weeks, long spells over quarter ends
    assert table.partial.sum() > 20 and (table.bucket == 7).any()


def test_cells_summed_over_slots_are_the_cells_without_calendar():
    rng = np.random.default_rng(7)
    spells = random_spells(rng, 600)
    codes = (rng.integers(0, 4, len(spells)), np.zeros(len(spells), dtype=np.int64),
             rng.integers(0, 3, len(spells)))
    sizes = dict(n_stages=3, n_owners=4, n_segments=1, n_patterns=3)
    plain = build_cells(spells, *codes, **sizes)
    assert plain.n_slots == 1 and not plain.slot.any()
    on = build_cells(spells, *codes, **sizes, calendar=True, fiscal_year_start=2)
    cols = ["stage", "bucket", "owner", "segment", "pattern"]
    summed = on.to_frame().drop(columns="slot").groupby(cols).sum().reset_index()
    expected = plain.to_frame().drop(columns="slot").sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(summed, expected, check_dtype=False)


def test_cells_without_calendar_equal_a_week_by_week_count():
    rng = np.random.default_rng(11)
    spells = random_spells(rng, 300)
    codes = tuple(np.zeros(len(spells), dtype=np.int64) for _ in range(3))
    table = build_cells(spells, *codes, n_stages=3, n_owners=1, n_segments=1, n_patterns=1)
    got, expected = as_dict(table), cells_by_hand(spells, codes, False, 1)
    assert got.keys() == expected.keys()
    assert all(got[k].tolist() == v.tolist() for k, v in expected.items())


# ------------------------------------------------------------------ the model's block
def test_flow_model_has_a_zero_sum_calendar_only_with_slots():
    pm = pytest.importorskip("pymc")
    from forecast.data.covariates import CovariateSpec
    from forecast.models.flow import add_flow_block

    rng = np.random.default_rng(3)
    spells = random_spells(rng, 300)
    zero = np.zeros(len(spells), dtype=np.int64)
    for calendar in (False, True):
        cells = build_cells(spells, zero, zero, zero, 3, 1, 1, 1, calendar=calendar)
        with pm.Model() as model:
            add_flow_block(cells, CovariateSpec(), np.zeros((1, 0)), ModelConfig())
        names = set(model.named_vars)
        assert ("calendar" in names) == calendar
        if calendar:
            assert model.named_vars_to_dims["calendar"] == ("outcome", "slot")
            draws = pm.draw(model["calendar"], draws=50, random_seed=1)
            assert draws.shape == (50, 3, 4)
            assert np.abs(draws.sum(axis=-1)).max() < 1e-9  # zero-sum over slots
            assert "sigma_calendar" in names


# ------------------------------------------------------------------ posterior arrays
def test_posterior_arrays_round_trip_calendar_and_fiscal_year_and_old_ones_load(tmp_path):
    from forecast.posterior import (
        AmountPosterior,
        ArrivalPosterior,
        FlowPosterior,
        ModelIndex,
    )

    rng = np.random.default_rng(0)
    p = 5
    flow = FlowPosterior(a=rng.normal(size=(p, 3, 2)), dur=rng.normal(size=(p, 3, 8)),
                         owner_eff=np.zeros((p, 3, 1)), segment_eff=np.zeros((p, 3, 1)),
                         sigma_owner=np.zeros((p, 3)), beta_cat=[], beta_num=np.zeros((p, 0)),
                         calendar=rng.normal(size=(p, 3, 4)))
    post = PipelinePosterior(
        index=ModelIndex(as_of="2026-10-31", stages=("a", "b"), owners=("o",),
                         segments=("all",), owner_team={"o": "t"}, fiscal_year_start=11),
        flow=flow,
        arrivals=ArrivalPosterior(np.zeros(p), np.zeros((p, 1)), np.zeros((p, 12)),
                                  np.ones(p), np.ones(1, dtype=bool)),
        amounts=AmountPosterior(np.zeros((p, 1)), np.ones((p, 1)), np.zeros(p), np.zeros(p),
                                False, np.ones((p, 1, 1)), np.full((p, 2), 0.5)),
        diagnostics={}, fingerprint="x", config={})
    post.save(tmp_path / "p.npz")
    back = PipelinePosterior.load(tmp_path / "p.npz")
    assert back.flow.calendar.dtype == np.float64
    assert np.array_equal(back.flow.calendar, flow.calendar)
    assert back.index.fiscal_year_start == 11
    arrays, meta = post.to_arrays()  # as written before the fields existed
    del arrays["flow.calendar"], meta["index"]["fiscal_year_start"]
    old = PipelinePosterior.from_arrays(arrays, meta)
    assert old.flow.calendar is None and old.index.fiscal_year_start == 1
    assert "flow.calendar" not in old.to_arrays()[0]


def test_calendar_profile_and_plot_by_hand():
    from simulations.plots.calendar import calendar_profile, plot_calendar

    draws = np.zeros((400, 3, 4))
    draws[:, 1] = np.log([0.5, 1.0, 1.0, 2.0])  # won: halved in month 1, doubled at the end
    draws[:, 1, 3] += np.linspace(-0.1, 0.1, 400)
    prof = calendar_profile(draws)
    assert list(prof.columns[:2]) == ["outcome", "slot"] and len(prof) == 12
    won = prof[prof["outcome"] == "won"].set_index("slot")
    assert won.loc["month 1", "odds"] == pytest.approx(0.5)
    assert won.loc["last two weeks", "odds"] == pytest.approx(2.0, rel=1e-3)
    lo, hi = won.loc["last two weeks", ["effect_lower", "effect_upper"]]
    assert lo == pytest.approx(np.log(2) - 0.094, abs=2e-3)
    assert hi == pytest.approx(np.log(2) + 0.094, abs=2e-3)
    ax = plot_calendar(draws)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(QUARTER_SLOTS)
    assert len(ax.patches) == 8  # won and lost, four slots each


def test_the_reports_calendar_sentence_reads_the_profile():
    from pipecast.model_notes import calendar_note
    from simulations.plots.calendar import calendar_profile

    draws = np.zeros((10, 3, 4))
    draws[:, 1] = np.log([0.5, 1.0, 1.0, 2.0])
    draws[:, 2] = np.log([1.25, 1.0, 1.0, 0.8])
    note = calendar_note(calendar_profile(draws))
    assert "×2.00 the average slot's odds of a win and ×0.80 of a loss" in note
    assert "×0.50 and ×1.25" in note and "good or bad luck" in note
    assert "luck" not in calendar_note(calendar_profile(draws), months=False)
    assert "Caution" not in note and "Caution" not in calendar_note(calendar_profile(draws),
                                                                    quarters=2)
    short = calendar_note(calendar_profile(draws), quarters=1)
    assert "holds 1 full quarter of closes" in short and "calendar: false" in short

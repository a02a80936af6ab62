"""Tests of simulations.evaluation.baselines on small hand-built datasets (values worked by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.dataset import dataset_from_frames
from forecast.data.snapshot import build_snapshot
from simulations.engine.horizon import make_horizon
from simulations.evaluation.baselines import (
    BASELINES,
    LogisticWin,
    RunRate,
    StageConversion,
    WeightedPipeline,
    first_month_fraction,
    horizon_months,
)

COLUMNS = ["deal_id", "created_at", "stage", "status", "closed_at", "amount", "owner",
           "expected_close_at"]


def hand_dataset():
    """Four closed deals and three open ones, stages a < b < c, with stage history.

    Won deals' days from entering a stage to the win:
    w1 (a 01-01, b 01-20, c 02-01, won 03-01): a 60, b 41, c 29;
    w2 (a 01-10, c 03-10, won 04-10): a 91, c 31.
    So stage a: [60, 91], b: [41], c: [29, 31].
    """
    deals = pd.DataFrame([
        ("w1", "2024-01-01", "c", "won", "2024-03-01", 100.0, "ann", ""),
        ("w2", "2024-01-10", "c", "won", "2024-04-10", 200.0, "bob", ""),
        ("l1", "2024-01-05", "a", "lost", "2024-02-01", 50.0, "ann", ""),
        ("l2", "2024-01-05", "b", "lost", "2024-03-01", 50.0, "bob", ""),
        ("o1", "2024-06-10", "a", "open", "", 1000.0, "ann", "2024-07-15"),
        ("o2", "2024-05-01", "b", "open", "", 500.0, "bob", ""),
        ("o3", "2024-05-01", "c", "open", "", 300.0, "bob", "2024-05-20"),
    ], columns=COLUMNS)
    history = pd.DataFrame([
        ("l1", "a", "2024-01-05"),
        ("l2", "a", "2024-01-05"), ("l2", "b", "2024-02-01"),
        ("o1", "a", "2024-06-10"),
        ("o2", "a", "2024-05-01"), ("o2", "b", "2024-06-01"),
        ("o3", "a", "2024-05-01"), ("o3", "b", "2024-05-10"), ("o3", "c", "2024-06-01"),
        ("w1", "a", "2024-01-01"), ("w1", "b", "2024-01-20"), ("w1", "c", "2024-02-01"),
        ("w2", "a", "2024-01-10"), ("w2", "c", "2024-03-10"),
    ], columns=["deal_id", "stage", "entered_at"])
    return deals, history


@pytest.fixture
def snapshot():
    deals, history = hand_dataset()
    ds = dataset_from_frames(deals, stages=("a", "b", "c"), stage_history=history)
    return build_snapshot(ds, "2024-06-15")


MONTHS = ["2024-06", "2024-07", "2024-08"]


def test_horizon_months_and_first_month_fraction():
    assert horizon_months("2024-06-15", 3) == MONTHS
    assert horizon_months("2024-06-30", 2) == ["2024-07", "2024-08"]
    assert horizon_months("2024-12-31", 2) == ["2025-01", "2025-02"]
    assert first_month_fraction(pd.Timestamp("2024-06-15")) == pytest.approx(15 / 30)
    for as_of in ("2024-06-15", "2024-06-30", "2024-02-01", "2024-01-31"):
        h = make_horizon(as_of, 4)
        assert horizon_months(as_of, 4) == list(h.months)
        assert first_month_fraction(pd.Timestamp(as_of)) == pytest.approx(
            h.fraction_of_month()[0])
    assert first_month_fraction(pd.Timestamp("2024-06-30")) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        horizon_months("2024-06-15", 0)


def test_weighted_pipeline_by_hand(snapshot):
    # default CRM probabilities for 3 stages: a 0.10, b 0.45, c 0.80
    model = WeightedPipeline().fit(snapshot)
    # o1: 1000 * 0.10 = 100 at its expected date 07-15 -> July
    # o2: 500 * 0.45 = 225, no expected date: stage b history [41], in b 14 days -> 27 days
    #     after as_of = 07-12 -> July
    # o3: 300 * 0.80 = 240, expected 05-20 is overdue -> month 1 (June)
    pred = model.predict_revenue(MONTHS)
    assert pred.index.tolist() == MONTHS
    np.testing.assert_allclose(pred.to_numpy(), [240.0, 325.0, 0.0])
    assert model.total() == pytest.approx(565.0)
    by_owner = model.predict_revenue(MONTHS, by_owner=True)
    assert by_owner.columns.tolist() == ["ann", "bob"]
    np.testing.assert_allclose(by_owner["ann"], [0.0, 100.0, 0.0])
    np.testing.assert_allclose(by_owner["bob"], [240.0, 225.0, 0.0])
    np.testing.assert_allclose(by_owner.sum(axis=1), pred)
    # months can be asked in any order and subset
    np.testing.assert_allclose(model.predict_revenue(["2024-07"]), [325.0])


def test_weighted_pipeline_uses_configured_probabilities():
    deals, history = hand_dataset()
    ds = dataset_from_frames(deals.drop(columns="expected_close_at"), stages=("a", "b", "c"),
                             stage_history=history,
                             crm_probabilities={"a": 0.2, "b": 0.5, "c": 0.9})
    model = WeightedPipeline().fit(build_snapshot(ds, "2024-06-15"))
    assert model.total() == pytest.approx(1000 * 0.2 + 500 * 0.5 + 300 * 0.9)
    p = model.predict_proba(pd.DataFrame({"stage": ["c", "a"]}))
    np.testing.assert_allclose(p, [0.9, 0.2])


def test_stage_conversion_by_hand(snapshot):
    model = StageConversion().fit(snapshot)
    # deals that were in a: w1 w2 l1 l2 (2 won of 4); in b: w1 l2 (1 of 2); in c: w1 w2
    rates = model.stage_rates_.set_index("stage")
    np.testing.assert_allclose(rates["p_win"], [0.5, 0.5, 1.0])
    assert rates["decided"].tolist() == [4, 2, 2]
    assert (rates["source"] == "history").all()
    # timing: o1 in a for 5 days: T > 5 in [60, 91] -> median(55, 86) = 70.5 -> 71 days
    #   -> 08-25; o2 in b 14 days: 41 - 14 = 27 -> 07-12; o3 in c 14 days: [15, 17] -> 16
    #   -> 07-01
    f = model.deal_forecasts_.set_index("deal_id")
    assert f.loc["o1", "close_date"] == pd.Timestamp("2024-08-25")
    assert f.loc["o2", "close_date"] == pd.Timestamp("2024-07-12")
    assert f.loc["o3", "close_date"] == pd.Timestamp("2024-07-01")
    pred = model.predict_revenue(MONTHS)
    np.testing.assert_allclose(pred.to_numpy(), [0.0, 250.0 + 300.0, 500.0])
    assert model.total() == pytest.approx(1050.0)


def test_stage_conversion_overdue_and_fallbacks():
    deals, history = hand_dataset()
    ds = dataset_from_frames(deals, stages=("a", "b", "c"), stage_history=history)
    # at 2024-08-20 o2 has been in b for 80 days, longer than any won deal stayed (41):
    # due at once -> month 1
    snap = build_snapshot(ds, "2024-08-20")
    f = StageConversion().fit(snap).deal_forecasts_.set_index("deal_id")
    assert str(f.loc["o2", "close_month"]) == "2024-08"
    # before any deal was decided: no history -> CRM probabilities, everything due at once
    early = build_snapshot(ds, "2024-01-15")
    model = StageConversion().fit(early)
    assert (model.stage_rates_["source"] == "crm").all()
    pred = model.predict_revenue(horizon_months(early.as_of, 2))
    # at 01-15 w1, w2, l1, l2 are all open in stage a (CRM 0.1) and no deal has been won,
    # so no timing history: all due in month 1
    np.testing.assert_allclose(pred.to_numpy(), [0.1 * (100 + 200 + 50 + 50), 0.0])


def test_run_rate_by_hand(snapshot):
    model = RunRate().fit(snapshot)
    # window (2024-03-15, 2024-06-15]: only w2 (200, bob) was won -> 200 / 3 per month
    assert model.monthly_rate_ == pytest.approx(200 / 3)
    pred = model.predict_revenue(MONTHS)
    # June: only the 15 days after as_of of 30 count
    np.testing.assert_allclose(pred.to_numpy(), [100 / 3, 200 / 3, 200 / 3])
    by_owner = model.predict_revenue(MONTHS, by_owner=True)
    np.testing.assert_allclose(by_owner["ann"], 0.0)
    np.testing.assert_allclose(by_owner["bob"], pred)


def test_run_rate_month_end_and_short_history():
    deals, history = hand_dataset()
    ds = dataset_from_frames(deals, stages=("a", "b", "c"), stage_history=history)
    # as_of month end: window (01-31, 04-30] holds w1 (100) and w2 (200)
    model = RunRate().fit(build_snapshot(ds, "2024-04-30"))
    np.testing.assert_allclose(model.predict_revenue(["2024-05", "2024-06"]), [100.0, 100.0])
    # as_of 03-15: window (2023-12-15, 2024-03-15] is 91 days, data start 2024-01-01 covers 75
    model = RunRate().fit(build_snapshot(ds, "2024-03-15"))
    assert model.monthly_rate_ == pytest.approx(100.0 / (3 * 75 / 91))
    # a 1-month window
    model = RunRate(window_months=1).fit(build_snapshot(ds, "2024-04-30"))
    assert model.monthly_rate_ == pytest.approx(200.0)


def logistic_dataset(seed: int = 0) -> pd.DataFrame:
    """60 closed deals: segment ent wins 80%, smb 20%; plus two open deals."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(60):
        seg = "ent" if i % 2 == 0 else "smb"
        won = rng.uniform() < (0.8 if seg == "ent" else 0.2)
        created = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(i * 3))
        closed = created + pd.Timedelta(days=int(rng.integers(20, 90)))
        stage = "c" if won else ["a", "b", "c"][int(rng.integers(0, 3))]
        rows.append((f"d{i}", created, stage, "won" if won else "lost", closed,
                     float(rng.integers(10, 100)) * 100, ["ann", "bob", "cy"][i % 3], seg))
    for j, seg in enumerate(("ent", "smb")):
        rows.append((f"open{j}", pd.Timestamp("2023-12-01"), "b", "open", pd.NaT, 5000.0,
                     "ann", seg))
    return pd.DataFrame(rows, columns=["deal_id", "created_at", "stage", "status",
                                       "closed_at", "amount", "owner", "segment"])


def test_logistic_fits_and_ranks_categories():
    ds = dataset_from_frames(logistic_dataset(), stages=("a", "b", "c"))
    snap = build_snapshot(ds, "2023-12-31")
    model = LogisticWin().fit(snap)
    assert model.fallback_ is None
    assert model.params_ is not None and np.isfinite(model.params_).all()
    p = model.predict_proba(snap.open_deals)
    assert ((p > 0) & (p < 1)).all()
    seg = snap.open_deals["segment"].to_numpy()
    assert p[seg == "ent"][0] > p[seg == "smb"][0]
    # deal-level probabilities of closed deals too (for Brier scoring)
    pc = model.predict_proba(snap.closed_deals)
    assert pc.shape == (len(snap.closed_deals),) and ((pc > 0) & (pc < 1)).all()
    # the revenue forecast is p_win * amount of the open deals
    assert model.total() == pytest.approx(float((p * 5000.0).sum()))
    # unseen levels are pooled, not errors
    new = snap.open_deals.assign(owner="zed", segment="new")
    assert np.isfinite(model.predict_proba(new)).all()


def test_logistic_survives_perfect_separation():
    deals = logistic_dataset()
    deals = deals.assign(status=np.where(deals["status"] == "open", "open",
                                         np.where(deals["segment"] == "ent", "won", "lost")))
    deals.loc[deals["status"] == "won", "stage"] = "c"
    ds = dataset_from_frames(deals, stages=("a", "b", "c"))
    snap = build_snapshot(ds, "2023-12-31")
    model = LogisticWin(expand_stages=False).fit(snap)
    assert model.fallback_ is None
    assert np.isfinite(model.params_).all()
    p = model.predict_proba(snap.open_deals)
    assert ((p > 0) & (p < 1)).all()
    seg = snap.open_deals["segment"].to_numpy()
    assert p[seg == "ent"][0] > p[seg == "smb"][0]


def test_logistic_falls_back_to_stage_rates_with_few_deals(snapshot):
    model = LogisticWin().fit(snapshot)
    assert model.fallback_ is not None and "min_deals" in model.fallback_
    conv = StageConversion().fit(snapshot)
    np.testing.assert_allclose(model.predict_revenue(MONTHS), conv.predict_revenue(MONTHS),
                               atol=1e-6)


def test_registry_and_common_contract(snapshot):
    assert set(BASELINES) == {"weighted_pipeline", "stage_conversion", "run_rate", "logistic"}
    before = snapshot.deals.copy()
    for name, cls in BASELINES.items():
        model = cls()
        with pytest.raises(RuntimeError):
            model.predict_revenue(MONTHS)
        assert model.fit(snapshot) is model
        pred = model.predict_revenue(MONTHS)
        assert pred.name == "revenue" and pred.index.tolist() == MONTHS, name
        assert (pred >= 0).all(), name
        with pytest.raises(ValueError, match="not after as_of"):
            model.predict_revenue(["2024-05"])
        with pytest.raises(ValueError, match="YYYY-MM"):
            model.predict_revenue(["June"])
    pd.testing.assert_frame_equal(snapshot.deals, before)


def test_empty_pipeline_gives_zero_deal_forecasts():
    deals, history = hand_dataset()
    deals = deals[deals["status"] != "open"]
    history = history[history["deal_id"].isin(set(deals["deal_id"]))]
    ds = dataset_from_frames(deals, stages=("a", "b", "c"), stage_history=history)
    snap = build_snapshot(ds, "2024-06-15")
    for name in ("weighted_pipeline", "stage_conversion", "logistic"):
        model = BASELINES[name]().fit(snap)
        np.testing.assert_allclose(model.predict_revenue(MONTHS), 0.0)
        assert model.total() == 0.0
    np.testing.assert_allclose(RunRate().fit(snap).predict_revenue(MONTHS),
                               [100 / 3, 200 / 3, 200 / 3])

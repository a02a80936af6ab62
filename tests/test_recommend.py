"""Pipeline recommendations: exact limits by hand, monotonicity, the engine check, the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.data.cells import DURATION_EDGES_WEEKS
from simulations.engine.horizon import make_horizon
from simulations.engine.inputs import DealBook, SimulationInputs, booked_to_date
from simulations.engine.simulate import simulate
from simulations.planning.added_deals import AddedDeals, with_added_deals
from simulations.planning.classic import classic_counts
from simulations.planning.recommend import recommend, smallest_k
from simulations.planning.targets import apportion, resolve_target, target_revenue

N_B = len(DURATION_EDGES_WEEKS)
BIG = 40.0
SIZE = 100.0


def hand_inputs(p_win: float = 1.0, n_stages: int = 2, months: int = 3, n_open: int = 0,
                as_of: str = "2024-06-30", size: float = SIZE) -> SimulationInputs:
    """Nothing in the pipeline and no arrivals; a deal entering stage 1 passes one stage a
    week and, at the last stage, is won with probability ``p_win`` (lost otherwise) in
    week it gets there. Won size is exactly ``size``."""
    a = np.full((1, 3, n_stages), -BIG)
    a[0, 0, :-1] = BIG  # advance every week
    a[0, 1, -1] = BIG + (np.log(p_win) if p_win < 1 else 0.0)
    if p_win < 1:
        a[0, 2, -1] = BIG + np.log(1 - p_win)
    hz = make_horizon(as_of, months)
    amounts = np.full(n_open, SIZE)
    book = DealBook(
        deal_id=np.array([f"D{i}" for i in range(n_open)], dtype=object),
        owner=np.arange(n_open) % 2, segment=np.zeros(n_open, dtype=np.int64),
        xb=np.zeros(n_open, dtype=np.int64), stage=np.full(n_open, n_stages - 1),
        week=np.zeros(n_open, dtype=np.int64),
        part=np.zeros(n_open, dtype=np.int64), amount=amounts,
        override=np.zeros(n_open, dtype=np.int8), forced_day=np.zeros(n_open, dtype=np.int64),
        delay_days=np.zeros(n_open, dtype=np.int64))
    return SimulationInputs(
        horizon=hz, owners=("ann", "bob"), teams={"ann": "east", "bob": "west"},
        segments=("all",), stages=tuple(f"s{i}" for i in range(n_stages)), deals=book, a=a,
        dur=np.zeros((1, 3, N_B)), owner_eff=np.zeros((1, 3, 2)),
        segment_eff=np.zeros((1, 3, 1)), xb=np.zeros((1, 1)), arr_b0=np.full(1, -BIG),
        arr_owner_eff=np.zeros((1, 2)), season=np.zeros((1, 12)), alpha=np.full(1, 1e6),
        arrival_multiplier=np.ones((2, months)), segment_mix=np.ones((1, 2, 1)),
        entry_stage=np.tile([1.0] + [0.0] * (n_stages - 1), (1, 1)),
        size_mu=np.full((1, 1), np.log(size)), size_sigma=np.zeros((1, 1)),
        ratio_mu=np.zeros(1), ratio_sigma=np.zeros(1))


def run_rec(inputs, amount, confidence, n_draws=2000, period=None, owner=None, seed=7,
            max_deals=5000):
    base = simulate(inputs, n_draws, seed=1)
    target = resolve_target(inputs, amount, owner=owner, period=period)
    return (recommend(inputs, base, target, confidence, seed=seed, max_deals=max_deals),
            base, target)


# --------------------------------------------------------------------------- exact limits


@pytest.mark.parametrize("amount", [1000.0, 1050.0, 120.0])
def test_no_uncertainty_gives_the_classic_count(amount):
    rec, _, _ = run_rec(hand_inputs(p_win=1.0), amount, 0.9, n_draws=200)
    classic = classic_counts(amount, SIZE, 1.0, n_reps=2, win_rate_qualified=1.0)
    assert rec.deals_needed == math.ceil(amount / SIZE) == classic["deals_needed"]
    assert rec.leads_needed == rec.deals_needed == classic["leads_needed"]
    assert rec.p_attain_with_deals == 1.0 and rec.p_attain_now == 0.0
    assert rec.owners["deals_needed"].sum() == rec.deals_needed
    assert rec.from_scratch["deals_needed"] == rec.deals_needed


def test_classic_counts_are_the_issues_formulas():
    c = classic_counts(1000.0, 30.0, 0.25, n_reps=3, win_rate_qualified=0.5)
    assert c["deals_needed"] == 34  # won deals: ceil(1000 / 30)
    assert c["leads_needed"] == 136  # deals ÷ win rate
    assert c["deals_per_rep"] == 12 and c["leads_per_rep"] == 46  # ÷ 3 reps
    assert c["qualified_deals_needed"] == 68  # deals ÷ win rate from the qualified stage
    assert classic_counts(1000.0, float("nan"), 0.25, 3)["deals_needed"] is None
    assert classic_counts(1000.0, 30.0, 0.0, 3)["leads_needed"] is None


@pytest.mark.slow  # runs long
def test_many_tiny_deals_with_a_win_rate_below_one_converge_to_the_classic_formula():
    # win probability p < 1, one fixed size: with n won deals needed, the simulated count
    # is the binomial quantile, n/p + z·sqrt(n(1−p))/p + O(1). As the deals get tiny
    # (n → ∞ for a fixed target) the law of large numbers removes the variance and the
    # simulated answer ÷ the classic one (leads = target ÷ size ÷ win rate) → 1.
    p, conf, amount = 0.4, 0.8, 1000.0
    gaps = {}
    for n_wins in (10, 10_000):
        size = amount / n_wins
        rec, _, _ = run_rec(hand_inputs(p_win=p, size=size, months=1), amount, conf,
                            n_draws=400, max_deals=40_000)
        classic = classic_counts(amount, size, p, n_reps=2, win_rate_qualified=p)
        assert classic["deals_needed"] == n_wins
        assert classic["leads_needed"] == classic["qualified_deals_needed"] == n_wins / p
        # every lead reaches qualification: simulated leads = simulated qualified deals
        assert rec.leads_needed == rec.deals_needed >= classic["leads_needed"]
        gaps[n_wins] = rec.deals_needed / classic["leads_needed"] - 1
        z = stats.norm.ppf(conf)
        spread = z * math.sqrt(n_wins * (1 - p)) / p  # the binomial's extra deals
        assert abs(rec.deals_needed - n_wins / p - spread) <= 0.35 * spread + 3
    assert gaps[10] > 0.1  # ten big coin flips: far more than the formula
    assert gaps[10_000] < 0.01  # ten thousand tiny ones: the formula, within 1%
    assert gaps[10_000] < gaps[10] / 20


def test_uncertain_wins_need_at_least_the_classic_count_and_match_the_binomial():
    p, conf, amount = 0.4, 0.8, 1000.0
    rec, _, _ = run_rec(hand_inputs(p_win=p), amount, conf, n_draws=4000)
    classic = classic_counts(amount, SIZE, p, n_reps=2, win_rate_qualified=p)
    assert classic["deals_needed"] == 10  # won deals
    classic = classic["leads_needed"]
    assert classic == 25
    assert rec.deals_needed >= classic
    wins = math.ceil(amount / SIZE)
    exact = next(k for k in range(wins, 500) if stats.binom.sf(wins - 1, k, p) >= conf)
    assert abs(rec.deals_needed - exact) <= 1
    # on average (not at a confidence) the simulation agrees with the formula
    assert abs(rec.deals_needed_on_average - classic) <= 1


def test_a_future_period_is_served_by_deals_qualified_later():
    # four stages: a deal qualified (stage 1) is won in its third week, days 15–21
    inputs = hand_inputs(p_win=1.0, n_stages=4)
    rec, _, _ = run_rec(inputs, 500.0, 0.9, n_draws=200, period="2024-09")
    assert rec.deals_needed == 5
    assert pd.Timestamp(rec.qualify_from) >= pd.Timestamp("2024-08-11")
    assert pd.Timestamp(rec.by_when) <= pd.Timestamp("2024-09-16")
    assert pd.Timestamp(rec.qualify_from) <= pd.Timestamp(rec.by_when)
    early = rec.schedule.iloc[0]
    assert early["qualified_on"] == "2024-07-01" and early["deals_needed"] is None


# --------------------------------------------------------------------------- monotonicity


def test_probability_is_non_decreasing_in_added_deals_and_pool_draws_are_stable():
    inputs = hand_inputs(p_win=0.3)
    base = simulate(inputs, 500, seed=2)
    target = resolve_target(inputs, 800.0)
    pool = AddedDeals(inputs, target, 1, 500, np.random.SeedSequence(9))
    probs = [np.mean(target_revenue(base, target) + pool.revenue(k) >= 800)
             for k in range(0, 130, 3)]
    direct = [np.mean(target_revenue(base, target) + pool.revenue(k, cache=False) >= 800)
              for k in range(0, 130, 3)]
    assert probs == direct
    assert np.all(np.diff(probs) >= 0)
    small = AddedDeals(inputs, target, 1, 500, np.random.SeedSequence(9))
    small.grow(10)
    small.grow(200)
    pool.grow(200)
    assert np.array_equal(small.offset[:, :200], pool.offset[:, :200])
    assert np.array_equal(small.amount[:, :200], pool.amount[:, :200])


def test_recommendations_grow_with_target_and_confidence():
    inputs = hand_inputs(p_win=0.5)
    base = simulate(inputs, 1000, seed=3)
    by_target = [recommend(inputs, base, resolve_target(inputs, t), 0.8, seed=4).deals_needed
                 for t in (300.0, 600.0, 1200.0, 2400.0)]
    by_conf = [recommend(inputs, base, resolve_target(inputs, 1000.0), c, seed=4).deals_needed
               for c in (0.3, 0.5, 0.8, 0.95)]
    assert by_target == sorted(by_target) and by_target[0] < by_target[-1]
    assert by_conf == sorted(by_conf) and by_conf[0] < by_conf[-1]


def test_smallest_k_finds_the_threshold_of_a_monotone_predicate():
    for threshold in (0, 1, 2, 3, 17, 64, 1000):
        assert smallest_k(lambda k, t=threshold: k >= t, 5000) == threshold
    assert smallest_k(lambda k: k >= 6000, 5000) is None


def test_apportion_is_proportional_and_house_monotone():
    w = np.array([0.5, 0.3, 0.2])
    seq = apportion(w, 100)
    assert np.array_equal(np.bincount(seq, minlength=3), [50, 30, 20])
    for k in range(1, 100):
        assert np.all(np.bincount(seq[:k + 1], minlength=3)
                      >= np.bincount(seq[:k], minlength=3))


# --------------------------------------------------------------------------- engine check


def test_the_engine_reaches_the_confidence_with_the_recommended_deals_by_hand():
    inputs = hand_inputs(p_win=0.4)
    rec, _, target = run_rec(inputs, 1000.0, 0.8, n_draws=4000)
    sim = simulate(with_added_deals(inputs, target, rec.deals_needed), 4000, seed=99)
    p = np.mean(target_revenue(sim, target) >= 1000.0 * (1 - 1e-9))
    assert p >= 0.8 - 3 * np.sqrt(0.8 * 0.2 / 4000)
    fewer = simulate(with_added_deals(inputs, target, rec.deals_needed - 2), 4000, seed=99)
    assert np.mean(target_revenue(fewer, target) >= 1000.0 * (1 - 1e-9)) < 0.8


def test_the_engine_reaches_the_confidence_on_a_fitted_forecast(small_run):
    inputs, base, snap = small_run.inputs, small_run.result, small_run.snapshot
    booked = booked_to_date(snap)
    team = inputs.teams[inputs.owners[0]]
    probe = resolve_target(inputs, 1.0, team=team, booked=booked)
    amount = float(np.quantile(target_revenue(base, probe), 0.7))
    target = replace(probe, amount=amount)
    rec = recommend(inputs, base, target, 0.8, seed=11, snapshot=snap)
    assert rec.p_attain_now < 0.8 <= rec.p_attain_with_deals
    assert rec.deals_needed and rec.deals_needed > 0
    # qualified from the first day the recommendation says works (earlier, some would be
    # won before the target's period starts)
    start = 1 if rec.qualify_from is None else (
        pd.Timestamp(rec.qualify_from) - inputs.horizon.as_of).days
    extended = with_added_deals(inputs, target, rec.deals_needed, start_day=start)
    sim = simulate(extended, 1200, seed=123, keep_deal_outcomes=True)
    p = np.mean(target_revenue(sim, target) >= amount)
    # the engine's added deals win as often as the pool's...
    added = sim.deal_month[:, len(inputs.deals):]
    assert abs((added >= 0).mean() - rec.p_win_in_period) < 0.02
    # ...but have fixed sizes (evenly spread quantiles) where the pool draws a size per path,
    # so the attainment probability agrees to a few points, not to Monte Carlo error
    assert p >= 0.8 - 0.06
    assert p >= rec.p_attain_now + 0.3
    assert rec.leads_needed >= rec.deals_needed
    assert set(rec.owners["owner"]) == set(target.owners)
    assert len(rec.explanation) >= 4
    # the classic block holds the issue's formulas, from forecast.data.metrics for the team
    from forecast.data import metrics

    def value(frame, col):
        return float(frame.loc[frame["group"] == team, col].iloc[0])

    c = rec.classic
    avg = value(metrics.deal_sizes(snap, "team"), "won_amount_mean")
    win = value(metrics.win_rates(snap, "team"), "win_rate")
    cycle = value(metrics.cycle_length(snap, "team").summary, "mean_won_cycle_days")
    od = snap.open_deals
    pipeline = float(od.loc[od["owner"].isin(target.owners), "amount"].sum())
    assert (c["avg_deal_size"], c["win_rate"], c["cycle_days"]) == (avg, win, cycle)
    assert c["deals_needed"] == math.ceil(amount / avg)
    assert c["leads_needed"] == math.ceil(c["deals_needed"] / win)
    active = rec.owners["share"] > 0  # reps creating deals
    assert c["n_reps"] == active.sum() >= 1
    assert c["deals_per_rep"] == math.ceil(c["deals_needed"] / c["n_reps"])
    assert c["leads_per_rep"] == math.ceil(c["leads_needed"] / c["n_reps"])
    assert c["pipeline_velocity_per_day"] == pytest.approx(
        c["deals_needed"] * win * avg / cycle)
    assert c["coverage_ratio"] == pytest.approx(pipeline / target.remaining)
    assert list(rec.owners["classic_deals_needed"]) == [
        c["deals_per_rep"] if a else 0 for a in active]
    json.dumps(rec.to_dict())  # serialisable, no NaN


# --------------------------------------------------------------------------- targets


def test_resolve_target_rejects_bad_questions():
    inputs = hand_inputs()
    with pytest.raises(ValueError, match="unknown rep"):
        resolve_target(inputs, 10.0, owner="zed")
    with pytest.raises(ValueError, match="unknown team"):
        resolve_target(inputs, 10.0, team="north")
    with pytest.raises(ValueError, match="not both"):
        resolve_target(inputs, 10.0, owner="ann", team="east")
    with pytest.raises(ValueError, match="horizon"):
        resolve_target(inputs, 10.0, period="2024-Q4")
    with pytest.raises(ValueError, match="positive"):
        resolve_target(inputs, 0.0)
    t = resolve_target(inputs, 10.0, team="east", period="2024-q3")
    assert t.owners == ("ann",) and t.months == ("2024-07", "2024-08", "2024-09")
    assert resolve_target(inputs, 10.0).period == "2024-07..2024-09"


def test_existing_pipeline_reduces_the_deals_needed():
    # six open deals at the last stage, all won in July: 600 of a 1000 target are there
    rec, _, _ = run_rec(hand_inputs(p_win=1.0, n_open=6), 1000.0, 0.9, n_draws=200)
    assert rec.deals_needed == 4
    assert rec.from_scratch["deals_needed"] == 10
    assert rec.coverage_now == pytest.approx(0.6)
    assert rec.coverage_ratio == pytest.approx(1.0)


# --------------------------------------------------------------------------- command line


def test_horizon_covers_the_period():
    from forecast.data.problems import UsageError
    from pipecast.commands.recommend import horizon_for

    as_of = pd.Timestamp("2026-10-31")
    assert horizon_for(as_of, None, 3) == 3
    assert horizon_for(as_of, "2026-11", 3) == 1
    assert horizon_for(as_of, "2027-Q1", 3) == 5
    assert horizon_for(as_of, "2026-Q4", 1) == 2
    with pytest.raises(UsageError, match="over"):
        horizon_for(as_of, "2026-10", 3)
    with pytest.raises(UsageError, match="period"):
        horizon_for(as_of, "2026-13", 3)


def test_cli_rejects_bad_input_before_fitting(tmp_path, tiny_dir, capsys):
    from pipecast.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "recommendation.json").write_text("{}")
    base = ["recommend", "--data", str(tiny_dir), "--as-of", "2024-03-31", "--out", str(out),
            "--method", "advi", "--quiet"]
    refused = [(["--target", "1000"], "already holds recommendation.json; pass --force"),
               (["--target", "1000", "--confidence", "1.5", "--force"],
                "--confidence 1.5 must be strictly between 0 and 1"),
               (["--target", "-5", "--force"], "--target -5.0 must be a positive amount"),
               (["--target", "1000", "--owner", "zed", "--force"], "--owner 'zed' owns no deal"),
               (["--target", "1000", "--stage", "nowhere", "--force"],
                "--stage 'nowhere' is not a pipeline stage")]
    for extra, message in refused:
        assert main(base + extra) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert (out / "recommendation.json").read_text() == "{}"


def test_cli_writes_the_recommendation(tmp_path, monkeypatch, small_run, small_dataset, capsys):
    import forecast.data.dataset
    import pipecast.commands.recommend as command
    from pipecast.cli import main

    monkeypatch.setattr(forecast.data.dataset, "load_dataset", lambda path, **kw: small_dataset)
    monkeypatch.setattr(command, "_forecast", lambda *a, **k: small_run)
    team = small_run.inputs.teams[small_run.inputs.owners[0]]
    out = tmp_path / "rec"
    args = ["recommend", "--data", "unused", "--as-of", "2026-10-31", "--target", "400000",
            "--confidence", "0.7", "--team", team, "--out", str(out), "--seed", "5",
            "--method", "advi", "--quiet"]
    assert main(args) == 0
    rec = json.loads((out / "recommendation.json").read_text())
    for key in ("target", "confidence", "deals_needed", "leads_needed", "coverage_ratio",
                "owners", "classic", "explanation", "by_when", "schedule"):
        assert key in rec
    assert rec["target"] == 400000 and rec["confidence"] == 0.7 and rec["owner"] == team
    assert {o["owner"] for o in rec["owners"]} == {
        o for o in small_run.inputs.owners if small_run.inputs.teams[o] == team}
    for o in rec["owners"]:
        assert {"deals_needed", "leads_needed", "coverage_ratio"} <= set(o)
    assert {"deals_needed", "leads_needed", "coverage_ratio"} <= set(rec["classic"])
    assert sum(o["deals_needed"] for o in rec["owners"]) == rec["deals_needed"]
    assert "qualified deals" in capsys.readouterr().out
    assert main(args) == 2  # finished output kept without --force
    assert main(args + ["--force"]) == 0
    assert json.loads((out / "recommendation.json").read_text()) == rec  # reproducible

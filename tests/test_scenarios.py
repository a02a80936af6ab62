"""What-if scenarios: file validation, transformations, common random numbers, outputs."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_renders_for_people, fast_cli

from forecast.data.cells import DURATION_EDGES_WEEKS
from forecast.data.problems import DataValidationError
from simulations.engine.horizon import make_horizon
from simulations.engine.inputs import FORCE_LOST, FORCE_WON, DealBook, SimulationInputs
from simulations.engine.reference import hazards, win_cdfs
from simulations.engine.simulate import simulate
from simulations.scenarios.apply import apply, chain_values, new_deal_stats, ramp_row
from simulations.scenarios.results import simulate_applied
from simulations.scenarios.spec import Catalog, Scenario, ScenarioSet

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "scenarios" / "example.yaml"


def toy_inputs(n_post: int = 6, n_open: int = 60, months: int = 3, arrivals: float = 4.0,
               seed: int = 0) -> SimulationInputs:
    """Three reps in two teams, two segments, three stages, posterior draws that differ."""
    rng = np.random.default_rng(seed)
    a = np.empty((n_post, 3, 3))
    a[:, 0] = -1.5 + 0.1 * rng.standard_normal((n_post, 1))
    a[:, 1] = np.array([-4.0, -3.0, -2.0]) + 0.2 * rng.standard_normal((n_post, 1))
    a[:, 2] = np.array([-3.0, -3.0, -2.5]) + 0.1 * rng.standard_normal((n_post, 1))
    n_b = len(DURATION_EDGES_WEEKS)
    dur = np.zeros((n_post, 3, n_b))
    dur[:, 1:] = -0.05 * np.arange(n_b)
    owner_eff = 0.2 * rng.standard_normal((n_post, 3, 3))
    segment_eff = np.stack([0.2 * np.ones((n_post, 3)), -0.2 * np.ones((n_post, 3))], axis=2)
    k = np.arange(n_open)
    book = DealBook(deal_id=np.array([f"D{i:03d}" for i in k], dtype=object), owner=k % 3,
                    segment=(k // 3) % 2, xb=np.zeros(n_open, dtype=np.int64),
                    stage=k % 3, week=k % 6, part=k % 7, amount=100.0 + 37.0 * k,
                    override=np.zeros(n_open, dtype=np.int8),
                    forced_day=np.zeros(n_open, dtype=np.int64),
                    delay_days=np.zeros(n_open, dtype=np.int64))
    return SimulationInputs(
        horizon=make_horizon("2026-10-31", months), owners=("ann", "bob", "cy"),
        teams={"ann": "east", "bob": "east", "cy": "west"}, segments=("ent", "smb"),
        stages=("s0", "s1", "s2"), deals=book, a=a, dur=dur, owner_eff=owner_eff,
        segment_eff=segment_eff, xb=np.zeros((n_post, 1)),
        arr_b0=np.full(n_post, np.log(arrivals)), arr_owner_eff=np.tile([0.2, -0.1, -0.1],
                                                                          (n_post, 1)),
        season=np.zeros((n_post, 12)), alpha=np.full(n_post, 5.0),
        arrival_multiplier=np.ones((3, months)),
        segment_mix=np.tile([[0.3, 0.7], [0.5, 0.5], [0.8, 0.2]], (n_post, 1, 1)),
        entry_stage=np.tile([0.7, 0.3, 0.0], (n_post, 1)),
        size_mu=np.full((n_post, 2), np.log(1000.0)), size_sigma=np.full((n_post, 2), 0.5),
        ratio_mu=np.zeros(n_post), ratio_sigma=np.zeros(n_post))


def scenario(*changes: dict, name: str = "s") -> Scenario:
    return ScenarioSet.from_dict({name: list(changes)})[name]


def run_one(inputs: SimulationInputs, *changes: dict, draws: int = 300, seed: int = 1):
    return simulate_applied(apply(scenario(*changes), inputs), draws, seed)


def snapshot_arrays(inputs: SimulationInputs) -> dict:
    out = {f.name: np.copy(getattr(inputs, f.name)) for f in fields(inputs)
           if isinstance(getattr(inputs, f.name), np.ndarray)}
    out.update({f"deals.{f.name}": np.copy(getattr(inputs.deals, f.name))
                for f in fields(inputs.deals)})
    return out


# ---- the scenario file ---------------------------------------------------------------


def test_example_file_parses_and_covers_every_kind_of_change():
    sset = ScenarioSet.from_yaml(EXAMPLE)
    assert sset.names[0] == "baseline" and not sset["baseline"].changes
    assert len(set(sset.names)) == len(sset.names) > 6
    kinds = {c.kind for s in sset for c in s.changes}
    assert {"win_rate", "win_odds", "hire", "deal_size", "cycle", "slip_deals", "remove",
            "volume", "lose_deals"} <= kinds
    hire = sset["two_hires_march"].changes[0]
    assert hire.values["start"] == "2027-03" and hire.values["ramp"] == (0.25, 0.5, 0.75, 1.0)
    assert sset["enterprise_win_odds_up"].changes[0].scope_values == ("enterprise",)


BAD = """\
scenarios:
  ok:
    - win_odds: {multiplier: 1.2}
  broken:
    - win_odds: {multiplier: -2}
    - warp_speed: {factor: 3}
    - volume: {multiplier: 1.1, from: March}
    - hire: {count: 2, start: 2027-03, ramp: [0.5, 7]}
    - win_odds: {multiplier: 1.1, stage: proposal, segment: smb}
    - cycle: {speed: 1.1, extra_weeks: 2}
    - deal_size: {multiplier: 1.2, colour: red}
    - slip_deals: {deals: D1}
    - just a string
    - win_rate: {add: 2, add: 3}
  ok:
    - win_odds: {multiplier: 1.3}
"""


def test_every_problem_of_a_bad_file_is_reported_at_once(tmp_path):
    path = tmp_path / "what_if.yaml"
    path.write_text(BAD)
    with pytest.raises(DataValidationError) as err:
        ScenarioSet.from_yaml(path)
    problems = err.value.problems
    rules = {p.rule for p in problems}
    assert {"not_positive", "unknown_change", "bad_month", "bad_ramp", "conflicting_scope",
            "one_of", "unknown_field", "bad_change", "duplicate_scenario",
            "duplicate_key", "out_of_range"} <= rules
    assert all(p.file == "what_if.yaml" for p in problems)
    neg = next(p for p in problems if p.rule == "not_positive")
    assert neg.row == 5 and neg.column == "win_odds.multiplier"
    assert "scenario 'broken', change 1 (win_odds)" in neg.message
    month = next(p for p in problems if p.rule == "bad_month")
    assert month.row == 7 and "change 3 (volume)" in month.message
    assert "what_if.yaml:5" in str(err.value)  # file:line in the printed error


def test_yaml_pitfalls(tmp_path):
    path = tmp_path / "s.yaml"
    # YAML 1.1 reads a bare `on` key as a boolean; numbers as ids become text
    path.write_text("scenarios:\n  a:\n    - win_deals: {deals: [1234, D7], on: 2026-12-24}\n")
    change = ScenarioSet.from_yaml(path)["a"].changes[0]
    assert change.values == {"deals": ("1234", "D7"), "on": "2026-12-24"}


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("scenarios:\n  a:\n    - win_odds: {multiplier: 1.2\n")
    with pytest.raises(DataValidationError) as err:
        ScenarioSet.from_yaml(path)
    assert err.value.problems[0].rule == "yaml_syntax" and err.value.problems[0].row


def test_names_are_checked_against_the_forecast():
    inputs = toy_inputs()
    sset = ScenarioSet.from_dict({
        "a": [{"win_odds": {"multiplier": 1.2, "owner": ["ann", "zed"]}},
              {"win_odds": {"multiplier": 1.2, "stage": "nope"}},
              {"volume": {"multiplier": 2, "team": "north"}},
              {"hire": {"reps": ["bob", "newbie"], "start": "2026-12"}},
              {"lose_deals": {"deals": ["D001", "D999"]}},
              {"win_deals": {"largest": 1, "on": "2026-10-01"}},
              {"remove": {"reps": ["newbie"], "reassign_to": "newbie"}}],
        "b": [{"deal_size": {"multiplier": 1.1, "segment": "mid"}},
              {"win_odds": {"multiplier": 1.1, "owner": "new-rep-1"}}],
    })
    with pytest.raises(DataValidationError) as err:
        sset.check(Catalog.from_inputs(inputs))
    got = {(p.rule, p.column) for p in err.value.problems}
    assert got == {("unknown_owner", "win_odds.owner"), ("unknown_stage", "win_odds.stage"),
                   ("unknown_team", "volume.team"), ("owner_exists", "hire.reps"),
                   ("missing_field", "hire.team"), ("unknown_deal", "lose_deals.deals"),
                   ("date_before_as_of", "win_deals.on"),
                   ("unknown_owner", "remove.reassign_to"),
                   ("unknown_segment", "deal_size.segment"),
                   ("unknown_owner", "win_odds.owner")}
    # a rep hired earlier in the same scenario may be named by later changes
    ScenarioSet.from_dict({"c": [{"hire": {"count": 1, "start": "2026-12", "team": "east"}},
                                 {"win_odds": {"multiplier": 0.8, "owner": "new-rep-1"}},
                                 {"remove": {"reps": ["new-rep-1"], "from": "2027-01"}}]}
                          ).check(Catalog.from_inputs(inputs))


@pytest.mark.parametrize("change, field", [
    ({"hire": {"count": 1, "team": "east", "start": "2026-09"}}, "start"),
    ({"volume": {"multiplier": 1.2, "from": "2025-12"}}, "from"),
    ({"remove": {"reps": ["cy"], "from": "2026-09"}}, "from"),
])
def test_months_before_the_as_of_month_are_rejected(change, field):
    """Such a month would silently act from the first horizon month."""
    inputs = toy_inputs()  # as_of 2026-10-31
    kind = next(iter(change))
    sset = ScenarioSet.from_dict({"late": [{"win_odds": {"multiplier": 1.1}}, change]})
    with pytest.raises(DataValidationError) as err:
        sset.check(Catalog.from_inputs(inputs))
    [problem] = err.value.problems
    assert problem.rule == "month_before_as_of" and problem.column == f"{kind}.{field}"
    assert f"scenario 'late', change 2 ({kind})" in problem.message
    assert f"{field} {change[kind][field]} is before the as_of month 2026-10" in problem.message
    # the as_of month itself and later months are accepted
    for month in ("2026-10", "2026-11"):
        ok = {kind: {**change[kind], field: month}}
        ScenarioSet.from_dict({"ok": [ok]}).check(Catalog.from_inputs(inputs))


# ---- transformations -------------------------------------------------------------------


ALL_KINDS = [
    {"win_odds": {"multiplier": 1.3, "segment": "ent"}}, {"win_rate": {"add": 0.05}},
    {"win_rate": {"add": -0.02, "team": "east"}}, {"cycle": {"speed": 1.2, "stage": "s1"}},
    {"cycle": {"extra_weeks": 1}}, {"volume": {"multiplier": 1.5, "from": "2026-12"}},
    {"deal_size": {"multiplier": 1.2, "segment": "smb"}},
    {"hire": {"count": 2, "team": "west", "start": "2026-12", "ramp": [0.5, 1]}},
    {"hire": {"reps": ["clone"], "like": "bob", "start": "2026-11"}},
    {"remove": {"reps": ["cy"], "from": "2027-01", "reassign_to": "ann"}},
    {"win_deals": {"deals": ["D001"], "on": "2026-12-24"}}, {"lose_deals": {"largest": 2}},
    {"slip_deals": {"deals": ["D004", "D001"], "to": "next_quarter"}},
]


def test_transformations_never_touch_the_baseline_arrays():
    inputs = toy_inputs()
    before = snapshot_arrays(inputs)
    applied = apply(scenario(*ALL_KINDS), inputs)
    after = snapshot_arrays(inputs)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert applied.inputs.owners == inputs.owners + ("new-rep-1", "new-rep-2", "clone")
    res = simulate_applied(applied, 50, seed=3)
    assert res.revenue.shape == (50, 3, 6) and np.isfinite(res.revenue).all()


def test_an_empty_scenario_reproduces_the_baseline_draws_exactly():
    inputs = toy_inputs()
    base = simulate(inputs, 200, seed=7, keep_deal_outcomes=True)
    for changes in ([], [{"win_odds": {"multiplier": 1.0}}], [{"volume": {"multiplier": 1.0}}],
                    [{"hire": {"count": 1, "team": "east", "start": "2099-01"}}]):
        res = run_one(inputs, *changes, draws=200, seed=7)
        # every draw of every owner and month, not just the totals
        n = len(inputs.owners)
        hired = sum(1 for c in changes if "hire" in c)
        assert res.revenue.shape == base.revenue.shape[:2] + (n + hired,), changes
        assert np.array_equal(res.revenue[:, :, :n], base.revenue), changes
        assert np.array_equal(res.new_revenue[:, :, :n], base.new_revenue), changes
        assert not res.revenue[:, :, n:].any(), changes  # a hire after the horizon books 0


def test_chain_values_match_the_engine_over_a_long_horizon():
    inputs = toy_inputs(n_post=3)
    p_win, t_won = chain_values(inputs, np.zeros((3, 3)))
    flat = replace(inputs, owner_eff=np.zeros_like(inputs.owner_eff),
                   segment_eff=np.zeros_like(inputs.segment_eff))
    stay, adv, won = hazards(flat, np.arange(3), np.array([0]), np.array([0]), np.array([0]))
    _, cdf = win_cdfs(stay, adv, won, 7000, None, np.array([0]))
    cdf = cdf[:, 0]  # (P, S, days)
    assert np.allclose(cdf[..., -1], p_win, atol=1e-9)
    dens = np.diff(cdf, axis=-1, prepend=0.0)
    assert np.allclose((dens * np.arange(1, 7001)).sum(axis=-1), t_won, rtol=1e-6)


def test_win_rate_and_extra_weeks_hit_their_targets_in_every_draw():
    inputs = toy_inputs()
    zero = np.zeros((inputs.n_posterior, 3))
    p0, t0 = new_deal_stats(inputs, zero)
    up = apply(scenario({"win_rate": {"add": 0.05}}), inputs)
    assert np.allclose(new_deal_stats(up.inputs, zero)[0], p0 + 0.05, atol=1e-8)
    assert "odds ×" in up.notes[0]
    slow = apply(scenario({"cycle": {"extra_weeks": 2}}), inputs).inputs
    assert np.allclose(new_deal_stats(slow, zero)[1], t0 + 2, atol=1e-6)
    # per rep of a team: each rep's own rate
    team = apply(scenario({"win_rate": {"add": 0.1, "team": "east"}}), inputs).inputs
    for o in (0, 1):
        off = inputs.owner_eff[:, :, o]
        new_off = team.owner_eff[:, :, o]
        assert np.allclose(new_deal_stats(team, new_off)[0],
                           new_deal_stats(inputs, off)[0] + 0.1, atol=1e-8)
    assert np.array_equal(team.owner_eff[:, :, 2], inputs.owner_eff[:, :, 2])


def test_win_odds_shift_the_logits_like_a_covariate():
    inputs = toy_inputs()
    out = apply(scenario({"win_odds": {"multiplier": 2.0, "stage": "s2"}}), inputs).inputs
    diff = out.a - inputs.a
    assert np.allclose(diff[:, :, :2], 0)
    assert np.allclose(diff[:, :, 2], np.log(2.0) * np.array([0.0, 0.5, -0.5]))
    owner = apply(scenario({"win_odds": {"multiplier": 2.0, "owner": "bob"}}), inputs).inputs
    assert np.allclose((owner.owner_eff - inputs.owner_eff)[:, 1, 1], np.log(2) / 2)
    assert np.array_equal(owner.owner_eff[:, :, [0, 2]], inputs.owner_eff[:, :, [0, 2]])


def test_effects_have_the_right_sign():
    inputs = toy_inputs()
    base = simulate(inputs, 400, seed=2).total().sum(axis=1)
    q = np.linspace(0.05, 0.95, 19)

    def horizon(*changes):
        return run_one(inputs, *changes, draws=400, seed=2).total().sum(axis=1)

    for changes in ([{"win_odds": {"multiplier": 1.5}}], [{"win_rate": {"add": 0.05}}],
                    [{"volume": {"multiplier": 2.0}}], [{"cycle": {"speed": 1.5}}]):
        up = horizon(*changes)
        assert up.mean() > base.mean(), changes
        assert np.all(np.quantile(up, q) >= np.quantile(base, q) - 1e-9 * base.mean()), changes
    for changes in ([{"win_odds": {"multiplier": 0.6}}], [{"cycle": {"extra_weeks": 3}}],
                    [{"lose_deals": {"largest": 5}}], [{"slip_deals": {"largest": 5,
                                                                        "days": 60}}]):
        assert horizon(*changes).mean() < base.mean(), changes
    # deal size without a scope scales every path exactly
    assert np.allclose(horizon({"deal_size": {"multiplier": 1.2}}), 1.2 * base)


def test_hires_add_reps_and_leave_the_others_paths_untouched():
    inputs = toy_inputs()
    base = simulate(inputs, 300, seed=4)
    applied = apply(scenario({"hire": {"reps": ["h1", "h2"], "team": "west",
                                       "start": "2026-12", "ramp": [0.5, 1.0]}}), inputs)
    new = applied.inputs
    assert new.owners[-2:] == ("h1", "h2") and new.teams["h1"] == "west"
    assert np.array_equal(new.arrival_multiplier[-1], [0.0, 0.5, 1.0])
    assert np.all(new.owner_eff[:, :, 3:] == 0) and np.all(new.arr_owner_eff[:, 3:] == 0)
    # the company mix of new deals, weighted by the reps' arrival rates
    w = np.exp([0.2, -0.1, -0.1])
    mix = (w[:, None] * np.array([[0.3, 0.7], [0.5, 0.5], [0.8, 0.2]])).sum(0) / w.sum()
    assert np.allclose(new.segment_mix[0, 3], mix)
    res = simulate_applied(applied, 300, seed=4)
    assert np.array_equal(res.revenue[:, :, :3], base.revenue)  # common random numbers
    assert res.revenue[:, 0, 3:].sum() == 0 and res.revenue[:, 1:, 3:].sum() > 0
    assert res.teams["h2"] == "west" and res.owners == new.owners


def test_ramp_rows():
    months = ("2026-11", "2026-12", "2027-01", "2027-02")
    assert ramp_row(months, "2026-12", (0.25, 0.5)).tolist() == [0, 0.25, 0.5, 0.5]
    assert ramp_row(months, "2026-09", (0.25, 0.5, 0.75, 1.0)).tolist() == [0.75, 1, 1, 1]
    assert ramp_row(months, "2027-06", (1.0,)).tolist() == [0, 0, 0, 0]


def test_removed_reps_stop_creating_deals_and_hand_over_their_open_deals():
    inputs = toy_inputs()
    later = apply(scenario({"remove": {"reps": ["cy"], "from": "2026-12"}}), inputs).inputs
    assert later.arrival_multiplier[2].tolist() == [1.0, 0.0, 0.0]
    assert np.array_equal(later.deals.owner, inputs.deals.owner)  # open deals stay
    now = apply(scenario({"remove": {"reps": ["cy"], "reassign_to": "ann"}}), inputs).inputs
    assert now.arrival_multiplier[2].tolist() == [0.0, 0.0, 0.0]
    assert not np.any(now.deals.owner == 2)
    assert np.array_equal(now.deals.owner == 0, np.isin(inputs.deals.owner, [0, 2]))
    res = simulate(now, 200, seed=1)
    assert res.revenue[:, :, 2].sum() == 0 and res.revenue[:, :, 0].sum() > 0


def test_named_deals_are_won_lost_or_slipped():
    inputs = toy_inputs()
    out = apply(scenario({"win_deals": {"deals": ["D001"], "on": "2026-12-24"}},
                         {"lose_deals": {"deals": ["D002"]}},
                         {"slip_deals": {"deals": ["D003"], "days": 30}},
                         {"slip_deals": {"deals": ["D004"], "to": "next_quarter"}}),
                inputs).inputs
    d = out.deals
    assert d.override[1] == FORCE_WON and d.forced_day[1] == 54
    assert d.override[2] == FORCE_LOST
    assert d.delay_days[3] == 30 and d.delay_days[4] == 61  # 2026-11-01 → 2027-01-01
    res = simulate(out, 100, seed=1, keep_deal_outcomes=True)
    assert np.all(res.deal_month[:, 1] == 1) and np.all(res.deal_month[:, 2] == -1)
    assert np.all(res.deal_month[:, 4] != 0)
    # slipping a forced win moves its date
    moved = apply(scenario({"win_deals": {"deals": ["D001"], "on": "2026-11-10"}},
                           {"slip_deals": {"deals": ["D001"], "days": 31}}), inputs).inputs
    assert moved.deals.forced_day[1] == 10 + 31


def test_deals_moving_between_months_are_no_difference_over_the_horizon():
    """A slip inside the horizon moves revenue between months; the horizon total differs
    only by float rounding, which must not count as higher or lower."""
    from simulations.scenarios.results import ScenarioResults

    inputs = toy_inputs()
    sset = ScenarioSet.from_dict({"slip": [{"slip_deals": {"largest": 20, "days": 3}}]})
    results = {s.name: simulate_applied(apply(s, inputs), 300, 5) for s in sset}
    res = ScenarioResults(sset, results, {}, "2026-10-31", 5)
    diff = res.total("slip").sum(axis=1) - res.total("baseline").sum(axis=1)
    moved = np.abs(res.total("slip") - res.total("baseline")).sum(axis=1) > 0
    assert moved.any()
    lost = diff < -1.0  # wins pushed past the horizon
    row = res.differences().query("period == 'horizon'").iloc[0]
    assert row["p_higher"] == 0 and row["p_lower"] == lost.mean()


def test_common_random_numbers_shrink_the_variance_of_differences(record_property):
    """Var(scenario − baseline) per path with the same seed vs with independent seeds."""
    inputs = toy_inputs(n_post=8, n_open=120, arrivals=6.0)
    n = 1500
    base = simulate(inputs, n, seed=11).total().sum(axis=1)
    other = simulate(inputs, n, seed=12).total().sum(axis=1)
    ratios = {}
    for label, change in (("win_odds x1.3", {"win_odds": {"multiplier": 1.3}}),
                          ("deal_size x1.2 (open)", {"deal_size": {"multiplier": 1.2,
                                                                    "applies_to": "open"}}),
                          ("volume x1.2", {"volume": {"multiplier": 1.2}}),
                          ("hire 1 rep", {"hire": {"count": 1, "team": "east",
                                                   "start": "2026-11"}})):
        scn = run_one(inputs, change, draws=n, seed=11).total().sum(axis=1)
        # the independent comparison: the scenario against a baseline of another seed
        ratios[label] = float(np.var(scn - base) / np.var(scn - other))
    record_property("crn_variance_ratio", ratios)
    print("\nvariance of the difference, CRN / independent:", ratios)
    assert ratios["win_odds x1.3"] < 0.3
    assert ratios["deal_size x1.2 (open)"] < 0.1
    assert ratios["hire 1 rep"] < 0.1
    assert ratios["volume x1.2"] < 0.5


# ---- on a fitted forecast ------------------------------------------------------------


def test_run_scenarios_on_a_fitted_forecast(small_run, tmp_path):
    from simulations.scenarios.results import run_scenarios

    run = small_run
    res = run_scenarios(run, {"nothing": [{"win_odds": {"multiplier": 1.0}}],
                              "better": [{"win_rate": {"add": 0.05}}],
                              "hires": [{"hire": {"count": 2, "team": "growth",
                                                  "start": "2026-11"}}]})
    assert res.names == ["baseline", "nothing", "better", "hires"]
    # re-simulated with the run's seed: the baseline draws, path for path
    assert np.array_equal(res.results["nothing"].revenue, run.result.revenue)
    diff = res.differences()
    horizon = diff[diff["period"] == "horizon"].set_index("scenario")
    assert horizon.loc["nothing", "mean"] == 0 and horizon.loc["better", "mean"] > 0
    assert horizon.loc["hires", "p_lower"] == 0  # the others' paths are unchanged
    table = res.table()
    assert list(table.index) == res.names and "Δ p50" in table
    assert table.loc["baseline", "Δ mean"] == 0
    att = res.attainment()
    assert set(res.names) <= set(att.columns) and att["better"].mean() >= att["baseline"].mean()

    res.write(tmp_path)
    out = json.loads((tmp_path / "scenarios.json").read_text())
    assert list(out["scenarios"]) == res.names and out["seed"] == run.result.seed
    better = out["scenarios"]["better"]
    assert [m["month"] for m in better["total"]] == list(run.result.months)
    assert {"mean", "p10", "p50", "p90"} <= set(better["total"][0])
    assert all("p_attain" in q for q in better["quotas"])
    assert better["difference"]["horizon_total"]["mean"] > 0
    assert better["changes"] == [{"win_rate": {"add": 0.05}}] and better["notes"]
    import pandas as pd

    draws = pd.read_parquet(tmp_path / "scenario_draws.parquet")
    assert list(draws.columns) == ["scenario", "draw", "month", "owner", "revenue"]
    assert set(draws["scenario"]) == set(res.names)
    assert {"new-rep-1", "new-rep-2"} <= set(draws.loc[draws["scenario"] == "hires", "owner"])


def test_results_show_in_jupyter_and_plot(small_run):
    import matplotlib

    matplotlib.use("Agg")
    from simulations.scenarios.results import run_scenarios

    res = run_scenarios(small_run, {"<b>bold</b>": [{"deal_size": {"multiplier": 1.1}}]},
                        draws=100)
    html = res._repr_html_()
    assert "<table" in html and "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "common random numbers" in html
    from simulations.plots.scenarios import plot_scenarios

    ax1, ax2 = plot_scenarios(res)
    assert ax1.figure is ax2.figure and len(ax1.figure.axes) == 2
    assert "baseline" in repr(res)


# ---- command line and notebook ---------------------------------------------------------


def test_cli_rejects_a_bad_scenario_file_before_fitting(tiny_dir, tmp_path, capsys):
    from pipecast.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  x:\n    - win_odds: {multiplier: 0}\n    - nope: {}\n")
    out = tmp_path / "out"
    args = ["scenarios", "--data", str(tiny_dir), "--as-of", "2024-04-30", "--out", str(out)]
    assert main([*args, "--scenarios", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "not_positive" in err and "unknown_change" in err
    # names are checked against the data, before the fit
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("scenarios:\n  x:\n    - remove: {reps: [zoe]}\n")
    assert main([*args, "--scenarios", str(unknown)]) == 2
    assert "unknown owner 'zoe'" in capsys.readouterr().err
    assert main([*args, "--scenarios", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml is not a file" in capsys.readouterr().err
    out.mkdir()
    (out / "scenarios.json").write_text("{}")
    assert main([*args, "--scenarios", str(EXAMPLE)]) == 2
    assert "--force" in capsys.readouterr().err
    assert not out.joinpath("scenario_draws.parquet").exists()


FAST = fast_cli(draws=150)


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

    path = tmp_path_factory.mktemp("scn") / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=500.0), seed=8), path)
    return path


@pytest.mark.slow
def test_cli_writes_the_contract_outputs(gen_dir, tmp_path, capsys):
    from pipecast.cli import main

    out = tmp_path / "out"
    args = ["scenarios", "--data", str(gen_dir), "--as-of", "2026-10-31", "--scenarios",
            str(EXAMPLE), "--out", str(out), "--horizon", "5", "--seed", "3", *FAST]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "two_hires_march" in printed and "Δ p50" in printed
    result = json.loads((out / "scenarios.json").read_text())
    assert list(result["scenarios"])[0] == "baseline" and len(result["months"]) == 5
    assert sorted(p.name for p in out.iterdir()) == ["scenario_draws.parquet",
                                                     "scenarios.json"]
    assert main(args) == 2


@pytest.mark.slow
def test_notebook_runs_with_papermill(gen_dir, tmp_path):
    import nbformat
    import papermill as pm

    from pipecast.reporting import NOTEBOOKS

    nb_out = tmp_path / "scenario_explorer.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "scenario_explorer.ipynb"), str(nb_out),
                        parameters={"data_dir": str(gen_dir), "as_of": "2026-10-31",
                                    "scenarios_file": str(EXAMPLE), "horizon": 5,
                                    "draws": 150, "seed": 3, "method": "advi", "chains": 1,
                                    "samples": 100, "out_dir": str(tmp_path)},
                        kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    nb = nbformat.read(nb_out, as_version=4)
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "two_hires_march" in text
    assert (tmp_path / "scenarios.json").exists()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr"]  # no red log box
    assert "Appendix: model diagnostics" in text
    found = assert_renders_for_people(nb_out)  # its HTML, to the monthly report's standard
    assert found is None or found["images"] >= 1

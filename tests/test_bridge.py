"""The forecast bridge (simulations/evaluation/bridge.py): it adds up exactly, every deal
is in one bar, each bar holds what its definition says, a finished period is what was
booked, and with an unchanged model the model-update bar is Monte Carlo noise only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import fast_cli

from forecast.data.periods import period_bounds
from forecast.data.snapshot import build_snapshot
from pipecast.cli import main
from simulations.evaluation.bridge import (
    BARS,
    DEAL_COLUMNS,
    booked_in,
    bridge_since_last_report,
    default_period,
    find_last_report,
    forecast_bridge,
    period_outlook,
    read_last_report,
)

FROM, TO = "2026-09-30", "2026-10-31"


@pytest.fixture(scope="module")
def bridge(small_dataset, small_run):
    return forecast_bridge(small_dataset, small_run.forecaster.posterior, FROM, TO,
                           draws=600, seed=11)


def _adds_up(doc: dict) -> None:
    total = doc["start"]["expected"] + sum(b["change"]["expected"] for b in doc["bars"])
    assert total == pytest.approx(doc["end"]["expected"], rel=1e-9)


def test_bridge_adds_up_and_every_deal_is_in_one_bar(bridge, small_dataset):
    doc = bridge.to_dict()
    assert doc["period"] == "2026-Q4" == default_period(TO)
    assert [b["bar"] for b in doc["bars"]] == list(BARS[1:])  # no last report: no model bar
    _adds_up(doc)
    deals = bridge.deals
    assert list(deals.columns) == list(DEAL_COLUMNS)
    assert deals["deal_id"].is_unique and set(deals["bar"]) <= set(BARS)
    # the deals: every deal open at --from, and every deal created since
    d = small_dataset.deals
    open_from = set(build_snapshot(small_dataset, FROM).open_deals["deal_id"])
    created = set(d.loc[(d["created_at"] > FROM) & (d["created_at"] <= TO), "deal_id"])
    assert set(deals["deal_id"]) == open_from | created
    # each bar is the sum of its deals' changes (amount changes in their own bar)
    bars = pd.DataFrame(doc["bars"]).set_index("bar")
    for bar in ("won", "lost", "slipped", "pulled_in"):
        mine = deals[deals["bar"] == bar]
        assert bars.loc[bar, "deals"] == len(mine)
        assert bars.loc[bar, "change"]["expected"] == pytest.approx(
            (mine["change"] - mine["amount_change"]).sum(), abs=1e-6)


def test_each_bar_holds_what_its_definition_says(bridge, small_dataset):
    deals = bridge.deals.set_index("deal_id")
    now = build_snapshot(small_dataset, TO).deals.set_index("deal_id")
    lo, hi = period_bounds("2026-Q4")
    won = deals[deals["bar"] == "won"]
    assert (now.loc[won.index, "status"] == "won").all()
    closed = now.loc[won.index, "closed_at"]
    in_period = (closed >= lo) & (closed <= hi)
    assert np.allclose(won["expected_to"], np.where(in_period, won["amount_to"], 0.0))
    lost = deals[deals["bar"] == "lost"]
    assert len(lost) and (lost["expected_to"] == 0).all() and (lost["change"] <= 0).all()
    assert (deals.loc[deals["bar"] == "slipped", "change"] < 0).all()
    assert (deals.loc[deals["bar"] == "pulled_in", "change"] > 0).all()
    # steady: within twice the Monte Carlo standard error (600 paths per date)
    both = deals[deals["bar"].isin(["slipped", "pulled_in", "steady"])]
    se = np.sqrt((both["amount_from"] ** 2 * both["p_from"] * (1 - both["p_from"])
                  + both["amount_to"] ** 2 * both["p_to"] * (1 - both["p_to"])) / 600)
    steady = both["bar"] == "steady"
    assert steady.any() and (both["change"][steady].abs() <= 2 * se[steady] + 1e-9).all()
    assert (both["change"][~steady].abs() > 2 * se[~steady]).all()

    new = deals[deals["bar"] == "new"]
    assert (new["expected_from"] == 0).all() and new["stage_from"].isna().all()
    for col in ("p_from", "p_to"):
        p = deals[col].dropna()
        assert ((p >= 0) & (p <= 1)).all()
    # the dataset holds current amounts only: no amount changes on open deals
    assert (deals["amount_change"] == 0).all()


def test_outlook_is_the_mean_of_its_paths_and_agrees_with_the_forecast(
        small_dataset, small_run):
    snap = build_snapshot(small_dataset, TO)
    outlook = period_outlook(snap, small_run.forecaster.posterior, "2026-Q4", 600, 4)
    assert outlook.mean == pytest.approx(outlook.paths.mean(), rel=1e-9)
    # the run's own forecast of the rest of the quarter (its own seed: Monte Carlo apart)
    total = small_run.total.set_index("month")
    run_mean = booked_in(snap, "2026-Q4") + total.loc[["2026-11", "2026-12"], "mean"].sum()
    assert outlook.mean == pytest.approx(run_mean, rel=0.08)


def test_a_finished_period_is_what_was_booked(small_dataset, small_run):
    b = forecast_bridge(small_dataset, small_run.forecaster.posterior, FROM, TO, "2026-Q3",
                        draws=50, seed=1)
    booked = booked_in(build_snapshot(small_dataset, FROM), "2026-Q3")
    assert booked > 0
    assert b.start["expected"] == b.end["expected"] == b.start["p50"] == booked
    assert all(b["change"]["expected"] == 0 for b in b.to_dict()["bars"])


@pytest.mark.parametrize("dates, period", [
    (("2026-09-15", "2026-10-15"), None),        # mid-month dates
    (("2026-09-30", "2026-10-31"), "2026-10"),   # the period ends on --to
    (("2026-08-31", "2026-10-31"), "2026-q3"),   # ends between the dates (lower-case q)
    (("2026-03-31", "2026-10-31"), "2026-Q3"),   # long enough for deals created and won
])
def test_the_identity_holds_for_any_dates_and_periods(small_dataset, small_run, dates, period):
    b = forecast_bridge(small_dataset, small_run.forecaster.posterior, *dates, period,
                        draws=200, seed=5)
    doc = b.to_dict()
    _adds_up(doc)
    assert b.deals["deal_id"].is_unique
    lo, hi = period_bounds(doc["period"])
    if hi <= pd.Timestamp(dates[1]):  # over at --to: the end is what was booked
        assert doc["end"]["expected"] == booked_in(build_snapshot(small_dataset, dates[1]),
                                                   doc["period"])
        assert (b.deals.loc[b.deals["status_to"] == "open", "expected_to"] == 0).all()
    assert doc["period"] == (period or "2026-Q4").upper()
    # a deal created and won between the dates books its whole amount if won in the period
    now = build_snapshot(small_dataset, dates[1]).deals.set_index("deal_id")
    new_won = b.deals[(b.deals["bar"] == "new") & (b.deals["status_to"] == "won")]
    closed = now.loc[new_won["deal_id"], "closed_at"].to_numpy()
    assert np.allclose(new_won["expected_to"],
                       np.where((closed >= lo) & (closed <= hi), new_won["amount_to"], 0.0))
    if dates[0] == "2026-03-31":
        assert ((closed >= lo) & (closed <= hi)).any()


def test_same_seed_same_bridge(bridge, small_dataset, small_run):
    again = forecast_bridge(small_dataset, small_run.forecaster.posterior, FROM, TO,
                            draws=600, seed=11)
    assert again.to_dict() == bridge.to_dict()
    pd.testing.assert_frame_equal(again.deals, bridge.deals)


def _fake_report(folder: Path, dataset, posterior, as_of: str, seed: int) -> None:
    """A report made on ``as_of`` with ``posterior`` (summary.json and draws.parquet)."""
    from simulations.engine.distributed import simulate_anywhere
    from simulations.engine.horizon import make_horizon
    from simulations.engine.inputs import build_inputs
    from simulations.engine.summary import draws_frame
    from simulations.forecaster import summarise

    snap = build_snapshot(dataset, as_of)
    hz = make_horizon(snap.as_of, 3)
    result = simulate_anywhere(build_inputs(snap, posterior, hz, other_date=True), 600, seed)
    folder.mkdir(parents=True)
    summary = summarise(snap, result, hz, {"method": "advi"})
    (folder / "summary.json").write_text(json.dumps(summary, default=float))
    draws_frame(result).to_parquet(folder / "draws.parquet", index=False)


def test_unchanged_model_gives_a_model_update_of_noise_only(tmp_path, small_dataset, small_run):
    post = small_run.forecaster.posterior
    reports = tmp_path / "reports"
    _fake_report(reports / "2026-09", small_dataset, post, FROM, seed=21)
    assert find_last_report(reports, TO) == reports / "2026-09"
    assert find_last_report(reports, FROM) is None  # made on the date: not before it
    last = read_last_report(reports / "2026-09", small_dataset, "2026-Q4")
    summary = json.loads((reports / "2026-09" / "summary.json").read_text())
    means = {r["month"]: r["mean"] for r in summary["total"]}
    booked = booked_in(build_snapshot(small_dataset, FROM), "2026-Q4")
    assert last.expected == pytest.approx(booked + sum(means[m] for m in
                                                       ("2026-10", "2026-11", "2026-12")))
    assert last.p10 < last.p50 < last.p90
    b = bridge_since_last_report(build_snapshot(small_dataset, TO), post, reports,
                                 pd.Timestamp("2026-09-30"), draws=600, seed=11)
    doc = b.to_dict()
    assert doc["bars"][0]["bar"] == "model" and doc["start"]["expected"] == last.expected
    _adds_up(doc)
    # the same posterior on both sides: the update is the two simulations' noise
    model = doc["bars"][0]["change"]["expected"]
    assert abs(model) < 0.02 * last.expected
    # without a report covering the period (Q1 is beyond its horizon): from this fit
    assert read_last_report(reports / "2026-09", small_dataset, "2027-Q1") is None


@pytest.mark.slow
def test_cli_bridge_writes_its_files_and_checks_its_options(tmp_path, capsys):
    from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

    data = tmp_path / "ds"
    write_dataset(generate(GeneratorConfig.small(), 1), data)  # small_dataset's data
    out = tmp_path / "out"
    base = ["changes", "--data", str(data), "--from", FROM, "--to", TO, "--out", str(out)]
    assert main(base + ["--no-bridge", "--last-report", str(tmp_path)]) == 2
    assert "--last-report gives the bridge its start" in capsys.readouterr().err
    assert main(base + ["--last-report", str(tmp_path), *fast_cli(200)]) == 2
    assert "no summary.json" in capsys.readouterr().err
    assert not out.exists()
    assert main(base + fast_cli(200)) == 0  # the bridge is on by default (CONTRACT.md)
    assert sorted(p.name for p in out.iterdir()) == [
        "bridge_deals.csv", "changes.json", "changes_deals.csv"]
    doc = json.loads((out / "changes.json").read_text())["bridge"]
    _adds_up(doc)
    assert doc["period_bounds"] == ["2026-10-01", "2026-12-31"]
    csv = pd.read_csv(out / "bridge_deals.csv", dtype={"deal_id": str})
    assert list(csv.columns) == list(DEAL_COLUMNS) and len(csv)
    # a last report of another date is refused
    report = tmp_path / "reports" / "2026-08"
    report.mkdir(parents=True)
    (report / "summary.json").write_text(json.dumps(
        {"as_of": "2026-08-31", "months": ["2026-09", "2026-10", "2026-11", "2026-12"],
         "total": [{"month": m, "mean": 1.0} for m in ("2026-09", "2026-10", "2026-11",
                                                       "2026-12")]}))
    assert main(base + ["--force", "--last-report", str(report), *fast_cli(200)]) == 2
    assert "was made on 2026-08-31, not on --from 2026-09-30" in capsys.readouterr().err
    (report / "summary.json").write_text('{"as_of": "2026-09-30", "months": ')  # cut short
    assert main(base + ["--force", "--last-report", str(report), *fast_cli(200)]) == 2
    assert "not a readable report" in capsys.readouterr().err


def test_the_end_is_the_forecasts_own_when_given(small_dataset, small_run):
    inputs, result = small_run.forecaster.simulate(3, 300, seed=2, keep_deal_outcomes=True)
    b = forecast_bridge(small_dataset, small_run.forecaster.posterior, FROM, TO, draws=300,
                        seed=11, simulation=(inputs, result))
    _adds_up(b.to_dict())
    months = list(result.months)
    quarter = result.total()[:, [months.index("2026-11"), months.index("2026-12")]].sum(axis=1)
    booked = booked_in(build_snapshot(small_dataset, TO), "2026-Q4")
    assert b.end["p50"] == pytest.approx(booked + np.median(quarter), rel=1e-12)
    assert b.end["expected"] == pytest.approx(booked + quarter.mean(), rel=1e-9)
    # a forecast that does not reach the period's end is not used: a simulation of its own
    short = small_run.forecaster.simulate(1, 300, seed=2, keep_deal_outcomes=True)
    b1 = forecast_bridge(small_dataset, small_run.forecaster.posterior, FROM, TO, draws=300,
                         seed=11, simulation=short)
    b2 = forecast_bridge(small_dataset, small_run.forecaster.posterior, FROM, TO, draws=300,
                         seed=11)
    assert b1.to_dict() == b2.to_dict()


def test_blocks_of_paths_give_the_same_outlook(small_dataset, small_run, monkeypatch):
    import simulations.evaluation.bridge as bridge_module

    assert bridge_module.keeps_deal_outcomes(1_000, 2_000)  # the report keeps its own
    assert not bridge_module.keeps_deal_outcomes(1_000_000, 2_000)  # 2e9 outcomes: blocks
    snap = build_snapshot(small_dataset, FROM)
    post = small_run.forecaster.posterior
    whole = period_outlook(snap, post, "2026-Q4", 300, 4)
    n_open = len(snap.open_deals)
    monkeypatch.setattr(bridge_module, "OUTCOME_BLOCK", 7 * n_open)  # 43 blocks of 7 paths
    blocks = period_outlook(snap, post, "2026-Q4", 300, 4)
    np.testing.assert_allclose(blocks.paths, whole.paths, rtol=1e-12)
    np.testing.assert_allclose(blocks.deals["expected"], whole.deals["expected"], rtol=1e-12)
    assert blocks.new == pytest.approx(whole.new, rel=1e-12)

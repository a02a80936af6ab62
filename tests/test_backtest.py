"""Tests of the backtest (simulations.evaluation.backtest, simulations.evaluation.track_record, the CLI command).

Most tests replace pipecast's fit by :func:`stub_forecaster` (deterministic in its seed,
no MCMC) to check the orchestration, scoring and files quickly; the ``slow`` tests run
real (fast ADVI) fits: parallel equals serial, and data after ``as_of`` leaves that
date's forecast unchanged.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import FAST_SAMPLER, synthetic_dataset

from forecast.data.dataset import dataset_from_frames, load_dataset
from forecast.data.snapshot import build_snapshot
from forecast.models.config import SamplerConfig
from forecast.seeds import child_seeds
from pipecast.cli import main
from simulations.evaluation import backtest as bt
from simulations.evaluation.backtest_result import SCORE_COLUMNS, read_backtest
from simulations.evaluation.scoring import crps_samples, interval_coverage, pinball_loss
from simulations.evaluation.track_record import track_record, track_record_table
from simulations.plots.backtest import save_figures
from simulations.synthetic.generator import GeneratorConfig

FORECAST_COLUMNS = ["mean", "p10", "p50", "p90"]


def stub_forecaster(dataset, as_of, horizon, draws, seed, sampler_config, model_config=None):
    """A cheap stand-in for pipecast: gamma revenue per rep and month, random p_win.

    Deterministic in ``seed`` and uses only the snapshot at ``as_of``.
    """
    snap = build_snapshot(dataset, as_of)
    owners = tuple(sorted(snap.deals["owner"].unique()))
    rng = np.random.default_rng(seed)
    won = snap.deals[snap.deals["status"] == "won"]
    scale = max(float(won["amount"].sum()) / max(len(owners), 1) / 24.0, 1.0)
    revenue = rng.gamma(2.0, scale / 2.0, size=(draws, horizon, len(owners)))
    open_ = snap.open_deals
    p_win = pd.Series(rng.uniform(0, 1, len(open_)), index=open_["deal_id"].to_numpy())
    return bt.MethodForecast(revenue=revenue, owners=owners, p_win=p_win,
                             info={"method": "stub"})


@pytest.fixture(scope="module")
def synth():
    """~500 generated deals over 2025-01 .. 2025-12 (extract date 2025-12-31)."""
    return synthetic_dataset(GeneratorConfig.small(n_deals=500.0, start="2025-01-01",
                                                   end="2025-12-31"), seed=3)[0]


@pytest.fixture(scope="module")
def stub_result(synth):
    return bt.backtest(synth, "2025-08-31", "2025-10-31", horizon=3, draws=200, seed=9,
                       progress=False, forecaster=stub_forecaster)


def after(dataset, as_of: str):
    """``dataset`` with everything dated after ``as_of`` changed: outcomes flipped, close
    dates moved, new deals added, later stage entries dropped."""
    as_of = pd.Timestamp(as_of)
    d = dataset.deals.copy()
    late = d["closed_at"] > as_of
    d.loc[late, "status"] = np.where(d.loc[late, "status"] == "won", "lost", "won")
    d.loc[late, "closed_at"] = d.loc[late, "closed_at"] + pd.Timedelta(days=3)
    extra = d[d["created_at"] > as_of].head(5).copy()
    extra["deal_id"] = extra["deal_id"] + "x"
    d = pd.concat([d, extra], ignore_index=True)
    hist = dataset.stage_history
    hist = hist[hist["entered_at"] <= as_of]
    return dataset_from_frames(d, dataset.stages, hist, dataset.quotas,
                               crm_probabilities=dict(dataset.config.crm_probabilities),
                               covariates=tuple(dataset.config.covariates))


# --------------------------------------------------------------------------- units


def test_month_ends_seeds_and_complete_months():
    assert [str(d.date()) for d in bt.month_ends("2024-01-15", "2024-04-30")] == [
        "2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]
    assert bt.month_ends("2024-01-01", "2024-01-30") == []
    seeds = child_seeds(5, 3)
    ss = np.random.SeedSequence(5).spawn(3)
    assert seeds == [int(s.generate_state(1)[0]) for s in ss]
    assert len(set(seeds)) == 3
    months = bt.complete_months(pd.Timestamp("2024-01-31"), 3, pd.Timestamp("2024-03-30"))
    assert months == ["2024-02"]
    assert bt.complete_months(pd.Timestamp("2024-01-31"), 3,
                              pd.Timestamp("2024-04-30")) == ["2024-02", "2024-03", "2024-04"]


def test_realised_revenue_by_hand(tiny_dir):
    """conftest's tiny dataset: D1 won 2024-03-01 (1000, ann, east); D5 won 2024-05-10
    (1500, bob, west)."""
    ds = load_dataset(tiny_dir)
    r = bt.realised_revenue(ds, ["2024-03", "2024-04", "2024-05"], ["ann", "bob"],
                            {"ann": "east", "bob": "west"})
    assert r["total"].loc["total"].tolist() == [1000.0, 0.0, 1500.0]
    assert r["team"].loc["east"].tolist() == [1000.0, 0.0, 0.0]
    assert r["team"].loc["west"].tolist() == [0.0, 0.0, 1500.0]
    assert r["owner"].loc["bob"].tolist() == [0.0, 0.0, 1500.0]
    # a rep unknown at as_of counts in its deal's team but has no owner row
    r = bt.realised_revenue(ds, ["2024-05"], ["ann"], {"ann": "east"})
    assert r["team"].loc["west", "2024-05"] == 1500.0
    assert list(r["owner"].index) == ["ann"]


def test_scores_agree_with_hand_computed_values(synth, stub_result):
    s = stub_result.scores
    assert list(s.columns) == list(SCORE_COLUMNS)
    assert set(s["method"]) == {"pipecast", "weighted_pipeline", "stage_conversion",
                                "run_rate", "logistic"}
    # recompute one pipecast case from the stub's own samples
    as_of = pd.Timestamp("2025-08-31")
    seed = child_seeds(9, 3)[0]
    fc = stub_forecaster(synth, as_of, 3, 200, seed, None)
    samples = fc.revenue.sum(axis=2)[:, 1]  # total, month 2
    row = s[(s["as_of"] == "2025-08-31") & (s["method"] == "pipecast") & (s["level"] == "total")
            & (s["month_ahead"] == 2)].iloc[0]
    won = synth.deals[(synth.deals["status"] == "won")
                      & (synth.deals["closed_at"].dt.strftime("%Y-%m") == "2025-10")]
    assert row["y"] == pytest.approx(won["amount"].sum())
    assert row["crps"] == pytest.approx(crps_samples(samples, row["y"]))
    assert row["pinball_90"] == pytest.approx(pinball_loss(samples, row["y"], 0.9))
    assert row["coverage_80"] == interval_coverage(samples, row["y"], 0.8)
    assert row["p50"] == pytest.approx(np.median(samples))
    assert row["abs_error"] == pytest.approx(abs(np.median(samples) - row["y"]))
    # a baseline is a point forecast: CRPS = |x - y|, and its forecast is the baseline's own
    base = s[s["method"] == "run_rate"]
    assert np.allclose(base["crps"], (base["p50"] - base["y"]).abs())
    assert np.allclose(base["crps"], base["abs_error"])
    assert (base["p10"] == base["p90"]).all()
    # owner rows add up to the total for every method and case
    owners = s[s["level"] == "owner"].groupby(["as_of", "method", "month"])["p50"].sum()
    total = s[s["level"] == "total"].set_index(["as_of", "method", "month"])["p50"]
    point = total.index.get_level_values("method") != "pipecast"
    assert np.allclose(owners.reindex(total.index)[point], total[point])


def test_summary_matches_the_frame(stub_result):
    summary = stub_result.summary()
    s = stub_result.scores
    tot = s[(s["level"] == "total")]
    for method, m in summary["methods"].items():
        t = tot[tot["method"] == method]
        assert m["crps"] == pytest.approx(t["crps"].mean())
        assert m["coverage_80"] == pytest.approx(t["coverage_80"].mean())
        assert m["mae"] == pytest.approx(t["abs_error"].mean())
        assert m["n_cases"] == len(t) == 3 * 3 - 1  # the last as_of has 2 complete months
        assert m["by_level"]["owner"]["n_cases"] > 0
        # by the forecast month's place in its quarter (Sep 3, Oct 1, Nov 2, Dec 3)
        place = (t["month"].str[5:7].astype(int) - 1) % 3 + 1
        assert sum(q["n_cases"] for q in m["by_month_of_quarter"].values()) == len(t)
        for k, q in m["by_month_of_quarter"].items():
            part = t[place == int(k)]
            assert q["n_cases"] == len(part)
            assert q["crps"] == pytest.approx(part["crps"].mean())
            booked = part[part["y"] > 0]
            assert q["relative_bias"] == pytest.approx(
                ((booked["p50"] - booked["y"]) / booked["y"]).mean())
    comp = summary["comparison"]["weighted_pipeline"]["crps"]
    assert comp["skill"] == pytest.approx(1 - summary["methods"]["pipecast"]["crps"]
                                          / summary["methods"]["weighted_pipeline"]["crps"])
    deals = summary["deals"]
    assert {"pipecast", "weighted_pipeline", "stage_conversion", "logistic",
            "base_rate"} <= set(deals)
    d = stub_result.deals
    pc = d[d["method"] == "pipecast"]
    assert deals["pipecast"]["brier"] == pytest.approx(np.mean((pc["p"] - pc["outcome"]) ** 2))
    # deal-level only where the whole horizon was observed
    assert set(d["as_of"]) == {"2025-08-31", "2025-09-30"}
    assert sum(h["count"] for h in summary["pit_histogram"]["total"]) == 8


@pytest.mark.slow  # runs long
def test_parallel_and_dask_equal_serial(synth, stub_result):
    kwargs = dict(horizon=3, draws=200, seed=9, progress=False, forecaster=stub_forecaster)
    par = bt.backtest(synth, "2025-08-31", "2025-10-31", workers=2, **kwargs)
    pd.testing.assert_frame_equal(par.scores, stub_result.scores)
    pd.testing.assert_frame_equal(par.deals, stub_result.deals)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        dk = bt.backtest(synth, "2025-08-31", "2025-10-31", workers=client, **kwargs)
    pd.testing.assert_frame_equal(dk.scores, stub_result.scores)


def test_data_after_as_of_leaves_forecasts_unchanged(synth):
    """Baselines and orchestration: forecasts at as_of are the same on altered later data;
    the realised values (what happened) do change."""
    kwargs = dict(horizon=3, draws=100, seed=2, progress=False, forecaster=stub_forecaster)
    a = bt.backtest(synth, "2025-06-30", "2025-06-30", **kwargs).scores
    b = bt.backtest(after(synth, "2025-06-30"), "2025-06-30", "2025-06-30",
                    data_end="2025-12-31", **kwargs).scores
    pd.testing.assert_frame_equal(a[FORECAST_COLUMNS], b[FORECAST_COLUMNS])
    assert not np.allclose(a["y"], b["y"])


def test_files_track_record_and_figures(stub_result, tmp_path):
    stub_result.write(tmp_path)
    summary = json.loads((tmp_path / "backtest.json").read_text())
    for m in ("pipecast", "weighted_pipeline", "stage_conversion", "run_rate", "logistic"):
        assert {"crps", "coverage_80", "mae"} <= set(summary["methods"][m])
    back = read_backtest(tmp_path)
    pd.testing.assert_frame_equal(back.scores, stub_result.scores, check_dtype=False)
    assert len(back.deals) == len(stub_result.deals)
    table = track_record_table(back.scores, as_of="2025-10-31")
    assert table["month"].tolist() == ["2025-09", "2025-10"]
    assert {"realised", "p10", "p50", "p90", "inside_80", "weighted_pipeline"} <= set(table)
    paths = save_figures(back, tmp_path / "img")
    assert {p.name for p in paths} == {"backtest_track.png", "backtest_crps.png",
                                        "backtest_coverage.png", "backtest_pit.png",
                                        "backtest_reliability.png"}


def test_track_record_uses_nothing_after_as_of(synth, monkeypatch):
    monkeypatch.setattr(bt, "pipecast_forecast", stub_forecaster)
    a = track_record(synth, "2025-09-30", months=2, draws=100, seed=4)
    assert a.config["data_end"] == "2025-09-30"
    assert sorted(a.scores["as_of"].unique()) == ["2025-07-31", "2025-08-31"]
    assert a.scores["month"].max() == "2025-09"
    b = track_record(after(synth, "2025-09-30"), "2025-09-30", months=2, draws=100, seed=4)
    pd.testing.assert_frame_equal(a.scores, b.scores)
    with pytest.raises(ValueError, match="no track record"):
        track_record(synth, "2025-01-15", months=3)


# --------------------------------------------------------------------------- CLI


def test_cli_rejects_bad_input(tiny_dir, tmp_path, capsys):
    out = tmp_path / "bt"
    assert main(["backtest", "--data", str(tiny_dir), "--start", "2024-05-31", "--end",
                 "2024-02-29", "--out", str(out)]) == 2
    assert "before --start" in capsys.readouterr().err
    assert main(["backtest", "--data", str(tiny_dir), "--start", "2024-03-01", "--end",
                 "2024-03-30", "--out", str(out)]) == 2
    assert "no month end between --start 2024-03-01 and --end 2024-03-30" in \
        capsys.readouterr().err
    assert main(["backtest", "--data", str(tiny_dir), "--start", "2024-03-31", "--end",
                 "2024-04-30", "--out", str(out), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    out.mkdir()
    (out / "backtest.json").write_text("{}")
    assert main(["backtest", "--data", str(tiny_dir), "--start", "2024-02-29", "--end",
                 "2024-03-31", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_cli_writes_outputs(synth, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    d = synth.deals.copy()
    for col in ("created_at", "closed_at", "expected_close_at"):
        if col in d:
            d[col] = d[col].dt.strftime("%Y-%m-%d")
    d.to_csv(data / "deals.csv", index=False)
    h = synth.stage_history.assign(entered_at=synth.stage_history["entered_at"]
                                   .dt.strftime("%Y-%m-%d"))
    h.to_csv(data / "stage_history.csv", index=False)
    (data / "pipeline.yaml").write_text(
        "stages: [" + ", ".join(synth.stages) + "]\n")
    monkeypatch.setattr(bt, "pipecast_forecast", stub_forecaster)
    out = tmp_path / "out"
    rc = main(["backtest", "--data", str(data), "--start", "2025-09-30", "--end", "2025-09-30",
               "--out", str(out), "--draws", "50", "--quiet"])
    assert rc == 0
    assert {"backtest.json", "backtest_scores.csv", "backtest_deals.csv"} <= {
        p.name for p in out.iterdir()}
    printed = capsys.readouterr().out
    assert "pipecast" in printed and "weighted_pipeline" in printed


# --------------------------------------------------------------------------- real fits


@pytest.mark.slow
def test_pipecast_parallel_equals_serial_and_ignores_later_data(synth):
    """Real (fast ADVI) fits at two month ends: serial on the data, then two worker
    processes on the data altered after the later as_of. Every forecast (quantiles, mean,
    deal probabilities) is identical; only what happened (``y``) differs."""
    sc = SamplerConfig(**{**FAST_SAMPLER, "advi_iterations": 300, "draws": 60})
    kwargs = dict(horizon=2, draws=150, seed=21, sampler_config=sc, progress=False,
                  baselines=("weighted_pipeline",), data_end="2025-12-31")
    serial = bt.backtest(synth, "2025-08-31", "2025-09-30", **kwargs)
    parallel = bt.backtest(after(synth, "2025-09-30"), "2025-08-31", "2025-09-30", workers=2,
                           **kwargs)
    pd.testing.assert_frame_equal(parallel.scores[FORECAST_COLUMNS],
                                  serial.scores[FORECAST_COLUMNS])
    pd.testing.assert_series_equal(parallel.deals["p"], serial.deals["p"])
    assert not np.allclose(parallel.scores["y"], serial.scores["y"])
    pc = serial.scores[serial.scores["method"] == "pipecast"]
    assert (pc["p90"] >= pc["p10"]).all() and (pc["p90"] > pc["p10"]).any()
    assert serial.runs[0]["pipecast"]["method"] == "advi"


def test_notebook_renders_a_written_backtest_with_alt_text(stub_result, tmp_path):
    """``notebooks/backtest.ipynb`` on a written backtest (``backtest_dir``: no fit), with
    papermill, then its HTML: every figure embedded with its alt text."""
    import re

    from pipecast.reporting import execute

    stub_result.write(tmp_path / "bt")
    out = tmp_path / "nb"
    out.mkdir()
    execute("backtest.ipynb", out, {"backtest_dir": str(tmp_path / "bt")}, progress=False)
    html = (out / "backtest.html").read_text(encoding="utf-8")
    imgs = re.findall(r"<img[^>]*>", html)
    assert len(imgs) >= 4  # scores, track record, coverage, PIT (and reliability)
    assert all("No description" not in i and re.search(r'alt="[^"]{20,}"', i) for i in imgs)
    assert "<script src" not in html

"""The synthetic generator: determinism, valid output, and agreement with its own truth."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data.cells import duration_bucket
from forecast.data.dataset import load_dataset
from forecast.data.problems import UsageError
from pipecast.commands import sample_data
from simulations.synthetic.generator import GeneratorConfig, SyntheticData, generate, write_dataset

FILES = ("deals.csv", "stage_history.csv", "quotas.csv", "pipeline.yaml", "truth.json")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
#: |z| beyond which an empirical count disagrees with the truth (many cells are tested).
Z_MAX = 4.5


@pytest.fixture(scope="module")
def small() -> SyntheticData:
    return generate(GeneratorConfig.small(), seed=11)


@pytest.fixture(scope="module")
def big() -> SyntheticData:
    return generate(GeneratorConfig(n_deals=40_000), seed=3)


# ------------------------------------------------------------------ helpers


def _day(values: pd.Series) -> np.ndarray:
    return values.to_numpy().astype("datetime64[D]").astype(np.int64)


def _spells(data: SyntheticData) -> pd.DataFrame:
    """Every stay of a deal in a stage, rebuilt from the written frames only.

    Columns: ``row`` (deal position), ``stage`` (index), ``start`` and ``stop`` (day
    numbers), ``outcome`` (0 still open at ``end``, 1 advance, 2 won, 3 lost).
    """
    deals, hist = data.deals, data.stage_history
    stages = data.truth["stages"]
    row = pd.Series(np.arange(len(deals)), index=deals["deal_id"])
    h = hist.assign(row=hist["deal_id"].map(row).to_numpy(),
                    s=hist["stage"].map({s: i for i, s in enumerate(stages)}).to_numpy(),
                    day=_day(hist["entered_at"]))
    h = h.sort_values(["row", "day", "s"], kind="stable")
    is_last = (h["row"].shift(-1) != h["row"]).to_numpy()
    nxt = h["day"].shift(-1).to_numpy()
    closed = _day(deals["closed_at"].fillna(pd.Timestamp(data.truth["end"])))
    r = h["row"].to_numpy()
    final = pd.Series(deals["status"].to_numpy()[r]).map({"won": 2, "lost": 3, "open": 0})
    return pd.DataFrame({"row": r, "stage": h["s"].to_numpy(), "start": h["day"].to_numpy(),
                         "stop": np.where(is_last, closed[r], nxt).astype(np.int64),
                         "outcome": np.where(is_last, final.to_numpy(), 1)})


def _deal_weeks(data: SyntheticData) -> pd.DataFrame:
    """Every deal-week fully observed by ``end``: deal row, stage, weeks in stage, outcome.

    A week that ends after ``end`` is left out, so that each kept week's outcome (stay,
    advance, won, lost) is fully observed.
    """
    sp = _spells(data)
    end = int(np.datetime64(data.truth["end"], "D").astype(np.int64))
    start, k = sp["start"].to_numpy(), ((sp["stop"] - sp["start"]) // 7).to_numpy()
    n_weeks = k + (start + 7 * k + 6 <= end)
    rep = np.repeat(np.arange(len(sp)), n_weeks)
    w = np.arange(n_weeks.sum()) - np.repeat(np.cumsum(n_weeks) - n_weeks, n_weeks)
    ev = np.where(w == k[rep], sp["outcome"].to_numpy()[rep], 0)
    return pd.DataFrame({"row": sp["row"].to_numpy()[rep], "stage": sp["stage"].to_numpy()[rep],
                         "week": w, "event": ev})


def _truth_probs(data: SyntheticData, weeks: pd.DataFrame) -> np.ndarray:
    """``(n, 4)`` probabilities of stay/advance/won/lost of each deal-week, from truth.json."""
    t, deals = data.truth, data.deals
    stages = t["stages"]
    rows = weeks["row"].to_numpy()
    b = duration_bucket(weeks["week"].to_numpy())
    xbeta = np.zeros(len(deals))
    for col, levels in t["covariates"].items():
        xbeta += deals[col].map(levels).to_numpy(dtype=float)
    eta = np.zeros((len(weeks), 4))
    for j, k in enumerate(t["outcomes"], start=1):
        a = np.array([np.nan if v is None else v for v in
                      (t["a"][k][s] for s in stages)], dtype=float)
        per_deal = (deals["owner"].map(t["owner_effects"][k]).to_numpy(dtype=float)
                    + deals["segment"].map(t["segment_effects"][k]).to_numpy(dtype=float)
                    + {"advance": 0.0, "won": 0.5, "lost": -0.5}[k] * xbeta)
        eta[:, j] = a[weeks["stage"].to_numpy()] + np.asarray(t["dur"][k])[b] + per_deal[rows]
    eta[np.isnan(eta)] = -np.inf
    e = np.exp(eta - eta.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _z_scores(weeks: pd.DataFrame, probs: np.ndarray, key: np.ndarray) -> pd.DataFrame:
    """Observed minus expected count of each outcome per group, in binomial sds."""
    onehot = np.eye(4)[weeks["event"].to_numpy()]
    frame = pd.DataFrame(np.hstack([onehot, probs, probs * (1 - probs)]))
    g = frame.groupby(key).sum().to_numpy()
    obs, exp, var = g[:, :4], g[:, 4:8], g[:, 8:]
    z = np.where(var > 1.0, (obs - exp) / np.sqrt(np.maximum(var, 1e-12)), 0.0)
    return pd.DataFrame(z[:, 1:], columns=["advance", "won", "lost"])


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sample_data.configure(parser)
    return sample_data.run(parser.parse_args(list(argv)))


# ------------------------------------------------------------------ determinism, format


def test_same_seed_gives_identical_data_and_files(small, tmp_path):
    again = generate(GeneratorConfig.small(), seed=11)
    for name in ("deals", "stage_history", "quotas"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    assert json.dumps(small.truth) == json.dumps(again.truth)
    write_dataset(small, tmp_path / "a")
    write_dataset(again, tmp_path / "b")
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_different_seed_gives_different_data(small):
    other = generate(GeneratorConfig.small(), seed=12)
    assert not small.deals.equals(other.deals)
    assert small.truth["owner_effects"] != other.truth["owner_effects"]


def test_written_dataset_loads_and_validates(small, tmp_path):
    write_dataset(small, tmp_path)
    ds = load_dataset(tmp_path)
    assert len(ds.deals) == len(small.deals) == small.truth["n_deals"]
    assert ds.stages == tuple(small.truth["stages"])
    assert ds.config.covariates == ("product", "source", "budget_confirmed")
    assert ds.config.crm_probabilities["negotiation"] == 0.8
    assert len(ds.stage_history) == len(small.stage_history)
    assert set(ds.deals["status"]) == {"open", "won", "lost"}
    assert (ds.deals["expected_amount"] > 0).all()
    won = ds.deals["status"] == "won"
    assert (ds.deals.loc[~won, "amount"] == ds.deals.loc[~won, "expected_amount"]).all()
    mem = small.to_dataset()  # the same tables without the round trip through files
    assert len(mem.deals) == len(ds.deals) and mem.stages == ds.stages
    assert len(mem.stage_history) == len(ds.stage_history)
    assert mem.config.covariates == ds.config.covariates and len(mem.quotas) == len(ds.quotas)
    assert mem.config.crm_probabilities == ds.config.crm_probabilities
    assert json.loads((tmp_path / "truth.json").read_text())["seed"] == 11


def test_nothing_is_dated_after_end(small):
    end = pd.Timestamp(small.truth["end"])
    d = small.deals
    assert d["created_at"].max() <= end
    assert d["closed_at"].max() <= end
    assert small.stage_history["entered_at"].max() <= end
    assert d.loc[d["status"] == "open", "closed_at"].isna().all()
    assert d.loc[d["status"] != "open", "closed_at"].notna().all()
    assert (d["closed_at"].dropna() >= d.loc[d["closed_at"].notna(), "created_at"]).all()


def test_stage_history_is_consistent_with_deals(small):
    stages = small.truth["stages"]
    h = small.stage_history.assign(idx=small.stage_history["stage"].map(stages.index))
    d = small.deals.set_index("deal_id")
    assert set(h["deal_id"]) == set(d.index)
    first = h.groupby("deal_id").first()
    assert (first["entered_at"] == d.loc[first.index, "created_at"]).all()
    assert (first["idx"] == 0).all()
    steps = h.groupby("deal_id")["idx"].diff().dropna()
    assert (steps == 1).all()  # one stage at a time, in pipeline order
    assert (h.groupby("deal_id")["entered_at"].diff().dropna() >= pd.Timedelta(0)).all()
    last = h.groupby("deal_id").last()
    assert (last["stage"] == d.loc[last.index, "stage"]).all()
    closed = d["closed_at"].notna()
    assert (last.loc[closed, "entered_at"] <= d.loc[closed, "closed_at"]).all()


def test_quotas_cover_next_months_and_add_up(small):
    q = small.quotas
    periods = sorted(set(q["period"]))
    assert periods == ["2026-11", "2026-12", "2026-Q4", "2027-01", "2027-Q1"]
    reps = small.truth["reps"]
    active = {o for o, r in reps.items() if r["active_until"] is None}
    teams = {r["team"] for r in reps.values()}
    assert set(q["owner"]) == active | teams | {"total"}
    assert (q["quota"] > 0).all() and (q["quota"] % 100 == 0).all()
    wide = q.pivot(index="owner", columns="period", values="quota")
    team_sum = sum(wide.loc[sorted(teams)].to_numpy())
    assert np.allclose(team_sum, wide.loc["total"].to_numpy())
    for team in teams:
        members = [o for o in active if reps[o]["team"] == team]
        assert np.allclose(wide.loc[members].sum().to_numpy(), wide.loc[team].to_numpy())


def test_new_rep_has_little_history_and_departed_rep_stops(small):
    reps = small.truth["reps"]
    d = small.deals
    new = [o for o, r in reps.items() if r["active_from"] > small.truth["start"]]
    gone = [o for o, r in reps.items() if r["active_until"] is not None]
    assert len(new) == 1 and len(gone) == 1
    mine = d[d["owner"] == new[0]]
    assert 0 < len(mine) < 0.05 * len(d)
    assert mine["created_at"].min() >= pd.Timestamp(reps[new[0]]["active_from"])
    left = d[d["owner"] == gone[0]]
    assert len(left) > 0
    assert left["created_at"].max() <= pd.Timestamp(reps[gone[0]]["active_until"])


def test_config_checks_and_helpers():
    with pytest.raises(ValueError, match="season"):
        GeneratorConfig(season=(0.1,) * 12)
    with pytest.raises(ValueError, match="dur"):
        GeneratorConfig(dur=((0.0,) * 7,) * 3)
    cfg = GeneratorConfig.small().with_covariate_betas({"budget_confirmed": {"yes": 2.0}})
    assert cfg.n_deals == 1500
    budget = {c.column: c for c in cfg.covariates}["budget_confirmed"]
    assert budget.beta == (0.0, 2.0)
    with pytest.raises(ValueError, match="no levels"):
        cfg.with_covariate_betas({"source": {"radio": 1.0}})


def test_zero_owner_sigma_gives_zero_owner_effects():
    data = generate(replace(GeneratorConfig.small(n_deals=300.0), sigma_owner=(0.0, 0.0, 0.0)),
                    seed=5)
    assert all(v == 0.0 for k in data.truth["owner_effects"].values() for v in k.values())


# ------------------------------------------------------------------ agreement with the truth


def test_weekly_hazards_match_truth(big):
    weeks = _deal_weeks(big)
    probs = _truth_probs(big, weeks)
    deals = big.deals
    rows = weeks["row"].to_numpy()
    keys = {
        "stage x bucket": weeks["stage"].to_numpy() * 10 + duration_bucket(weeks["week"]),
        "owner": deals["owner"].to_numpy()[rows],
        "segment": deals["segment"].to_numpy()[rows],
        "budget": deals["budget_confirmed"].to_numpy()[rows],
        "source": deals["source"].to_numpy()[rows],
    }
    for name, key in keys.items():
        z = _z_scores(weeks, probs, key)
        assert np.abs(z.to_numpy()).max() < Z_MAX, (name, z.round(2).to_dict())
    # one cell by hand: won in negotiation, first week in stage
    cell = (weeks["stage"] == 4).to_numpy() & (weeks["week"] == 0).to_numpy()
    won = (weeks["event"].to_numpy()[cell] == 2).sum()
    p = probs[cell, 2]
    assert abs(won - p.sum()) < Z_MAX * np.sqrt((p * (1 - p)).sum())
    assert cell.sum() > 2000


def test_event_day_is_uniform_within_its_week(big):
    sp = _spells(big)
    end = int(np.datetime64(big.truth["end"], "D").astype(np.int64))
    days = (sp["stop"] - sp["start"]).to_numpy()
    done = (sp["outcome"] > 0).to_numpy() & (sp["start"] + days // 7 * 7 + 6 <= end).to_numpy()
    counts = np.bincount(days[done] % 7, minlength=7)
    n, p = counts.sum(), 1 / 7
    assert np.abs(counts - n * p).max() < Z_MAX * np.sqrt(n * p * (1 - p)), counts


def test_eventual_win_probability_matches_truth(big):
    deals = big.deals
    early = deals[deals["created_at"] < pd.Timestamp("2025-01-01")]
    p = early["owner"].map(big.truth["derived"]["p_win_by_owner"]).to_numpy()
    won = (early["status"] == "won").sum()
    still_open = (early["status"] == "open").sum()
    sd = np.sqrt((p * (1 - p)).sum())
    assert still_open < 0.005 * len(early)
    assert p.sum() - Z_MAX * sd - still_open <= won <= p.sum() + Z_MAX * sd


def _truth_arrival_means(data: SyntheticData) -> pd.DataFrame:
    """Expected deals per owner and month from truth.json (active days pro rata)."""
    t = data.truth
    arr = t["arrivals"]
    months = pd.period_range(t["start"], t["end"], freq="M")
    rows = []
    for owner, rep in t["reps"].items():
        lo = max(pd.Timestamp(rep["active_from"]), pd.Timestamp(t["start"]))
        hi = min(pd.Timestamp(rep["active_until"] or t["end"]), pd.Timestamp(t["end"]))
        for m in months:
            a, b = max(lo, m.start_time), min(hi, m.end_time.normalize())
            frac = max((b - a).days + 1, 0) / m.days_in_month
            mu = np.exp(arr["b0"] + arr["u_owner"][owner] + arr["season"][m.month - 1]) * frac
            rows.append((owner, str(m), mu))
    return pd.DataFrame(rows, columns=["owner", "month", "mu"])


def test_arrivals_match_truth(big):
    alpha = big.truth["arrivals"]["alpha"]
    mu = _truth_arrival_means(big)
    d = big.deals
    counts = d.groupby([d["owner"], d["created_at"].dt.strftime("%Y-%m")]).size()
    mu["n"] = [counts.get((o, m), 0) for o, m in zip(mu["owner"], mu["month"], strict=True)]
    assert mu.loc[mu["mu"] == 0, "n"].eq(0).all()
    mu = mu[mu["mu"] > 0]
    var = mu["mu"] + mu["mu"] ** 2 / alpha
    assert abs(mu["n"].sum() - mu["mu"].sum()) < Z_MAX * np.sqrt(var.sum())
    for key in (mu["owner"], mu["month"].str.slice(5, 7)):  # rep effects, seasonality
        g = mu.assign(var=var).groupby(key)[["n", "mu", "var"]].sum()
        z = (g["n"] - g["mu"]) / np.sqrt(g["var"])
        assert z.abs().max() < Z_MAX, z.to_dict()
    # creation days uniform within each month: days 1..28 exist in every month
    per_month = d["created_at"].dt.to_period("M").value_counts()
    p_day = (per_month / per_month.index.days_in_month).sum() / len(d)
    day_counts = d["created_at"].dt.day.value_counts().reindex(range(1, 29))
    sd = np.sqrt(len(d) * p_day * (1 - p_day))
    assert (day_counts - len(d) * p_day).abs().max() < Z_MAX * sd
    # NegativeBinomial spread: Pearson statistic per cell ~ 1 (Poisson would give ~0.1 here)
    pearson = (((mu["n"] - mu["mu"]) ** 2) / var).mean()
    assert 0.7 < pearson < 1.4


def test_part_months_get_pro_rata_arrivals():
    cfg = GeneratorConfig(start="2024-01-16", end="2024-03-10", n_deals=6000.0, alpha=1e5)
    data = generate(cfg, seed=2)
    mu = _truth_arrival_means(data)
    d = data.deals
    assert d["created_at"].min() >= pd.Timestamp(cfg.start)
    counts = d.groupby(d["created_at"].dt.strftime("%Y-%m")).size()
    expected = mu.groupby("month")["mu"].sum()
    z = (counts - expected) / np.sqrt(expected)
    assert z.abs().max() < Z_MAX, pd.DataFrame({"n": counts, "mu": expected}).to_dict()
    assert expected["2024-01"] < 0.6 * expected["2024-02"]


def test_deal_attributes_match_truth(big):
    t, d = big.truth, big.deals
    checks = [(d[col], probs) for col, probs in t["covariate_probs"].items()]
    checks += [(d.loc[d["owner"] == o, "segment"], r["segment_mix"]) for o, r in t["reps"].items()]
    for values, probs in checks:
        n = len(values)
        freq = values.value_counts().reindex(list(probs), fill_value=0)
        p = pd.Series(probs)
        assert ((freq - n * p).abs() <= Z_MAX * np.sqrt(n * p * (1 - p)) + 1e-9).all(), probs
        assert set(values) <= set(probs)
    team = d.groupby("owner")["team"].agg(set)
    assert all(team[o] == {r["team"]} for o, r in t["reps"].items())


def test_amounts_match_truth(big):
    t, d = big.truth, big.deals
    won = d[d["status"] == "won"]
    log_ratio = np.log(won["amount"] / won["expected_amount"])
    n = len(won)
    assert abs(log_ratio.mean() - t["ratio"]["mu"]) < Z_MAX * t["ratio"]["sigma"] / np.sqrt(n)
    assert abs(log_ratio.std() / t["ratio"]["sigma"] - 1) < 0.05
    for seg, par in t["amounts"].items():
        x = np.log(d.loc[d["segment"] == seg, "expected_amount"])
        assert abs(x.mean() - par["mu"]) < Z_MAX * par["sigma"] / np.sqrt(len(x)), seg
        assert abs(x.std() / par["sigma"] - 1) < 0.05, seg
        w = np.log(won.loc[won["segment"] == seg, "amount"])
        sd = np.hypot(par["sigma"], t["ratio"]["sigma"])
        assert abs(w.mean() - par["mu"] - t["ratio"]["mu"]) < Z_MAX * sd / np.sqrt(len(w)), seg


def test_expected_won_revenue_matches_realised(big):
    t, d = big.truth, big.deals
    won = d[d["status"] == "won"]
    past = [m for m in next(iter(t["derived"]["expected_won_revenue"].values())) if
            m <= t["end"][:7]]
    assert len(past) == 12
    expected = sum(v[m] for v in t["derived"]["expected_won_revenue"].values() for m in past)
    realised = won.loc[won["closed_at"].dt.strftime("%Y-%m").isin(past), "amount"].sum()
    assert 0.85 < realised / expected < 1.15


def test_sample_is_realistic():
    data = generate(GeneratorConfig(), seed=7)
    d = data.deals
    closed = d[d["status"] != "open"]
    assert 0.2 <= (closed["status"] == "won").mean() <= 0.36
    won = d[d["status"] == "won"]
    cycle = (won["closed_at"] - won["created_at"]).dt.days.groupby(won["segment"]).median()
    assert cycle.between(30, 125).all(), cycle.to_dict()
    assert cycle["smb"] < cycle["enterprise"]
    is_open = d["status"] == "open"
    assert 200 <= is_open.sum() <= 800
    stale = (pd.Timestamp(data.truth["end"]) - d.loc[is_open, "created_at"]).dt.days > 91
    assert stale.sum() >= 50


# ------------------------------------------------------------------ command line


def test_command_writes_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "sample"
    assert _run_cli("--out", str(out), "--deals", "400", "--seed", "3") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    n = len(load_dataset(out).deals)
    assert 200 < n < 700
    with pytest.raises(UsageError, match="--force"):
        _run_cli("--out", str(out), "--deals", "400")
    assert _run_cli("--out", str(out), "--deals", "400", "--seed", "4", "--force") == 0
    assert json.loads((out / "truth.json").read_text())["seed"] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_command_rejects_bad_arguments(tmp_path):
    with pytest.raises(UsageError, match="--end"):
        _run_cli("--out", str(tmp_path / "x"), "--end", "2026-13-01")
    with pytest.raises(UsageError, match="after"):
        _run_cli("--out", str(tmp_path / "x"), "--start", "2025-01-01", "--end", "2024-01-01")
    with pytest.raises(UsageError, match="deals"):
        _run_cli("--out", str(tmp_path / "x"), "--deals", "0")


@pytest.mark.skipif(not (SAMPLE / "deals.csv").exists(), reason="no bundled sample")
def test_bundled_sample_loads_with_its_truth():
    ds = load_dataset(SAMPLE)
    truth = json.loads((SAMPLE / "truth.json").read_text())
    assert truth["seed"] == 7 and truth["n_deals"] == len(ds.deals)
    assert ds.quotas is not None and ds.stage_history is not None


# ------------------------------------------------------------------ the quarter's calendar


def test_quarter_slots_by_hand():
    from forecast.data.periods import quarter_slot

    days = np.array(["2024-01-01", "2024-01-31", "2024-02-29", "2024-03-17", "2024-03-18",
                     "2024-03-31", "2024-04-01", "2024-06-16", "2024-06-17", "2024-09-30"],
                    dtype="datetime64[D]")
    # the last 14 days of a quarter are its own slot: from Mar 18, Jun 17, Sep 17, Dec 18
    assert quarter_slot(days).tolist() == [0, 0, 1, 2, 3, 3, 0, 2, 3, 3]
    as_numbers = days.astype(np.int64)  # day numbers since 1970-01-01, as the generator has
    assert quarter_slot(as_numbers).tolist() == quarter_slot(days).tolist()


def test_quarter_end_calendar_books_late_and_says_so_in_its_truth():
    cal = generate(GeneratorConfig.quarter_end(), 3)
    flat = generate(GeneratorConfig(), 3)

    def shares(data):
        closed = data.deals[data.deals["status"].isin(["won", "lost"])]
        place = (closed["closed_at"].dt.month - 1) % 3 + 1
        won = closed["status"] == "won"
        booked = closed[won].groupby(place[won])["amount"].sum()
        lost = closed[~won].groupby(place[~won]).size()
        return (booked / booked.sum()).to_numpy(), lost.to_numpy()

    booked, lost = shares(cal)
    # like the Maven export (24% / 34% / 42%): the last month books most, the first least,
    # and deals are lost early in a quarter rather than late
    assert booked[2] > 0.37 and booked[0] < 0.27 and lost[0] > 1.3 * lost[2]
    booked_flat, _ = shares(flat)
    assert np.abs(booked_flat - 1 / 3).max() < 0.05  # no calendar: about a third each
    truth = cal.truth
    assert set(truth["calendar"]) == {"month 1", "month 2", "month 3", "last two weeks"}
    assert truth["calendar"]["last two weeks"]["won"] == 0.9
    months = truth["month_effects"]
    assert list(months)[0] == "2024-01" and list(months)[-1] == "2026-10"
    assert abs(np.std([m["won"] for m in months.values()]) - 0.15) < 0.06
    assert "calendar" not in flat.truth and "month_effects" not in flat.truth


def test_cli_quarter_end_flag(tmp_path):
    out = tmp_path / "cal"
    assert _run_cli("--out", str(out), "--deals", "400", "--quarter-end", "--seed", "2") == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["config"]["sigma_month"] == [0.15, 0.15] and "calendar" in truth
    # the model is told to learn the calendar the data were simulated with
    assert load_dataset(out).config.calendar is True
    plain = tmp_path / "plain"
    assert _run_cli("--out", str(plain), "--deals", "400", "--seed", "2") == 0
    assert load_dataset(plain).config.calendar is False

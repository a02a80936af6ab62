"""Quota attainability: period revenue per quota row, leaders' ranking, swing deals, plots."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from helpers import assert_renders_for_people

from forecast.data.cells import DURATION_EDGES_WEEKS
from simulations.engine.horizon import make_horizon
from simulations.engine.inputs import DealBook, SimulationInputs
from simulations.engine.simulate import simulate
from simulations.planning.attainment import (
    attainment_draws,
    attainment_table,
    quota_paths,
    quota_paths_of,
    swing_deals,
    with_deal_outcomes,
)
from simulations.plots.attainment import (
    plot_attainment_distribution,
    plot_ranking,
    plot_recommendation,
    plot_swing_deals,
)

matplotlib.use("Agg")

BIG = 40.0
NO_BOOKINGS = pd.DataFrame(columns=["owner", "month", "revenue"])


def coin_flip_inputs() -> SimulationInputs:
    """ann: D0 (1000) won in July with probability ½, D1 (10) certain to win in July;
    bob: D2 (500) certain to win in July. No new deals."""
    a = np.full((1, 3, 1), -BIG)
    a[0, 1, 0] = BIG  # won in week 1 ...
    a[0, 2, 0] = BIG  # ... or lost, evenly
    owner_eff = np.zeros((1, 3, 2))
    book = DealBook(
        deal_id=np.array(["D0", "D1", "D2"], dtype=object), owner=np.array([0, 0, 1]),
        segment=np.zeros(3, dtype=np.int64), xb=np.array([0, 1, 1]),
        stage=np.zeros(3, dtype=np.int64), week=np.zeros(3, dtype=np.int64),
        part=np.zeros(3, dtype=np.int64),
        amount=np.array([1000.0, 10.0, 500.0]), override=np.array([0, 1, 1], dtype=np.int8),
        forced_day=np.array([0, 5, 5]), delay_days=np.zeros(3, dtype=np.int64))
    return SimulationInputs(
        horizon=make_horizon("2024-06-30", 2), owners=("ann", "bob"),
        teams={"ann": "east", "bob": "east"}, segments=("all",), stages=("s0",), deals=book,
        a=a, dur=np.zeros((1, 3, len(DURATION_EDGES_WEEKS))), owner_eff=owner_eff,
        segment_eff=np.zeros((1, 3, 1)), xb=np.zeros((1, 2)), arr_b0=np.full(1, -BIG),
        arr_owner_eff=np.zeros((1, 2)), season=np.zeros((1, 12)), alpha=np.full(1, 1e6),
        arrival_multiplier=np.zeros((2, 2)), segment_mix=np.ones((1, 2, 1)),
        entry_stage=np.ones((1, 1)), size_mu=np.full((1, 1), np.log(100.0)),
        size_sigma=np.zeros((1, 1)),
        ratio_mu=np.zeros(1), ratio_sigma=np.zeros(1))


QUOTAS = pd.DataFrame({"owner": ["ann", "bob", "east", "total", "ann"],
                       "period": ["2024-07", "2024-07", "2024-07", "2024-Q3", "2024-q3"],
                       "quota": [1000.0, 400.0, 1500.0, 1600.0, 900.0]})


@pytest.fixture(scope="module")
def coin_flip():
    inputs = coin_flip_inputs()
    result = simulate(inputs, 2000, seed=4, keep_deal_outcomes=True)
    as_of = inputs.horizon.as_of
    return inputs, result, quota_paths(result, QUOTAS, NO_BOOKINGS, as_of)


def test_quota_paths_by_hand(coin_flip):
    _, result, paths = coin_flip
    ann, bob, east, total, ann_q = paths
    won = result.deal_month[:, 0] == 0
    assert 0.45 < won.mean() < 0.55
    assert np.allclose(ann.revenue, 10 + 1000 * won)
    assert ann.p_attain == pytest.approx(won.mean())
    assert bob.p_attain == 1.0 and bob.kind == "rep" and bob.team == "east"
    assert east.kind == "team" and east.members == ("ann", "bob")
    assert np.allclose(east.revenue, 510 + 1000 * won)
    # a quarter ending after the horizon is not complete
    assert not total.complete and np.isnan(total.p_attain) and total.kind == "total"
    assert ann_q.period == "2024-Q3" and not ann_q.complete


def test_swing_deals_by_hand(coin_flip):
    inputs, result, paths = coin_flip
    swing = swing_deals(paths, result, inputs)
    ann = swing[swing["owner"] == "ann"]
    # D0 decides ann's month; D1 (certain, tiny) has no impact and is left out
    assert list(ann["deal_id"]) == ["D0"]
    row = ann.iloc[0]
    assert row["p_attain_if_won"] == 1.0 and row["p_attain_if_lost"] == 0.0
    assert row["impact"] == 1.0 and row["rank"] == 1
    assert row["swing"] == pytest.approx(0.5, abs=0.01)  # a coin flip that decides it
    assert row["p_win_in_period"] == pytest.approx(row["p_attain"])
    assert row["gain_if_won"] + row["loss_if_lost"] == pytest.approx(row["impact"])
    # the team (quota 1500 of 1510 possible) needs D0 (impact 1) and D2 (impact ½)
    east = swing[swing["owner"] == "east"]
    assert list(east["deal_id"]) == ["D0", "D2"]
    assert east["impact"].iloc[1] == pytest.approx(east["p_attain"].iloc[1])
    # bob's quota moves with D2 only
    bob = swing[swing["owner"] == "bob"].iloc[0]
    assert bob["deal_id"] == "D2" and bob["p_attain_if_lost"] == 0.0
    assert bob["swing"] == 0.0  # certain to be won: nothing left to swing
    with pytest.raises(ValueError, match="keep_deal_outcomes"):
        swing_deals(paths, simulate(inputs, 10, seed=1), inputs)


def test_table_ranks_reps_and_teams(coin_flip):
    _, _, paths = coin_flip
    table = attainment_table(paths)
    assert list(table["owner"]) == ["east", "bob", "ann"]  # team first, then reps by rank
    assert list(table["rank"]) == [1, 1, 2]
    ann = table[table["owner"] == "ann"].iloc[0]
    assert ann["expected_gap"] == pytest.approx((1 - ann["p_attain"]) * 990.0)
    assert ann["attainment_p10"] == pytest.approx(0.01)
    draws = attainment_draws(paths, period="2024-07", kind="rep")
    assert set(draws["owner"]) == {"ann", "bob"} and len(draws) == 2 * 2000


def test_matches_the_forecast_summary(small_run):
    paths = quota_paths_of(small_run)
    summary = {(q["owner"], q["period"]): q for q in small_run.summary["quotas"]}
    assert paths
    for p in paths:
        q = summary[(p.owner, p.period)]
        assert p.complete == q["complete"]
        if p.complete:
            assert p.p_attain == pytest.approx(q["p_attain"])
            assert np.quantile(p.attainment, 0.5) == pytest.approx(q["attainment"]["p50"])
    table = attainment_table(paths)
    assert set(table["kind"]) <= {"rep", "team", "total"}
    assert (table["attainment_p10"] <= table["attainment_p50"]).all()
    assert (table["attainment_p50"] <= table["attainment_p90"]).all()
    assert (table["expected_gap"] >= 0).all()
    for _, g in table.groupby(["period", "kind"]):
        assert g["rank"].min() == 1
        assert (np.diff(g["p_attain"].to_numpy()) <= 0).all()


def test_swing_deals_on_a_forecast(small_run):
    result = with_deal_outcomes(small_run)
    assert np.array_equal(result.revenue, small_run.result.revenue)  # same paths
    paths = quota_paths_of(small_run)
    swing = swing_deals(paths, result, small_run.inputs, top=5)
    assert len(swing) and (swing.groupby(["owner", "period"]).size() <= 5).all()
    assert (swing["impact"] > 0).all()
    assert (swing["p_attain_if_lost"] <= swing["p_attain"] + 1e-12).all()
    for _, g in swing.groupby(["owner", "period"]):
        assert (np.diff(g["swing"].to_numpy()) <= 1e-12).all()
    p = swing["p_win_in_period"]
    assert np.allclose(swing["swing"], 2 * p * (1 - p) * swing["impact"])
    by_impact = swing_deals(paths, result, small_run.inputs, top=5, rank_by="impact")
    for _, g in by_impact.groupby(["owner", "period"]):
        assert (np.diff(g["impact"].to_numpy()) <= 1e-12).all()
    owners = dict(zip(small_run.inputs.deals.deal_id,
                      np.array(small_run.inputs.owners)[small_run.inputs.deals.owner],
                      strict=True))
    reps = swing[swing["kind"] == "rep"]
    assert (reps["deal_owner"] == reps["owner"]).all()
    assert all(owners[d] == o for d, o in zip(swing["deal_id"], swing["deal_owner"],
                                              strict=True))


def _png(ax) -> bytes:
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png")
    return buf.getvalue()


def test_plots_draw(coin_flip):
    inputs, result, paths = coin_flip
    table = attainment_table(paths)
    swing = swing_deals(paths, result, inputs)
    for ax in (plot_ranking(table), plot_attainment_distribution(paths),
               plot_swing_deals(swing, "ann"), plot_swing_deals(swing, "nobody")):
        assert _png(ax).startswith(b"\x89PNG")
    from simulations.planning.recommend import recommend
    from simulations.planning.targets import resolve_target

    rec = recommend(inputs, result, resolve_target(inputs, 1600.0, period="2024-07"), 0.8,
                    seed=1)
    assert rec.deals_needed is not None
    assert _png(plot_recommendation(rec)).startswith(b"\x89PNG")


NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quota_attainability.ipynb"


def test_notebook_has_typed_parameters_and_no_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    source = "".join(tagged[0]["source"])
    for name in ("data_dir: str", "as_of: str", "horizon: int", "draws: int", "seed: int",
                 "method: Optional[str]", "target: float", "confidence: float"):
        assert name in source
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.slow
def test_notebook_runs_with_papermill(tmp_path: Path):
    pm = pytest.importorskip("papermill")
    from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

    data_dir = tmp_path / "data"
    write_dataset(generate(GeneratorConfig.small(), 1), data_dir)
    out = tmp_path / "quota_attainability.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        parameters=dict(data_dir=str(data_dir), as_of="2026-10-31", horizon=3, draws=300,
                        seed=3, method="advi", advi_iterations=3000, samples=100, top_deals=5,
                        confidence=0.8))
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # ranking, two distributions, swing deals / recommendation
    text = json.dumps(nb)
    assert "qualified deals" in text and "Swing deals" in text
    shown = json.dumps(outputs)  # tables for people: no raw column names, alt text on figures
    for raw in ("p_attain", "expected_gap", "booked_to_date", "pipeline_amount", "p_qualify"):
        assert raw not in shown, raw
    assert all(o.get("metadata", {}).get("image/png", {}).get("alt") for o in images)
    # the sampler's log lines go to the collapsed appendix, not a red stderr box
    assert not [o for o in outputs if o.get("name") == "stderr"]
    assert "Appendix: model diagnostics" in shown and "Finished [100%]" in shown
    found = assert_renders_for_people(out)  # its HTML, to the monthly report's standard
    assert found is None or found["images"] >= 4

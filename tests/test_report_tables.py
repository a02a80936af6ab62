"""The monthly report's tables for people (``pipecast.report_tables``) and the waterfall plot."""

from __future__ import annotations

import logging

import matplotlib
import numpy as np
import pandas as pd
import pytest

from pipecast import change_tables as ct
from pipecast import report_tables as rt

matplotlib.use("Agg")


def test_money_and_percent_formats():
    assert [rt.money(v) for v in (0, 950, 999.6, 1000, 12345, 123456, 1234567, 25e6, 3.2e9)] \
        == ["0", "950", "1.00k", "1.00k", "12.3k", "123k", "1.23M", "25.0M", "3.20B"]
    assert rt.money(-2500) == "−2.50k"
    assert rt.money(None) == rt.money(np.nan) == "–"
    assert [rt.percent(v) for v in (0.0, 0.001, 0.25, 0.996, 1.0)] == [
        "0%", "<1%", "25%", ">99%", "100%"]
    assert rt.percent(None) == "–"


def _summary() -> dict:
    def q(owner, kind, period, quota, p):
        return {"owner": owner, "kind": kind, "period": period, "quota": quota,
                "booked_to_date": 10.0, "complete": p is not None,
                "revenue": {"p50": quota * 0.9}, "p_attain": p,
                "attainment": {"p10": 0.5, "p50": 0.9, "p90": 1.3} if p is not None else None,
                "expected_gap": 5.0 if p is not None else None}
    return {"quotas": [
        q("total", "total", "2026-11", 1000, 0.4), q("total", "total", "2026-Q4", 3000, 0.55),
        q("east", "team", "2026-11", 500, 0.7), q("west", "team", "2026-11", 500, 0.2),
        q("east", "team", "2026-Q4", 1500, 0.8), q("west", "team", "2026-Q4", 1500, 0.3),
        q("ann", "rep", "2026-11", 100, 0.9), q("bob", "rep", "2026-11", 100, 0.1),
        q("bob", "rep", "2027-Q1", 300, None),
    ]}


def test_quota_heat_company_first_then_teams_lowest_first_quarter_before_months():
    heat = rt.quota_heat(_summary())
    assert list(heat.columns) == ["Level", "Who", "2026-Q4", "2026-11"]
    assert list(heat["Who"]) == ["Company", "west", "east"]
    assert heat.loc[1, "2026-11"] == 0.2
    reps = rt.quota_heat(_summary(), kinds=("rep",))
    assert list(reps.columns) == ["Who", "2026-11"]  # incomplete 2027-Q1 left out
    assert list(reps["Who"]) == ["bob", "ann"]
    assert rt.quota_heat({"quotas": []}).empty


def test_quota_details_readable_and_sorted():
    d = rt.quota_details(_summary())
    assert "booked_to_date" not in d.columns and "expected_gap" not in d.columns
    assert list(d["Period"].unique()) == ["2026-Q4", "2026-11"]
    first = d[d["Period"] == "2026-11"]
    assert list(first["Who"]) == ["Company", "west", "east", "bob", "ann"]


def test_people_table_formats_caps_rows_and_writes_full_csv(tmp_path):
    frame = pd.DataFrame({"Deal": [f"D{i}" for i in range(40)],
                          "Amount": np.arange(40) * 1500.0,
                          "P(win)": np.linspace(0, 1, 40)})
    html = rt.people_table(frame, money_cols=["Amount"], percent_cols=["P(win)"],
                           csv="deals.csv", out_dir=tmp_path).to_html()
    assert (tmp_path / "deals.csv").exists()
    assert len(pd.read_csv(tmp_path / "deals.csv")) == 40
    assert "15 of 40 rows shown; the full list is in deals.csv" in html
    assert "D14" in html and "D15" not in html
    assert "21.0k" in html and "58.5k" not in html  # row 14 shown, row 39 not
    assert "<th class=\"blank" not in html and "row_heading" not in html  # no index column
    short = rt.people_table(frame.head(3), money_cols=["Amount"]).to_html()
    assert "rows shown" not in short


def test_stale_table_drops_columns_that_say_the_same_on_every_row():
    stale = pd.DataFrame({"group": "all", "deal_id": ["D1", "D2"], "owner": ["ann", "bob"],
                          "team": ["all", "all"], "segment": ["smb", "ent"],
                          "stage": ["proposal"] * 2, "stage_idx": [2, 2],
                          "days_in_stage": [90, 80], "threshold_days": [40, 40],
                          "excess_days": [50, 40], "amount": [1000.0, 2000.0]})
    out = rt.stale_table(stale)
    assert "Team" not in out.columns and "Segment" in out.columns
    assert "excess_days" not in out.columns and "Days over" in out.columns


def test_diagnostics_and_trust_sentence():
    good = {"method": "nuts", "rhat_max": 1.0034, "rhat_worst": "beta", "ess_bulk_min": 812.0,
            "divergences": 0, "chains": 4, "draws": 4000, "converged": True,
            "fit_seconds": 61.234}
    table = rt.diagnostics_table(good)
    assert table.loc[table["Check"].str.startswith("R-hat"), "Value"].item() == "1.003"
    assert rt.trust_sentence(good).startswith("The fit can be trusted")
    bad = {**good, "rhat_max": 1.05, "divergences": 3, "converged": False}
    sentence = rt.trust_sentence(bad)
    assert "with care" in sentence and "1.050" in sentence and "3 divergent" in sentence
    assert "approximation" in rt.trust_sentence({"method": "advi", "rhat_max": None})
    html = rt.appendix_html(good)
    assert html.startswith("<details>") and "1.003" in html


def test_sampler_log_keeps_lines_off_stderr(capsys):
    log = rt.SamplerLog.capture()
    logging.getLogger("pymc").info("Sampling 4 chains <fast>")
    logging.getLogger("pytensor.graph").warning("a warning")
    err = capsys.readouterr().err
    assert "Sampling" not in err and "a warning" not in err
    assert any("Sampling 4 chains" in line for line in log.lines)
    assert "&lt;fast&gt;" in log.html()


def test_previous_month_end():
    assert ct.previous_month_end("2026-10-31") == pd.Timestamp("2026-09-30")
    assert ct.previous_month_end("2026-03-31") == pd.Timestamp("2026-02-28")
    assert ct.previous_month_end("2026-10-15") == pd.Timestamp("2026-09-15")


def test_changes_table_and_waterfall(small_dataset, tmp_path):
    import matplotlib.pyplot as plt

    from forecast.data.changes import pipeline_changes
    from simulations.plots.changes import waterfall

    doc = pipeline_changes(small_dataset, "2026-09-30", "2026-10-31").to_dict()
    table = ct.changes_table(doc)
    assert table["Step"].iloc[0] == "Pipeline on 2026-09-30"
    assert table["Step"].iloc[-1] == "Pipeline on 2026-10-31"
    assert (table["Deals"].iloc[1:-1] > 0).all()
    ax = waterfall(doc)
    shown = [b for b in doc["bars"] if b["deals"] and b["change"]["weighted"]]
    assert len(ax.patches) == len(shown) + 2
    tops = [p.get_y() + p.get_height() for p in ax.patches]
    assert tops[0] == pytest.approx(doc["start"]["weighted"])
    assert tops[-1] == pytest.approx(doc["end"]["weighted"])
    plt.close("all")
    with pytest.raises(ValueError, match="measure"):
        waterfall(doc, measure="count")


BRIDGE = {"from": "2026-09-30", "to": "2026-10-31", "period": "2026-Q4",
          "start": {"expected": 1_000_000.0, "p50": 950_000.0, "deals": 40,
                    "source": "the report of 2026-09-30 (reports/2026-09)"},
          "end": {"expected": 1_150_000.0, "p50": 1_120_000.0, "deals": 38,
                  "source": "this fit, 2026-10-31"},
          "bars": [{"bar": "model", "label": "Model update", "deals": 0,
                    "change": {"expected": -20_000.0}},
                   {"bar": "won", "label": "Won", "deals": 3, "change": {"expected": 250_000.0}},
                   {"bar": "lost", "label": "Lost", "deals": 2, "change": {"expected": -80_000.0}},
                   {"bar": "amount", "label": "Amount changes", "deals": 0,
                    "change": {"expected": 0.0}}]}


def test_bridge_sentence_table_and_chart():
    import matplotlib.pyplot as plt

    from simulations.plots.changes import waterfall

    line = ct.bridge_sentence(BRIDGE)
    assert line.startswith("**2026-Q4 since 2026-09-30**: expected revenue 1.00M → 1.15M")
    assert "(P50 950k → 1.12M)" in line and "Largest move: won, +250k." in line
    table = ct.bridge_table(BRIDGE)
    assert list(table["Step"]) == ["Forecast on 2026-09-30", "Model update", "Won", "Lost",
                                   "Forecast on 2026-10-31"]  # bars that did not move: out
    assert pd.isna(table["Deals"].iloc[1]) and table["Deals"].iloc[2] == 3
    assert table["Deals"].iloc[0] == 40 and table["Deals"].iloc[-1] == 38  # open deals
    ax = waterfall(BRIDGE, measure="expected")
    assert len(ax.patches) == 5  # start, model (no deals, shown), won, lost, end
    tops = [p.get_y() + p.get_height() for p in ax.patches]
    assert tops[0] == pytest.approx(1_000_000.0) and tops[-1] == pytest.approx(1_150_000.0)
    assert "Expected revenue of 2026-Q4" in ax.get_title()
    assert "deals" not in ax.texts[1].get_text()  # the model update has no deals
    plt.close("all")


@pytest.mark.filterwarnings("ignore:Attempting to work in a virtualenv")
def test_html_has_no_network_and_keeps_alt_text(tmp_path):
    """The report template: nothing loaded from the network, a "$" stays text, figures
    keep the alt text :func:`show_figure` gives them."""
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure

    from pipecast.reporting import to_html

    shown = []
    shell = InteractiveShell.instance()
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append((data, metadata))
    try:
        ax = Figure(figsize=(2, 2)).subplots()
        ax.plot([0, 1], [0, 1])
        rt.show_figure(ax, alt="A line from <0, 0> to (1, 1)")
    finally:
        shell.display_pub.publish = original
    (data, metadata), = shown
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Quota $1.2M, booked $0.9M"),
                nbformat.v4.new_code_cell("")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    nbformat.write(nb, tmp_path / "r.ipynb")
    to_html(tmp_path / "r.ipynb", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "https://cdnjs" not in html and "<script src" not in html
    assert 'alt="A line from &lt;0, 0&gt; to (1, 1)"' in html
    assert "data:image/png;base64," in html
    assert "Quota $1.2M, booked $0.9M" in html

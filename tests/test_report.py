"""``pipecast report``: the monthly notebook run with papermill, written atomically."""

from __future__ import annotations

import json

import nbformat
import pytest
from helpers import fast_cli

from pipecast.cli import main
from pipecast.reporting import NOTEBOOKS, REPORT_FILES, last_month_end
from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

FAST = fast_cli(draws=200)


def test_notebooks_are_stripped_and_parameterised():
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
        # typed, commented defaults
        lines = [ln for ln in tagged[0].source.splitlines() if "=" in ln]
        assert lines and all(":" in ln.split("=")[0] and "#" in ln for ln in lines), path
        # papermill must parse every one (it skips, with a warning, lines it cannot read)
        import papermill as pm

        assert len(pm.inspect_notebook(str(path))) == len(lines), path


def test_last_month_end():
    import datetime as dt

    assert str(last_month_end(dt.date(2026, 11, 23)).date()) == "2026-10-31"
    assert str(last_month_end(dt.date(2026, 3, 1)).date()) == "2026-02-28"


@pytest.mark.slow
def test_report_runs_the_notebook_atomically(tmp_path, capsys, monkeypatch):
    data = tmp_path / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=500.0), seed=8), data)
    monkeypatch.chdir(tmp_path)  # relative --data and --out, as in `make report`
    reports = tmp_path / "reports"
    args = ["report", "--data", "ds", "--as-of", "2026-10-31", "--out", "reports",
            "--seed", "3", *FAST]
    assert main(args) == 0
    month = reports / "2026-10"
    names = {p.name for p in month.iterdir()}
    assert set(REPORT_FILES) <= names
    # the full lists behind the report's short tables, beside it
    assert names - set(REPORT_FILES) <= {
        "forecast_glance.csv", "changes.json", "changes_deals.csv", "quota_details.csv",
        "quota_reps.csv", "deals_to_focus.csv", "reps.csv", "stale_deals.csv",
        "track_record.csv"}
    assert {"forecast_glance.csv", "changes.json", "stale_deals.csv"} <= names
    assert [p.name for p in reports.iterdir()] == ["2026-10"]  # no temporary left over
    assert month.stat().st_mode & 0o777 == 0o755  # readable by others, like any folder
    html = (month / "monthly_forecast.html").read_text()
    assert "run_forecast(" not in html  # no code in the HTML
    assert "Monthly revenue forecast" in html
    assert html.count("data:image/png") >= 4  # fan chart, quota, funnel, … are drawn
    summary = json.loads((month / "summary.json").read_text())
    assert summary["as_of"] == "2026-10-31" and len(summary["total"]) == 3
    # a finished month is kept unless --force
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_as_of_before_any_deal_is_a_usage_error(tmp_path, capsys):
    data = tmp_path / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=200.0), seed=8), data)
    reports = tmp_path / "reports"
    assert main(["report", "--data", str(data), "--as-of", "2020-01-31", "--out",
                 str(reports), *FAST]) == 2
    assert "no deals were created" in capsys.readouterr().err
    assert not reports.exists()


@pytest.mark.slow
def test_failed_notebook_leaves_nothing(tmp_path):
    import pandas as pd
    from papermill.exceptions import PapermillExecutionError

    from pipecast.reporting import run_report

    data = tmp_path / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=300.0), seed=8), data)
    reports = tmp_path / "reports"
    params = {"draws": -1, "method": "advi", "samples": 50, "chains": 1}  # fails in simulate
    with pytest.raises(PapermillExecutionError):
        run_report(data, pd.Timestamp("2026-10-31"), reports, params, progress=False)
    assert list(reports.iterdir()) == []

"""``pipecast report``: the monthly notebook run with papermill, written atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    # what killed runs leave: this month's partial folder (with a summary the track record
    # must not read), another month's, and a finished month set aside mid-swap
    for stale in (".2026-10.partial-1-dead", ".2026-09.partial-2-dead"):
        (reports / stale).mkdir(parents=True)
        (reports / stale / "summary.json").write_text('{"as_of": "2026-09-30", "total": []}')
    (reports / ".2026-08.old-3").mkdir()
    (reports / ".2026-08.old-3" / "summary.json").write_text("{}")
    args = ["report", "--data", "ds", "--as-of", "2026-10-31", "--out", "reports",
            "--seed", "3", *FAST]
    assert main(args) == 0
    month = reports / "2026-10"
    names = {p.name for p in month.iterdir()}
    assert set(REPORT_FILES) <= names
    # the full lists behind the report's short tables, beside it
    assert names - set(REPORT_FILES) <= {
        "forecast_glance.csv", "changes.json", "changes_deals.csv",
        "bridge_deals.csv", "quota_details.csv",
        "quota_reps.csv", "deals_to_focus.csv", "reps.csv", "stale_deals.csv",
        "track_record.csv"}
    assert {"forecast_glance.csv", "changes.json", "bridge_deals.csv", "stale_deals.csv"} <= names
    assert json.loads((month / "changes.json").read_text())["bridge"]["period"] == "2026-Q4"
    # no temporary left over; the month set aside is put back where it was
    assert sorted(p.name for p in reports.iterdir()) == ["2026-08", "2026-10"]
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


ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (Linux ``/proc``)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            kids.append(int(stat.parent.name))
    return kids


def _start_report(tmp_path: Path, args: list[str]) -> tuple[subprocess.Popen, Path]:
    """``pipecast report`` in a process of its own; returns once it holds the month (its
    partial folder exists: it is fitting, before its notebook runs)."""
    log = tmp_path / "first.log"
    proc = subprocess.Popen([sys.executable, "-m", "pipecast.cli", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    reports = Path(args[args.index("--out") + 1])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        partial = list(reports.glob(".2026-10.partial-*"))
        if partial:  # the month's lock is held and the fit (then the notebook) runs
            return proc, partial[0]
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the report did not take its month in 120 s: {log.read_text()}")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the notebook kernel in /proc")
def test_concurrent_run_is_refused_and_a_killed_run_leaves_no_month(tmp_path, capsys,
                                                                     monkeypatch):
    data = tmp_path / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=200.0), seed=8), data)
    reports = tmp_path / "reports"
    # a fit long enough to be killed in the middle of (the report fits holding the month)
    args = ["report", "--data", str(data), "--as-of", "2026-10-31", "--out", str(reports),
            "--method", "advi", "--advi-iterations", "10000000", "--quiet"]
    proc, partial = _start_report(tmp_path, args)
    kernels = _children(proc.pid)  # its child processes (none while it fits with ADVI)
    try:
        # a second run for the same month: refused at once, before any notebook runs
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"the 2026-10 report ({reports / '2026-10'}) is being written by another " \
               f"pipecast run (pid {proc.pid})" in err
        assert "Traceback" not in err
        os.kill(proc.pid, signal.SIGKILL)  # a real kill -9: no handler, no clean-up
        assert proc.wait(timeout=30) == -signal.SIGKILL
        deadline = time.monotonic() + 30  # the kernel notices its parent is gone and exits
        while any(Path(f"/proc/{k}").exists() for k in kernels) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(Path(f"/proc/{k}").exists() for k in kernels), "kernel left running"
    finally:
        for pid in [proc.pid, *kernels]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    assert not (reports / "2026-10").exists()  # no month folder, finished or not
    left = sorted(p.name for p in reports.iterdir())
    assert partial.name in left and all(n.startswith(".2026-10.") for n in left), left

    # a later run takes the month (the kill released the lock) and clears the leftovers
    # before its notebook starts; the notebook is replaced by a writer of the report's
    # files, since what is checked here is the folder handling around it
    import pipecast.reporting as reporting

    seen: list[list[str]] = []

    def write_files(name, out_dir, parameters, progress=True):
        seen.append(sorted(p.name for p in Path(parameters["reports_root"]).iterdir()))
        for f in REPORT_FILES:
            (out_dir / f).write_text("x")
        return out_dir / name

    monkeypatch.setattr(reporting, "execute", write_files)
    final = reporting.run_report(data, __import__("pandas").Timestamp("2026-10-31"), reports,
                                 {}, progress=False)
    assert len(seen) == 1 and partial.name not in seen[0]  # gone before the notebook ran
    assert sorted(p.name for p in reports.iterdir()) == ["2026-10"]
    assert sorted(p.name for p in final.iterdir()) == sorted(REPORT_FILES)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the notebook kernel in /proc")
def test_two_reports_at_once_one_writes_the_other_exits_2(tmp_path, capsys):
    data = tmp_path / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=300.0), seed=8), data)
    reports = tmp_path / "reports"
    args = ["report", "--data", str(data), "--as-of", "2026-10-31", "--out", str(reports),
            "--seed", "3", *FAST]
    proc, _ = _start_report(tmp_path, args)
    try:
        assert main(args) == 2
        assert f"is being written by another pipecast run (pid {proc.pid})" in \
            capsys.readouterr().err
        assert proc.wait(timeout=600) == 0, (tmp_path / "first.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(p.name for p in reports.iterdir()) == ["2026-10"]
    assert set(REPORT_FILES) <= {p.name for p in (reports / "2026-10").iterdir()}


def test_report_says_when_the_calendar_and_drift_wait_for_more_history(tmp_path):
    """``calendar: true`` and ``drift: true`` on an export whose closes begin in February:
    as of 2026-06-29 no whole quarter of closes is behind the forecast (Q1 began before the
    first close), so the fit leaves both out, and the executed report says so."""
    from dataclasses import replace

    data = generate(GeneratorConfig.small(n_deals=400.0, start="2026-02-01",
                                          end="2026-06-30"), seed=2)
    data = replace(data, pipeline={**data.pipeline, "calendar": True, "drift": True})
    write_dataset(data, tmp_path / "ds")
    out = tmp_path / "reports"
    assert main(["report", "--data", str(tmp_path / "ds"), "--as-of", "2026-06-29",
                 "--out", str(out), *FAST]) == 0
    summary = json.loads((out / "2026-06" / "summary.json").read_text())
    assert summary["diagnostics"]["time_effects_withheld"] == {
        "effects": ["calendar", "drift"], "full_quarters": 0, "needed": 1}
    html = (out / "2026-06" / "monthly_forecast.html").read_text()
    assert "Not in this fit" in html and "no whole quarter" in html

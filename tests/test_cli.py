"""The ``pipecast`` command line: exit codes, contract outputs, overwrite protection."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from helpers import DEALS_CSV, fast_cli
from helpers import write_dataset as write_tiny

from pipecast.cli import main
from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

FAST = fast_cli()


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=600.0), seed=2), out)
    return out


@pytest.fixture(scope="module")
def forecast_out(gen_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("fc")
    code = main(["forecast", "--data", str(gen_dir), "--as-of", "2026-10-31", "--horizon", "3",
                 "--draws", "300", "--seed", "4", "--out", str(out), *FAST])
    assert code == 0
    return out


def test_validate_ok_and_bad(tiny_dir, tmp_path, capsys):
    assert main(["validate", "--data", str(tiny_dir)]) == 0
    assert "OK — 5 deals" in capsys.readouterr().out
    bad = write_tiny(tmp_path / "bad", deals=DEALS_CSV.replace("1000,ann", "-1000,ann")
                     .replace("2024-02-15", "2023-01-01"))
    assert main(["validate", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "deals.csv:2 deal_id=D1 column=amount rule=non_negative" in err
    assert "deals.csv:3 deal_id=D2 column=closed_at rule=closed_before_created" in err
    assert "4 problem(s)" in err  # and the two stage_history rows that now conflict
    assert "rule=entered_after_closed" in err


def test_usage_errors_exit_2(tiny_dir, tmp_path, capsys):
    assert main(["forecast", "--data", str(tiny_dir), "--as-of", "31/10/2024",
                 "--out", str(tmp_path)]) == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["forecast", "--data", str(tmp_path / "nope"), "--as-of", "2024-10-31",
                 "--out", str(tmp_path)]) == 2
    assert "dataset directory not found" in capsys.readouterr().err
    assert main(["forecast", "--data", str(tiny_dir), "--as-of", "2024-10-31", "--horizon",
                 "0", "--out", str(tmp_path)]) == 2
    assert "--horizon 0 must be between 1 and 36" in capsys.readouterr().err


def test_nutpie_without_nutpie_is_a_usage_error(tiny_dir, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nutpie" else real(name, *a))
    assert main(["fit", "--data", str(tiny_dir), "--as-of", "2024-10-31", "--out",
                 str(tmp_path / "fit.nc"), "--nuts-sampler", "nutpie"]) == 2
    err = capsys.readouterr().err
    assert "nutpie is not installed" in err and "pipecast[nutpie]" in err
    assert not (tmp_path / "fit.nc").exists()


def test_forecast_writes_the_contract_outputs(forecast_out):
    s = json.loads((forecast_out / "summary.json").read_text())
    assert s["as_of"] == "2026-10-31"
    assert s["months"] == ["2026-11", "2026-12", "2027-01"]
    for row in s["total"]:
        assert set(row) >= {"month", "mean", "p10", "p50", "p90"}
        assert row["p10"] <= row["p50"] <= row["p90"]
    assert s["owners"] and s["teams"]
    assert all(len(v) == 3 for v in s["owners"].values())
    quarter = [q for q in s["quotas"] if q["period"] == "2026-Q4"]
    assert quarter and all(0 <= q["p_attain"] <= 1 for q in quarter)
    assert s["weighted_pipeline"]["total"] > 0
    assert {"rhat_max", "ess_bulk_min", "divergences"} <= set(s["diagnostics"])
    draws = pd.read_parquet(forecast_out / "draws.parquet")
    assert list(draws.columns) == ["draw", "month", "owner", "revenue"]
    assert len(draws) == 300 * 3 * len(s["owners"])
    total = draws.groupby(["draw", "month"])["revenue"].sum().groupby("month").mean()
    assert total.round(6).tolist() == pytest.approx([r["mean"] for r in s["total"]])


def test_forecast_refuses_to_overwrite(gen_dir, forecast_out, capsys):
    code = main(["forecast", "--data", str(gen_dir), "--as-of", "2026-10-31",
                 "--out", str(forecast_out), *FAST])
    assert code == 2
    assert "--force" in capsys.readouterr().err


def test_same_seed_same_numbers(gen_dir, forecast_out, tmp_path):
    out = tmp_path / "again"
    # a fresh fit (not the cached one) and another chunking: the same draws
    assert main(["forecast", "--data", str(gen_dir), "--as-of", "2026-10-31", "--horizon", "3",
                 "--draws", "300", "--seed", "4", "--out", str(out), "--chunk-size", "7",
                 "--no-cache", *FAST]) == 0
    a = pd.read_parquet(forecast_out / "draws.parquet")
    b = pd.read_parquet(out / "draws.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_forecast_on_dask_gives_the_same_draws(gen_dir, forecast_out, tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    args = ["forecast", "--data", str(gen_dir), "--as-of", "2026-10-31", "--horizon", "3",
            "--draws", "300", "--seed", "4", "--out", str(out), *FAST]
    assert main([*args, "--dask"]) == 0  # a LocalCluster started for the run
    pd.testing.assert_frame_equal(pd.read_parquet(forecast_out / "draws.parquet"),
                                  pd.read_parquet(out / "draws.parquet"))
    assert main([*args, "--dask", "--scheduler", "tcp://127.0.0.1:1", "--force"]) == 2
    assert "not both" in capsys.readouterr().err


def test_console_script_entry_point(tiny_dir):
    proc = subprocess.run([sys.executable, "-m", "pipecast.cli", "validate", "--data",
                           str(tiny_dir / "missing")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "dataset directory not found" in proc.stderr

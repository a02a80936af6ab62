"""Fit once: the saved posterior (``pipecast fit``, ``--posterior``), its refusals, the cache.

The fits here are fast ADVI fits (a few hundred iterations): what is tested is that a fit
is saved, found and refused correctly, not its quality. Tests that fit are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import forecast
from forecast.data.dataset import load_dataset
from forecast.models import fit as fit_module
from forecast.models.config import ModelConfig, SamplerConfig
from forecast.models.store import (
    ENGINE_GROUP,
    FitCache,
    PosteriorMismatch,
    default_cache_dir,
    fit_id,
    read_fit,
    read_meta,
    write_fit,
)
from forecast.seeds import child_seeds
from pipecast.cli import main
from simulations.forecaster import PipelineForecaster
from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

AS_OF = "2026-10-31"
SEED = 4
FAST_CLI = ["--method", "advi", "--advi-iterations", "300", "--samples", "50", "--chains", "2",
            "--quiet"]
FAST = SamplerConfig(method="advi", advi_iterations=300, draws=50, chains=2, progressbar=False)
ROOT = Path(__file__).resolve().parents[1]


def _posterior_arrays_equal(a, b) -> None:
    xa, ma = a.to_arrays()
    xb, mb = b.to_arrays()
    assert list(xa) == list(xb)
    for k in xa:
        assert xa[k].dtype == xb[k].dtype and xa[k].shape == xb[k].shape, k
        assert np.array_equal(xa[k], xb[k], equal_nan=True), k
    assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fitonce") / "ds"
    write_dataset(generate(GeneratorConfig.small(n_deals=600.0), seed=2), out)
    return out


@pytest.fixture(scope="module")
def saved(data_dir, tmp_path_factory):
    """A fit saved through the Python API with the fit seed `pipecast forecast --seed 4`
    uses, and the forecaster that wrote it."""
    fc = PipelineForecaster(sampler_config=FAST).fit(load_dataset(data_dir), AS_OF,
                                                     seed=child_seeds(SEED, 2)[0])
    path = tmp_path_factory.mktemp("saved") / "fit.nc"
    fc.save(path)
    return path, fc


@pytest.fixture
def count_fits(monkeypatch):
    """How many times the sampler ran (ModelFitter.fit calls)."""
    calls = []
    original = fit_module.ModelFitter.fit

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(fit_module.ModelFitter, "fit", counting)
    return calls


def _forecast(data_dir: Path, out: Path, *extra: str) -> int:
    return main(["forecast", "--data", str(data_dir), "--as-of", AS_OF, "--draws", "200",
                 "--seed", str(SEED), "--out", str(out), *extra])


# --------------------------------------------------------------------------- the file
@pytest.mark.slow
def test_the_file_is_arviz_netcdf_with_its_provenance(saved):
    import arviz as az

    path, fc = saved
    idata = az.from_netcdf(path)
    assert "posterior" in idata.groups() and ENGINE_GROUP in idata.groups()
    assert idata.posterior.attrs["pipecast_id"] == fit_id(fc.model_config, fc.sampler_config)
    meta = read_meta(path)
    assert meta["as_of"] == AS_OF and meta["seed"] == child_seeds(SEED, 2)[0]
    assert meta["package_version"] == forecast.__version__
    assert set(meta["input_files"]) >= {"deals.csv", "stage_history.csv"}
    assert all(len(h) == 64 for h in meta["input_files"].values())
    assert meta["model_config"] == ModelConfig().to_dict()
    assert meta["sampler_config"]["method"] == "advi"
    assert meta["diagnostics"] == fc.posterior.diagnostics


@pytest.mark.slow
def test_round_trip_gives_bit_identical_draws(saved, data_dir):
    path, fc = saved
    back = PipelineForecaster.load(path, load_dataset(data_dir))
    _posterior_arrays_equal(fc.posterior, back.posterior)
    a = fc.forecast(horizon=3, draws=300, seed=9)
    b = back.forecast(horizon=3, draws=300, seed=9)
    assert np.array_equal(a.result.revenue, b.result.revenue)
    assert a.summary == b.summary
    assert back.sampler_config == fc.sampler_config and back.fit_source == str(path)


@pytest.mark.slow
def test_load_without_data_cannot_forecast_and_an_altered_id_is_refused(saved, tmp_path):
    path, fc = saved
    bare = PipelineForecaster.load(path)
    assert bare.posterior.n_draws == fc.posterior.n_draws
    with pytest.raises(RuntimeError, match="without its data"):
        bare.forecast()
    s = read_fit(path)
    bad = tmp_path / "altered.nc"
    write_fit(bad, s.idata, s.posterior, dict(s.meta, model_config=dict(
        s.meta["model_config"], owner_sd=2.0)))  # configuration changed, id left as it was
    with pytest.raises(PosteriorMismatch, match="does not match its own configuration"):
        PipelineForecaster.load(bad)


# --------------------------------------------------------------------------- --posterior
@pytest.mark.slow
def test_posterior_gives_the_numbers_of_a_fresh_fit_without_sampling(saved, data_dir,
                                                                     tmp_path, monkeypatch):
    path, _ = saved
    assert _forecast(data_dir, tmp_path / "fresh", *FAST_CLI, "--no-cache") == 0
    calls = []
    monkeypatch.setattr(fit_module.ModelFitter, "fit", lambda *a, **k: calls.append(1))
    assert _forecast(data_dir, tmp_path / "reused", "--posterior", str(path), "--quiet") == 0
    assert calls == []
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "fresh" / "draws.parquet"),
                                  pd.read_parquet(tmp_path / "reused" / "draws.parquet"))


def _refused(capsys, code: int) -> str:
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing posterior" in err and "pipecast fit --data" in err
    return err


@pytest.mark.slow
def test_posterior_of_other_data_is_refused(saved, data_dir, tmp_path, capsys):
    path, _ = saved
    other = tmp_path / "other"
    shutil.copytree(data_dir, other)
    deals = pd.read_csv(other / "deals.csv", dtype=str, keep_default_na=False)
    deals.loc[0, "amount"] = str(float(deals.loc[0, "amount"]) + 1)
    deals.to_csv(other / "deals.csv", index=False)
    err = _refused(capsys, _forecast(other, tmp_path / "o", "--posterior", str(path)))
    assert "fitted on other data" in err and "deals.csv changed" in err
    assert not (tmp_path / "o" / "summary.json").exists()


@pytest.mark.slow
def test_posterior_of_another_as_of_is_refused(saved, data_dir, tmp_path, capsys):
    path, _ = saved
    code = main(["score", "--data", str(data_dir), "--as-of", "2026-09-30", "--out",
                 str(tmp_path / "s"), "--posterior", str(path)])
    err = _refused(capsys, code)
    assert "fitted as of 2026-10-31, not 2026-09-30" in err


@pytest.mark.slow
def test_posterior_of_another_model_configuration_is_refused(saved, data_dir, tmp_path,
                                                             capsys):
    path, _ = saved
    s = read_fit(path)
    model = dict(s.meta["model_config"], owner_sd=1.0)
    other = tmp_path / "other-model.nc"  # as `fit` writes it for ModelConfig(owner_sd=1.0)
    write_fit(other, s.idata, s.posterior, dict(
        s.meta, model_config=model, id=fit_id(ModelConfig(**model), s.sampler_config)))
    err = _refused(capsys, _forecast(data_dir, tmp_path / "m", "--posterior", str(other)))
    assert "model configuration differs: owner_sd 1.0 in the file, 0.5 here" in err
    # and sampler options that contradict the file
    err = _refused(capsys, _forecast(data_dir, tmp_path / "n", "--posterior", str(path),
                                     "--method", "nuts"))
    assert "sampler configuration differs: " in err and "method 'advi' in the file" in err


@pytest.mark.slow
def test_posterior_of_another_version_is_refused(saved, data_dir, tmp_path, capsys,
                                                 monkeypatch):
    path, _ = saved
    written = forecast.__version__
    monkeypatch.setattr(forecast, "__version__", "9.9.9")
    err = _refused(capsys, _forecast(data_dir, tmp_path / "v", "--posterior", str(path)))
    assert f"written by pipecast {written} (file format 1), this is pipecast 9.9.9" in err


def test_a_missing_or_unreadable_posterior_exits_2(data_dir, tmp_path, capsys):
    assert _forecast(data_dir, tmp_path / "x", "--posterior", str(tmp_path / "none.nc")) == 2
    assert "is not a file" in capsys.readouterr().err
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert _forecast(data_dir, tmp_path / "y", "--posterior", str(junk)) == 2
    assert "not a readable pipecast posterior" in capsys.readouterr().err


# --------------------------------------------------------------------------- the cache
@pytest.mark.slow
def test_cache_hit_does_not_sample_and_one_amount_changed_misses(data_dir, tmp_path,
                                                                 count_fits, capsys):
    cache = tmp_path / "cache"
    assert _forecast(data_dir, tmp_path / "a", *FAST_CLI, "--cache-dir", str(cache)) == 0
    assert len(count_fits) == 1
    assert _forecast(data_dir, tmp_path / "b", *FAST_CLI, "--cache-dir", str(cache)) == 0
    assert len(count_fits) == 1  # hit: no sampling
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "draws.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "draws.parquet"))
    # `pipecast fit` with the same settings writes the cached fit without sampling
    out = tmp_path / "fit.nc"
    assert main(["fit", "--data", str(data_dir), "--as-of", AS_OF, "--seed", str(SEED),
                 "--out", str(out), *FAST_CLI, "--cache-dir", str(cache)]) == 0
    assert len(count_fits) == 1
    (entry,) = FitCache(cache).entries()
    _posterior_arrays_equal(read_fit(out).posterior, read_fit(entry["path"]).posterior)
    # one deal's amount changed: a miss, and a second entry
    changed = tmp_path / "changed"
    shutil.copytree(data_dir, changed)
    deals = pd.read_csv(changed / "deals.csv", dtype=str, keep_default_na=False)
    deals.loc[5, "amount"] = str(float(deals.loc[5, "amount"]) * 2 + 1)
    deals.to_csv(changed / "deals.csv", index=False)
    assert _forecast(changed, tmp_path / "c", *FAST_CLI, "--cache-dir", str(cache)) == 0
    assert len(count_fits) == 2
    capsys.readouterr()
    assert main(["cache", "list", "--cache-dir", str(cache)]) == 0
    listed = capsys.readouterr()
    assert listed.out.count("as of 2026-10-31") == 2 and "2 cached fit(s)" in listed.err
    assert main(["cache", "clear", "--cache-dir", str(cache)]) == 0
    assert FitCache(cache).entries() == []
    # --no-cache: neither read nor written
    assert _forecast(data_dir, tmp_path / "d", *FAST_CLI, "--no-cache", "--cache-dir",
                     str(cache)) == 0
    assert len(count_fits) == 3 and FitCache(cache).entries() == []


def test_cache_location_env_and_platformdirs(monkeypatch, tmp_path):
    monkeypatch.setenv("PIPECAST_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    assert FitCache(tmp_path / "given").directory == tmp_path / "given"
    monkeypatch.delenv("PIPECAST_CACHE_DIR")
    import platformdirs

    assert default_cache_dir() == Path(platformdirs.user_cache_dir("pipecast",
                                                                   appauthor=False)) / "fits"


@pytest.mark.slow
def test_a_write_killed_half_way_leaves_nothing_read_later(saved, tmp_path):
    path, _ = saved
    cache = FitCache(tmp_path / "cache")
    key = read_meta(path)["key"]
    # a writer killed (SIGKILL) after writing its temporary file, before the rename
    script = textwrap.dedent(f"""
        import os, sys, time
        from forecast.models import store
        saved = store.read_fit({str(path)!r})
        def hang(fd):
            print("written", flush=True)
            time.sleep(60)
        os.fsync = hang
        store.FitCache({str(cache.directory)!r}).put({key!r}, saved.idata, saved.posterior,
                                                     saved.meta)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    leftovers = list(cache.directory.glob(".*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0
    assert not cache.path_for(key).exists()
    assert cache.get(key) is None and cache.entries() == []
    # a truncated file under the final name (as a crash of another writer might leave) is a
    # miss, and removed
    cache.path_for(key).write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert cache.get(key) is None and not cache.path_for(key).exists()
    # a complete write is then found; clear removes the dead writer's temporary file too
    s = read_fit(path)
    cache.put(key, s.idata, s.posterior, s.meta)
    _posterior_arrays_equal(cache.get(key).posterior, s.posterior)
    assert cache.clear() == 2 and not list(cache.directory.iterdir())


@pytest.mark.slow
def test_backtest_rerun_reuses_each_dates_fit(data_dir, tmp_path, count_fits):
    from simulations.evaluation.backtest import backtest

    ds = load_dataset(data_dir)
    kw = dict(horizon=1, draws=100, seed=3, sampler_config=FAST, progress=False,
              baselines=(), cache_dir=tmp_path / "cache")
    first = backtest(ds, "2026-08-31", "2026-09-30", **kw)
    assert len(count_fits) == 2  # one fit per as-of date
    again = backtest(ds, "2026-08-31", "2026-09-30", **kw)
    assert len(count_fits) == 2  # the rerun samples nothing
    pd.testing.assert_frame_equal(first.scores, again.scores)
    assert len(FitCache(tmp_path / "cache").entries()) == 2


# --------------------------------------------------------------------------- the calendar
@pytest.mark.slow
def test_a_calendar_fit_round_trips_its_effects_and_fiscal_year(tmp_path):
    """``pipeline.yaml: calendar: true`` with a fiscal year from February: the saved fit
    holds ``flow.calendar`` (P, 3, 4) and ``index.fiscal_year_start`` bit for bit."""
    from dataclasses import replace

    data = generate(GeneratorConfig.quarter_end(n_deals=400.0), seed=5)
    data = replace(data, pipeline={**data.pipeline, "calendar": True, "fiscal_year_start": 2})
    write_dataset(data, tmp_path / "ds")
    ds = load_dataset(tmp_path / "ds")
    assert ds.config.calendar and ds.config.fiscal_year_start == 2
    fc = PipelineForecaster(sampler_config=FAST).fit(ds, AS_OF, seed=1)
    cal = fc.posterior.flow.calendar
    assert cal.dtype == np.float64 and cal.shape == (fc.posterior.n_draws, 3, 4)
    assert np.abs(cal.sum(axis=-1)).max() < 1e-9
    assert fc.posterior.index.fiscal_year_start == 2 and fc.cells.n_slots == 4
    fc.save(tmp_path / "fit.nc")
    back = PipelineForecaster.load(tmp_path / "fit.nc", ds)
    _posterior_arrays_equal(fc.posterior, back.posterior)
    assert np.array_equal(back.posterior.flow.calendar, cal)
    assert back.posterior.index.fiscal_year_start == 2
    sigma = fc.posterior.flow.month_sigma  # the months' own variation travels with it
    assert sigma.shape == (fc.posterior.n_draws, 3)
    assert np.array_equal(back.posterior.flow.month_sigma, sigma)


@pytest.mark.slow
def test_a_fit_saved_before_the_calendar_existed_still_loads(saved, data_dir, tmp_path):
    """A file without ``calendar_sd``, ``fiscal_year_start`` and ``flow.calendar`` (as
    written before they existed) loads with no calendar and calendar quarters, and is the
    fit of its data."""
    import h5py

    from forecast.models.store import META_ATTR, check_fit

    path, _ = saved
    old = tmp_path / "old.nc"
    shutil.copy(path, old)
    with h5py.File(old, "r+") as f:
        record = json.loads(f[ENGINE_GROUP].attrs[META_ATTR])
        del record["model_config"]["calendar_sd"]
        del record["engine"]["index"]["fiscal_year_start"]
        assert "flow.calendar" not in record["engine"]["shapes"]
        f[ENGINE_GROUP].attrs[META_ATTR] = json.dumps(record)
    back = read_fit(old)
    assert back.posterior.flow.calendar is None
    assert back.posterior.index.fiscal_year_start == 1
    check_fit(back, load_dataset(data_dir), AS_OF)  # not refused

"""Shared fixtures (the helpers they use are in ``helpers.py``).

Tests that fit a model are marked ``slow`` — explicitly, or here when they use a fixture of
:data:`FITTING_FIXTURES` — so ``pytest -m "not slow"`` is the quick loop (under 2 minutes).
CI runs everything.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import DEALS_CSV, FAST_SAMPLER, synthetic_dataset, write_dataset

#: fixtures that fit a model: every test that uses one is ``slow``
FITTING_FIXTURES = {"small_run", "fitted", "forecast_out", "fast_score_cli"}


def pytest_collection_modifyitems(items):
    for item in items:
        if FITTING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "tiny")


@pytest.fixture
def tiny_deals() -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(DEALS_CSV), dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def small_dataset():
    """~1,500 generated deals, 2024-01-01 .. 2026-10-31, with quotas and covariates."""
    return synthetic_dataset()[0]


@pytest.fixture(scope="session")
def small_run(small_dataset):
    """A fitted 3-month forecast of ``small_dataset`` at its end (fast ADVI fit, 400 paths)."""
    from forecast.models.config import SamplerConfig
    from simulations.forecaster import run_forecast

    return run_forecast(small_dataset, "2026-10-31", horizon=3, draws=400, seed=5,
                        sampler_config=SamplerConfig(**FAST_SAMPLER), progress=False)


@pytest.fixture(autouse=True, scope="session")
def _isolated_fit_cache(tmp_path_factory):
    """Commands cache fits by default: the tests' fits go to a folder of their own, never
    the user's cache (notebook kernels inherit the variable)."""
    import os

    saved = os.environ.get("PIPECAST_CACHE_DIR")
    os.environ["PIPECAST_CACHE_DIR"] = str(tmp_path_factory.mktemp("fit-cache"))
    yield
    if saved is None:
        os.environ.pop("PIPECAST_CACHE_DIR", None)
    else:
        os.environ["PIPECAST_CACHE_DIR"] = saved

"""Shared fixtures: small datasets written by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

STAGES = ("contact", "qualification", "proposal")

DEALS_CSV = """deal_id,created_at,stage,status,closed_at,amount,owner,segment,team
D1,2024-01-05,proposal,won,2024-03-01,1000,ann,smb,east
D2,2024-01-10,qualification,lost,2024-02-15,500,ann,smb,east
D3,2024-02-01,proposal,open,,2000,bob,ent,west
D4,2024-02-20,contact,open,,300,bob,smb,west
D5,2024-03-05,qualification,won,2024-05-10,1500,bob,ent,west
"""

HISTORY_CSV = """deal_id,stage,entered_at
D1,contact,2024-01-05
D1,qualification,2024-01-20
D1,proposal,2024-02-10
D2,contact,2024-01-10
D2,qualification,2024-02-01
D3,contact,2024-02-01
D3,qualification,2024-02-15
D3,proposal,2024-04-01
D4,contact,2024-02-20
D5,contact,2024-03-05
D5,qualification,2024-04-01
"""

QUOTAS_CSV = """owner,period,quota
ann,2024-06,1000
west,2024-Q2,5000
total,2024-Q2,6000
"""

PIPELINE_YAML = """stages: [contact, qualification, proposal]
crm_probabilities: {contact: 0.1, qualification: 0.3, proposal: 0.6}
"""


def write_dataset(root: Path, deals: str = DEALS_CSV, history: str | None = HISTORY_CSV,
                  quotas: str | None = QUOTAS_CSV, pipeline: str | None = PIPELINE_YAML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "deals.csv").write_text(deals)
    for name, text in (("stage_history.csv", history), ("quotas.csv", quotas),
                       ("pipeline.yaml", pipeline)):
        if text is not None:
            (root / name).write_text(text)
    return root


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "tiny")


@pytest.fixture
def tiny_deals() -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(DEALS_CSV), dtype=str, keep_default_na=False)


def synthetic_dataset(config=None, seed: int = 1):
    """A generated dataset (default ~1,500 deals) as a validated :class:`Dataset`."""
    from forecast.data.dataset import dataset_from_frames
    from simulations.synthetic.generator import GeneratorConfig, generate

    data = generate(config or GeneratorConfig.small(), seed)
    p = data.pipeline
    return dataset_from_frames(data.deals, tuple(p["stages"]), data.stage_history, data.quotas,
                               crm_probabilities=p.get("crm_probabilities"),
                               covariates=tuple(p.get("covariates") or ())), data.truth


#: sampler settings for tests that need any fitted model quickly (not for recovery tests)
FAST_SAMPLER = dict(method="advi", advi_iterations=3000, draws=150, chains=2,
                    progressbar=False)


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

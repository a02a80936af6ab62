"""pipecast's top layer: the command line and the report, on top of both packages.

The Python API in one place::

    from pipecast import PipelineForecaster, load_dataset

    fc = PipelineForecaster().fit(load_dataset("data/sample"), "2026-10-31", seed=1)
    run = fc.forecast(horizon=3, draws=2000, seed=2)
    run.total

:mod:`forecast` (data, models) and :mod:`simulations` (what runs on a fit) never import
this package.
"""

from forecast import (
    Dataset,
    DataValidationError,
    ModelConfig,
    SamplerConfig,
    build_snapshot,
    load_dataset,
)
from forecast import __version__ as __version__

__all__ = [
    "DataValidationError",
    "Dataset",
    "ModelConfig",
    "PipelineForecaster",
    "SamplerConfig",
    "build_snapshot",
    "load_dataset",
    "run_forecast",
]


def __getattr__(name: str):
    # the forecaster imports PyMC: load it only when asked for (fast CLI start-up)
    if name in ("PipelineForecaster", "run_forecast"):
        from simulations import forecaster

        return getattr(forecaster, name)
    raise AttributeError(f"module 'pipecast' has no attribute {name!r}")

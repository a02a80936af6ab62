"""pipecast's data and model layer: datasets, point-in-time snapshots, Bayesian models.

The Monte Carlo side (revenue paths, scenarios, recommendations, backtests) lives in the
sibling package :mod:`simulations`.
"""

from forecast.dataset import Dataset, dataset_from_frames, load_dataset
from forecast.model_config import ModelConfig, SamplerConfig
from forecast.problems import DataValidationError, Problem
from forecast.snapshot import Snapshot, build_snapshot

__all__ = [
    "DataValidationError",
    "Dataset",
    "ModelConfig",
    "PipelineForecaster",
    "Problem",
    "SamplerConfig",
    "Snapshot",
    "build_snapshot",
    "dataset_from_frames",
    "load_dataset",
]

__version__ = "0.1.0"


def __getattr__(name: str):
    # the model layer imports PyMC: load it only when asked for (fast CLI start-up)
    if name == "PipelineForecaster":
        from forecast.forecaster import PipelineForecaster

        return PipelineForecaster
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")

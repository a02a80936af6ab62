"""pipecast's bottom layer: the data and the models.

* :mod:`forecast.data` — the dataset directory (reading, validation, importers), the
  point-in-time snapshot, exposure cells, pipeline metrics.
* :mod:`forecast.models` — the PyMC deal-flow and arrival models, the conjugate amount
  models, their configuration and the fit.
* :mod:`forecast.posterior` — the fitted posterior as plain arrays (PyMC-free), which is
  all that :mod:`simulations` reads.

Nothing here imports :mod:`simulations` or :mod:`pipecast` (``tests/test_architecture.py``).
"""

from forecast.data.dataset import Dataset, dataset_from_frames, load_dataset
from forecast.data.problems import DataValidationError, Problem
from forecast.data.snapshot import Snapshot, build_snapshot
from forecast.models.config import ModelConfig, SamplerConfig

__all__ = [
    "DataValidationError",
    "Dataset",
    "ModelConfig",
    "Problem",
    "SamplerConfig",
    "Snapshot",
    "build_snapshot",
    "dataset_from_frames",
    "load_dataset",
]

__version__ = "0.4.0"

"""What runs on a fitted posterior: the Monte Carlo engine and everything built on it.

* :mod:`simulations.forecaster` — :class:`PipelineForecaster` (fit, then forecast) and
  :func:`run_forecast`.
* :mod:`simulations.engine` — revenue paths of the open pipeline and new deals.
* :mod:`simulations.scenarios` — what-if changes applied to the simulation inputs.
* :mod:`simulations.planning` — quota attainment and the pipeline a target needs.
* :mod:`simulations.evaluation` — backtests, baselines, scoring rules, deal scores.
* :mod:`simulations.synthetic` — datasets generated with known ground truth.
* :mod:`simulations.plots` — figures: functions that take an ``Axes`` and return it.

Imports run one way: :mod:`simulations` → :mod:`forecast`, never back.
"""

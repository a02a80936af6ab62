"""Arguments and checks shared by several commands."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from forecast.data.problems import UsageError
from forecast.data.safe_output import staged_files


def add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="dataset directory (deals.csv, stage_history.csv, quotas.csv, "
                        "pipeline.yaml)")


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument("--seed", type=int, default=default,
                        help=f"random seed of the run (default {default}); same data + seed → "
                        "same numbers")


def add_out(parser: argparse.ArgumentParser, required: bool = True, default: str | None = None):
    parser.add_argument("--out", type=Path, required=required and default is None,
                        default=Path(default) if default else None, metavar="DIR",
                        help="output directory")
    parser.add_argument("--force", action="store_true",
                        help="overwrite finished outputs already in --out")


def parse_date(text: str, name: str = "--as-of") -> pd.Timestamp:
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d")).normalize()
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{name} {text!r} is not a date (use YYYY-MM-DD)") from exc


def add_as_of(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--as-of", required=required, default=None, metavar="DATE",
                        help="forecast date YYYY-MM-DD: only what was known then is used")


def check_outputs_free(out: Path, names: list[str], force: bool) -> None:
    """Refuse to overwrite finished outputs unless ``--force``."""
    existing = [n for n in names if (out / n).exists()]
    if existing and not force:
        raise UsageError(f"{out} already holds {', '.join(existing)}; pass --force to "
                         "overwrite")


@contextlib.contextmanager
def staged_outputs(out: Path, names: list[str]) -> Iterator[Path]:
    """A temporary folder inside ``out`` to write ``names`` into, moved into place at the end.

    :func:`forecast.data.safe_output.staged_files`: ``out`` is locked for the block (a
    second run writing there exits 2), the files reach ``out`` only when the block
    finishes without an error, one atomic rename each, and on an error nothing of the run
    is left in ``out``.
    """
    with staged_files(out, names, what=f"--out {out}") as tmp:
        yield tmp


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Simulation size and sampler options shared by the forecasting commands.

    Their defaults are read from :mod:`forecast.models.config` (the one place of defaults):
    sampler options left unset stay ``None`` and take :class:`SamplerConfig`'s values.
    """
    from forecast.models.config import HORIZON_MONTHS, SIMULATED_PATHS

    parser.add_argument("--horizon", type=int, default=HORIZON_MONTHS, metavar="MONTHS",
                        help=f"months to forecast after --as-of (default {HORIZON_MONTHS})")
    parser.add_argument("--draws", type=int, default=SIMULATED_PATHS,
                        help=f"simulated revenue paths (default {SIMULATED_PATHS})")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="paths simulated at once (memory bound; results unchanged)")
    add_sampler_options(parser)


def add_sampler_options(parser: argparse.ArgumentParser) -> None:
    """How to fit: ``--method``, ``--chains``, ``--tune``, ``--samples``,
    ``--advi-iterations``, ``--nuts-sampler``, ``--fit-budget`` and ``--quiet`` (``None``:
    the defaults of :class:`~forecast.models.config.SamplerConfig`)."""
    from forecast.models.config import NUTS_SAMPLERS, SamplerConfig

    d = SamplerConfig()
    parser.add_argument("--method", choices=["nuts", "advi"], default=None,
                        help=f"nuts: full MCMC; advi: fast approximate fit (default {d.method})")
    parser.add_argument("--chains", type=int, default=None,
                        help=f"MCMC chains (default {d.chains})")
    parser.add_argument("--tune", type=int, default=None,
                        help=f"tuning steps per chain (default {d.tune})")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"posterior draws kept per chain (default {d.draws})")
    parser.add_argument("--advi-iterations", type=int, default=None, metavar="N",
                        help=f"optimisation steps of --method advi (default {d.advi_iterations})")
    parser.add_argument("--nuts-sampler", choices=list(NUTS_SAMPLERS), default=None,
                        help="NUTS implementation of --method nuts: PyMC's (default "
                        f"{d.nuts_sampler}) or nutpie (pip install 'pipecast[nutpie]'; "
                        "faster sampling, a longer compile: docs/fit-kernel.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_fit_budget(parser, d.fit_budget)


def add_fit_budget(parser: argparse.ArgumentParser, default: float) -> None:
    """``--fit-budget SECONDS``: how long the adaptive fit may sample on (None: default)."""
    parser.add_argument("--fit-budget", type=float, default=None, metavar="SECONDS",
                        help="seconds the fit may take: while diagnostics miss the bar it "
                        f"samples on within them; 0 samples once (default {default:g})")


def sampler_from_args(args: argparse.Namespace):
    """The :class:`~forecast.models.config.SamplerConfig` the model options ask for."""
    import importlib.util

    from forecast.models.config import SamplerConfig

    nuts = getattr(args, "nuts_sampler", None)
    if nuts == "nutpie" and importlib.util.find_spec("nutpie") is None:
        raise UsageError("--nuts-sampler nutpie: nutpie is not installed; install it with "
                         "pip install 'pipecast[nutpie]', or leave the option out")
    return SamplerConfig.from_options(method=args.method, chains=args.chains, tune=args.tune,
                                      draws=args.samples, advi_iterations=args.advi_iterations,
                                      fit_budget=getattr(args, "fit_budget", None),
                                      nuts_sampler=nuts, progressbar=not args.quiet)


def check_sizes(args: argparse.Namespace) -> None:
    """Reject out-of-range model options (exit 2)."""
    if args.horizon < 1 or args.horizon > 36:
        raise UsageError(f"--horizon {args.horizon} must be between 1 and 36 months")
    for name in ("draws", "samples", "chains", "advi_iterations"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.tune is not None and args.tune < 0:
        raise UsageError("--tune must not be negative")
    if getattr(args, "fit_budget", None) is not None and args.fit_budget < 0:
        raise UsageError("--fit-budget must not be negative")


def add_cluster_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--dask`` / ``--scheduler``: where ``what`` runs (same numbers everywhere)."""
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=f"run {what} on this Dask scheduler (tcp://host:8786)")
    parser.add_argument("--dask", action="store_true",
                        help=f"run {what} on a local Dask cluster")


def check_cluster_options(args: argparse.Namespace) -> None:
    if args.scheduler and args.dask:
        raise UsageError("give either --scheduler or --dask, not both")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fit_line(diagnostics: dict) -> str:
    """The fit's diagnostics in one line: R-hat, divergences, and the calendar, drift or
    month-of-year effects left out for a history too short for them
    (``time_effects_withheld``; ``month_variation.season.withheld``)."""
    line = (f"R-hat max {diagnostics.get('rhat_max')}, divergences "
            f"{diagnostics.get('divergences')}")
    withheld = diagnostics.get("time_effects_withheld")
    if withheld:
        line += (f"; {' and '.join(withheld['effects'])} not fitted: the history holds "
                 f"{withheld['full_quarters']} whole quarter(s) of closes, "
                 f"{withheld['needed']} needed (docs/model.md)")
    season = (diagnostics.get("month_variation") or {}).get("season") or {}
    if season.get("withheld"):
        line += (f"; seasonal not fitted: the history holds some month of the year "
                 f"{season['fewest_per_month']} time(s), {season['needed_per_month']} "
                 "needed (docs/model.md)")
    return line


def add_data_end(parser: argparse.ArgumentParser) -> None:
    """``--data-end DATE``: the data's end (the run's clock; default today)."""
    parser.add_argument("--data-end", default=None, metavar="DATE",
                        help="the data's end, YYYY-MM-DD (default: today): a date after it in "
                        "the data is an error, and it may not be in the future")


def data_clock(args: argparse.Namespace) -> pd.Timestamp:
    """The run's clock: ``--data-end`` when given, else today's date (read here, in the CLI
    layer, and passed down: no library function has a hidden "today")."""
    import datetime as dt

    now = pd.Timestamp(dt.date.today())
    given = getattr(args, "data_end", None)
    if given is None:
        return now
    end = parse_date(given, "--data-end")
    if end > now:
        raise UsageError(f"--data-end {end.date()} is in the future (today is {now.date()}); "
                         "the data's end is never in the future")
    return end


def load_data(args: argparse.Namespace):
    """``--data`` loaded and validated against the run's clock (:func:`data_clock`); how the
    files were read (an encoding other than UTF-8, a delimiter other than ``,``) is printed."""
    from forecast.data import dataset

    ds = dataset.load_dataset(args.data, data_end=data_clock(args))
    for note in getattr(ds, "notes", ()):
        progress(note)
    return ds


def add_fit_reuse(parser: argparse.ArgumentParser, posterior: bool = True) -> None:
    """``--posterior FILE``, ``--no-cache``, ``--cache-dir DIR``: reuse a fit instead of
    sampling again (see ``pipecast fit`` and ``pipecast cache``)."""
    if posterior:
        parser.add_argument("--posterior", type=Path, default=None, metavar="FILE",
                            help="use this saved fit (pipecast fit) instead of fitting; "
                            "refused (exit 2) if of other data, as-of, configuration or "
                            "version")
    parser.add_argument("--no-cache", action="store_true",
                        help="fit afresh and keep nothing in the fit cache")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="fit cache folder (default $PIPECAST_CACHE_DIR, else the "
                        "user's cache directory)")


def fit_reuse_from_args(args: argparse.Namespace) -> dict:
    """``posterior`` and ``cache`` keyword arguments of :func:`run_forecast` (and
    :meth:`PipelineForecaster.fit`) from :func:`add_fit_reuse`'s options."""
    from forecast.models.store import FitCache

    posterior = getattr(args, "posterior", None)
    if posterior is not None and not posterior.is_file():
        raise UsageError(f"--posterior {posterior} is not a file; write one with "
                         "`pipecast fit --data DIR --as-of DATE --out FILE`")
    cache = None if args.no_cache or posterior is not None else FitCache(args.cache_dir)
    return {"posterior": posterior, "cache": cache}


def sampler_or_file(args: argparse.Namespace, make=None):
    """The sampler configuration to ask for: ``None`` (the file's settings) when
    ``--posterior`` is given without sampler options, else ``make(args)`` (default
    :func:`sampler_from_args`)."""
    explicit = [args.method, args.chains, args.tune, args.samples, args.advi_iterations,
                getattr(args, "nuts_sampler", None)]
    if getattr(args, "posterior", None) is not None and all(v is None for v in explicit):
        return None
    return (make or sampler_from_args)(args)

"""``pipecast sample-data``: write a synthetic dataset with known ground truth.

The dataset is simulated from the model pipecast fits (see :mod:`simulations.synthetic.generator`);
``truth.json`` beside the CSV files holds every true parameter.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from forecast.data.problems import UsageError
from forecast.data.safe_output import staged_dir
from pipecast.commands.common import add_out, add_seed, parse_date, progress
from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

DEFAULT_START = "2024-01-01"
DEFAULT_END = "2026-10-31"
DEFAULT_DEALS = 5000


def configure(parser: argparse.ArgumentParser) -> None:
    add_out(parser)
    add_seed(parser, default=7)
    parser.add_argument("--deals", type=int, default=DEFAULT_DEALS, metavar="N",
                        help=f"approximate number of deals (default {DEFAULT_DEALS}); scales "
                        "the arrival rate")
    parser.add_argument("--start", default=DEFAULT_START, metavar="DATE",
                        help=f"first day deals are created, YYYY-MM-DD (default {DEFAULT_START})")
    parser.add_argument("--end", default=DEFAULT_END, metavar="DATE",
                        help=f"extract date: last day simulated, YYYY-MM-DD (default {DEFAULT_END})")
    parser.add_argument("--quarter-end", action="store_true",
                        help="simulate a quarter-end calendar (deals won late in a quarter, "
                        "lost early, a random effect per month; truth.json holds it) and "
                        "switch the model's calendar effect on (calendar: true in "
                        "pipeline.yaml; docs/model.md)")
    parser.add_argument("--drift", action="store_true",
                        help="let the stage intercepts drift from quarter to quarter (a "
                        "random walk; truth.json holds it) and switch the model's drift on "
                        "(drift: true in pipeline.yaml; docs/model.md)")
    parser.add_argument("--seasonal", action="store_true",
                        help="with --quarter-end's calendar, month-of-year effects on the won "
                        "and lost odds (a December push, an August lull; truth.json holds "
                        "them) and switch the model's on (calendar: true and seasonal: true "
                        "in pipeline.yaml; learned once the history holds every month of "
                        "the year twice; docs/model.md)")


def build_config(args: argparse.Namespace) -> GeneratorConfig:
    """The generator config the arguments ask for.

    Raises
    ------
    UsageError
        On a bad date, an empty period or a non-positive deal count.
    """
    start = parse_date(args.start, "--start")
    end = parse_date(args.end, "--end")
    if end <= start:
        raise UsageError(f"--end {end.date()} must be after --start {start.date()}")
    if args.deals <= 0:
        raise UsageError(f"--deals {args.deals} must be a positive number of deals")
    if getattr(args, "seasonal", False):
        base = GeneratorConfig.seasonal()
    elif getattr(args, "quarter_end", False):
        base = GeneratorConfig.quarter_end()
    else:
        base = GeneratorConfig()
    if getattr(args, "drift", False):
        base = replace(base, sigma_drift=GeneratorConfig.drifting().sigma_drift)
    return replace(base, start=str(start.date()), end=str(end.date()),
                   n_deals=float(args.deals))


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"{out} is not empty; pass --force to replace it")


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    out = Path(args.out)
    _check_out(out, args.force)
    data = generate(config, args.seed)
    seasonal = getattr(args, "seasonal", False)
    if getattr(args, "quarter_end", False) or seasonal:  # the model learns the calendar
        data = replace(data, pipeline={**data.pipeline, "calendar": True})
    if seasonal:  # and the months of the year
        data = replace(data, pipeline={**data.pipeline, "seasonal": True})
    if getattr(args, "drift", False):  # and the drift
        data = replace(data, pipeline={**data.pipeline, "drift": True})
    with staged_dir(out, what=f"--out {out}") as tmp:  # finished or untouched
        write_dataset(data, tmp)
    d = data.deals
    counts = d["status"].value_counts().to_dict()
    progress(f"wrote {out}: {len(d)} deals ({counts.get('open', 0)} open, "
             f"{counts.get('won', 0)} won, {counts.get('lost', 0)} lost) from "
             f"{config.start} to {config.end}, seed {args.seed}; true parameters in "
             f"{out / 'truth.json'}")
    return 0

"""``pipecast`` command line: one module per command under :mod:`pipecast.commands`.

Every command module exposes ``configure(parser)`` (its arguments) and ``run(args) -> int``.
Input problems raise :class:`~forecast.data.problems.DataValidationError`, printed here in full
with exit code 2; so do usage errors (:class:`UsageError`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from forecast.data.problems import DataValidationError, UsageError

#: command name → (module under pipecast.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check a dataset directory and list every problem"),
    "fit": ("fit", "fit once as of a date and save the posterior (ArviZ netCDF)"),
    "forecast": ("forecast", "fit the models as of a date and simulate the months after it"),
    "report": ("report", "run the monthly forecast notebook into reports/<YYYY-MM>/"),
    "scenarios": ("scenarios", "the forecast under named what-if scenarios, side by side"),
    "recommend": ("recommend", "pipeline needed to reach a revenue target with a confidence"),
    "backtest": ("backtest", "rolling monthly forecasts scored against what happened"),
    "score": ("score", "win probability and drivers for each open deal"),
    "sample-data": ("sample_data", "write a synthetic dataset with known ground truth"),
    "import": ("importing", "convert a CRM export into a dataset directory"),
    "cache": ("cache", "list or clear the cached fits"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``pipecast`` parser; only ``command``'s module is imported (all when ``None``)."""
    parser = argparse.ArgumentParser(
        prog="pipecast",
        description="Bayesian sales pipeline forecasting (see README.md and CONTRACT.md).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or command == name:
            mod = importlib.import_module(f"pipecast.commands.{module}")
            mod.configure(p)
            p.set_defaults(_run=mod.run)
    return parser


def _command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipecast`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(argv)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DataValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

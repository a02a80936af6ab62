"""``pipecast`` command line: one module per command under :mod:`pipecast.commands`.

Every command module exposes ``configure(parser)`` (its arguments) and ``run(args) -> int``.
Every command that takes ``--data`` also takes ``--data-end`` (the run's clock, added here).

Exit codes, decided here at the top level:

* 2 — bad input: :class:`~forecast.data.problems.DataValidationError` (every problem
  listed), :class:`UsageError`, or a file that cannot be read or written (``OSError``):
  ``error: <one-line cause>``, never a traceback;
* 1 — an internal error: a short message asking for a bug report; the traceback only
  with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

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
    "changes": ("changes", "what changed in the pipeline between two as-of dates"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``pipecast`` parser; only ``command``'s module is imported (all when ``None``)."""
    from pipecast.commands.common import add_data_end

    parser = argparse.ArgumentParser(
        prog="pipecast",
        description="Bayesian sales pipeline forecasting (see README.md and CONTRACT.md).",
    )
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an internal error (also accepted after "
                        "the command)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or command == name:
            mod = importlib.import_module(f"pipecast.commands.{module}")
            mod.configure(p)
            options = {o for a in p._actions for o in a.option_strings}
            if "--data" in options and "--data-end" not in options:
                add_data_end(p)
            p.set_defaults(_run=mod.run)
    return parser


def _command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _os_error(exc: OSError) -> str:
    """``OSError`` as one line: what failed, on which path."""
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot access{where}: {exc.strerror or exc}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipecast`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    command = _command_of(argv)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (DataValidationError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the top level: every other error is a bug
        if debug:
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"internal error ({type(exc).__name__}: {first}): this is a bug in pipecast, "
              f"not a problem with your input. Please file a bug report with the command "
              "you ran" + ("" if debug else " and the traceback that `pipecast "
                                   "--debug ...` prints"), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Arguments and checks shared by several commands."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd

from forecast.problems import UsageError


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


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished temporary directory into place (atomic rename on one filesystem)."""
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

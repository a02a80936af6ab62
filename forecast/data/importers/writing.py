"""Writing an import's dataset directory atomically, and only where it is safe to.

The files are written into a partial folder next to ``--out``, checked with
:func:`forecast.data.dataset.load_dataset`, and only then moved into place
(:func:`forecast.data.safe_output.staged_dir`), so ``--out`` is either the finished dataset
or untouched. A non-empty ``--out`` needs ``--force``, and
even then is replaced only if it holds nothing but files an import writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from forecast.data.dataset import load_dataset
from forecast.data.importers.staging import ImportResult
from forecast.data.problems import DataValidationError, Problem, UsageError
from forecast.data.safe_output import safe_csv_frame, staged_dir

#: The files ``pipecast import`` writes (the only ones ``--force`` may replace).
OUTPUT_FILES: tuple[str, ...] = ("deals.csv", "stage_history.csv", "pipeline.yaml",
                                 "import_report.json")


def check_out_dir(out: Path, force: bool, sources: list[Path]) -> None:
    """Refuse an ``--out`` that is a file, holds the export, or is not empty (without
    ``--force``), or holds files an import does not write (even with ``--force``)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory")
    target = out.resolve()
    for src in sources:
        s = src.resolve()
        if s == target or target in s.parents:
            raise UsageError(f"--out {out} holds the export being imported ({src}); choose "
                             "another directory")
    existing = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if existing and not force:
        raise UsageError(f"--out {out} is not empty ({', '.join(existing[:5])}); pass --force "
                         "to replace it, or choose a new directory")
    foreign = [n for n in existing if n not in OUTPUT_FILES]
    if foreign:
        raise UsageError(f"refusing to replace --out {out}: it holds files pipecast import "
                         f"does not write ({', '.join(foreign[:5])}); choose a new directory")


def _write_files(result: ImportResult, folder: Path) -> None:
    opts = {"index": False, "encoding": "utf-8", "lineterminator": "\n"}
    safe_csv_frame(result.deals).to_csv(folder / "deals.csv", **opts)
    if result.history is not None and len(result.history):
        safe_csv_frame(result.history).to_csv(folder / "stage_history.csv", **opts)
    header = (f"# written by `pipecast import {result.report.format}`; "
              "see import_report.json for how every input row was handled\n")
    (folder / "pipeline.yaml").write_text(
        header + yaml.safe_dump(result.pipeline, sort_keys=False, allow_unicode=True),
        encoding="utf-8")
    (folder / "import_report.json").write_text(
        json.dumps(result.report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
        encoding="utf-8")


def write_import(result: ImportResult, out: Path, force: bool = False,
                 sources: list[Path] | None = None) -> Path:
    """Write ``result`` as the dataset directory ``out`` (atomically) and return it.

    Parameters
    ----------
    result
        A finished import.
    out
        The dataset directory to create or replace.
    force
        Replace a non-empty ``out`` that holds only import outputs.
    sources
        The export's files and folders (``out`` must not contain them).

    Raises
    ------
    UsageError
        When ``out`` may not be written.
    DataValidationError
        When the written dataset does not load (a bug in an importer; nothing is replaced).
    """
    out = Path(out)
    check_out_dir(out, force, list(sources or []))
    try:
        with staged_dir(out, what=f"--out {out}") as tmp:  # finished dataset or untouched
            result.report.output["directory"] = str(out)
            _write_files(result, tmp)
            try:
                load_dataset(tmp)
            except DataValidationError as exc:
                raise DataValidationError(
                    [Problem(str(out), "import_invalid_output",
                             "the importer produced a dataset that does not load (a bug: "
                             "please report it with import_report.json); nothing was written")]
                    + exc.problems, str(out)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write --out {out}: {exc.strerror or exc}") from exc
    return out

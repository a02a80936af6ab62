"""CRM exports in, dataset directories out: ``pipecast import``.

One module per export format translates it into a staged table
(:mod:`~forecast.data.importers.maven`, :mod:`~forecast.data.importers.salesforce`,
:mod:`~forecast.data.importers.hubspot`, :mod:`~forecast.data.importers.mapping`); the shared rules
in :mod:`~forecast.data.importers.assemble` turn that into a dataset and account for every
input row (:mod:`~forecast.data.importers.report`); :mod:`~forecast.data.importers.writing` writes
it. ``docs/importing.md`` describes every mapping and repair rule.

Examples
--------
>>> from forecast.data.importers import import_export, ImportOptions  # doctest: +SKIP
>>> result = import_export("maven", Path("../shared/data/maven-crm"), ImportOptions())
>>> result.report.counts()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from forecast.data.importers.assemble import assemble
from forecast.data.importers.staging import ImportOptions, ImportResult, Staged

FORMATS: tuple[str, ...] = ("maven", "salesforce", "hubspot", "mapping")

__all__ = ["FORMATS", "ImportOptions", "ImportResult", "import_export", "stage_export"]


def stage_export(fmt: str, src: Path, options: ImportOptions,
                 mapping: Path | None = None) -> Staged:
    """Read the export ``src`` in format ``fmt`` into a staged table (no shared rules yet)."""
    if fmt == "maven":
        from forecast.data.importers.maven import stage_maven
        return stage_maven(src, options)
    if fmt == "salesforce":
        from forecast.data.importers.salesforce import stage_salesforce
        return stage_salesforce(src, options)
    if fmt == "hubspot":
        from forecast.data.importers.hubspot import stage_hubspot
        return stage_hubspot(src, options)
    if fmt == "mapping":
        from forecast.data.importers.mapping import stage_mapping
        if mapping is None:
            raise ValueError("the mapping format needs a mapping file")
        return stage_mapping(src, mapping, options)
    raise ValueError(f"unknown import format {fmt!r}; one of {', '.join(FORMATS)}")


def import_export(fmt: str, src: Path, options: ImportOptions | None = None,
                  mapping: Path | None = None) -> ImportResult:
    """Import a CRM export: the dataset frames plus the account of every input row.

    Parameters
    ----------
    fmt
        ``maven``, ``salesforce``, ``hubspot`` or ``mapping``.
    src
        The export: a folder or a CSV file, as the format expects.
    options
        Currency, pipeline, stage order, date order, history file.
    mapping
        The YAML mapping file (format ``mapping``).

    Returns
    -------
    ImportResult

    Raises
    ------
    forecast.data.problems.DataValidationError
        When the export cannot be imported (missing columns, empty file, several
        currencies, ...); row-level problems are rejections in the report instead.
    """
    options = options or ImportOptions()
    staged = stage_export(fmt, Path(src), options, mapping)
    return assemble(staged, options)

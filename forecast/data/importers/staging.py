"""What a format adapter hands to the shared import rules, and what comes back.

Each adapter (``maven``, ``salesforce``, ``hubspot``, ``mapping``) only translates its
export into a :class:`Staged` table: one row per input row, in our column names, still as
text. :func:`forecast.data.importers.assemble.assemble` then applies the same rules to every
format (dates, amounts, currencies, duplicates, stages) and returns an
:class:`ImportResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecast.data.importers.reading import RawTable
from forecast.data.importers.report import ImportReport

#: Text columns of a staged deals table (``status`` is ``open``/``won``/``lost`` or ``""``).
STAGED_COLUMNS: tuple[str, ...] = (
    "deal_id", "created_at", "closed_at", "expected_close_at", "stage", "status", "amount",
    "owner", "team", "segment", "currency",
)


@dataclass(frozen=True)
class ImportOptions:
    """Choices the user makes on the command line.

    Attributes
    ----------
    currency
        Keep only deals in this currency (others rejected); ``None``: the file must hold
        one currency.
    pipeline
        Keep only deals of this CRM pipeline (HubSpot, mapping); ``None``: the file must
        hold one pipeline.
    stages
        Open stages in pipeline order, overriding what the importer would infer.
    date_order
        ``auto``, ``dmy`` or ``mdy``: how ``a/b/yyyy`` dates are read.
    history
        A stage-history file (Salesforce OpportunityHistory, or a mapping's history).
    data_end
        The import's clock (``pipecast import``: ``--data-end``, else today): a row created,
        or won or lost, after it is rejected (``after_data_end``); a stage entry after it
        is skipped (``bad_date``). ``None``: no check.
    """

    currency: str | None = None
    pipeline: str | None = None
    stages: tuple[str, ...] | None = None
    date_order: str = "auto"
    history: Path | None = None
    data_end: pd.Timestamp | None = None


@dataclass
class StagedHistory:
    """Stage entries as text: ``deal_id``, ``stage``, ``entered_at``, ``line``.

    Attributes
    ----------
    frame
        One row per stage entry (``line``: where it comes from in ``file``).
    file
        The file the entries were read from.
    derived
        True when built from columns of the deals file (its dates follow that file's
        date rule); False for a separate history file.
    source
        How the entries were obtained, in words, for the report.
    input_rows
        Rows of a separate history file (``None`` when derived).
    skipped
        Rule → count of history rows the adapter already set aside (e.g. amount-only
        changes in OpportunityHistory).
    """

    frame: pd.DataFrame
    file: str
    derived: bool
    source: str
    input_rows: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class Staged:
    """An export translated to our columns, before the shared rules run.

    Attributes
    ----------
    format
        Importer name.
    table
        The deals file as read (its rows are the rows accounted for).
    deals
        :data:`STAGED_COLUMNS` plus ``extras``, as text, one row per ``table`` row (same
        positional order).
    report
        The report, already holding the adapter's own repairs and rejections.
    extras
        Extra columns to keep in ``deals.csv`` (covariate candidates and context).
    history
        Stage entries, when the export has them.
    default_orders
        The vendor's standard stage orders; the first that covers the data is used.
    stage_probability
        The CRM's win probability per stage (0–1), e.g. Salesforce ``Probability``: orders
        the stages when nothing else does and becomes ``crm_probabilities``.
    closed_stages
        Stage names that mean won or lost (not a stage a deal is worked in).
    covariates
        Extra columns proposed as win-model covariates (kept if filled enough).
    created_fallback
        Row position → why its empty created date may be set to the extract date
        (otherwise an empty created date rejects the row).
    covariates_explicit
        True when the user listed the covariates (a mapping file): they are kept as given.
    stages
        Open stages in pipeline order given by the user (a mapping file); ``--stages``
        wins over it.
    date_order
        ``dmy``/``mdy`` given by the user (a mapping file); ``--date-order`` wins over it.
    date_format
        An explicit ``strptime`` format for the deals file (mapping files).
    name
        Dataset name for ``pipeline.yaml``.
    """

    format: str
    table: RawTable
    deals: pd.DataFrame
    report: ImportReport
    extras: list[str] = field(default_factory=list)
    history: StagedHistory | None = None
    default_orders: tuple[tuple[str, ...], ...] = ()
    stage_probability: dict[str, float] | None = None
    closed_stages: frozenset[str] = frozenset()
    covariates: tuple[str, ...] = ()
    created_fallback: dict[int, str] = field(default_factory=dict)
    covariates_explicit: bool = False
    stages: tuple[str, ...] | None = None
    date_order: str | None = None
    date_format: str | None = None
    name: str = ""


@dataclass
class ImportResult:
    """A finished import: the dataset's files as frames, plus the account of every row.

    Attributes
    ----------
    deals
        ``deals.csv`` content (text and numbers, dates ISO).
    history
        ``stage_history.csv`` content, or ``None``.
    pipeline
        ``pipeline.yaml`` content.
    report
        The account of every input row.
    """

    deals: pd.DataFrame
    history: pd.DataFrame | None
    pipeline: dict
    report: ImportReport


def new_report(fmt: str, source: str, table: RawTable, ids: pd.Series) -> ImportReport:
    """An :class:`ImportReport` over the rows of ``table`` (ids as staged)."""
    report = ImportReport(format=fmt, source=source, file=table.file,
                          lines=[int(x) for x in table.lines],
                          ids=[str(x) for x in ids.astype(object).fillna("")])
    report.files[table.file] = table.info()
    return report


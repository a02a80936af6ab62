"""Input problems: one record per broken rule, collected and reported all at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Problem:
    """One violated rule in one place of the input.

    Attributes
    ----------
    file
        File name (``deals.csv``) the problem is in.
    rule
        Short machine-readable rule name (``closed_before_created``).
    message
        What is wrong and how to fix it.
    row
        Line number in the file (the header is line 1), when the problem is a row's.
    deal_id
        The deal concerned, when known.
    column
        The column concerned, when there is one.
    """

    file: str
    rule: str
    message: str
    row: int | None = None
    deal_id: str | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.row}" if self.row is not None else "")
        parts = [where]
        if self.deal_id is not None:
            parts.append(f"deal_id={self.deal_id}")
        if self.column is not None:
            parts.append(f"column={self.column}")
        parts.append(f"rule={self.rule}")
        return " ".join(parts) + f": {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


class RowProblems:
    """Collects the problems of one file's rows: the one mechanism every rule reports through.

    Parameters
    ----------
    file
        The file's name, for messages.
    lines
        Line of the file (or row of a Parquet file) of each row, by position.
    ids
        Each row's ``deal_id`` (text; ``""`` when it has none), or ``None`` for files
        without deals (quotas).
    """

    def __init__(self, file: str, lines: np.ndarray, ids: Iterable[str] | None = None):
        self.file = file
        self.lines = np.asarray(lines, dtype=np.int64)
        self.ids = None if ids is None else list(ids)
        self.problems: list[Problem] = []

    def add(self, mask, column: str | None, rule: str, message: Callable[[int], str]) -> None:
        """One :class:`Problem` for every row where ``mask`` holds.

        ``message(i)`` words the problem of the row at position ``i``.
        """
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            deal = (self.ids[i] or None) if self.ids is not None else None
            self.problems.append(Problem(self.file, rule, message(int(i)),
                                         row=int(self.lines[i]), deal_id=deal, column=column))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Add problems found otherwise (a missing column, an empty file)."""
        self.problems.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.problems)


class DataValidationError(ValueError):
    """Raised when a dataset breaks one or more rules; ``problems`` lists every one."""

    def __init__(self, problems: Iterable[Problem], source: str = "dataset"):
        self.problems: list[Problem] = list(problems)
        self.source = source
        head = f"{source}: {len(self.problems)} problem(s) found"
        lines = [head] + [f"  - {p}" for p in self.problems[:200]]
        if len(self.problems) > 200:
            lines.append(f"  ... and {len(self.problems) - 200} more")
        super().__init__("\n".join(lines))


class UsageError(ValueError):
    """A command or function was called in a way that cannot work (CLI exit code 2)."""

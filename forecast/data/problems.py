"""Input problems: one record per broken rule, collected and reported all at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


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

"""The account of an import: every input row loaded, repaired (and how) or rejected (and why).

:class:`ImportReport` collects notes while an importer works and becomes
``import_report.json`` next to the dataset it wrote. A row is *rejected* when any rule
rejects it (it is not in the output), *repaired* when it is in the output but some value
was changed or filled in, and *loaded* otherwise; the three counts add up to the input rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from forecast.data.problems import Problem


@dataclass(frozen=True)
class RowNote:
    """One repair or rejection of one input row.

    Attributes
    ----------
    row
        Line of the input file where the row starts (the header is line 1).
    id
        The row's deal id as written in the input (``None`` when empty).
    column
        The column concerned (our name, e.g. ``amount``), when there is one.
    rule
        Short machine-readable rule name (``negative_amount``).
    reason
        What was wrong and what was done, in words.
    """

    row: int | None
    id: str | None
    column: str | None
    rule: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """A file-level choice the importer made (date order, delimiter, extract date, ...)."""

    topic: str
    choice: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ImportReport:
    """Accumulates the account of one import.

    Parameters
    ----------
    format
        Importer name (``maven``, ``salesforce``, ``hubspot``, ``mapping``).
    source
        Where the export was read from.
    file
        Name of the file whose rows are accounted (the deals file).
    lines
        Line number of each input row, in input order.
    ids
        Deal id of each input row as written (stripped), in input order.
    """

    format: str
    source: str
    file: str
    lines: Sequence[int]
    ids: Sequence[str]
    repairs: list[tuple[int, RowNote]] = field(default_factory=list)
    rejections: list[tuple[int, RowNote]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    _rejected: set[int] = field(default_factory=set)

    @property
    def input_rows(self) -> int:
        return len(self.lines)

    def _note(self, i: int, column: str | None, rule: str, reason: str) -> RowNote:
        ident = self.ids[i] if 0 <= i < len(self.ids) else ""
        return RowNote(int(self.lines[i]), ident or None, column, rule, reason)

    def repair(self, i: int, column: str | None, rule: str, reason: str) -> None:
        """Record that row ``i`` (input position) was kept with ``column`` repaired."""
        self.repairs.append((i, self._note(i, column, rule, reason)))

    def reject(self, i: int, column: str | None, rule: str, reason: str) -> None:
        """Record that row ``i`` (input position) is not imported, and why."""
        self.rejections.append((i, self._note(i, column, rule, reason)))
        self._rejected.add(i)

    @property
    def rejected_rows(self) -> set[int]:
        """Input positions of the rejected rows."""
        return set(self._rejected)

    def decide(self, topic: str, choice: str, reason: str) -> None:
        """Record a file-level decision (shown in the summary and the report)."""
        self.decisions.append(Decision(topic, choice, reason))

    def note(self, message: str) -> None:
        """Record an observation about the data that changed nothing row by row."""
        self.notes.append(message)

    def kept_repairs(self) -> list[RowNote]:
        """Repairs of rows that are in the output (repairs of rejected rows are moot)."""
        return [n for i, n in self.repairs if i not in self._rejected]

    def counts(self) -> dict[str, int]:
        """``loaded``, ``repaired``, ``rejected`` row counts (they add up to the input)."""
        repaired = {i for i, _ in self.repairs} - self._rejected
        rejected = len(self._rejected)
        return {"loaded": self.input_rows - len(repaired) - rejected,
                "repaired": len(repaired), "rejected": rejected}

    def problems(self, limit: int = 200) -> list[Problem]:
        """The rejections as :class:`~forecast.data.problems.Problem` records (for errors)."""
        return [Problem(self.file, n.rule, n.reason, row=n.row, deal_id=n.id, column=n.column)
                for _, n in self.rejections[:limit]]

    def to_dict(self) -> dict:
        """The JSON document written as ``import_report.json``."""
        counts = self.counts()
        repairs = self.kept_repairs()
        rejections = [n for _, n in sorted(self.rejections, key=lambda p: p[0])]
        return {
            "format": self.format,
            "source": self.source,
            "file": self.file,
            "input_rows": self.input_rows,
            **counts,
            "repairs_by_rule": dict(Counter(n.rule for n in repairs).most_common()),
            "rejections_by_rule": dict(Counter(n.rule for n in rejections).most_common()),
            "decisions": [d.to_dict() for d in self.decisions],
            "notes": list(self.notes),
            "files": dict(self.files),
            "stage_history": dict(self.history),
            "output": dict(self.output),
            "repairs": [n.to_dict() for n in sorted(repairs, key=lambda n: (n.row or 0))],
            "rejections": [n.to_dict() for n in rejections],
        }

    def summary_lines(self, top: int = 8) -> list[str]:
        """A short human summary: counts, top repair and rejection rules, decisions."""
        c = self.counts()
        lines = [f"{self.format}: {self.input_rows} input rows in {self.file} → "
                 f"{c['loaded']} loaded, {c['repaired']} repaired, {c['rejected']} rejected"]
        d = self.to_dict()
        for title, key in (("repairs", "repairs_by_rule"), ("rejections", "rejections_by_rule")):
            items = list(d[key].items())
            if items:
                shown = ", ".join(f"{rule} ×{n}" for rule, n in items[:top])
                more = f", … ({len(items) - top} more rules)" if len(items) > top else ""
                lines.append(f"  {title}: {shown}{more}")
        for dec in self.decisions:
            lines.append(f"  {dec.topic}: {dec.choice}")
        if self.history:
            lines.append(f"  stage history: {self.history.get('written', 0)} entries written"
                         f" ({self.history.get('source', '')})")
        return lines

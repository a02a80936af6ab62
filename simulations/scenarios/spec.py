"""Scenario files: named what-if scenarios, each a list of changes, parsed and validated.

A scenario file is YAML (see ``docs/scenarios.md`` and ``data/scenarios/example.yaml``)::

    scenarios:
      win_rate_up_5_points:
        description: every new deal is 5 points likelier to be won
        changes:
          - win_rate: {add: 0.05}
      bigger_deals:                       # short form: just the list of changes
        - deal_size: {multiplier: 1.2}

Each change is a one-key mapping, ``kind: {field: value, ...}``. Validation happens in two
passes, each collecting every problem before raising
:class:`~forecast.data.problems.DataValidationError`: :meth:`ScenarioSet.from_yaml` checks the
structure, kinds, fields and values; :meth:`ScenarioSet.check` checks the names a change
refers to (owners, teams, segments, stages, open deals) against a :class:`Catalog` of the
forecast. The fields each kind accepts are in :mod:`simulations.scenarios.fields`; the
transformations live in :mod:`simulations.scenarios.apply`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from forecast.data.problems import DataValidationError, Problem
from simulations.scenarios.fields import KINDS, Invalid, names

NAME_RE = re.compile(r"^[^\x00-\x1f]{1,80}$")
BASELINE = "baseline"


@dataclass(frozen=True)
class Change:
    """One validated change of a scenario.

    Attributes
    ----------
    kind
        A key of :data:`KINDS` (``win_odds``, ``hire``, ...).
    values
        Its normalised fields (scope fields excluded).
    scope, scope_values
        ``stage``/``segment``/``owner``/``team`` and the names it covers; ``None`` and
        ``()`` for everyone.
    index
        Position in its scenario, from 1.
    line
        Line of the change in the file (``None`` when not read from a file).
    """

    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    scope_values: tuple[str, ...] = ()
    index: int = 1
    line: int | None = None

    def to_dict(self) -> dict:
        """The change as it would be written in a scenario file."""
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()}
        if self.scope:
            vals = self.scope_values
            body[self.scope] = vals[0] if len(vals) == 1 else list(vals)
        return {self.kind: body}

    def describe(self) -> str:
        """One line, e.g. ``win_odds multiplier=1.2 segment=enterprise``."""
        return " ".join([self.kind] + [f"{k}={v}" for k, v in
                                       next(iter(self.to_dict().values())).items()])


@dataclass(frozen=True)
class Scenario:
    """A named list of changes, applied in order (see :func:`simulations.scenarios.apply.apply`)."""

    name: str
    changes: tuple[Change, ...] = ()
    description: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Catalog:
    """The names a scenario may refer to: the forecast's owners, teams, segments, stages,
    open deals (``deal_amounts``: id → expected amount), ``as_of`` and horizon months."""

    owners: tuple[str, ...]
    teams: Mapping[str, str]
    segments: tuple[str, ...]
    stages: tuple[str, ...]
    deal_amounts: Mapping[str, float]
    as_of: str
    months: tuple[str, ...]

    @classmethod
    def from_inputs(cls, inputs) -> Catalog:
        """From :class:`~simulations.engine.inputs.SimulationInputs`."""
        d = inputs.deals
        return cls(owners=tuple(inputs.owners), teams=dict(inputs.teams),
                   segments=tuple(inputs.segments), stages=tuple(inputs.stages),
                   deal_amounts=dict(zip(map(str, d.deal_id), map(float, d.amount),
                                         strict=True)),
                   as_of=str(inputs.horizon.as_of.date()), months=tuple(inputs.horizon.months))


class _Map(dict):
    """A YAML mapping that remembers its line and its keys' lines."""

    line: int | None = None
    key_lines: dict
    duplicates: list


class _Loader(yaml.SafeLoader):
    """Safe loader keeping line numbers and reporting duplicate keys."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.key_lines, out.duplicates = node.start_mark.line + 1, {}, []
    for k_node, v_node in node.value:
        if isinstance(k_node, yaml.ScalarNode) and k_node.tag.endswith(":bool"):
            key = k_node.value  # YAML 1.1 reads a key `on:` as True: keep the text
        else:
            key = loader.construct_object(k_node, deep=True)
        key = key if isinstance(key, str | int | float | bool | dt.date) else str(key)
        if key in out:  # the first one stays; the repeat is reported
            out.duplicates.append((key, k_node.start_mark.line + 1))
            continue
        out[key] = loader.construct_object(v_node, deep=True)
        out.key_lines[key] = k_node.start_mark.line + 1
    return out


def _repeated_keys(obj: Any, file: str) -> list[Problem]:
    """A problem per key repeated in a mapping anywhere below ``obj``."""
    if isinstance(obj, list):
        return [p for x in obj for p in _repeated_keys(x, file)]
    if not isinstance(obj, Mapping):
        return []
    out = [Problem(file, "duplicate_key", f"{k!r} is given twice in the mapping of line "
                   f"{_line(obj)}; YAML keeps one of them", row=line)
           for k, line in getattr(obj, "duplicates", [])]
    return out + [p for v in obj.values() for p in _repeated_keys(v, file)]


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def _line(obj: Any, key: Any = None) -> int | None:
    if isinstance(obj, _Map):
        return obj.key_lines.get(key, obj.line) if key is not None else obj.line
    return None


@dataclass(frozen=True)
class ScenarioSet:
    """Named scenarios, in file order; ``baseline`` (no change) comes first unless the file
    defines it. Build with :meth:`from_yaml` or :meth:`from_dict`."""

    scenarios: tuple[Scenario, ...]
    source: str = "<scenarios>"

    @classmethod
    def from_yaml(cls, path: str | Path) -> ScenarioSet:
        """Read and validate a scenario file; every problem is reported at once.

        Raises
        ------
        FileNotFoundError
            No such file.
        DataValidationError
            The file is not valid YAML or breaks a rule (file, line, scenario, change,
            field, rule in each :class:`~forecast.data.problems.Problem`).
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise DataValidationError(
                [Problem(path.name, "yaml_syntax", f"not valid YAML: {exc}",
                         row=mark.line + 1 if mark else None)], str(path)) from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: Any, source: str = "<scenarios>") -> ScenarioSet:
        """Validate ``{"scenarios": {name: [change, ...] | {description, changes}}}``
        (the outer ``scenarios`` key may be left out)."""
        file = Path(source).name
        problems: list[Problem] = []
        if isinstance(raw, Mapping) and "scenarios" in raw:
            extra = [k for k in raw if k != "scenarios"]
            problems += [Problem(file, "unknown_key", f"unknown top-level key {k!r} (only "
                                 "'scenarios')", row=_line(raw, k)) for k in extra]
            raw = raw["scenarios"]
        if not isinstance(raw, Mapping) or not raw:
            problems.append(Problem(file, "no_scenarios", "expected a mapping 'scenarios:' of "
                                    "scenario name → list of changes", row=_line(raw)))
            raise DataValidationError(problems, source)
        problems += [Problem(file, "duplicate_scenario", f"scenario {k!r} is defined twice",
                             row=line) for k, line in getattr(raw, "duplicates", [])]
        problems += [p for v in raw.values() for p in _repeated_keys(v, file)]
        scenarios = []
        for key, body in raw.items():
            scn, p = _parse_scenario(file, key, body, _line(raw, key))
            problems += p
            scenarios.append(scn)
        if problems:
            raise DataValidationError(problems, source)
        if BASELINE not in {s.name for s in scenarios}:
            scenarios.insert(0, Scenario(BASELINE, (), "the forecast as it stands"))
        return cls(tuple(scenarios), source)

    @classmethod
    def coerce(cls, obj: ScenarioSet | str | Path | Mapping) -> ScenarioSet:
        """A :class:`ScenarioSet` from itself, a YAML path or a mapping."""
        if isinstance(obj, ScenarioSet):
            return obj
        if isinstance(obj, str | Path):
            return cls.from_yaml(obj)
        return cls.from_dict(obj)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scenarios]

    def __iter__(self) -> Iterator[Scenario]:
        return iter(self.scenarios)

    def __len__(self) -> int:
        return len(self.scenarios)

    def __getitem__(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(f"no scenario {name!r}; scenarios: {self.names}")

    def check(self, catalog: Catalog) -> None:
        """Check every name the changes use against ``catalog``.

        Raises
        ------
        DataValidationError
            Listing every unknown owner, team, segment, stage or deal, clashing hire
            names, ``on``/``to`` dates not after ``as_of``, and ``hire.start``,
            ``volume.from`` or ``remove.from`` months before the month of ``as_of``.
        """
        file = Path(self.source).name
        problems = [p for s in self.scenarios for p in _check_scenario(file, s, catalog)]
        if problems:
            raise DataValidationError(problems, self.source)


def _where(scenario: str, change: Change | None = None, kind: str = "") -> str:
    out = f"scenario {scenario!r}"
    if change is not None:
        out += f", change {change.index} ({kind or change.kind})"
    return out


def _parse_scenario(file: str, key: Any, body: Any, line: int | None
                    ) -> tuple[Scenario, list[Problem]]:
    problems: list[Problem] = []
    sname = str(key)
    if not isinstance(key, str) or not NAME_RE.match(key) or not key.strip():
        problems.append(Problem(file, "bad_scenario_name", f"scenario name {key!r} must be "
                                "text of 1 to 80 printable characters", row=line))
    description = ""
    changes_raw = body
    if isinstance(body, Mapping):
        unknown = [k for k in body if k not in ("description", "changes")]
        problems += [Problem(file, "unknown_key", f"{_where(sname)}: unknown key {k!r} "
                             "(a scenario has 'description' and 'changes')", row=_line(body, k))
                     for k in unknown]
        description = str(body.get("description") or "")
        changes_raw = body.get("changes", [])
    if changes_raw is None:
        changes_raw = []
    if not isinstance(changes_raw, list):
        problems.append(Problem(file, "changes_not_a_list", f"{_where(sname)}: the changes "
                                "must be a YAML list (lines starting with '- ')", row=line))
        changes_raw = []
    changes: list[Change] = []
    for i, raw in enumerate(changes_raw, start=1):
        hired = sum(len(c.values["reps"]) for c in changes if c.kind == "hire")
        change, p = _parse_change(file, sname, i, raw, line, hired)
        problems += p
        if change is not None:
            changes.append(change)
    return Scenario(sname, tuple(changes), description, line), problems


def _parse_change(file: str, sname: str, index: int, raw: Any, sline: int | None,
                  hired: int = 0) -> tuple[Change | None, list[Problem]]:
    """One change, or the problems with it; ``hire: {count: n}`` reps are named
    ``new-rep-<k>``, numbered on from the ``hired`` reps of earlier changes."""
    line = _line(raw) or sline
    stub = Change(kind="?", index=index)
    if not isinstance(raw, Mapping) or len(raw) != 1:
        msg = (f"{_where(sname, stub, 'change')}: each change is one 'kind: {{fields}}' "
               f"mapping, e.g. '- win_odds: {{multiplier: 1.2}}'; kinds: {', '.join(KINDS)}")
        return None, [Problem(file, "bad_change", msg, row=line)]
    kind, body = next(iter(raw.items()))
    where = _where(sname, stub, str(kind))
    if kind not in KINDS:
        return None, [Problem(file, "unknown_change", f"{where}: unknown kind {kind!r}; kinds: "
                              f"{', '.join(KINDS)}", row=line, column=str(kind))]
    spec = KINDS[kind]
    if not isinstance(body, Mapping):
        return None, [Problem(file, "bad_change", f"{where}: expected a mapping of fields "
                              f"({', '.join(list(spec.fields) + list(spec.scopes))})",
                              row=line, column=kind)]
    problems: list[Problem] = []

    def problem(rule: str, msg: str, fld: str | None = None) -> None:
        problems.append(Problem(file, rule, f"{where}: {msg}", row=_line(body, fld) or line,
                                column=f"{kind}.{fld}" if fld else kind))

    values, scope, scope_values = {}, None, ()
    for fld, value in body.items():
        if fld in spec.fields:
            try:
                values[fld] = spec.fields[fld](value)
            except Invalid as exc:
                problem(exc.rule, f"{fld} {exc}", fld)
        elif fld in spec.scopes:
            if scope is not None:
                problem("conflicting_scope", f"give one scope, not both {scope} and {fld}", fld)
                continue
            try:
                scope, scope_values = fld, names(value)
            except Invalid as exc:
                problem(exc.rule, f"{fld} {exc}", fld)
        else:
            allowed = ", ".join(list(spec.fields) + list(spec.scopes))
            problem("unknown_field", f"unknown field {fld!r} (allowed: {allowed})", fld)
    for fld in spec.required:
        if fld not in body:
            problem("missing_field", f"{fld} is required", fld)
    for group in spec.one_of:
        given = [g for g in group if g in body]
        if len(given) != 1:
            problem("one_of", f"give exactly one of {' or '.join(group)}"
                    + (f" (got {', '.join(given)})" if given else ""), group[0])
    if kind == "cycle" and "extra_weeks" in values and scope == "stage":
        problem("unsupported_scope", "extra_weeks applies to whole cycles (scope segment, owner "
                "or team); use 'speed' for a stage", "stage")
    if problems:
        return None, problems
    if kind == "hire" and "count" in values:
        values["reps"] = tuple(f"new-rep-{hired + k}" for k in range(1, values.pop("count") + 1))
    return Change(kind, values, scope, scope_values, index, line), []


def _check_scenario(file: str, scn: Scenario, cat: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    owners = set(cat.owners)
    teams = set(cat.teams.values())
    known = {"stage": set(cat.stages), "segment": set(cat.segments), "owner": owners,
             "team": teams}
    for ch in scn.changes:
        def problem(rule: str, msg: str, fld: str, ch: Change = ch) -> None:
            problems.append(Problem(file, rule, f"{_where(scn.name, ch)}: {msg}",
                                    row=ch.line, column=f"{ch.kind}.{fld}"))

        def unknown(values: tuple[str, ...], pool: set, what: str, fld: str) -> None:
            bad = [v for v in values if v not in pool]
            if bad:
                problem(f"unknown_{what}", f"unknown {what} {', '.join(map(repr, bad))}; known: "
                        f"{', '.join(sorted(map(str, pool)))[:400]}", fld)

        if ch.scope:
            unknown(ch.scope_values, known[ch.scope], ch.scope, ch.scope)
        v = ch.values
        fld = {"hire": "start", "volume": "from", "remove": "from"}.get(ch.kind)
        if fld in v and v[fld] < cat.as_of[:7]:
            # would otherwise act from the first horizon month, as if it were that month
            problem("month_before_as_of", f"{fld} {v[fld]} is before the as_of month "
                    f"{cat.as_of[:7]}; give a month from {cat.as_of[:7]} on", fld)
        if ch.kind == "hire":
            clash = [r for r in v["reps"] if r in owners]
            if clash:
                problem("owner_exists", f"reps {clash} already exist; hire new names", "reps")
            if "like" in v:
                unknown((v["like"],), owners, "owner", "like")
            if "team" in v:
                unknown((v["team"],), teams, "team", "team")
            elif "like" not in v and len(teams) > 1:
                problem("missing_field", f"team is required (teams: {', '.join(sorted(teams))})",
                        "team")
            owners = owners | set(v["reps"])
            known["owner"] = owners
        elif ch.kind == "remove":
            unknown(v["reps"], owners, "owner", "reps")
            if "reassign_to" in v:
                # not to a rep hired in the scenario: hires are simulated apart, deal-less
                unknown((v["reassign_to"],), set(cat.owners) - set(v["reps"]), "owner",
                        "reassign_to")
        elif ch.kind in ("win_deals", "lose_deals", "slip_deals"):
            if "deals" in v:
                unknown(v["deals"], set(cat.deal_amounts), "deal", "deals")
            elif v["largest"] > len(cat.deal_amounts):
                problem("out_of_range", f"largest {v['largest']} exceeds the "
                        f"{len(cat.deal_amounts)} open deals", "largest")
            for fld in ("on", "to"):
                if fld in v and v[fld] != "next_quarter" and v[fld] <= cat.as_of:
                    problem("date_before_as_of", f"{fld} {v[fld]} must be after as_of "
                            f"{cat.as_of}", fld)
    return problems

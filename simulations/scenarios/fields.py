"""What each kind of scenario change accepts: field readers and the table of kinds.

A reader turns a raw YAML value into its normalised form or raises :class:`Invalid` with
a rule name and a message; :data:`KINDS` lists, per change kind, its fields and readers,
the required fields, the groups of which exactly one must be given, and the scopes it
takes. The semantics of each kind are in :mod:`simulations.scenarios.apply`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCOPES = ("stage", "segment", "owner", "team")
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Invalid(ValueError):
    """One bad field value: ``rule`` and what is wrong (caught and turned into a Problem)."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


# ---- field readers: raw YAML value → normalised value, or raise Invalid -------------


def positive(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise Invalid("not_a_number", f"must be a number, got {v!r}")
    if v <= 0:
        raise Invalid("not_positive", f"must be > 0, got {v!r}")
    return float(v)


def points(v: Any) -> float:
    x = number(v)
    if not -1.0 < x < 1.0:
        raise Invalid("out_of_range", f"is a change of probability, between -1 and 1 "
                      f"(0.05 = 5 points), got {v!r}")
    return x


def number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise Invalid("not_a_number", f"must be a number, got {v!r}")
    return float(v)


def weeks(v: Any) -> float:
    x = number(v)
    if not -52 <= x <= 52 or x == 0:
        raise Invalid("out_of_range", f"must be a non-zero number of weeks in [-52, 52], "
                      f"got {v!r}")
    return x


def count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1000:
        raise Invalid("not_a_count", f"must be a whole number from 1 to 1000, got {v!r}")
    return int(v)


def days(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 3650:
        raise Invalid("not_a_count", f"must be a whole number of days from 1 to 3650, "
                      f"got {v!r}")
    return int(v)


def month(v: Any) -> str:
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m")
    if not isinstance(v, str) or not MONTH_RE.match(v.strip()):
        raise Invalid("bad_month", f"must be a month YYYY-MM, got {v!r}")
    return v.strip()


def date(v: Any) -> str:
    if isinstance(v, dt.datetime):
        v = v.date()
    if isinstance(v, dt.date):
        return v.isoformat()
    try:
        return dt.date.fromisoformat(str(v).strip()).isoformat()
    except ValueError:
        raise Invalid("bad_date", f"must be a date YYYY-MM-DD, got {v!r}") from None


def names(v: Any) -> tuple[str, ...]:
    items = v if isinstance(v, list) else [v]
    out = []
    for x in items:
        if isinstance(x, bool) or not isinstance(x, str | int) or not str(x).strip():
            raise Invalid("bad_name", f"must be a name or a list of names, got {v!r}")
        out.append(str(x).strip())
    if not out:
        raise Invalid("empty_list", "must name at least one")
    if len(set(out)) < len(out):
        raise Invalid("duplicate_name", f"names a value twice: {out}")
    return tuple(out)


def name(v: Any) -> str:
    n = names(v)
    if len(n) != 1:
        raise Invalid("bad_name", f"must be one name, got {v!r}")
    return n[0]


def ramp(v: Any) -> tuple[float, ...]:
    if not isinstance(v, list) or not v:
        raise Invalid("bad_ramp", f"must be a non-empty list of monthly multipliers, e.g. "
                      f"[0.25, 0.5, 0.75, 1.0], got {v!r}")
    out = tuple(number(x) for x in v)
    if any(x < 0 or x > 5 for x in out):
        raise Invalid("bad_ramp", f"multipliers must lie in [0, 5], got {list(out)}")
    return out


def target(v: Any) -> str:
    if v == "next_quarter":
        return v
    try:
        return date(v)
    except Invalid:
        raise Invalid("bad_target", f"must be 'next_quarter' or a date YYYY-MM-DD, "
                      f"got {v!r}") from None


def applies_to(v: Any) -> str:
    if v not in ("all", "open", "new"):
        raise Invalid("bad_choice", f"must be 'all', 'open' or 'new', got {v!r}")
    return v


@dataclass(frozen=True)
class Kind:
    """What a change kind accepts: field readers, required fields, exclusive groups."""

    fields: dict[str, Callable[[Any], Any]]
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    scopes: tuple[str, ...] = ()
    help: str = ""


DEAL_PICK = {"deals": names, "largest": count}
KINDS: dict[str, Kind] = {
    "win_odds": Kind({"multiplier": positive}, ("multiplier",), scopes=SCOPES,
                     help="weekly odds of winning rather than losing × multiplier"),
    "win_rate": Kind({"add": points}, ("add",), scopes=("segment", "owner", "team"),
                     help="a new deal's win probability + add (solved as an odds multiplier)"),
    "volume": Kind({"multiplier": positive, "from": month}, ("multiplier",),
                   scopes=("owner", "team"), help="deals created per month × multiplier"),
    "cycle": Kind({"speed": positive, "extra_weeks": weeks}, one_of=(("speed", "extra_weeks"),),
                  scopes=SCOPES, help="weekly event odds × speed, or cycles extra_weeks longer"),
    "deal_size": Kind({"multiplier": positive, "applies_to": applies_to}, ("multiplier",),
                      scopes=("segment",), help="deal amounts × multiplier"),
    "hire": Kind({"reps": names, "count": count, "start": month, "ramp": ramp, "team": name,
                  "like": name}, ("start",), one_of=(("reps", "count"),),
                 help="add reps creating deals from start, at ramp × a typical rep's rate"),
    "remove": Kind({"reps": names, "from": month, "reassign_to": name}, ("reps",),
                   help="reps stop creating deals from a month"),
    "win_deals": Kind({**DEAL_PICK, "on": date}, one_of=(("deals", "largest"),),
                      help="named open deals are won (on a date)"),
    "lose_deals": Kind(dict(DEAL_PICK), one_of=(("deals", "largest"),),
                       help="named open deals are lost"),
    "slip_deals": Kind({**DEAL_PICK, "days": days, "to": target},
                       one_of=(("deals", "largest"), ("days", "to")),
                       help="named open deals close later"),
}

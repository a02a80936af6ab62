"""The Maven Analytics "CRM Sales Opportunities" export (``sales_pipeline.csv`` and lookups).

How it maps (``docs/importing.md`` has the full account and the measured numbers):

- ``deal_id`` ← ``opportunity_id``; ``owner`` ← ``sales_agent``;
- ``team`` ← the agent's ``manager`` in ``sales_teams.csv`` (``regional_office`` is kept as
  an extra column): a manager's team is the unit quotas are usually set for;
- ``status`` and ``stage`` ← ``deal_stage``: Prospecting and Engaging are the open stages,
  Won and Lost the statuses; a closed deal closed from Engaging (it has an
  ``engage_date``, so the history says it held Engaging);
- ``created_at`` ← ``engage_date``, the earliest date the export holds for a deal (the date
  Prospecting was entered is not exported). Open deals without one (every Prospecting
  deal) get the extract date, the latest date in the file (repair
  ``created_from_extract_date``): the deal certainly existed then, and nothing says since
  when. A won or lost deal without one is rejected;
- ``closed_at`` ← ``close_date``;
- ``amount``: won: ``close_value`` (if empty, the product's list price, repaired); lost:
  ``close_value`` when above 0, else the product's list price (the export books 0 for lost
  deals; the contract wants the expected amount); open: the product's list price
  (``sales_price``); a product without a list price gives 0 (repair ``no_list_price``);
- product names that differ from ``products.csv`` only in case, spaces or punctuation
  (``GTXPro`` → ``GTX Pro``) are corrected (repair ``product_name``);
- extra columns: ``product``, ``series``, ``list_price``, ``account``, ``sector``,
  ``regional_office``, ``created_at_source`` (``engage_date`` or ``extract_date``);
- ``stage_history.csv``: Engaging entered on ``engage_date`` for every deal that has one;
  Prospecting deals have no history row, so their timelines are imputed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.importers.numbers import parse_amount, parse_amounts
from forecast.data.importers.reading import (
    RawTable,
    column_or_blank,
    norm_key,
    read_csv_file,
    resolve_columns,
)
from forecast.data.importers.report import ImportReport
from forecast.data.importers.staging import (
    STAGED_COLUMNS,
    ImportOptions,
    Staged,
    StagedHistory,
    new_report,
)
from forecast.data.problems import DataValidationError, Problem

PIPELINE_FILE = "sales_pipeline.csv"
PIPELINE_COLUMNS: dict[str, tuple[str, ...]] = {
    "opportunity_id": ("opportunity_id", "opportunity id"),
    "sales_agent": ("sales_agent", "sales agent"),
    "product": ("product",),
    "account": ("account",),
    "deal_stage": ("deal_stage", "deal stage"),
    "engage_date": ("engage_date", "engage date"),
    "close_date": ("close_date", "close date"),
    "close_value": ("close_value", "close value"),
}
PRODUCT_COLUMNS = {"product": ("product",), "series": ("series",),
                   "sales_price": ("sales_price", "list_price", "price")}
TEAM_COLUMNS = {"sales_agent": ("sales_agent",), "manager": ("manager",),
                "regional_office": ("regional_office",)}
ACCOUNT_COLUMNS = {"account": ("account",), "sector": ("sector",)}
#: deal_stage → (status, stage)
DEAL_STAGES: dict[str, tuple[str, str]] = {
    "prospecting": ("open", "Prospecting"), "engaging": ("open", "Engaging"),
    "won": ("won", ""), "lost": ("lost", ""),
}
STAGES: tuple[str, ...] = ("Prospecting", "Engaging")
EXTRAS = ["product", "series", "list_price", "account", "sector", "regional_office",
          "created_at_source"]
_HINT = "This is not the Maven CRM export layout; for other files use --mapping FILE."


def _folder(src: Path) -> Path:
    if src.is_dir():
        return src
    if src.is_file() and src.name == PIPELINE_FILE:
        return src.parent
    raise DataValidationError([Problem(str(src), "missing_file",
                                       f"--src must be the folder holding {PIPELINE_FILE}, "
                                       "products.csv and sales_teams.csv")], str(src))


def _lookup(table: RawTable, cols: dict[str, str], key: str,
            values: list[str]) -> dict[str, dict[str, str]]:
    """First row per key: key → {our column: value} (``cols``: our name → header)."""
    out: dict[str, dict[str, str]] = {}
    frame = table.frame
    for i in range(len(frame)):
        k = frame[cols[key]].iat[i]
        if k and k not in out:
            out[k] = {v: frame[cols[v]].iat[i] if v in cols else "" for v in values}
    return out


def _products(folder: Path) -> tuple[dict, dict, RawTable]:
    table = read_csv_file(folder / "products.csv")
    cols = resolve_columns(table, PRODUCT_COLUMNS, ("product", "sales_price"), _HINT)
    frame = table.frame.rename(columns={v: k for k, v in cols.items()})
    exact: dict[str, dict] = {}
    fuzzy: dict[str, list[str]] = {}
    for _, row in frame.iterrows():
        name = row["product"]
        if not name or name in exact:
            continue
        price, _ = parse_amount(row["sales_price"])
        exact[name] = {"series": row.get("series", ""),
                       "price": price if price is not None and price >= 0 else None}
        fuzzy.setdefault(norm_key(name), []).append(name)
    unique_fuzzy = {k: v[0] for k, v in fuzzy.items() if len(v) == 1}
    return exact, unique_fuzzy, table


@dataclass
class _Lookups:
    """The export's lookup files, read once: products, sales teams and (optional) accounts."""

    products: dict[str, dict]
    fuzzy: dict[str, str]
    teams: dict[str, dict[str, str]]
    accounts: dict[str, dict[str, str]]
    tables: list[RawTable]
    has_accounts: bool


@dataclass
class _Events:
    """Row repairs and rejections of one concern, replayed in row order at the end."""

    order: int
    rows: list[tuple[int, str, str, str, str]] = field(default_factory=list)

    def add(self, kind: str, i: int, column: str, rule: str, reason: str) -> None:
        self.rows.append((i, kind, column, rule, reason))


def _read_lookups(folder: Path) -> _Lookups:
    products, fuzzy, products_table = _products(folder)
    teams_table = read_csv_file(folder / "sales_teams.csv")
    tcols = resolve_columns(teams_table, TEAM_COLUMNS, ("sales_agent", "manager"), _HINT)
    teams = _lookup(teams_table, tcols, "sales_agent", ["manager", "regional_office"])
    accounts: dict[str, dict[str, str]] = {}
    tables = [products_table, teams_table]
    has_accounts = (folder / "accounts.csv").exists()
    if has_accounts:
        accounts_table = read_csv_file(folder / "accounts.csv")
        acols = resolve_columns(accounts_table, ACCOUNT_COLUMNS, ("account", "sector"), _HINT)
        accounts = _lookup(accounts_table, acols, "account", ["sector"])
        tables.append(accounts_table)
    return _Lookups(products, fuzzy, teams, accounts, tables, has_accounts)


def _per_value(values: pd.Series, answer: Callable[[str], tuple],
               width: int) -> list[np.ndarray]:
    """``answer`` computed once per distinct value, spread to the rows: ``width`` arrays."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    table = [answer(u) for u in uniques]
    return [np.array([t[j] for t in table] + [None], dtype=object)[:-1][codes]
            for j in range(width)]


def _statuses(deal_stage: pd.Series, events: _Events) -> tuple[np.ndarray, np.ndarray]:
    """``deal_stage`` → (status, stage); ``""`` and a rejection for an unknown stage."""
    status, stage = _per_value(deal_stage, lambda v: DEAL_STAGES.get(v.casefold(), ("", "")),
                               2)
    given = deal_stage.to_numpy()
    for i in np.flatnonzero(status == "").tolist():
        events.add("reject", i, "stage", "unknown_stage",
                   f"deal_stage {given[i]!r} is not Prospecting, Engaging, Won or Lost")
    return status, stage


def _product_columns(product: pd.Series, alive: np.ndarray, lookups: _Lookups,
                     events: _Events, gaps: Counter) -> tuple[pd.DataFrame, np.ndarray]:
    """Product (names corrected as in products.csv), series and list price (as text), and
    the list price as a number (NaN when unknown) for the amounts.

    Each distinct product name is looked up once; the rows take its answer.
    """
    def look_up(raw: str) -> tuple[str, str, float, str, bool, bool]:
        name, info, fixed = raw, lookups.products.get(raw), False
        if info is None and norm_key(raw) in lookups.fuzzy:
            name = lookups.fuzzy[norm_key(raw)]
            info, fixed = lookups.products[name], True
        price = None if info is None else info["price"]
        return (name, info["series"] if info else "", np.nan if price is None else price,
                "" if price is None else f"{price:g}", fixed, info is None)

    name, series, price, text, fixed, unknown = _per_value(product, look_up, 6)
    given = product.to_numpy()
    for i in np.flatnonzero(alive & fixed.astype(bool)).tolist():
        events.add("repair", i, "product", "product_name",
                   f"product {given[i]!r} matched to {name[i]!r} of products.csv (same name "
                   "ignoring case, spaces and punctuation)")
    missing = int((alive & unknown.astype(bool)).sum())
    if missing:
        gaps["product not in products.csv"] += missing
    frame = pd.DataFrame({"product": name, "series": series, "list_price": text}, dtype=object)
    return frame, price.astype(float)


def _amounts(close_value: pd.Series, status: np.ndarray, products: pd.DataFrame,
             price: np.ndarray, alive: np.ndarray, events: _Events) -> tuple[np.ndarray, int]:
    """The amount as text, and the number of lost deals priced at the list price.

    Won: ``close_value``; lost: ``close_value`` above 0; else the list price (repair on a
    won deal); no list price: 0 (repair ``no_list_price``).
    """
    value = close_value.to_numpy(dtype=object)
    parsed = parse_amounts(close_value)[0].to_numpy()
    won, lost = status == "won", status == "lost"
    own_value = (won & (value != "")) | (lost & (parsed > 0))
    listed = ~own_value & ~np.isnan(price)
    texts, names = products["list_price"].to_numpy(), products["product"].to_numpy()
    amount = np.where(own_value, value, np.where(listed, texts, "0")).astype(object)
    for i in np.flatnonzero(alive & listed & won).tolist():
        events.add("repair", i, "amount", "amount_from_list_price",
                   f"close_value empty on a won deal; list price {texts[i]} of {names[i]!r} "
                   "used")
    for i in np.flatnonzero(alive & ~own_value & ~listed).tolist():
        events.add("repair", i, "amount", "no_list_price",
                   f"product {names[i]!r} has no list price in products.csv; amount set to 0")
    return amount, int((alive & listed & lost).sum())


def _dates(raw: dict[str, pd.Series], status: np.ndarray, stage: np.ndarray,
           lines: np.ndarray, alive: np.ndarray
           ) -> tuple[pd.DataFrame, dict[int, str], list[tuple]]:
    """created_at (``engage_date``) and its source, closed_at; the open deals without a date
    (they get the extract date); the Engaging history rows."""
    engage = raw["engage_date"].to_numpy(dtype=object)
    has_date = engage != ""
    frame = pd.DataFrame({
        "created_at": engage,
        "created_at_source": np.where(has_date, "engage_date", "extract_date").astype(object),
        "closed_at": raw["close_date"].to_numpy(dtype=object)}, dtype=object)
    undated = alive & ~has_date & (status == "open")
    fallback = {i: f"a {stage[i]} deal has no engage_date, and the export holds no other "
                "date for it" for i in np.flatnonzero(undated).tolist()}
    engaged = np.flatnonzero(alive & has_date & (stage != "Prospecting"))
    history = list(zip(raw["opportunity_id"].to_numpy()[engaged].tolist(),
                       ["Engaging"] * len(engaged), engage[engaged].tolist(),
                       lines[engaged].astype(int).tolist(), strict=True))
    return frame, fallback, history


def _team_columns(agent: pd.Series, alive: np.ndarray, teams: dict[str, dict[str, str]],
                  gaps: Counter) -> pd.DataFrame:
    """owner ← sales_agent; team ← the agent's manager; regional_office."""
    def look_up(name: str) -> tuple[str, str, bool]:
        team = teams.get(name)
        return ("", "", False) if team is None else (team["manager"],
                                                     team["regional_office"], True)

    manager, office, known = _per_value(agent, look_up, 3)
    missing = int((alive & ~known.astype(bool)).sum())
    if missing:
        gaps["sales agent not in sales_teams.csv"] += missing
    return pd.DataFrame({"owner": agent.to_numpy(dtype=object), "team": manager,
                         "regional_office": office}, dtype=object)


def _account_columns(account: pd.Series, status: np.ndarray, alive: np.ndarray,
                     lookups: _Lookups, gaps: Counter) -> pd.DataFrame:
    """account, and its sector from accounts.csv when the file is there."""
    def look_up(name: str) -> tuple[str, bool]:
        found = lookups.accounts.get(name) if name else None
        return ("", False) if found is None else (found["sector"], True)

    sector, known = _per_value(account, look_up, 2)
    empty = account.to_numpy(dtype=object) == ""
    for st, count in sorted(Counter(status[alive & empty].tolist()).items()):
        gaps[f"account empty ({st} deal)"] += count
    missing = int((alive & ~empty & ~known.astype(bool)).sum()) if lookups.has_accounts else 0
    if missing:
        gaps["account not in accounts.csv"] += missing
    return pd.DataFrame({"account": account.to_numpy(dtype=object), "sector": sector},
                        dtype=object)


def stage_maven(src: Path, options: ImportOptions) -> Staged:
    """Translate the Maven export in ``src`` (a folder) into a :class:`Staged` table.

    One function per concern (stage, product, amount, dates, team, account); a row with an
    unknown ``deal_stage`` is rejected and keeps only its id.
    """
    folder = _folder(src)
    pipe = read_csv_file(folder / PIPELINE_FILE)
    cols = resolve_columns(pipe, PIPELINE_COLUMNS,
                           [c for c in PIPELINE_COLUMNS if c != "account"], _HINT)
    raw = {k: column_or_blank(pipe, cols.get(k)).reset_index(drop=True)
           for k in PIPELINE_COLUMNS}
    lookups = _read_lookups(folder)
    ids = pd.Series(raw["opportunity_id"].tolist())
    report = new_report("maven", str(folder), pipe, ids)
    for t in lookups.tables:
        report.files[t.file] = t.info()

    stage_events, product_events, amount_events = _Events(0), _Events(1), _Events(2)
    gaps: Counter = Counter()
    status, stage = _statuses(raw["deal_stage"], stage_events)
    alive = status != ""
    products, price = _product_columns(raw["product"], alive, lookups, product_events, gaps)
    amount, lost_list_price = _amounts(raw["close_value"], status, products, price, alive,
                                       amount_events)
    dates, fallback, hist_rows = _dates(raw, status, stage, np.asarray(pipe.lines), alive)
    parts = [pd.DataFrame({"deal_id": ids, "status": status, "stage": stage, "amount": amount},
                          dtype=object), products, dates,
             _team_columns(raw["sales_agent"], alive, lookups.teams, gaps),
             _account_columns(raw["account"], status, alive, lookups, gaps)]
    d = pd.concat(parts, axis=1)
    d.loc[~alive, [c for c in d.columns if c != "deal_id"]] = ""  # a rejected row: its id only
    columns = list(STAGED_COLUMNS) + EXTRAS
    d = d.reindex(columns=columns, fill_value="").astype(object)
    _replay(report, [stage_events, product_events, amount_events])

    report.decide("team", "manager", "team is the agent's manager in sales_teams.csv (the "
                  "unit quotas are usually set for); regional_office is an extra column")
    report.decide("created_at", "engage_date", "the earliest date the export holds for a "
                  "deal (when it entered Engaging); Prospecting entry dates are not exported")
    if lost_list_price:
        report.decide("amount of lost deals", "list price",
                      f"{lost_list_price} lost deals have close_value 0; their expected "
                      "amount is the product's list price")
    for what, count in sorted(gaps.items()):
        report.note(f"{count} rows: {what}; the looked-up columns are left empty")
    history = StagedHistory(
        frame=pd.DataFrame(hist_rows, columns=["deal_id", "stage", "entered_at", "line"]),
        file=pipe.file, derived=True,
        source="Engaging entered on engage_date (Prospecting entries are not exported)")
    return Staged(format="maven", table=pipe, deals=d, report=report, extras=list(EXTRAS),
                  history=history, default_orders=(STAGES,), covariates=("product", "sector"),
                  created_fallback=fallback, name="maven-crm")


def _replay(report: ImportReport, concerns: list[_Events]) -> None:
    """Record the concerns' events in row order, a row's in the order the concerns run."""
    merged = sorted(((i, c.order, k, kind, col, rule, why)
                     for c in concerns for k, (i, kind, col, rule, why) in enumerate(c.rows)),
                    key=lambda e: e[:3])
    for i, _, _, kind, column, rule, reason in merged:
        (report.reject if kind == "reject" else report.repair)(i, column, rule, reason)

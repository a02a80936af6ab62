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
from pathlib import Path

import pandas as pd

from forecast.data.importers.numbers import parse_amount
from forecast.data.importers.reading import (
    RawTable,
    column_or_blank,
    norm_key,
    read_csv_file,
    resolve_columns,
)
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


def stage_maven(src: Path, options: ImportOptions) -> Staged:
    """Translate the Maven export in ``src`` (a folder) into a :class:`Staged` table."""
    folder = _folder(src)
    pipe = read_csv_file(folder / PIPELINE_FILE)
    cols = resolve_columns(pipe, PIPELINE_COLUMNS,
                           [c for c in PIPELINE_COLUMNS if c != "account"], _HINT)
    raw = {k: column_or_blank(pipe, cols.get(k)) for k in PIPELINE_COLUMNS}
    products, fuzzy, products_table = _products(folder)
    teams_table = read_csv_file(folder / "sales_teams.csv")
    tcols = resolve_columns(teams_table, TEAM_COLUMNS, ("sales_agent", "manager"), _HINT)
    teams = _lookup(teams_table, tcols, "sales_agent", ["manager", "regional_office"])
    accounts: dict[str, dict[str, str]] = {}
    accounts_table = None
    if (folder / "accounts.csv").exists():
        accounts_table = read_csv_file(folder / "accounts.csv")
        acols = resolve_columns(accounts_table, ACCOUNT_COLUMNS, ("account", "sector"), _HINT)
        accounts = _lookup(accounts_table, acols, "account", ["sector"])

    n = len(pipe)
    columns = list(STAGED_COLUMNS) + EXTRAS
    out: dict[str, list[str]] = {c: [""] * n for c in columns}
    col = {k: v.tolist() for k, v in raw.items()}
    out["deal_id"] = list(col["opportunity_id"])
    report = new_report("maven", str(folder), pipe, pd.Series(out["deal_id"]))
    for t in (products_table, teams_table, accounts_table):
        if t is not None:
            report.files[t.file] = t.info()

    hist_rows: list[tuple[str, str, str, int]] = []
    fallback: dict[int, str] = {}
    gaps: Counter = Counter()
    lost_list_price = 0
    for i in range(n):
        ident = col["opportunity_id"][i]
        deal_stage = col["deal_stage"][i]
        known = DEAL_STAGES.get(deal_stage.casefold())
        if known is None:
            report.reject(i, "stage", "unknown_stage",
                          f"deal_stage {deal_stage!r} is not Prospecting, Engaging, Won or Lost")
            continue
        status, stage = known
        out["status"][i], out["stage"][i] = status, stage

        product = col["product"][i]
        info = products.get(product)
        if info is None and norm_key(product) in fuzzy:
            match = fuzzy[norm_key(product)]
            report.repair(i, "product", "product_name",
                          f"product {product!r} matched to {match!r} of products.csv "
                          "(same name ignoring case, spaces and punctuation)")
            product, info = match, products[match]
        if info is None:
            gaps["product not in products.csv"] += 1
        price = info["price"] if info else None
        out["product"][i] = product
        out["series"][i] = info["series"] if info else ""
        out["list_price"][i] = "" if price is None else f"{price:g}"

        value = col["close_value"][i]
        parsed, _ = parse_amount(value)
        if status == "won" and value:
            amount = value
        elif status == "lost" and parsed is not None and parsed > 0:
            amount = value
        elif price is not None:
            amount = f"{price:g}"
            if status == "won":
                report.repair(i, "amount", "amount_from_list_price",
                              f"close_value empty on a won deal; list price {price:g} of "
                              f"{product!r} used")
            elif status == "lost":
                lost_list_price += 1
        else:
            amount = "0"
            report.repair(i, "amount", "no_list_price",
                          f"product {product!r} has no list price in products.csv; amount "
                          "set to 0")
        out["amount"][i] = amount

        engage = col["engage_date"][i]
        out["created_at"][i] = engage
        out["created_at_source"][i] = "engage_date" if engage else "extract_date"
        out["closed_at"][i] = col["close_date"][i]
        if not engage and status == "open":
            fallback[i] = (f"a {stage} deal has no engage_date, and the export holds no "
                           "other date for it")
        if engage and stage != "Prospecting":
            hist_rows.append((ident, "Engaging", engage, int(pipe.lines[i])))

        agent = col["sales_agent"][i]
        out["owner"][i] = agent
        team = teams.get(agent)
        if team is None:
            gaps["sales agent not in sales_teams.csv"] += 1
        else:
            out["team"][i] = team["manager"]
            out["regional_office"][i] = team["regional_office"]
        account = col["account"][i]
        out["account"][i] = account
        if not account:
            gaps[f"account empty ({status} deal)"] += 1
        elif account in accounts:
            out["sector"][i] = accounts[account]["sector"]
        elif accounts_table is not None:
            gaps["account not in accounts.csv"] += 1
    d = pd.DataFrame(out, dtype=object)

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

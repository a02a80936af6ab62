"""Tables of the monthly report, for people: readable headers, units, no index, short.

The report notebook only calls these, shows and plots. Builders turn ``summary.json``, a
:class:`~simulations.forecaster.ForecastRun` or the pipeline metrics into frames with
readable column names; :func:`people_table` formats a frame with pandas' Styler (money in
k/M, probabilities in %, no index column, at most ``max_rows`` rows) and writes the full
list as a CSV beside the report; :class:`SamplerLog` keeps the sampler's log lines out of
the report's first screen and gives them to the appendix.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

MAX_ROWS = 15
NA = "–"

# --------------------------------------------------------------------------- formats


def money(value: float | None) -> str:
    """An amount in people's units: ``950``, ``12.3k``, ``4.56M``, ``1.2B``; ``–`` when missing.

    Examples
    --------
    >>> money(1234567), money(98765), money(-2500), money(-1e-9), money(None)
    ('1.23M', '98.8k', '−2.50k', '0', '–')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return NA
    v = float(value)
    sign = "−" if v <= -0.5 else ""  # no "−0" for a tiny negative
    a = abs(v)
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= size * 0.9995:
            x = a / size
            digits = 2 if x < 10 else 1 if x < 100 else 0
            return f"{sign}{x:.{digits}f}{unit}"
    return f"{sign}{a:.0f}"


def percent(value: float | None) -> str:
    """A probability or share as a percentage: ``83%``, ``<1%``, ``>99%``; ``–`` when missing.

    Examples
    --------
    >>> percent(0.834), percent(0.001), percent(1.0), percent(0.0)
    ('83%', '<1%', '100%', '0%')
    """
    if value is None or pd.isna(value):
        return NA
    v = float(value)
    if 0 < v < 0.005:
        return "<1%"
    if 0.995 <= v < 1:
        return ">99%"
    return f"{v:.0%}"


def ratio(value: float | None) -> str:
    """A multiple such as attainment (revenue ÷ quota) as a percentage of quota."""
    return percent(value) if value is None or pd.isna(value) or value < 10 else f"{value:.0f}×"


def number(value: float | None) -> str:
    return NA if value is None or pd.isna(value) else f"{float(value):,.0f}"


def write_full(frame: pd.DataFrame, out_dir: str | Path | None, name: str) -> Path | None:
    """Write ``frame`` (the full list behind a short table) as ``out_dir/name``; ``None``
    when there is no ``out_dir`` (the notebook run without one)."""
    if not out_dir:
        return None
    path = Path(out_dir) / name
    frame.to_csv(path, index=False)
    return path


def people_table(frame: pd.DataFrame, *, money_cols: Iterable[str] = (),
                 percent_cols: Iterable[str] = (), number_cols: Iterable[str] = (),
                 ratio_cols: Iterable[str] = (), heat_cols: Iterable[str] = (),
                 wrap_cols: Iterable[str] = (),
                 max_rows: int = MAX_ROWS, csv: str | None = None,
                 out_dir: str | Path | None = None, caption: str = ""):
    """``frame`` as a Styler for people: formats, no index, the first ``max_rows`` rows.

    Parameters
    ----------
    frame
        Rows already sorted and columns already named for people.
    money_cols, percent_cols, number_cols, ratio_cols
        Columns shown with :func:`money`, :func:`percent`, :func:`number`, :func:`ratio`;
        other numeric columns are shown with :func:`number`.
    heat_cols
        Probability columns shaded from white (0) to blue (1), a colour-blind-safe scale.
    wrap_cols
        Long text columns wrapped within 10–18 em (other text stays on one line where it
        fits; numbers never wrap).
    max_rows
        Rows shown; when the frame is longer, the caption says so and names ``csv``.
    csv, out_dir
        Write the full frame as ``out_dir/csv`` (nothing without ``out_dir``).

    Returns
    -------
    pandas.io.formats.style.Styler
    """
    written = write_full(frame, out_dir, csv) if csv else None
    shown = frame.head(max_rows)
    notes = [caption] if caption else []
    if len(frame) > max_rows:
        where = f"; the full list is in {written.name}" if written is not None else ""
        notes.append(f"{max_rows} of {len(frame)} rows shown{where}.")
    formats: dict = {}
    for cols, fn in ((money_cols, money), (percent_cols, percent), (number_cols, number),
                     (ratio_cols, ratio), (heat_cols, percent)):
        formats.update({c: fn for c in cols if c in shown})
    for c in shown.columns:  # other numbers: whole, with thousands separators
        if c not in formats and pd.api.types.is_numeric_dtype(shown[c]) \
                and not pd.api.types.is_bool_dtype(shown[c]):
            formats[c] = number
    styler = shown.style.format(formats, na_rep=NA, escape="html").hide(axis="index")
    heat = [c for c in heat_cols if c in shown]
    if heat and shown[heat].notna().any().any():
        styler = styler.background_gradient(cmap="Blues", subset=heat, vmin=0.0, vmax=1.0)
    right = [c for c in shown.columns if c in formats]
    left = [c for c in shown.columns if c not in formats]
    if right:
        styler = styler.set_properties(subset=right, **{"text-align": "right",
                                                        "white-space": "nowrap"})
    if left:
        styler = styler.set_properties(subset=left, **{"text-align": "left"})
        short = [c for c in left if c not in wrap_cols
                 and shown[c].astype(str).str.len().max() <= 12]
        if short:  # names, periods, dates: on one line
            styler = styler.set_properties(subset=short, **{"white-space": "nowrap"})
    wrap = [c for c in wrap_cols if c in shown]
    if wrap:
        styler = styler.set_properties(subset=wrap, **{"white-space": "normal",
                                                       "min-width": "10em", "max-width": "18em"})
    styler = styler.set_table_styles([
        {"selector": "th", "props": [("text-align", "left"), ("vertical-align", "bottom")]},
        {"selector": "td", "props": [("vertical-align", "top")]},
        {"selector": "caption", "props": [("caption-side", "bottom"), ("text-align", "left"),
                                          ("color", "#555"), ("font-size", "0.9em")]},
    ], overwrite=False)
    if notes:
        styler = styler.set_caption(" ".join(notes))
    return styler


def money_axis(ax, axis: str = "y"):
    """Label an Axes' amounts in k/M (:func:`money`); returns the Axes."""
    from matplotlib.ticker import FuncFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: money(v)))
    return ax


def show_figure(obj, alt: str) -> None:
    """Display a figure (or the figure of an Axes, or of a sequence of Axes) as a PNG with
    ``alt`` text, and close it.

    The report's HTML template (``pipecast/templates/offline``) writes ``alt`` on the
    ``<img>``: what a screen reader says, and what shows where images are blocked.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    if not hasattr(obj, "savefig") and not hasattr(obj, "figure"):
        obj = np.asarray(obj, dtype=object).ravel()[0]  # axes of one figure
    fig = obj if hasattr(obj, "savefig") else obj.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buf.getvalue(), format="png", metadata={"alt": alt}))


def one_line(text: str):
    """A section with nothing to show: one line of Markdown, not an empty table or figure."""
    from IPython.display import Markdown

    return Markdown(f"_{text}_")


# --------------------------------------------------------------------------- first screen


def quarter_of_first_month(summary: dict) -> str:
    from forecast.data.periods import quarter_of

    return quarter_of(summary["months"][0])


def forecast_glance(run) -> pd.DataFrame:
    """This quarter and each forecast month: P10–P50–P90 against quota and the CRM.

    Each period's revenue is booked-to-date plus simulated (as quota attainment counts it,
    :func:`simulations.engine.quotas.quota_paths`); the quarter is the one of the first
    forecast month, shown when the horizon covers it. ``Quota`` and ``P(quota)`` come from
    the company's quota row (owner ``total``/``all``) of the period when there is one.
    ``CRM weighted`` is booked-to-date plus open amount × CRM stage probability of the
    deals expected to close in the period.

    Returns
    -------
    pandas.DataFrame
        ``Period``, ``Booked so far``, ``P10``, ``P50``, ``P90``, ``Quota``, ``P(quota)``,
        ``CRM weighted``.
    """
    from forecast.data.periods import months_of
    from simulations.engine.inputs import booked_to_date
    from simulations.engine.quotas import quota_paths

    summary = run.summary
    months = list(summary["months"])
    quarter = quarter_of_first_month(summary)
    periods = [quarter, *months]
    company = {(q["period"], q["kind"]): q for q in summary.get("quotas", [])}
    frame = pd.DataFrame({"owner": "total", "period": periods,
                          "quota": [company.get((p, "total"), {}).get("quota", np.nan)
                                    for p in periods]})
    paths = quota_paths(run.result, frame, booked_to_date(run.snapshot), run.snapshot.as_of)
    weighted = {r["month"]: r["weighted"] for r in summary["weighted_pipeline"]["by_month"]}
    rows = []
    for p in paths:
        if not p.complete:
            continue
        row = company.get((p.period, "total"))
        crm = (p.booked_to_date + sum(weighted.get(m, 0.0) for m in months_of(p.period))
               if weighted else np.nan)
        label = f"{p.period} (this quarter)" if p.period == quarter else p.period
        rows.append({
            "Period": label, "Booked so far": p.booked_to_date,
            "P10": float(np.quantile(p.revenue, 0.1)), "P50": float(np.median(p.revenue)),
            "P90": float(np.quantile(p.revenue, 0.9)),
            "Quota": row["quota"] if row else np.nan,
            "P(quota)": row["p_attain"] if row and row.get("p_attain") is not None else np.nan,
            "CRM weighted": crm,
        })
    return pd.DataFrame(rows, columns=["Period", "Booked so far", "P10", "P50", "P90",
                                       "Quota", "P(quota)", "CRM weighted"])


def quota_heat(summary: dict, kinds: Sequence[str] = ("total", "team")) -> pd.DataFrame:
    """P(quota) per owner (rows) and period (columns) for the quota rows of ``kinds``.

    Rows: the company first (``Company``), then teams, then reps, each by their lowest
    probability first; only periods the forecast covers completely.
    """
    rows = [q for q in summary.get("quotas", [])
            if q["kind"] in kinds and q.get("p_attain") is not None]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame({
        "kind": [q["kind"] for q in rows],
        "Who": ["Company" if q["kind"] == "total" else q["owner"] for q in rows],
        "period": [q["period"] for q in rows], "p": [q["p_attain"] for q in rows]})
    heat = frame.pivot_table(index=["kind", "Who"], columns="period", values="p",
                             aggfunc="first")
    heat = heat[sorted(heat.columns, key=_period_key)]
    heat = heat.reset_index()
    heat["_kind"] = heat["kind"].map({"total": 0, "team": 1, "rep": 2})
    heat["_min"] = heat[[c for c in heat.columns if c not in ("kind", "Who", "_kind")]].min(
        axis=1)
    heat = heat.sort_values(["_kind", "_min", "Who"]).drop(columns=["_kind", "_min"])
    if heat["kind"].nunique() > 1:
        heat["kind"] = heat["kind"].map({"total": "company", "team": "team", "rep": "rep"})
        heat = heat.rename(columns={"kind": "Level"})
    else:
        heat = heat.drop(columns="kind")
    heat.columns.name = None
    return heat.reset_index(drop=True)


def _period_key(period: str) -> tuple:
    """Quarters before the months they hold, in time order."""
    from forecast.data.periods import period_bounds

    start, end = period_bounds(period)
    return (start, -(end - start).days)


def quota_details(summary: dict) -> pd.DataFrame:
    """Every quota row the forecast covers, readable, lowest P(quota) first per period."""
    rows = [{
        "Period": q["period"], "Level": {"total": "company"}.get(q["kind"], q["kind"]),
        "Who": "Company" if q["kind"] == "total" else q["owner"], "Quota": q["quota"],
        "Booked so far": q["booked_to_date"], "P50 revenue": q["revenue"]["p50"],
        "P(quota)": q["p_attain"],
        "Attainment P10": (q.get("attainment") or {}).get("p10"),
        "Attainment P50": (q.get("attainment") or {}).get("p50"),
        "Attainment P90": (q.get("attainment") or {}).get("p90"),
        "Expected shortfall": q.get("expected_gap"),
    } for q in summary.get("quotas", []) if q.get("p_attain") is not None]
    if not rows:
        return pd.DataFrame()
    out = pd.DataFrame(rows)
    out["_p"] = out["Period"].map(_period_key)
    out["_l"] = out["Level"].map({"company": 0, "team": 1, "rep": 2})
    return out.sort_values(["_p", "_l", "P(quota)", "Who"]).drop(columns=["_p", "_l"]) \
        .reset_index(drop=True)


def team_months(run) -> pd.DataFrame:
    """P50 revenue per team (rows) and forecast month (columns), largest team first."""
    teams = run.by("team")
    wide = teams.pivot(index="team", columns="month", values="p50")
    wide = wide.loc[wide.sum(axis=1).sort_values(ascending=False).index]
    wide = wide.reset_index().rename(columns={"team": "Team"})
    wide.columns.name = None
    return wide


def headline(summary: dict, horizon: int) -> str:
    """The report's first line: as-of date, open pipeline, forecast, CRM figure."""
    t = summary["horizon_total"]
    op = summary["open_pipeline"]
    return (f"**As of {summary['as_of']}** · {op['deals']:,} open deals worth "
            f"{money(op['amount'])} · forecast for the next {horizon} months: "
            f"**P50 {money(t['p50'])}** (P10 {money(t['p10'])} – P90 {money(t['p90'])}) · "
            f"CRM weighted pipeline (all open deals): "
            f"{money(summary['weighted_pipeline']['total'])}")


#: how much more of a quarter the last month must book than the first (pooled shares) for
#: the report to warn that a model without the calendar misses in a known direction
LINEARITY_GAP = 0.10


def linearity_caution(linearity: pd.DataFrame, calendar: bool = False) -> str | None:
    """A warning when the history books a quarter unevenly (see
    :func:`forecast.data.metrics.quarter_linearity`) and the model has no calendar effect
    (``calendar``: whether it has, ``pipeline.yaml``'s ``calendar: true``): the last
    month's mean share exceeds the first's by :data:`LINEARITY_GAP` or more, in at least
    two thirds of two or more full quarters. ``None`` otherwise."""
    if calendar or len(linearity) < 2:
        return None
    s1, s2, s3 = (float(linearity[f"share_{k}"].mean()) for k in (1, 2, 3))
    steady = float((linearity["share_3"] > linearity["share_1"]).mean())
    if s3 - s1 < LINEARITY_GAP or steady < 2 / 3:
        return None
    return (f"**Quarter-end pattern.** Your last {len(linearity)} full quarters booked on "
            f"average {percent(s1)} / {percent(s2)} / {percent(s3)} of their revenue in "
            "their first / second / third month. The model's quarter calendar is off: it "
            "spreads a quarter's wins over its months by time in stage alone, so expect a "
            "quarter's first month to come in below its P50 and its last month above it "
            "(measured on a real export: docs/calendar-baseline.md). Add `calendar: true` "
            "to `pipeline.yaml` to learn it (docs/model.md).")


# --------------------------------------------------------------------------- sections


def funnel_table(funnel: pd.DataFrame) -> pd.DataFrame:
    """The stage funnel (:func:`forecast.data.metrics.funnel`) with readable headers."""
    f = funnel[funnel["group"] == funnel["group"].iloc[0]] if len(funnel) else funnel
    return pd.DataFrame({
        "Stage": f["stage"], "Reached": f["reached"], "Moved on": f["advanced"],
        "Won here": f["won"], "Lost here": f["lost"], "Still open": f["still_open"],
        "Conversion to next stage": f["conversion_to_next"],
        "Win rate from this stage": f["win_rate_from_stage"],
    }).reset_index(drop=True)


def rep_table(summary_by_owner: pd.DataFrame) -> pd.DataFrame:
    """Per rep (:func:`forecast.data.metrics.pipeline_summary` by owner), most open pipeline
    first."""
    s = summary_by_owner
    out = pd.DataFrame({
        "Rep": s["group"], "Open deals": s["n_open"], "Open pipeline": s["open_amount_total"],
        "Won": s["n_won"], "Lost": s["n_lost"], "Win rate": s["win_rate"],
        "Win rate low": s["win_rate_lo"], "Win rate high": s["win_rate_hi"],
        "Median days to win": s["median_days_to_win"], "Stale deals": s["n_stale"],
        "Stale amount": s["stale_amount"],
    })
    return out.sort_values(["Open pipeline", "Rep"], ascending=[False, True]) \
        .reset_index(drop=True)


def stale_table(stale: pd.DataFrame) -> pd.DataFrame:
    """Stale deals (:func:`forecast.data.metrics.stale_deals`), longest overdue first.

    ``team`` and ``segment`` are dropped when they say the same on every row (a dataset
    without them says ``all``)."""
    out = pd.DataFrame({
        "Deal": stale["deal_id"], "Rep": stale["owner"], "Team": stale["team"],
        "Segment": stale["segment"], "Stage": stale["stage"],
        "Days in stage": stale["days_in_stage"], "Usual maximum": stale["threshold_days"],
        "Days over": stale["excess_days"], "Amount": stale["amount"],
    })
    constant = [c for c in ("Team", "Segment") if out[c].nunique(dropna=False) <= 1]
    return out.drop(columns=constant).reset_index(drop=True)


def focus_for_people(focus: pd.DataFrame) -> pd.DataFrame:
    """:func:`simulations.evaluation.deal_scores.focus_table` with readable headers."""
    return focus.rename(columns={
        "deal": "Deal", "owner": "Rep", "stage": "Stage", "amount": "Amount",
        "p_win": "P(win) (90% interval)", "won_in_horizon": "P(won in horizon)",
        "expected_in_horizon": "Expected in horizon", "days_in_stage": "Days in stage",
        "why_up": "Raises the odds", "why_down": "Lowers the odds"})


def track_record_table(record: pd.DataFrame) -> pd.DataFrame:
    """Earlier reports' monthly forecasts against what happened, latest first."""
    names = {"forecast_as_of": "Report as of", "month": "Month",
             "months_ahead": "Months ahead", "p10": "P10", "p50": "P50", "p90": "P90",
             "actual": "Actual", "inside_80": "Inside P10–P90", "abs_error": "Error of P50"}
    out = record.rename(columns=names)
    if "Inside P10–P90" in out:
        out["Inside P10–P90"] = out["Inside P10–P90"].map({True: "yes", False: "no"})
    keep = [c for c in names.values() if c in out]
    return out[keep].sort_values([c for c in ("Month", "Report as of") if c in out],
                                 ascending=False).reset_index(drop=True)


def track_record_sentence(record: pd.DataFrame) -> str:
    """One line: how many past monthly forecasts held the actual within P10–P90."""
    held = int(record["inside_80"].sum())
    return (f"**Track record: {held} of {len(record)}** past monthly forecasts "
            f"({held / len(record):.0%}) held the actual revenue within their P10–P90 band "
            "(aim: about 80%).")


# --------------------------------------------------------------------------- diagnostics


def trust_sentence(diagnostics: dict) -> str:
    """Whether the fit can be trusted, in one plain sentence."""
    method = diagnostics.get("method")
    if method != "nuts":
        return ("The model was fitted with a fast approximation (ADVI): fine for exploring, "
                "but its bands are usually too narrow and it has no convergence check; use "
                "the default sampler for decisions.")
    rhat, div = diagnostics.get("rhat_max"), diagnostics.get("divergences")
    ess = diagnostics.get("ess_bulk_min")
    if diagnostics.get("converged") and (ess is None or ess >= 400):
        return (f"The fit can be trusted: the sampler's chains agree (R-hat {rhat:.3f}, below "
                f"1.01), with no divergences and enough effective draws ({ess:,.0f}).")
    problems = []
    if rhat is not None and rhat >= 1.01:
        problems.append(f"the chains disagree (R-hat {rhat:.3f}, should be below 1.01)")
    if div:
        problems.append(f"{div} divergent transitions")
    if ess is not None and ess < 400:
        problems.append(f"few effective draws ({ess:,.0f}, want 400 or more)")
    return ("Treat this forecast with care: " + "; ".join(problems or ["see the diagnostics"])
            + ". More tuning steps or draws usually fix it.")


def diagnostics_table(diagnostics: dict) -> pd.DataFrame:
    """The fit diagnostics as readable rows (R-hat with 3 decimals)."""
    labels = {"method": "Method", "rhat_max": "R-hat, largest (below 1.01)",
              "rhat_worst": "Parameter with the largest R-hat",
              "ess_bulk_min": "Effective draws, smallest (400 or more)",
              "divergences": "Divergent transitions (0)", "chains": "Chains",
              "draws": "Posterior draws", "fit_seconds": "Fit time (seconds)",
              "converged": "Converged", "note": "Note"}
    rows = []
    for key, label in labels.items():
        if key not in diagnostics or diagnostics[key] is None:
            continue
        v = diagnostics[key]
        if key == "rhat_max":
            text = f"{float(v):.3f}"
        elif key == "converged":
            text = "yes" if v else "no"
        elif isinstance(v, float):
            text = f"{v:,.1f}" if key == "fit_seconds" else f"{v:,.0f}"
        else:
            text = str(v)
        rows.append({"Check": label, "Value": text})
    return pd.DataFrame(rows, columns=["Check", "Value"])


class SamplerLog(logging.Handler):
    """Keeps the sampler libraries' log lines (PyMC, PyTensor, ArviZ) for the appendix.

    Installed by :meth:`capture`, it replaces those loggers' handlers so nothing reaches
    stderr (papermill shows stderr as a red box above the headline); :meth:`html` gives
    the kept lines, escaped, for a collapsed appendix.
    """

    LOGGERS = ("pymc", "pytensor", "arviz", "numba")

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @classmethod
    def capture(cls, names: Sequence[str] = LOGGERS) -> SamplerLog:
        import importlib

        handler = cls()
        for lib in ("pytensor", "pymc"):  # they add their own stderr handlers on import
            try:
                importlib.import_module(lib)
            except ImportError:  # pragma: no cover - both are dependencies
                pass
        for name in names:
            logger = logging.getLogger(name)
            for h in list(logger.handlers):
                logger.removeHandler(h)
            logger.addHandler(handler)
            logger.propagate = False
            # PyMC's INFO lines say what it sampled; PyTensor's are compiler chatter
            logger.setLevel(logging.INFO if name == "pymc" else logging.WARNING)
        return handler

    def html(self) -> str:
        if not self.lines:
            return "<p><em>The sampler logged nothing.</em></p>"
        return ('<pre style="white-space: pre-wrap; overflow-wrap: anywhere;">'
                + html.escape("\n".join(self.lines)) + "</pre>")


def rounds_table(diagnostics: dict) -> pd.DataFrame:
    """The adaptive fit's sampling rounds, one row each (empty for a one-round fit)."""
    rows = [{"Model": r.get("model", ""), "Draws": f"{r['draws']:,}",
             "Target accept": f"{r['target_accept']:.3f}", "Seconds": f"{r['seconds']:,.0f}",
             "R-hat": f"{r['rhat_max']:.3f}", "Divergences": str(r["divergences"]),
             "Effective draws": f"{r['ess_bulk_min']:,.0f}",
             "Bar met": "yes" if r.get("met") else "no"}
            for r in diagnostics.get("rounds") or []]
    return pd.DataFrame(rows)


def appendix_html(diagnostics: dict, log: SamplerLog | None = None) -> str:
    """A collapsed ``<details>`` block: the trust sentence, diagnostics, the sampling rounds
    of the adaptive fit and the sampler log."""
    table = diagnostics_table(diagnostics).to_html(index=False, border=0, escape=True)
    rounds = rounds_table(diagnostics)
    rounds_html = ("<h4>Sampling rounds</h4>" + rounds.to_html(index=False, border=0)
                   if len(rounds) > 1 else "")
    log_html = log.html() if log is not None else ""
    return (
        "<details><summary><strong>Appendix: model diagnostics and sampler output"
        "</strong></summary>"
        f"<p>{html.escape(trust_sentence(diagnostics))}</p>{table}{rounds_html}"
        f"<h4>Sampler output</h4>{log_html}</details>")

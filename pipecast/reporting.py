"""Monthly reports: run a papermill notebook into ``reports/<YYYY-MM>/``, all or nothing.

The notebook is executed in a partial folder beside the final one
(:func:`forecast.data.safe_output.staged_dir`); only when the executed notebook, the
code-free HTML, ``summary.json`` and ``draws.parquet`` are all there is the folder renamed
into place. A failed run leaves no half-written month; a second run for the same month while
one is going exits with :class:`~forecast.data.safe_output.OutputBusyError`; what a killed
run leaves (its hidden partial folder) is cleaned by the next run, before the notebook reads
the earlier reports for the track record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from forecast.data.safe_output import staged_dir, sweep_stale

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
REPORT_FILES = ("monthly_forecast.ipynb", "monthly_forecast.html", "summary.json",
                "draws.parquet")


def last_month_end(today: dt.date) -> pd.Timestamp:
    """The last day of the month before ``today`` (the default ``--as-of`` of ``report``)."""
    return pd.Timestamp(today).to_period("M").start_time - pd.Timedelta(days=1)


def notebook(name: str) -> Path:
    path = NOTEBOOKS / name
    if not path.exists():
        raise FileNotFoundError(f"notebook {path} not found: pipecast's notebooks/ folder "
                                "must sit beside the installed packages (pip install -e .)")
    return path


#: nbconvert template of the reports: no network, figures' alt text (see its index.html.j2)
TEMPLATES = Path(__file__).resolve().parent / "templates"


def to_html(ipynb: Path, html: Path) -> None:
    """Render an executed notebook as one self-contained HTML file without code cells
    (images embedded, nothing loaded from the network)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(ipynb, as_version=4))
    html.write_text(body, encoding="utf-8")


def execute(name: str, out_dir: Path, parameters: dict, progress: bool = True) -> Path:
    """Execute ``notebooks/<name>`` with papermill into ``out_dir``, then write its HTML."""
    import papermill as pm

    out_nb = out_dir / name
    pm.execute_notebook(str(notebook(name)), str(out_nb), parameters=parameters,
                        kernel_name="python3", progress_bar=progress, cwd=str(out_dir))
    to_html(out_nb, out_nb.with_suffix(".html"))
    return out_nb


def run_report(data: Path, as_of: pd.Timestamp, out_root: Path, parameters: dict,
               force: bool = False, progress: bool = True,
               prepare: Callable[[], dict] | None = None) -> Path:
    """Write the monthly forecast report for ``as_of`` into ``out_root/<YYYY-MM>/``.

    ``prepare`` (the fit, typically) runs holding the month's lock, before the notebook;
    the parameters it returns are passed to the notebook too. So a second run for the
    same month is refused before it fits anything, and a run killed while fitting leaves
    only what the next run cleans.

    Raises
    ------
    FileExistsError
        The month's report exists and ``force`` is false.
    forecast.data.safe_output.OutputBusyError
        Another run is writing the same month (checked before the notebook starts).
    """
    month = as_of.strftime("%Y-%m")
    out_root = Path(out_root).resolve()  # the notebook runs in another working directory
    final = out_root / month
    if final.exists() and not force:
        raise FileExistsError(f"{final} already holds a finished report; pass --force to "
                              "replace it")
    with staged_dir(final, what=f"the {month} report ({final})") as tmp:
        if final.exists() and not force:  # finished by another run since the check above
            raise FileExistsError(f"{final} already holds a finished report; pass --force "
                                  "to replace it")
        sweep_stale(out_root)  # other months' leftovers, so the track record never reads them
        params = {"data_dir": str(Path(data).resolve()), "as_of": str(as_of.date()),
                  "out_dir": str(tmp), "reports_root": str(out_root), **parameters}
        if prepare is not None:
            params.update(prepare())
        execute("monthly_forecast.ipynb", tmp, params, progress)
        missing = [f for f in REPORT_FILES if not (tmp / f).exists()]
        if missing:
            raise RuntimeError(f"the report notebook did not write {missing}")
    return final

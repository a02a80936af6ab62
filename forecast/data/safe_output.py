"""Writing outputs safely: text that spreadsheets and browsers cannot run, and folders
that are either finished or absent.

Text. CRM fields are typed by people and by integrations, so a deal name, an owner or a
stage may hold ``=HYPERLINK(...)`` or ``<script>``. A CSV opened in Excel or LibreOffice runs
a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(CSV injection); an HTML report shows markup as markup. Every CSV pipecast writes goes
through :func:`safe_csv_frame`; every text put into an HTML report goes through
:func:`escape_html`.

Folders. Every command that writes a folder (``import``, ``sample-data``, ``report``) or a
set of files in a folder (``forecast``, ``scenarios``, ``recommend``, ``score``,
``backtest``) goes through :func:`staged_dir` or :func:`staged_files`, the one mechanism:

1. an exclusive lock on the target (an OS lock, :func:`output_lock`): a second run for the
   same target stops at once with :class:`OutputBusyError` (exit 2) naming the pid that
   holds it. The kernel drops the lock when its holder dies, even by ``kill -9``, so a lock
   never outlives its run;
2. holding the lock, leftovers of a killed run for that target are cleaned
   (:func:`clean_stale`): its partial folder is removed, and a previous finished folder
   left aside in mid-swap is put back;
3. the outputs are written into a fresh partial folder beside the target (same filesystem,
   hidden name ``.<name>.partial-<pid>-<random>``);
4. only when the writing block finishes without an error are they moved into place
   (:func:`replace_dir`: rename the old folder aside, rename the new one in, remove the
   old; on a failure the old one is renamed back). On any error, the partial folder is
   removed and the target is as it was.

What is atomic, honestly: each ``rename`` is (on one filesystem), so a reader never sees a
half-written folder; but replacing an existing folder takes two renames, and between them
the target is briefly absent. A run killed in that instant leaves the old folder at
``.<name>.old-<pid>``, which the next run for the target puts back (step 2).
:func:`staged_files` replaces each file with one atomic rename, under the lock, so two runs
never mix their files; a kill between two of those renames leaves some files new and some
old.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from forecast.data.problems import UsageError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def neutralise_formula(value: object) -> object:
    """Prefix a formula-like text cell with a single quote; return anything else unchanged.

    A text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return becomes
    ``'`` + text, which spreadsheets show as text and never evaluate. Plain numbers
    (``-12.5``, ``+3``, ``1e5``) are left alone: a spreadsheet reads them as numbers, not
    formulas. The function is idempotent (a neutralised value starts with ``'``).

    Parameters
    ----------
    value
        A cell value of any type; only ``str`` values are changed.

    Returns
    -------
    object
        The safe value.

    Examples
    --------
    >>> neutralise_formula("=1+1")
    "'=1+1"
    >>> neutralise_formula("-5")
    '-5'
    >>> neutralise_formula(3)
    3
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        if _PLAIN_NUMBER.match(value):
            return value
        return "'" + value
    return value


def safe_csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell and column name passed through
    :func:`neutralise_formula`; numeric and date columns are untouched.

    Parameters
    ----------
    df
        The frame about to be written as CSV (not modified).

    Returns
    -------
    pandas.DataFrame
        A new frame, safe to open in a spreadsheet.
    """
    out = df.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            out[col] = values.map(neutralise_formula)
    out.columns = [neutralise_formula(str(c)) for c in out.columns]
    return out


def escape_html(text: object) -> str:
    """Escape a value for an HTML page (element text or a quoted attribute).

    ``&``, ``<``, ``>``, ``"`` and ``'`` become entities; ``None`` becomes ``""``; other
    values are converted with ``str`` first.

    Examples
    --------
    >>> escape_html('<b onclick="x()">Acme & Co</b>')
    '&lt;b onclick=&quot;x()&quot;&gt;Acme &amp; Co&lt;/b&gt;'
    """
    if text is None:
        return ""
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------- folders


class OutputBusyError(UsageError):
    """Another run holds the lock on the output being written (exit code 2)."""


_PARTIAL = ".partial-"
_OLD = ".old-"


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _holder(fd: int) -> str:
    """The pid written in a lock file by its holder (empty while it is being written)."""
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except (OSError, AttributeError):  # pragma: no cover - no pread (Windows)
        return ""


@contextlib.contextmanager
def output_lock(lock_file: Path, what: str) -> Iterator[None]:
    """Hold an exclusive OS lock on ``lock_file`` for the block, or fail at once.

    The file holds the holder's pid (for the message of a refused run) and is removed
    when the block ends. The lock is the kernel's (``flock``), so it is released when the
    process ends however it ends: a killed run never leaves a lock that blocks the next.

    Parameters
    ----------
    lock_file
        The lock file (created if absent; its folder must exist).
    what
        What is being written, for the message (``"reports/2026-10"``).

    Raises
    ------
    OutputBusyError
        Another process holds the lock.
    """
    lock_file = Path(lock_file)
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            pid = _holder(fd)
            os.close(fd)
            who = f"another pipecast run (pid {pid})" if pid else "another pipecast run"
            raise OutputBusyError(f"{what} is being written by {who}; wait for it to "
                                  "finish (or stop it), then run again")
        try:
            same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # locked a file its previous holder had just removed: take the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_file)  # still holding the lock: nobody can take this file now
        os.close(fd)


def _leftovers(target: Path) -> tuple[list[Path], list[Path]]:
    """(partial folders, folders set aside mid-swap) that runs for ``target`` left."""
    parent = target.parent
    if not parent.is_dir():
        return [], []
    names = os.listdir(parent)  # not glob: a folder name may hold [ ] * ?
    partial = sorted(parent / n for n in names if n.startswith(f".{target.name}{_PARTIAL}"))
    old = sorted((parent / n for n in names if n.startswith(f".{target.name}{_OLD}")),
                 key=lambda p: p.lstat().st_mtime)
    return partial, old


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def clean_stale(target: Path) -> list[str]:
    """Undo what a killed run left for ``target``; call it holding ``target``'s lock.

    Partial folders are removed. A finished folder set aside in the middle of a swap is
    renamed back to ``target`` if ``target`` is missing (the run was killed between the two
    renames of :func:`replace_dir`), else removed.

    Returns
    -------
    list of str
        One line per thing done (empty when nothing was left over).
    """
    target = Path(target)
    partial, old = _leftovers(target)
    done = []
    for path in partial:
        _remove(path)
        done.append(f"removed {path.name}, left by an interrupted run")
    if old and not target.exists():
        newest = old.pop()
        os.rename(newest, target)
        done.append(f"put back {target.name}, set aside by an interrupted run")
    for path in old:
        _remove(path)
        done.append(f"removed {path.name}, left by an interrupted run")
    return done


def sweep_stale(folder: Path) -> list[str]:
    """:func:`clean_stale` for every target in ``folder`` whose lock is free.

    Leftovers of a target whose lock is held belong to a live run and are left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = set()
    for entry in os.listdir(folder):
        if not entry.startswith("."):
            continue
        for mark in (_PARTIAL, _OLD):
            head, sep, _ = entry[1:].rpartition(mark)
            if sep and head:
                names.add(head)
    done: list[str] = []
    for name in sorted(names):
        target = folder / name
        try:
            with output_lock(_lock_path(target), str(target)):
                done += clean_stale(target)
        except OutputBusyError:
            continue
    return done


def _new_partial(target: Path) -> Path:
    """A new empty folder beside ``target``, with the mode an ordinary folder gets (umask)."""
    path = target.parent / f".{target.name}{_PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(path, 0o777)  # the umask applies, as for any folder the user makes
    return path


def replace_dir(new: Path, final: Path) -> None:
    """Put the finished folder ``new`` at ``final`` (same filesystem), replacing any.

    Three steps: rename ``final`` aside to ``.<name>.old-<pid>``, rename ``new`` to
    ``final``, remove the old folder. If the second rename fails, the old folder is renamed
    back and the error raised. Each rename is atomic; the pair is not: between them
    ``final`` is absent for an instant (a reader sees the old folder, none, or the new one,
    never a half-written one). Call it holding ``final``'s lock (:func:`staged_dir` does).
    """
    new, final = Path(new), Path(final)
    aside = None
    if final.exists() or final.is_symlink():
        aside = final.parent / f".{final.name}{_OLD}{os.getpid()}"
        _remove(aside)
        os.rename(final, aside)
    try:
        os.rename(new, final)
    except BaseException:
        if aside is not None:
            os.rename(aside, final)
        raise
    if aside is not None:
        _remove(aside)


@contextlib.contextmanager
def staged_dir(final: Path, what: str | None = None) -> Iterator[Path]:
    """Lock ``final``, yield an empty partial folder beside it, and on success put it in
    place of ``final`` (see the module docstring for the steps and what is atomic).

    Parameters
    ----------
    final
        The folder to create or replace; its parent is created if needed.
    what
        How to name ``final`` in the message of a refused run (default: its path).

    Yields
    ------
    pathlib.Path
        The partial folder to write into. If the block raises, it is removed and
        ``final`` is left as it was.

    Raises
    ------
    OutputBusyError
        Another run is writing ``final``.
    """
    final = Path(final).absolute()
    final.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(_lock_path(final), what or str(final)):
        clean_stale(final)
        tmp = _new_partial(final)
        try:
            yield tmp
            replace_dir(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_files(out: Path, names: Iterable[str], what: str | None = None) -> Iterator[Path]:
    """Lock the folder ``out``, yield a partial folder inside it, and on success move each
    of ``names`` from it into ``out`` (one atomic rename each).

    The lock (``out/.pipecast.lock``) makes two runs writing into ``out`` take turns, so
    its files all come from one run; a partial folder left by a killed run is removed by
    the next. Files of ``out`` not in ``names`` are left alone.

    Raises
    ------
    OutputBusyError
        Another run is writing into ``out``.
    """
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    target = out / "pipecast"  # lock .pipecast.lock, partial folders .pipecast.partial-*
    with output_lock(_lock_path(target), what or str(out)):
        clean_stale(target)
        tmp = _new_partial(target)
        try:
            yield tmp
            for name in names:
                os.replace(tmp / name, out / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

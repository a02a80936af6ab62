"""Folders that are finished or absent: :mod:`forecast.data.safe_output`'s staging, lock and
clean-up, including after a real ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from forecast.data.problems import UsageError
from forecast.data.safe_output import (
    OutputBusyError,
    clean_stale,
    replace_dir,
    staged_dir,
    staged_files,
    sweep_stale,
)

ROOT = Path(__file__).resolve().parents[1]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_staged_dir_creates_then_replaces_leaving_nothing_else(tmp_path):
    final = tmp_path / "out"
    with staged_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.partial-")
        (tmp / "a.csv").write_text("1")
        assert not final.exists()  # nothing reaches the target before the block ends
    assert _names(tmp_path) == ["out"] and _names(final) == ["a.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~umask  # an ordinary folder, not private
    with staged_dir(final) as tmp:
        (tmp / "b.csv").write_text("2")
    assert _names(tmp_path) == ["out"] and _names(final) == ["b.csv"]


def test_an_error_in_the_block_leaves_the_old_folder_untouched(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.csv").write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with staged_dir(final) as tmp:
            (tmp / "new.csv").write_text("new")
            raise RuntimeError("boom")
    assert _names(tmp_path) == ["out"] and _names(final) == ["old.csv"]


def test_replace_dir_puts_the_old_folder_back_when_the_new_cannot_go_in(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.csv").write_text("old")
    with pytest.raises(FileNotFoundError):
        replace_dir(tmp_path / "missing", final)
    assert _names(tmp_path) == ["out"] and (final / "old.csv").read_text() == "old"


def test_a_second_writer_of_the_same_target_is_refused_naming_the_holder(tmp_path):
    final = tmp_path / "out"
    with staged_dir(final):
        with pytest.raises(OutputBusyError, match=rf"the 2026-10 report is being written by "
                           rf"another pipecast run \(pid {os.getpid()}\)"):
            with staged_dir(final, what="the 2026-10 report"):
                pass
        with staged_dir(tmp_path / "other") as tmp:  # another target is free
            (tmp / "x").write_text("x")
    assert issubclass(OutputBusyError, UsageError)  # the CLI's exit code 2
    with staged_dir(final):  # free again once the first block is over
        pass
    assert _names(tmp_path) == ["other", "out"]  # no lock file or partial folder left


def test_clean_stale_removes_partials_and_puts_back_a_folder_set_aside(tmp_path):
    final = tmp_path / "out"
    (tmp_path / ".out.partial-123-abcd").mkdir()
    (tmp_path / ".out.partial-123-abcd" / "summary.json").write_text("{}")
    aside = tmp_path / ".out.old-123"
    aside.mkdir()
    (aside / "kept.csv").write_text("finished")
    (tmp_path / ".other.partial-1-ffff").mkdir()  # another target's: not touched
    done = clean_stale(final)
    assert len(done) == 2 and any("put back out" in d for d in done)
    assert (final / "kept.csv").read_text() == "finished"
    assert _names(tmp_path) == [".other.partial-1-ffff", "out"]
    # with the target present, a folder set aside is the stale copy: removed
    (tmp_path / ".out.old-456").mkdir()
    clean_stale(final)
    assert _names(tmp_path) == [".other.partial-1-ffff", "out"]


def test_sweep_stale_leaves_a_live_runs_folder_alone(tmp_path):
    (tmp_path / ".2026-08.partial-1-aaaa").mkdir()
    with staged_dir(tmp_path / "2026-09") as live:
        assert sweep_stale(tmp_path) == ["removed .2026-08.partial-1-aaaa, left by an "
                                         "interrupted run"]
        assert live.exists()
    assert _names(tmp_path) == ["2026-09"]


def test_staged_files_moves_only_the_named_files_under_the_lock(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / ".pipecast.partial-9-dead").mkdir()  # left by a killed run
    with staged_files(out, ["a.csv", "b.json"]) as tmp:
        (tmp / "a.csv").write_text("a")
        (tmp / "b.json").write_text("{}")
        with pytest.raises(OutputBusyError, match="--out out is being written"):
            with staged_files(out, ["a.csv"], what="--out out"):
                pass
    assert _names(out) == ["a.csv", "b.json", "notes.txt"]
    with pytest.raises(KeyError):
        with staged_files(out, ["a.csv"]) as tmp:
            (tmp / "a.csv").write_text("new")
            raise KeyError("boom")
    assert (out / "a.csv").read_text() == "a" and _names(out) == ["a.csv", "b.json", "notes.txt"]


_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from forecast.data.safe_output import staged_dir
    with staged_dir(Path(sys.argv[1])) as tmp:
        (tmp / "half.csv").write_text("half")
        print("writing", flush=True)
        time.sleep(120)
""")


def test_a_run_killed_mid_write_leaves_nothing_that_blocks_the_next(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.csv").write_text("finished")
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(final)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        with pytest.raises(OutputBusyError, match=f"pid {proc.pid}"):
            with staged_dir(final):
                pass
        os.kill(proc.pid, signal.SIGKILL)  # no handler, no finally: a real kill -9
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _names(final) == ["old.csv"]  # the finished folder is untouched
    left = [n for n in _names(tmp_path) if n != "out"]
    assert left and all(n.startswith(".out.") for n in left)  # hidden leftovers only
    start = time.monotonic()
    with staged_dir(final) as tmp:  # the lock died with its holder; leftovers are cleaned
        (tmp / "new.csv").write_text("new")
    assert time.monotonic() - start < 5
    assert _names(tmp_path) == ["out"] and _names(final) == ["new.csv"]

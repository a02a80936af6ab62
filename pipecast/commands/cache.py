"""``pipecast cache list|clear``: the fits kept so that repeated commands do not refit.

The cache lives in ``--cache-dir``, else ``$PIPECAST_CACHE_DIR``, else the user's cache
directory (``platformdirs``); see :class:`forecast.models.store.FitCache`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipecast.commands.common import progress


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "clear"],
                        help="list: one line per cached fit; clear: remove them all")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="fit cache folder (default $PIPECAST_CACHE_DIR, else the "
                        "user's cache directory)")


def run(args: argparse.Namespace) -> int:
    from forecast.models.store import FitCache

    cache = FitCache(args.cache_dir)
    if args.action == "clear":
        n = cache.clear()
        progress(f"removed {n} file(s) from {cache.directory}")
        return 0
    entries = cache.entries()
    for e in entries:
        if "error" in e:
            print(f"{e['path']}  unreadable: {e['error']}")
            continue
        print(f"{e['key']}  as of {e['as_of']}  {e['method']}  seed {e['seed']}  "
              f"pipecast {e['version']}  {e['bytes'] / 1e6:.1f} MB  {e['written']}  "
              f"{e['data_source']}")
    total = sum(e.get("bytes", 0) for e in entries)
    progress(f"{len(entries)} cached fit(s), {total / 1e6:.1f} MB in {cache.directory}")
    return 0

"""Simulations and other independent runs on Dask (``dask.distributed``).

The engine computes every simulated path from its own inputs only (its posterior draw and
its own random generator, :mod:`simulations.engine.simulate`), so a run can be split into sets of
paths computed on any worker and put back together: the result is identical, bit for bit,
to :func:`simulations.engine.simulate.simulate` with the same inputs and seed.

>>> res = simulate_distributed(inputs, n_draws=10_000, seed=1)                 # doctest: +SKIP
>>> res = simulate_distributed(inputs, 10_000, 1, client="tcp://10.0.0.5:8786")  # doctest: +SKIP

Where it runs (``client``):

* ``None`` — a ``LocalCluster`` on this machine (one single-threaded worker process per
  CPU), started for the call and closed after it;
* a scheduler address (``"tcp://host:8786"``) — an existing cluster: start one with
  ``dask scheduler`` on one machine and ``dask worker tcp://host:8786`` on the others
  (each with pipecast installed, same versions), or with dask-jobqueue / dask-kubernetes;
* a ``distributed.Client`` — used as is and left open.

:func:`simulate_anywhere` picks local or Dask from one ``scheduler`` option (what the CLI
uses); :func:`map_distributed` runs any picklable function over a list of independent items
(backtest months, scenarios) the same way, results in input order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from simulations.engine.inputs import SimulationInputs
from simulations.engine.simulate import SimulationResult, assemble, simulate_paths

#: how a caller names where to run: nothing (a local cluster), an address, or a client
ClientLike = Any


def local_workers() -> int:
    """CPUs this process may use (the default number of local workers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def dask_client(client: ClientLike = None, n_workers: int | None = None,
                processes: bool = True) -> Iterator[Any]:
    """A ``distributed.Client`` for ``client`` (see the module docstring).

    Parameters
    ----------
    client
        ``None`` (start a ``LocalCluster``), a scheduler address, or a ``Client``.
    n_workers
        Workers of a local cluster (default: one per CPU, one thread each).
    processes
        Local workers as processes (default) or as threads of this process.

    Yields
    ------
    distributed.Client
        Closed on exit unless it was passed in.
    """
    from distributed import Client, LocalCluster

    if isinstance(client, Client):
        yield client
        return
    if client is None:
        with LocalCluster(n_workers=n_workers or local_workers(), threads_per_worker=1,
                          processes=processes, dashboard_address=None) as cluster, \
                Client(cluster) as local:
            yield local
        return
    if not isinstance(client, str):
        raise TypeError(f"client must be None, a scheduler address or a Client, not "
                        f"{type(client).__name__}")
    with Client(client) as remote:
        yield remote


def worker_threads(client) -> int:
    """Threads across the cluster's workers (at least 1)."""
    info = client.scheduler_info()
    return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))


def split_paths(n_draws: int, n_posterior: int, n_parts: int) -> list[np.ndarray]:
    """Path indices ``0 .. n_draws − 1`` in ``n_parts`` sets, by posterior draw.

    Path ``i`` uses posterior draw ``i mod P``; each set takes a contiguous block of
    posterior draws with all their paths, so each draw's win-time tables are computed on
    one worker only. With ``n_draws ≤ P`` the sets are contiguous blocks of paths.
    """
    if n_draws < 0 or n_posterior < 1 or n_parts < 1:
        raise ValueError("need n_draws >= 0, n_posterior >= 1 and n_parts >= 1")
    paths = np.arange(n_draws)
    used = min(n_draws, n_posterior)
    part = (paths % n_posterior) * min(n_parts, max(used, 1)) // max(used, 1)
    return [paths[part == k] for k in range(min(n_parts, max(used, 1)))
            if (part == k).any()]


def simulate_distributed(inputs: SimulationInputs, n_draws: int, seed: int,
                         client: ClientLike = None, n_parts: int | None = None,
                         keep_deal_outcomes: bool = False, chunk_size: int | None = None,
                         threads: int = 1,
                         progress: Callable[[int, int], None] | None = None
                         ) -> SimulationResult:
    """:func:`simulations.engine.simulate.simulate` on a Dask cluster: the same paths, bit for bit.

    Parameters
    ----------
    inputs, n_draws, seed, keep_deal_outcomes, chunk_size
        As in :func:`simulations.engine.simulate.simulate`.
    client
        Where to run: ``None`` (a local cluster for this call), a scheduler address, or a
        ``distributed.Client``.
    n_parts
        Tasks the paths are split into (default: the cluster's worker threads).
    threads
        Threads each task's kernels use (default 1: one task per worker thread).
    progress
        Called as ``progress(done, n_draws)`` as parts finish.
    """
    from distributed import as_completed

    with dask_client(client) as c:
        parts = split_paths(n_draws, inputs.n_posterior, n_parts or worker_threads(c))
        if not parts:
            return simulate_paths(inputs, [], seed)
        shared = c.scatter(inputs, broadcast=True, hash=False)
        futures = {c.submit(simulate_paths, shared, idx, seed, chunk_size=chunk_size,
                            keep_deal_outcomes=keep_deal_outcomes, threads=threads,
                            pure=False): idx for idx in parts}
        done, results = 0, []
        for future in as_completed(futures):
            idx = futures[future]
            results.append((idx, future.result()))
            done += len(idx)
            if progress is not None:
                progress(done, n_draws)
        del shared
    return assemble(results, n_draws)


def map_distributed(fn: Callable[..., Any], items: Sequence[Any], client: ClientLike = None,
                    **kwargs: Any) -> list[Any]:
    """``[fn(item, **kwargs) for item in items]`` on a Dask cluster, in input order.

    For independent runs such as the months of a backtest or the scenarios of a
    comparison; ``fn`` and the items must be picklable (module-level functions). Each
    run's own seed makes its result the same wherever it runs.
    """
    with dask_client(client) as c:
        futures = [c.submit(fn, item, pure=False, **kwargs) for item in items]
        return c.gather(futures)


def simulate_anywhere(inputs: SimulationInputs, n_draws: int, seed: int,
                      scheduler: str | None = None, **kwargs: Any) -> SimulationResult:
    """``simulate`` in this process, or on Dask: the same numbers either way.

    Parameters
    ----------
    scheduler
        ``None``: in this process (:func:`simulations.engine.simulate.simulate`); ``"local"``: on a
        ``LocalCluster`` started for the call; otherwise a scheduler address.
    kwargs
        ``chunk_size``, ``keep_deal_outcomes``, ``progress`` (and ``threads`` locally).
    """
    if scheduler is None:
        from simulations.engine.simulate import simulate

        return simulate(inputs, n_draws, seed, **kwargs)
    kwargs.pop("threads", None)
    return simulate_distributed(inputs, n_draws, seed,
                                client=None if scheduler == "local" else scheduler, **kwargs)

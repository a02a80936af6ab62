"""Dask runs give exactly the local run's draws (same inputs, same seed)."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.engine.distributed import map_distributed, simulate_distributed, split_paths
from simulations.engine.simulate import simulate
from tests.test_engine import make_inputs

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def inputs():
    return make_inputs(np.linspace(10, 500, 60), won_logit=-2.0, adv_logit=-1.5,
                       lost_logit=-2.5, arrivals=3.0, n_post=7, size_sigma=0.5)


def _same(a, b) -> None:
    assert np.array_equal(a.revenue, b.revenue)
    assert np.array_equal(a.new_revenue, b.new_revenue)
    assert (a.deal_month is None) == (b.deal_month is None)
    if a.deal_month is not None:
        assert np.array_equal(a.deal_month, b.deal_month)
        assert np.array_equal(a.deal_revenue, b.deal_revenue)


@pytest.mark.parametrize("n_parts", [2, 3, 5])
def test_distributed_draws_equal_local_draws(client, inputs, n_parts):
    local = simulate(inputs, n_draws=40, seed=13, keep_deal_outcomes=True)
    dist = simulate_distributed(inputs, n_draws=40, seed=13, client=client, n_parts=n_parts,
                                keep_deal_outcomes=True)
    _same(local, dist)
    assert dist.total().std() > 0


def test_fewer_draws_than_posterior_draws_split_into_blocks(client, inputs):
    local = simulate(inputs, n_draws=5, seed=2)
    _same(local, simulate_distributed(inputs, n_draws=5, seed=2, client=client, n_parts=4))


def test_scheduler_address_is_accepted(client, inputs):
    local = simulate(inputs, n_draws=12, seed=4)
    _same(local, simulate_distributed(inputs, 12, 4, client=client.scheduler.address))


def test_split_paths_covers_every_path_once():
    for n, p, k in [(100, 7, 3), (5, 10, 4), (10, 10, 10), (1000, 1000, 2), (3, 1, 8)]:
        parts = split_paths(n, p, k)
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(n))
        # a posterior draw's paths stay together
        owner = {}
        for j, idx in enumerate(parts):
            for q in np.unique(idx % p):
                assert owner.setdefault(int(q), j) == j


def _square(x: int, offset: int = 0) -> int:
    return x * x + offset


def test_map_distributed_keeps_the_input_order(client):
    assert map_distributed(_square, [3, 1, 2], client=client, offset=1) == [10, 2, 5]


def test_simulate_anywhere_same_numbers_here_and_on_the_cluster(client, inputs):
    from simulations.engine.distributed import simulate_anywhere

    here = simulate_anywhere(inputs, 9, 6, threads=2)
    _same(here, simulate(inputs, 9, 6))
    _same(here, simulate_anywhere(inputs, 9, 6, scheduler=client.scheduler.address))

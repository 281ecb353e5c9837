"""One aggregator's store alone is statistically independent of the practices' figures.

The shares come from the operating system's CSPRNG, which cannot be seeded, so each test uses a
bound loose enough that a correct implementation fails it about once in a million runs; the same
statistics on the counts themselves (what a leaky sharing would store) fail them by far, so the
tests can fail.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import orjson

from ltcbridge.secagg.document import counts_of
from ltcbridge.secagg.field import PRIME, split
from ltcbridge.secagg.volume import IcbMonth

from .helpers import Aggregators, month

BINS = 16
CHI2_BOUND = 60.0  # chi-square, 15 degrees of freedom: P(> 60) is about 1e-7
KS_C = 2.7  # two-sample Kolmogorov-Smirnov: P(D > KS_C * sqrt((n+m)/(n m))) is about 1e-6


def chi_square_uniform(values: np.ndarray, top: int = PRIME) -> float:
    """Chi-square of ``values`` in [0, top) against the uniform distribution, in BINS bins."""
    observed = np.bincount((values.astype(np.float64) / top * BINS).astype(int), minlength=BINS)
    expected = len(values) / BINS
    return float(((observed - expected) ** 2 / expected).sum())


def ks_distance(left: np.ndarray, right: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic."""
    both = np.sort(np.concatenate([left, right]).astype(np.float64))
    cdf_left = np.searchsorted(np.sort(left.astype(np.float64)), both, side="right") / len(left)
    cdf_right = np.searchsorted(np.sort(right.astype(np.float64)), both, side="right") / len(right)
    return float(np.abs(cdf_left - cdf_right).max())


def ks_bound(n: int, m: int) -> float:
    return KS_C * math.sqrt((n + m) / (n * m))


def stored_shares(path: Path) -> np.ndarray:
    """Everything the aggregator's store holds about the practices' figures."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT elements FROM share ORDER BY practice").fetchall()
    return np.asarray([int(t) for (blob,) in rows for t in orjson.loads(blob)], dtype=np.uint64)


def test_the_same_count_shared_many_times_gives_uniform_shares_whatever_the_count() -> None:
    runs = 4000
    small = split(np.full(runs, 1))[0]
    large = split(np.full(runs, 5000))[0]
    assert chi_square_uniform(small) < CHI2_BOUND
    assert chi_square_uniform(large) < CHI2_BOUND
    assert ks_distance(small, large) < ks_bound(runs, runs)


def test_one_aggregators_store_alone_is_independent_of_the_practices_figures(
    tmp_path: Path,
) -> None:
    """Two ICB months with very different figures: the leader's store looks the same."""
    worlds = []
    for seed, name in ((15, "busy"), (99, "other")):
        data = month(30, seed)
        pair = Aggregators(tmp_path / name)
        pair.contribute(data, data.cube.orgs)
        pair.close()
        counts = np.concatenate(_counts(data))
        worlds.append((stored_shares(pair.root / "leader" / "shares.sqlite"), counts))
    (shares_a, counts_a), (shares_b, counts_b) = worlds
    assert len(shares_a) == len(counts_a) > 4000
    assert np.abs(counts_a - counts_b).sum() > 1000  # the worlds really differ
    assert chi_square_uniform(shares_a) < CHI2_BOUND
    assert chi_square_uniform(shares_b) < CHI2_BOUND
    assert ks_distance(shares_a, shares_b) < ks_bound(len(shares_a), len(shares_b))
    # no linear relation between a stored share and the count it hides
    correlation = np.corrcoef(shares_a.astype(np.float64), counts_a)[0, 1]
    assert abs(correlation) < 5 / math.sqrt(len(counts_a))
    # the same tests on the counts themselves (a leak) fail by far: they can detect dependence
    assert chi_square_uniform(counts_a, top=int(counts_a.max()) + 1) > 10 * CHI2_BOUND
    assert ks_distance(counts_a, shares_a) > 0.9


def test_the_helper_alone_learns_nothing_either(aggregators: Aggregators) -> None:
    data = month()
    aggregators.contribute(data, data.cube.orgs[:10])
    aggregators.close()
    helper = stored_shares(aggregators.root / "helper" / "shares.sqlite")
    leader = stored_shares(aggregators.root / "leader" / "shares.sqlite")
    assert chi_square_uniform(helper) < CHI2_BOUND
    assert ks_distance(helper, leader) < ks_bound(len(helper), len(leader))


def _counts(data: IcbMonth) -> list[np.ndarray]:
    """Each practice's exact counts, in the order the store keeps their shares."""
    return [counts_of(data.cube, org).astype(np.float64) for org in sorted(data.cube.orgs)]

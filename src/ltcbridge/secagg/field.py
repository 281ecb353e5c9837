"""Additive secret sharing over the prime field of p = 2**61 - 1 (a Mersenne prime).

A count x becomes two shares (r, x - r mod p) with r drawn uniformly from the field by the
operating system's CSPRNG (Python's ``secrets``); either share alone is uniform whatever x is,
so one aggregator alone learns nothing. Shares add: the sum of the first shares plus the sum of
the second shares is the sum of the counts, mod p. This is Prio's and the IETF PPM DAP Prio3
Count/Sum/Histogram sharing with two aggregators, without the validity proofs (see
docs/secure-aggregation.md for what that leaves to the plausibility check).

Counts are far below p (an ICB has about 10**6 people, p is about 2.3 * 10**18), so a sum of
exact counts never wraps: a reconstructed value above ``PLAUSIBLE_MAX`` is a corrupted share.
"""

from __future__ import annotations

import secrets

import numpy as np

PRIME = 2**61 - 1
_BITS = 61
PLAUSIBLE_MAX = 10**9  # no area has a billion people: anything above is not a sum of counts


def random_elements(n: int) -> np.ndarray:
    """``n`` field elements, uniform and independent, from the system CSPRNG.

    61 random bits give a number in [0, 2**61); only 2**61 - 1 itself is outside the field and
    is drawn again (rejection sampling keeps the result exactly uniform).
    """
    out = _draw(n)
    bad = np.flatnonzero(out >= PRIME)
    while len(bad):
        out[bad] = _draw(len(bad))
        bad = bad[out[bad] >= PRIME]
    return out


def _draw(n: int) -> np.ndarray:
    raw = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64)
    return raw >> np.uint64(64 - _BITS)


def split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two shares of non-negative integer ``values``: each alone uniform, together the values."""
    counts = np.asarray(values, dtype=np.int64)
    if counts.size and (counts.min() < 0 or counts.max() >= PRIME):
        raise ValueError("only counts from 0 to p - 1 can be shared")
    first = random_elements(counts.size).reshape(counts.shape)
    second = (counts.astype(np.uint64) + np.uint64(PRIME) - first) % np.uint64(PRIME)
    return first, second


def add(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Element-wise sum in the field (both below p < 2**61, so uint64 never overflows)."""
    return (left + right) % np.uint64(PRIME)


def total(shares: list[np.ndarray], width: int) -> np.ndarray:
    """The field sum of many share vectors of the same ``width``."""
    acc = np.zeros(width, dtype=np.uint64)
    for vector in shares:
        acc = add(acc, vector)
    return acc


def reconstruct(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The counts two summed shares stand for (as signed integers: see ``implausible``)."""
    return add(first, second).astype(np.int64)


def as_elements(texts: list[str]) -> np.ndarray:
    """Decimal strings (how shares travel: FHIR integers are 32-bit) to field elements."""
    values = [int(text) for text in texts]
    if any(v < 0 or v >= PRIME for v in values):
        raise ValueError("a share is not an element of the field 0..2**61-2")
    return np.asarray(values, dtype=np.uint64)


def as_texts(elements: np.ndarray) -> list[str]:
    return [str(int(v)) for v in elements]

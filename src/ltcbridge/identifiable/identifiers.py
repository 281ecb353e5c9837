"""Stable 64-bit identifiers for people and resources during one scan, with a collision check.

A scan stands a 64-bit integer in for every resource (``Type/id``) and every way an entry names a
person (``Patient/id``, an NHS number), so that a million resources cost tens of megabytes and
versions can be de-duplicated column-wise. The integer is part of a seeded 128-bit XXH3 digest
(xxhash: about 0.35 µs a call, where keyed BLAKE2b took 1 µs, and a scan makes more than one a
resource): the seed is drawn at random once per scan and handed to every worker, so a chunk gives
the same identifiers in any process, however it was started (fork or spawn), and a collision in
one scan is not repeated in the next.

Two different keys giving one identifier would silently merge two people (or two entries). So
four more bytes of each digest are a check value, and every (identifier, check) pair made is kept
until the scan ends, when ``find_collision`` looks for one identifier with two check values. The
chance of a collision at 64 bits is about n²/2⁶⁵ (one in ten million for two million resources);
when it happens the scan is made again with a fresh seed. XXH3 is not a cryptographic hash, so
this check, not the seed, is what guarantees that no two people are merged.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

import numpy as np
from xxhash import xxh3_128_digest

ID_BYTES = 8  # an int64
# What is hashed for ``kind``/``value``: the two joined as a compact NDJSON line spells a resource's
# type and id (``Observation","id":"o1``), so that the prefilter can make a skipped line's
# identifier from the line's own bytes (``of_raw``), with no decoding. A type has no ``"``, so
# no two pairs give the same text.
SEPARATOR = '","id":"'
CHECK_BYTES = 4
KEY_BYTES = 8  # XXH3's seed: 64 bits
DIGEST_BYTES = 16  # XXH3-128: the identifier, the check, and 4 bytes unused
_INT64 = struct.Struct("<q")
CACHE_AT_MOST = 200_000  # people remembered per worker: a person names many entries


def new_key() -> bytes:
    """A fresh random key (XXH3 seed) for one scan."""
    return os.urandom(KEY_BYTES)


class Identifiers:
    """Makes the identifiers of one scan (one per worker process, all with the scan's key).

    ``id_bytes`` below 8 makes collisions likely: only tests use it, to see them detected.
    """

    def __init__(self, key: bytes, id_bytes: int = ID_BYTES) -> None:
        self.key = key
        self.seed = int.from_bytes(key[:KEY_BYTES], "little")
        self.id_bytes = id_bytes
        self._people: dict[tuple[str, str], int] = {}
        # every digest made since the last take_pairs (16 bytes each): the identifier bytes, then
        # the check, then 4 bytes take_pairs drops (slicing each digest here would cost more)
        self._digests = bytearray()
        self.of, self.of_raw = self._maker()

    def _maker(self) -> tuple[Callable[[str, str], int], Callable[[bytes], int]]:
        """``of``: the identifier of ``kind``/``value``, a resource (``("Observation", id)``)
        or a way of naming a person (``("Patient", id)`` or ``("nhs", number)``, a
        ``SubjectRef``). Never 0, which the columns use for "none".

        ``of_raw``: the same identifier from the bytes ``kind","id":"value`` as a line holds
        them; its check value is not kept, as only the prefilter's skipped lines use it, and
        those are compared, never counted (two of them sharing an identifier merges nothing).
        Closures over locals: they run for every resource of an export."""
        seed, sep = self.seed, SEPARATOR
        keep = self._digests.extend
        if self.id_bytes == ID_BYTES:
            first = _INT64.unpack_from

            def of(kind: str, value: str) -> int:
                raw = xxh3_128_digest(f"{kind}{sep}{value}".encode(), seed)
                keep(raw)
                return first(raw)[0] or 1

            def of_raw(kind_and_value: bytes) -> int:
                return first(xxh3_128_digest(kind_and_value, seed))[0] or 1

            return of, of_raw
        width = self.id_bytes

        def of_narrow(kind: str, value: str) -> int:  # tests only: collisions made likely
            raw = xxh3_128_digest(f"{kind}{sep}{value}".encode(), seed)
            keep(raw)
            return int.from_bytes(raw[:width], "little", signed=True) or 1

        def of_raw_narrow(kind_and_value: bytes) -> int:
            raw = xxh3_128_digest(kind_and_value, seed)
            return int.from_bytes(raw[:width], "little", signed=True) or 1

        return of_narrow, of_raw_narrow

    def person(self, subject: tuple[str, str]) -> int:
        """``of`` for a person, remembered: the same person names many entries."""
        found = self._people.get(subject)
        if found is None:
            if len(self._people) >= CACHE_AT_MOST:
                self._people.clear()
            found = self._people[subject] = self.of(*subject)
        return found

    def take_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The (identifier, check) pairs made since the last call, for ``find_collision``."""
        raw = np.frombuffer(bytes(self._digests), np.uint8).reshape(-1, DIGEST_BYTES)
        del self._digests[:]  # emptied in place: ``of`` holds on to it
        width = self.id_bytes
        return _little_endian(raw[:, :width], signed=True), _little_endian(
            raw[:, width : width + CHECK_BYTES], signed=False
        )


def _little_endian(columns: np.ndarray, *, signed: bool) -> np.ndarray:
    """Rows of little-endian bytes as integers (int64 or uint32; ``of``'s "never 0" applied)."""
    width = columns.shape[1]
    padded = np.zeros((len(columns), 8), np.uint8)
    padded[:, :width] = columns
    values = padded.view("<u8").ravel()
    if not signed:
        return values.astype(np.uint32)
    if width < 8:  # sign-extend, as int.from_bytes(..., signed=True) does
        shift = np.uint64(64 - 8 * width)
        values = ((values << shift).view(np.int64) >> np.int64(64 - 8 * width)).astype(np.int64)
    else:
        values = values.view(np.int64)
    return np.where(values == 0, 1, values)


Pairs = list[tuple[np.ndarray, np.ndarray]]  # (identifiers, checks) of each chunk
BUCKETS = 16  # the check sorts one sixteenth of the pairs at a time: its memory stays small


def find_collision(pairs: Pairs) -> bool:
    """True when one identifier was made for two different keys (two check values).

    The pairs are looked at by the top four bits of the identifier, one bucket at a time, so
    that two million resources need a few megabytes at once, not a sorted copy of everything."""
    buckets = [(ids.view(np.uint64) >> np.uint64(60)).astype(np.uint8) for ids, _ in pairs]
    for bucket in range(BUCKETS):
        chosen = [in_chunk == bucket for in_chunk in buckets]
        ids = np.concatenate([i[c] for (i, _), c in zip(pairs, chosen, strict=True)])
        checks = np.concatenate([k[c] for (_, k), c in zip(pairs, chosen, strict=True)])
        if len(ids) < 2:
            continue
        order = np.argsort(ids, kind="stable")
        ids, checks = ids[order], checks[order]
        if np.any((ids[1:] == ids[:-1]) & (checks[1:] != checks[:-1])):
            return True
    return False

"""Stable identifiers: keyed, the same in any worker process, and collisions caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from core_data import SYNTHETIC

from ltcbridge.errors import SourceError
from ltcbridge.identifiable import scan
from ltcbridge.identifiable.identifiers import Identifiers, find_collision, new_key
from ltcbridge.identifiable.population import Population, build_population
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import Mappings

# the population's columns that hold no identifier (identifiers differ from scan to scan)
PEOPLE_COLUMNS = ("fact_patient", "fact_date", "fact_concept", "birth", "sex", "opted_out")


def _same_people(a: Population, b: Population) -> None:
    for column in PEOPLE_COLUMNS:
        assert np.array_equal(getattr(a, column), getattr(b, column)), column


def test_identifiers_depend_on_the_key_alone() -> None:
    key = new_key()
    one, two = Identifiers(key), Identifiers(key)
    assert one.of("Observation", "o1") == two.of("Observation", "o1")
    assert one.person(("nhs", "9990000018")) == two.of("nhs", "9990000018")
    assert Identifiers(new_key()).of("Observation", "o1") != one.of("Observation", "o1")
    assert one.of("Observation", "o1") != one.of("Condition", "o1")


def test_a_collision_is_found_from_the_check_values() -> None:
    tiny = Identifiers(new_key(), id_bytes=1)  # 256 identifiers: 1,000 keys must collide
    for i in range(1000):
        tiny.of("Observation", f"o{i}")
    assert find_collision([tiny.take_pairs()])
    wide = Identifiers(new_key())
    for i in range(1000):
        wide.of("Observation", f"o{i}")
        wide.of("Observation", f"o{i}")  # the same key twice is no collision
    ids, checks = wide.take_pairs()
    assert not find_collision([(ids, checks)])
    # the same keys again in another chunk: no collision; another key's check: one
    assert not find_collision([(ids[:1000], checks[:1000]), (ids[1000:], checks[1000:])])
    other = Identifiers(new_key())
    other.of("Observation", "o0")
    _, other_checks = other.take_pairs()
    assert find_collision([(ids, checks), (ids[:1], other_checks)])


def test_a_scan_whose_identifiers_collide_is_refused_not_merged(
    synthetic_mappings: Mappings,
) -> None:
    with pytest.raises(SourceError, match="got one identifier"):
        scan_source(SYNTHETIC, synthetic_mappings, id_bytes=1)


def test_spawned_workers_count_the_same_as_forked_ones_and_as_one_process(
    synthetic_mappings: Mappings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Nothing depends on the workers sharing the parent's hash seed any more."""
    one = build_population(scan_source(SYNTHETIC, synthetic_mappings, workers=1))
    forked = build_population(
        scan_source(SYNTHETIC, synthetic_mappings, workers=2, chunk_bytes=64 * 1024)
    )
    monkeypatch.setattr(scan, "START_METHOD", "spawn")
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    spawned = build_population(
        scan_source(SYNTHETIC, synthetic_mappings, workers=2, chunk_bytes=64 * 1024)
    )
    assert len(one.fact_patient) > 0
    _same_people(one, forked)
    _same_people(one, spawned)

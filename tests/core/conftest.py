"""Fixtures for the core: the committed synthetic practices and their independently made truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from core_data import CONTRACT, SYNTHETIC

from ltcbridge.identifiable.population import Population, build_population
from ltcbridge.identifiable.scan import Columns, scan_source
from ltcbridge.mapping import Mappings, load_mappings


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    return json.loads((SYNTHETIC / "truth.json").read_text())


@pytest.fixture(scope="session")
def synthetic_mappings() -> Mappings:
    return load_mappings([SYNTHETIC / "mappings"])


@pytest.fixture(scope="session")
def synthetic_columns(synthetic_mappings: Mappings) -> Columns:
    return scan_source(SYNTHETIC, synthetic_mappings)


@pytest.fixture(scope="session")
def synthetic_population(synthetic_columns: Columns) -> Population:
    return build_population(synthetic_columns)


@pytest.fixture
def contract_mappings_dir(tmp_path: Path) -> Path:
    """The contract's example ConceptMap and Questionnaire, as a practice's mappings directory."""
    directory = tmp_path / "contract-mappings"
    directory.mkdir()
    for name in ("example-conceptmap.json", "example-questionnaire.json"):
        (directory / name).write_bytes((CONTRACT / name).read_bytes())
    return directory

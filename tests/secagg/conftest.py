from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Aggregators


@pytest.fixture
def aggregators(tmp_path: Path) -> Iterator[Aggregators]:
    pair = Aggregators(tmp_path)
    yield pair
    pair.close()

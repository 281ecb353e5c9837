"""Synthetic practices for tests and benchmarks, with independently computed true counts.

`generate()` writes a small, messy, fully described set (FHIR R4 NDJSON, mappings/, truth.json);
`generate_bulk()` streams millions of plausible resources for benchmarks. Standard library and
orjson only, so it runs from an installed wheel.
"""

from .bulk import generate_bulk
from .generate import DEFAULT_MONTHS, generate
from .truth import Truth

__all__ = ["DEFAULT_MONTHS", "Truth", "generate", "generate_bulk"]

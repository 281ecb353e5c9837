"""The referral loop's business identifiers (docs/referral-loop.md), in one place.

Every write the daemon makes is keyed on one of these, so a resend or a replay after a crash
finds the earlier copy instead of making a second one.
"""

from __future__ import annotations

import uuid

# One definition of the loop's systems, shared with the provider side.
from ltcbridge.provider.identifiers import GOAL_ID as GOAL_SYSTEM
from ltcbridge.provider.identifiers import OUTCOME_ID as OUTCOME_SYSTEM
from ltcbridge.provider.identifiers import REFERRAL_ID as REFERRAL_SYSTEM
from ltcbridge.provider.identifiers import SNOMED, first_value, identifier, outcome_value
from ltcbridge.provider.identifiers import (
    SNOMED_SOCIAL_PRESCRIBING_REFERRAL as SOCIAL_PRESCRIBING_REFERRAL,
)

__all__ = [
    "GOAL_SYSTEM", "OUTCOME_SYSTEM", "REFERRAL_SYSTEM", "SNOMED", "SOCIAL_PRESCRIBING_REFERRAL",
    "TASK_SUFFIX", "first_value", "goal_value", "identifier", "outcome_value",
    "referral_value", "source_of_referral", "stable_urn",
]  # fmt: skip

TASK_SUFFIX = "-task"
_NAMESPACE = uuid.UUID("6f0b8a52-6c1e-4e0e-9a59-0c7d2b3f1d10")


def referral_value(practice_ods: str, source: str) -> str:
    """``{practice ODS}-{source resourceType}-{source id}`` from ``Type/id``."""
    kind, _, rid = source.partition("/")
    return f"{practice_ods}-{kind}-{rid}"


def source_of_referral(practice_ods: str, value: str) -> str | None:
    """``Type/id`` of the GP entry a referral (or its ``-task``) value names; None if not ours."""
    prefix = f"{practice_ods}-"
    if not value.startswith(prefix):
        return None
    rest = value[len(prefix) :].removesuffix(TASK_SUFFIX)
    kind, _, rid = rest.partition("-")
    return f"{kind}/{rid}" if kind and rid else None


def goal_value(practice_ods: str, source: str, n: int | None) -> str:
    """A Goal resource keeps its id; the n-th goal of a template answer gets ``-{n}``."""
    kind, _, rid = source.partition("/")
    return f"{practice_ods}-{kind}-{rid}" + (f"-{n}" if n is not None else "")


def stable_urn(*parts: str) -> str:
    """A transaction ``fullUrl`` that is the same on every resend of the same bundle."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '|'.join(parts))}"

"""The disclosure rules a release was published under, as the hub reads and uses them.

Each MeasureReport carries its agreement's rules as a root extension (``DISCLOSURE_RULES_
EXTENSION``: ``agreement``, ``threshold``, ``rounding``, ``secondary``, ``internalRecipient``).
The hub takes the bounds of every figure from the rules of the release it came in, never from a
guess: a published count ``c`` under rounding ``r`` is a true count in ``published_interval``
(never below threshold + 1 when not zero), a masked count is 1..threshold under primary masking
alone, and 0.. with no upper bound under secondary suppression (which may mask a cell of any
size, and keeps a cell masked in later releases even when it falls to 0). A report without the
extension (sent before it existed, or loaded from a folder) falls back to the hub config's
``[disclosure]`` values, and the report says so.

This module is the only reader of the extension and the only place figure bounds come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ltcbridge.disclosure.cells import DisclosureRules, masked_lower_bound, published_interval
from ltcbridge.hub.config import HubConfig
from ltcbridge.uris import DISCLOSURE_RULES_EXTENSION

FROM_RELEASE, FROM_HUB_CONFIG = "release", "hub config"


class RulesError(ValueError):
    """The disclosure-rules extension is there but not in the agreed shape."""


@dataclass(frozen=True)
class ReleaseRules:
    """An agreement's disclosure rules, and where the hub got them (``source``)."""

    agreement: str | None
    threshold: int
    rounding: int
    secondary: bool
    internal_recipient: bool = False
    source: str = FROM_RELEASE  # FROM_RELEASE or FROM_HUB_CONFIG

    def is_small(self, count: int) -> bool:
        """A count of 1..threshold: one an outside recipient must never see."""
        return 1 <= count <= self.threshold

    def could_publish(self, count: int) -> bool:
        """Whether the disclosure code, under these rules, can send this unmasked count: a
        multiple of the rounding standing for at least one true count it may show (above the
        threshold, unless the recipient is internal). An unmasked 3 under threshold 7 cannot
        be sent; a 5 under threshold 5 and rounding 5 can (a true 6, rounded)."""
        low, high = self.bounds(count, masked=False)
        return count % self.rounding == 0 and high is not None and low <= high

    def bounds(self, count: int | None, masked: bool) -> tuple[int, int | None]:
        """Every true count a published figure can stand for: (lowest, highest or None when
        there is no upper bound), from the disclosure code's own reading of a published figure.
        Cached: a national load bounds millions of figures with a few rules and counts."""
        return _bounds(self, count, masked)

    def _bounds(self, count: int | None, masked: bool) -> tuple[int, int | None]:
        if masked:
            if self.secondary:  # any size; a cell masked before stays masked even at 0
                return masked_lower_bound(0), None
            return masked_lower_bound(self.threshold), self.threshold
        if count is None:  # a score-only group: no people counted, nothing to add
            return 0, 0
        # an internal recipient may be sent 1..threshold unmasked: the floor is then 1, not t + 1
        floor = 0 if self.internal_recipient else self.threshold
        return published_interval(count, DisclosureRules(floor, self.rounding))

    def same_values(self, other: ReleaseRules) -> bool:
        """The same rules whatever their agreement id and source."""
        return (self.threshold, self.rounding, self.secondary, self.internal_recipient) == (
            other.threshold, other.rounding, other.secondary, other.internal_recipient)  # fmt: skip

    def describe(self) -> str:
        """'threshold 7, rounding 5, secondary suppression' for the report."""
        parts = [f"threshold {self.threshold}", f"rounding {self.rounding}"]
        parts.append("secondary suppression" if self.secondary else "primary masking only")
        if self.internal_recipient:
            parts.append("internal recipient")
        return ", ".join(parts)


@lru_cache(maxsize=65536)
def _bounds(rules: ReleaseRules, count: int | None, masked: bool) -> tuple[int, int | None]:
    return rules._bounds(count, masked)


def rules_of(report: dict[str, Any]) -> ReleaseRules | None:
    """The rules a MeasureReport carries, None when it carries none; a RulesError naming the
    sub-extension when the extension is there but malformed."""
    extensions = report.get("extension") or []
    if not isinstance(extensions, list):
        raise RulesError("MeasureReport.extension is not a list")
    found = [
        e for e in extensions if isinstance(e, dict) and e.get("url") == DISCLOSURE_RULES_EXTENSION
    ]
    if not found:
        return None
    if len(found) > 1:
        raise RulesError("MeasureReport carries the disclosure-rules extension more than once")
    parts = {str(e.get("url")): e for e in found[0].get("extension") or [] if isinstance(e, dict)}
    threshold = _value(parts, "threshold", "valueInteger", int)
    rounding = _value(parts, "rounding", "valueInteger", int)
    if threshold < 0 or rounding < 1:
        raise RulesError(
            f"disclosure-rules: threshold {threshold} must be >= 0 and rounding {rounding} >= 1"
        )
    agreement = parts.get("agreement", {}).get("valueString")
    return ReleaseRules(
        agreement=str(agreement) if agreement is not None else None,
        threshold=threshold,
        rounding=rounding,
        secondary=_value(parts, "secondary", "valueBoolean", bool),
        internal_recipient=_value(parts, "internalRecipient", "valueBoolean", bool, False),
    )


def _value(parts: dict[str, Any], name: str, key: str, kind: type, default: Any = None) -> Any:
    """A sub-extension's value of the given JSON type (bool is not an int here)."""
    value = parts.get(name, {}).get(key, default)
    if value is None:
        raise RulesError(f"disclosure-rules: {name} ({key}) is missing")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RulesError(f"disclosure-rules: {name} must be a {key}, not {value!r}")
    return value


def fallback_rules(config: HubConfig) -> ReleaseRules:
    """The hub config's ``[disclosure]`` rules, for releases that carry none."""
    return ReleaseRules(
        None, config.threshold, config.rounding, config.secondary, False, FROM_HUB_CONFIG
    )


def rules_extension(rules: ReleaseRules) -> dict[str, Any]:
    """The extension as a report carries it (for the hub's synthetic reports and tests)."""
    parts: list[dict[str, Any]] = []
    if rules.agreement is not None:
        parts.append({"url": "agreement", "valueString": rules.agreement})
    parts += [
        {"url": "threshold", "valueInteger": rules.threshold},
        {"url": "rounding", "valueInteger": rules.rounding},
        {"url": "secondary", "valueBoolean": rules.secondary},
        {"url": "internalRecipient", "valueBoolean": rules.internal_recipient},
    ]
    return {"url": DISCLOSURE_RULES_EXTENSION, "extension": parts}

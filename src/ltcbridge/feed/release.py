"""What identifies one release on the wire: the metadata sealed beside the MeasureReports.

The metadata travels inside the signed payload *and* (agreement, period, sequence) in the
protected headers, so the hub can route and reject a release before trusting its body. It holds
no patient data: organisation codes, a period, a sequence and the Measure canonicals only.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson


@dataclass(frozen=True)
class ReleaseMeta:
    """One release's identity; ``release_id`` stays the same when the same release is resent."""

    release_id: str  # uuid4, stable for one release (a resend keeps it)
    agreement_id: str
    sender: str  # ODS code of the sending practice (or PCN for a PCN-level release)
    recipient: str  # ODS code of the commissioner
    period: str  # YYYY-MM
    sequence: int  # per (sender, recipient, agreement), from 1, +1 per new release
    created: str  # ISO 8601 instant, UTC
    measures: tuple[str, ...]  # Measure canonicals in the release

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (measures as a list)."""
        data = asdict(self)
        data["measures"] = list(self.measures)
        return data

    def to_json(self) -> str:
        """Canonical JSON text: sorted keys so the same meta always serialises the same way."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseMeta:
        """Rebuild from a mapping, checking types so a malformed payload fails here, loudly."""
        try:
            meta = cls(
                release_id=str(data["release_id"]),
                agreement_id=str(data["agreement_id"]),
                sender=str(data["sender"]),
                recipient=str(data["recipient"]),
                period=str(data["period"]),
                sequence=int(data["sequence"]),
                created=str(data["created"]),
                measures=tuple(str(m) for m in data["measures"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"release metadata is incomplete or malformed: {exc!r}") from exc
        if meta.sequence < 1:
            raise ValueError(f"release sequence must be 1 or more, not {meta.sequence}")
        return meta

    @classmethod
    def from_json(cls, text: str | bytes) -> ReleaseMeta:
        """Parse what ``to_json`` wrote."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"release metadata is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("release metadata must be a JSON object")
        return cls.from_dict(data)


def utc_now() -> str:
    """The current instant, UTC, ISO 8601 with a Z: how every ltcbridge release time is written."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_release_meta(
    *,
    agreement_id: str,
    sender: str,
    recipient: str,
    period: str,
    sequence: int,
    measures: tuple[str, ...],
) -> ReleaseMeta:
    """Metadata for a new release: a fresh uuid4 id and the current time."""
    return ReleaseMeta(
        release_id=str(uuid.uuid4()),
        agreement_id=agreement_id,
        sender=sender,
        recipient=recipient,
        period=period,
        sequence=sequence,
        created=utc_now(),
        measures=measures,
    )

"""The manifest: what a release would send, in plain words, for the practice's IG lead.

It stays in the practice and is never sent: it says *why* each figure was masked, and a recipient
who knew which masks protect other figures (secondary) would know where to look for small
numbers. It names organisations, measures and counts of figures, never a person.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ltcbridge.disclosure.protected import ProtectedRelease
from ltcbridge.feed.release import ReleaseMeta

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip

BREAKDOWNS = {
    "age-band": "age band",
    "sex": "sex",
    "ethnicity-group": "ethnic group",
    "imd-quintile": "deprivation quintile (IMD)",
    "provider": "provider (referrals and outcomes only)",
}

REASONS = {
    "primary": "because each counted between 1 and {threshold} people, too few to show safely",
    "secondary": "to protect other masked figures, which could otherwise be worked out by "
    "adding up or subtracting the figures around them",
    "history": "because they were masked in an earlier release to the same recipient, and "
    "showing them now would reveal what was hidden then",
}


@dataclass(frozen=True)
class Manifest:
    """The manifest's facts; ``lines()`` words them."""

    meta: ReleaseMeta | None
    agreement_id: str
    recipient: str
    purpose: str
    period: str
    level: str
    orgs: tuple[str, ...]
    measures: tuple[str, ...]
    breakdowns: tuple[str, ...]
    reports: int
    figures: int
    masked: Counter[str]
    threshold: int
    rounding: int
    optouts_excluded: bool
    opted_out: int
    warnings: tuple[str, ...]

    def lines(self) -> list[str]:
        return [
            "# What this release sends, and what was held back",
            "",
            "This page is for the practice's information-governance lead. It stays in the "
            "practice: it is never sent to the recipient.",
            "",
            *self._who(),
            "",
            *self._what(),
            "",
            *self._masking(),
            "",
            *self._optouts(),
            *(f"WARNING: {warning}" for warning in self.warnings),
        ]

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def _who(self) -> list[str]:
        release = (
            f"- Release number {self.meta.sequence} (id {self.meta.release_id}), sealed "
            f"{self.meta.created}, from {self.meta.sender}."
            if self.meta
            else "- Not sealed yet: this is a preview; nothing has been sent."
        )
        return [
            release,
            f"- To: {self.recipient}, under data-sharing agreement {self.agreement_id} (purpose: "
            f"{self.purpose}).",
            f"- Period: {month_name(self.period)}.",
            f"- Organisations reported ({self.level} level): {', '.join(self.orgs) or 'none'}.",
        ]

    def _what(self) -> list[str]:
        breakdowns = ", ".join(BREAKDOWNS.get(b, b) for b in self.breakdowns) or "none"
        return [
            f"- Measures: {', '.join(measure_name(m) for m in self.measures)}.",
            f"- Breakdowns: {breakdowns}.",
            f"- What leaves: {self.reports} summary report(s) holding {self.figures} figures. "
            "They are counts of people"
            + (
                f", and beside a count of more than {self.threshold} people the average (and "
                "total) Star change or NHS use of that group"
                if self._outcomes()
                else " only"
            )
            + ": no names, NHS numbers, dates of birth, addresses or any other detail about a "
            "person.",
        ]

    def _outcomes(self) -> bool:
        return any(not m.endswith(("/unmet-need", "/support-level")) for m in self.measures)

    def _masking(self) -> list[str]:
        total = sum(self.masked.values())
        lines = [f"- Figures masked (sent as 'masked', never as 0): {total} of {self.figures}."]
        for reason, count in sorted(self.masked.items()):
            words = REASONS.get(reason, f"for the reason recorded as '{reason}'")
            lines.append(f"  - {count} {words.format(threshold=self.threshold)}.")
        lines.append(
            f"- Every other figure is rounded to the nearest {self.rounding}."
            if self.rounding > 1
            else "- Figures are not rounded."
        )
        return lines

    def _optouts(self) -> list[str]:
        if not self.optouts_excluded:
            return ["- Opt-outs: NOT honoured under this agreement (see warning below)."]
        return [
            f"- Opt-outs honoured: {self.opted_out} people who dissented from secondary use of "
            "their record are in no figure at all."
        ]


def build_manifest(
    release: ProtectedRelease,
    masked: Counter[str],
    *,
    opted_out: int,
    optouts_excluded: bool = True,
    warnings: tuple[str, ...] = (),
    breakdowns: tuple[str, ...] = (),
    meta: ReleaseMeta | None = None,
) -> Manifest:
    """The manifest of a protected release (`meta` once sealed: then only the sender's figures).

    `masked` counts the masked figures by reason (for the sender's figures once sealed): the
    practice's own knowledge, which this manifest is the only place to show."""
    terms = release.terms
    org = meta.sender if meta is not None and meta.sender in release.orgs else None
    orgs = release.orgs if org is None else (org,)
    measures = tuple(m.canonical for m in release.measures)
    return Manifest(
        meta=meta,
        agreement_id=terms.agreement_id,
        recipient=terms.recipient,
        purpose=terms.purpose,
        period=terms.period,
        level=terms.level,
        orgs=tuple(orgs),
        measures=measures,
        breakdowns=breakdowns,
        reports=len(measures) * len(orgs),
        figures=release.figure_count(org),
        masked=masked,
        threshold=terms.threshold,
        rounding=terms.rounding,
        optouts_excluded=optouts_excluded,
        opted_out=opted_out,
        warnings=warnings,
    )


def reports_of_org(reports: list[dict[str, Any]], org: str) -> list[dict[str, Any]]:
    """The MeasureReports one organisation reports (``reporter`` is its ODS code)."""
    return [r for r in reports if r["reporter"]["identifier"]["value"] == org]


def release_measures(reports: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(report["measure"]) for report in reports))


def month_name(period: str) -> str:
    year, month = period.split("-")
    return f"{MONTHS[int(month) - 1]} {year}"


def measure_name(canonical: str) -> str:
    """``.../Measure/unmet-need`` -> ``unmet need``: the words, with the canonical for reference."""
    return f"{canonical.rstrip('/').rsplit('/', 1)[-1].replace('-', ' ')} ({canonical})"

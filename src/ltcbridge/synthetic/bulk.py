"""Big-data mode for benchmarks: millions of plausible resources, streamed, no truth.

Lines are formatted from fixed string templates rather than built as dicts and serialised, which
is what lets two million resources stream out in seconds with flat memory. About one resource in
six is a Patient; the rest are care-planning entries (coded Observations and Conditions,
template responses, referrals, Goals), and about one entry in a hundred is written again as a
newer version with a different code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import IO

from . import codes
from .nhs import check_digit
from .templates import ICB

PRACTICES = tuple(f"Y{9000 + i:05d}" for i in range(20))
FLUSH_EVERY = 20_000
NEED_CODES = tuple(ICB.code_for(n) for n in codes.NEEDS)
SUPPORT_CODES = tuple(ICB.code_for(s).code for s in codes.SUPPORT_LEVELS)

ORG = (
    '{"resourceType":"Organization","id":"%s","identifier":[{"system":"' + codes.ODS + '",'
    '"value":"%s"}],"name":"Bulk Synthetic Surgery %s"}\n'
)
PATIENT = (
    '{"resourceType":"Patient","id":"p%d","meta":{"versionId":"1","lastUpdated":'
    '"2026-%02d-%02dT%02d:%02d:00Z"},"identifier":[{"system":"' + codes.NHS_NUMBER + '",'
    '"value":"%s"}],"extension":[{"url":"' + codes.ETHNIC_EXT + '","valueCodeableConcept":'
    '{"coding":[{"system":"' + codes.ETHNIC_SYSTEM + '","code":"%s"}]}}],'
    '"name":[{"family":"Synthetic","given":["Person%d"]}],"gender":"%s",'
    '"birthDate":"%d-%02d-%02d","address":[{"use":"home","postalCode":"QX%d %dAB"}],'
    '"generalPractitioner":[{"reference":"Organization/%s"}]}\n'
)
META = '"meta":{"versionId":"%d","lastUpdated":"2026-%02d-%02dT%02d:%02d:00+01:00"}'
CODED = (
    '{"resourceType":"%s","id":"%s%d",' + META + ',"status":"final",'
    '"code":{"coding":[{"system":"' + ICB.system + '","code":"%s","display":"%s"}],'
    '"text":"%s"},"subject":{"reference":"Patient/p%d"},'
    '"effectiveDateTime":"2026-%02d-%02dT%02d:%02d:00+01:00",'
    '"performer":[{"reference":"Organization/%s"}]}\n'
)
CONDITION = (
    '{"resourceType":"Condition","id":"c%d",' + META + ","
    '"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/'
    'condition-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},'
    '"code":{"coding":[{"system":"' + ICB.system + '","code":"%s","display":"%s"}]},'
    '"subject":{"reference":"Patient/p%d"},"onsetDateTime":"2026-%02d-%02d",'
    '"recordedDate":"2026-%02d-%02d"}\n'
)
RESPONSE = (
    '{"resourceType":"QuestionnaireResponse","id":"q%d",' + META + ","
    '"questionnaire":"' + ICB.canonical() + '","status":"completed",'
    '"subject":{"reference":"Patient/p%d"},"authored":"2026-%02d-%02dT%02d:%02d:00+01:00",'
    '"item":[{"linkId":"needs","answer":[{"valueCoding":{"system":"' + ICB.system + '",'
    '"code":"%s"}},{"valueCoding":{"system":"' + ICB.system + '","code":"%s"}}]},'
    '{"linkId":"goal","answer":[{"valueString":"Walk to the shops twice a week"}]},'
    '{"linkId":"support","answer":[{"valueCoding":{"system":"' + ICB.system + '",'
    '"code":"%s"}}]},{"linkId":"refer","answer":[{"valueBoolean":%s}]},'
    '{"linkId":"consent","answer":[{"valueBoolean":true}]}]}\n'
)
REFERRAL = (
    '{"resourceType":"ServiceRequest","id":"s%d",' + META + ',"status":"active",'
    '"intent":"order","code":{"coding":[{"system":"'
    + codes.SNOMED
    + '","code":"'
    + codes.SNOMED_REFERRAL
    + '","display":"Referral to social prescribing service"}]},'
    '"subject":{"reference":"Patient/p%d"},"occurrenceDateTime":"2026-%02d-%02d",'
    '"requester":{"reference":"Organization/%s"},"note":[{"text":"Referred to the health '
    'link worker after the annual review"}]}\n'
)
GOAL = (
    '{"resourceType":"Goal","id":"g%d",' + META + ',"lifecycleStatus":"active",'
    '"description":{"text":"Join the Tuesday walking group and walk 30 minutes daily"},'
    '"subject":{"reference":"Patient/p%d"},"startDate":"2026-%02d-%02d",'
    '"expressedBy":{"reference":"Patient/p%d"}}\n'
)
KINDS = (
    "Observation",
    "Observation",
    "Observation",
    "QuestionnaireResponse",
    "Condition",
    "ServiceRequest",
    "Goal",
)


class Sinks:
    """One file for everything, or one file per resource type in a directory; buffered."""

    def __init__(self, path: Path) -> None:
        self._single = path.suffix == ".ndjson"
        self._dir = path
        if self._single:
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            path.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {}
        self._buffers: dict[str, list[str]] = {}
        self.count = 0

    def _key(self, kind: str) -> str:
        return "" if self._single else kind

    def add(self, kind: str, line: str) -> None:
        """Queue a line for its file, flushing the buffer when it grows."""
        key = self._key(kind)
        buf = self._buffers.setdefault(key, [])
        buf.append(line)
        self.count += 1
        if len(buf) >= FLUSH_EVERY:
            self._flush(key)

    def _flush(self, key: str) -> None:
        if key not in self._files:
            name = self._dir if self._single else self._dir / f"{key}.ndjson"
            self._files[key] = open(name, "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
        self._files[key].writelines(self._buffers[key])
        self._buffers[key].clear()

    def close(self) -> None:
        """Flush and close every file."""
        for key in list(self._buffers):
            self._flush(key)
        for f in self._files.values():
            f.close()


class Bulk:
    """State of one bulk run: the random stream, the patients so far, the last entry written."""

    def __init__(self, seed: int, sinks: Sinks) -> None:
        self.rng = random.Random(seed)
        self.sinks = sinks
        self.patients = 0
        self.stem = 999_000_000
        self.entries = 0

    def nhs_number(self) -> str:
        """The next valid test-range number (sequential stems, skipping impossible ones)."""
        while True:
            self.stem = self.stem + 1 if self.stem < 999_999_999 else 999_000_000
            check = check_digit(str(self.stem))
            if check is not None:
                return f"{self.stem}{check}"

    def patient(self) -> None:
        """One Patient line."""
        r = self.rng.random
        self.patients += 1
        n = self.patients
        line = PATIENT % (
            n,
            9 + int(r() * 3),
            1 + int(r() * 28),
            8 + int(r() * 10),
            int(r() * 60),
            self.nhs_number(),
            "ABCHJKMNRSZ"[int(r() * 11)],
            n,
            "female" if r() < 0.5 else "male",
            1930 + int(r() * 80),
            1 + int(r() * 12),
            1 + int(r() * 28),
            1 + int(r() * 9),
            1 + int(r() * 9),
            PRACTICES[n % len(PRACTICES)],
        )
        self.sinks.add("Patient", line)

    def entry(self, version: int = 1, rid: int | None = None, kind: str | None = None) -> None:
        """One care-planning entry (or a newer version of an earlier one)."""
        r = self.rng.random
        if rid is None:
            self.entries += 1
            rid = self.entries
        kind = kind or KINDS[int(r() * len(KINDS))]
        pat = 1 + int(r() * self.patients)
        month, day, hour, minute = (
            9 + int(r() * 3),
            1 + int(r() * 28),
            8 + int(r() * 10),
            int(r() * 60),
        )
        meta = (version, month, min(28, day + version), hour, minute)
        need = NEED_CODES[int(r() * len(NEED_CODES))]
        org = PRACTICES[pat % len(PRACTICES)]
        if kind == "Observation":
            line = CODED % (
                "Observation",
                "o",
                rid,
                *meta,
                need.code,
                need.display,
                need.display,
                pat,
                month,
                day,
                hour,
                minute,
                org,
            )
        elif kind == "Condition":
            line = CONDITION % (rid, *meta, need.code, need.display, pat, month, day, month, day)
        elif kind == "QuestionnaireResponse":
            other = NEED_CODES[int(r() * len(NEED_CODES))]
            support = SUPPORT_CODES[int(r() * 4)]
            line = RESPONSE % (
                rid,
                *meta,
                pat,
                month,
                day,
                hour,
                minute,
                need.code,
                other.code,
                support,
                "true" if r() < 0.3 else "false",
            )
        elif kind == "ServiceRequest":
            line = REFERRAL % (rid, *meta, pat, month, day, org)
        else:
            line = GOAL % (rid, *meta, pat, month, day, pat)
        self.sinks.add(kind, line)
        if version == 1 and r() < 0.01:
            self.entry(2, rid, kind)


def generate_bulk(path: str | Path, n_resources: int, seed: int = 2026) -> int:
    """Stream about n_resources resources to `path` (a `.ndjson` file, or a directory).

    Returns the number of lines written (including Organizations and re-written versions).
    Memory stays flat: lines are buffered in small batches and written as they come.
    """
    sinks = Sinks(Path(path))
    bulk = Bulk(seed, sinks)
    for ods in PRACTICES:
        sinks.add("Organization", ORG % (ods, ods, ods))
    while sinks.count < n_resources:
        if bulk.patients == 0 or bulk.rng.random() < 1 / 6:
            bulk.patient()
        else:
            bulk.entry()
    sinks.close()
    return sinks.count

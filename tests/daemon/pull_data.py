"""A practice record that is mostly what no mapping names, as a real GP record is.

The synthetic practice (``ltcbridge.synthetic.generate_bulk``: care-planning entries and their
Patients) plus, for every person, everyday entries no mapping covers: vital signs, other
diagnoses and procedures, repeat prescriptions, other questionnaires, and NHS use (attendances,
appointments, prescriptions) for everyone, of which only the referral cohort's are needed.
Shared by tests/daemon/test_pull_filtered.py and bench/bench_daemon.py (``--noise``), so both
measure the same composition. Invented codes and people only.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import httpx

from ltcbridge.daemon.pull import PullCounts, pull_gp
from ltcbridge.daemon.pull_bulk import pull_gp_bulk
from ltcbridge.daemon.pull_plan import PullPlan
from ltcbridge.daemon.state import StateStore
from ltcbridge.fhirclient import FhirClient, RetryPolicy
from ltcbridge.identifiable.read import Reader
from ltcbridge.mapping import load_mappings
from ltcbridge.synthetic import generate_bulk

from .loop_data import patient

MAPPINGS = Path(__file__).resolve().parents[2] / "fixtures" / "synthetic" / "mappings"
EVERYDAY = "https://example-gp-system.invalid/CodeSystem/everyday"  # no mapping names it
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OTHER_FORM = "https://example-gp-system.invalid/Questionnaire/smoking-status|1"
PLAIN_FROM = 200_000  # NHS test numbers of the plain Patients start here (loop_data.nhs_number)


def noisy_practice(path: Path, resources: int, noise: int, *, plain: int = 0, seed: int = 7) -> int:
    """Write the synthetic practice of about ``resources`` resources to ``path`` (NDJSON), and
    ``plain`` more Patients with no care-planning entry at all (most of a real practice), then
    ``noise`` unrelated resources for each Patient; returns the lines written."""
    base = path.with_suffix(".base.ndjson")
    generate_bulk(base, resources)
    rng = random.Random(seed)
    written = 0
    extra_people = (json.dumps(patient(f"plain{n}", PLAIN_FROM + n)) for n in range(plain))
    with path.open("w", encoding="utf-8") as out:
        for line in chain(base.open(encoding="utf-8"), extra_people):
            out.write(line.rstrip("\n") + "\n")
            written += 1
            resource = json.loads(line)
            if resource["resourceType"] == "Patient":
                for extra in everyday(resource["id"], noise, rng):
                    out.write(json.dumps(extra) + "\n")
                    written += 1
    base.unlink()
    return written


def everyday(patient_id: str, count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """``count`` resources about one person that no mapping names (NHS use included)."""
    subject = {"reference": f"Patient/{patient_id}"}
    for n in range(count):
        rid = f"{patient_id}-x{n}"
        day = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"
        kind = n % 8
        coded = {"coding": [{"system": EVERYDAY, "code": f"E{rng.randint(1, 400)}"}]}
        if kind <= 2:
            yield {"resourceType": "Observation", "id": rid, "status": "final", "code": coded,
                   "subject": subject, "effectiveDateTime": day,
                   "valueQuantity": {"value": rng.randint(50, 180), "unit": "mm[Hg]"}}  # fmt: skip
        elif kind == 3:
            yield {"resourceType": "Condition", "id": rid, "code": coded, "subject": subject,
                   "recordedDate": day}  # fmt: skip
        elif kind == 4:
            yield {"resourceType": "Procedure", "id": rid, "status": "completed", "code": coded,
                   "subject": subject, "performedDateTime": day}  # fmt: skip
        elif kind == 5:
            yield {"resourceType": "Encounter", "id": rid, "status": "finished",
                   "class": {"system": ACT_CODE, "code": "AMB"}, "subject": subject,
                   "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:10:00Z"}}  # fmt: skip
        elif kind == 6:
            yield {"resourceType": "MedicationRequest", "id": rid, "status": "completed",
                   "intent": "order", "subject": subject, "authoredOn": day,
                   "medicationCodeableConcept": coded}  # fmt: skip
        else:
            yield {"resourceType": "QuestionnaireResponse", "id": rid, "status": "completed",
                   "questionnaire": OTHER_FORM, "subject": subject, "authored": day}  # fmt: skip


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    """Every resource of the file, without ``meta`` (the engine stamps its own)."""
    resources = []
    for line in path.open(encoding="utf-8"):
        resource = json.loads(line)
        resource.pop("meta", None)
        resources.append(resource)
    return resources


# Headers that no longer hold once the body was read whole (decoded, no longer chunked).
_RECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class Counting(httpx.AsyncBaseTransport):
    """The client's transport, counting requests, resources (Bundle entries, NDJSON lines) and
    body bytes that come back; ``refuse`` answers 400 with an OperationOutcome for the requests
    it matches (the fault the test engine never produces)."""

    def __init__(self, refuse: Callable[[httpx.Request], bool] = lambda r: False) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.refuse = refuse
        self.requests = self.refused = self.resources = self.bytes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.refuse(request):
            self.refused += 1
            outcome = {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-supported", "diagnostics": "unknown parameter"}
            ]}  # fmt: skip
            return httpx.Response(400, json=outcome)
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.bytes += len(body)
        self.resources += _resources_in(request, body)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _RECODED]
        return httpx.Response(response.status_code, headers=headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _resources_in(request: httpx.Request, body: bytes) -> int:
    """Resources in one answer: a searchset's entries, an export file's lines."""
    if request.url.path.endswith(".ndjson"):
        return sum(1 for line in body.splitlines() if line.strip())
    if not body.startswith(b"{"):
        return 0
    answer = json.loads(body)
    if answer.get("resourceType") != "Bundle":
        return 0
    return sum(1 for entry in answer.get("entry") or () if entry.get("resource"))


async def pull_once(
    gp: str,
    state: StateStore,
    plan: PullPlan | None = None,
    *,
    bulk: Path | None = None,
    transport: Counting | None = None,
    mappings_dir: Path = MAPPINGS,
) -> PullCounts:
    """One pull from the GP engine into ``state``, by search or (``bulk``: its work folder) by
    export, as the daemon makes it; ``plan`` replaces the pull plan (e.g. ``full_plan()``)."""
    reader = Reader(load_mappings([mappings_dir]))
    quick = RetryPolicy(max_attempts=1)
    # the engine counts status polls, not seconds: its Retry-After need not be waited out here
    async with FhirClient(
        gp, transport=transport or Counting(), retry=quick, sleep=_no_wait
    ) as client:
        if bulk is not None:
            return await pull_gp_bulk(client, state, reader, bulk, plan=plan, poll_seconds=0.01)
        return await pull_gp(client, state, reader, plan=plan)


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)

"""An invented practice for the referral loop: test NHS numbers only, the contract's template.

Shared by the daemon tests and bench/chaos_daemon.py, so both check the same loop.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from ltcbridge.synthetic.nhs import check_digit

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
QUESTIONNAIRE = "https://example-icb.nhs.uk/fhir/Questionnaire/care-planning|3"
TEMPLATE = "https://example-icb.nhs.uk/fhir/CodeSystem/care-planning-template-codes"
CONCEPT = "https://ltcbridge.github.io/fhir/CodeSystem/concept"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
REFERRAL = "https://ltcbridge.github.io/fhir/Id/referral"
OUTCOME = "https://ltcbridge.github.io/fhir/Id/outcome"
PRACTICE, PROVIDER = "Y00001", "NTP001"
STAR_AREAS = (
    "wb-lifestyle", "wb-looking-after-yourself", "wb-managing-symptoms", "wb-work-volunteering",
    "wb-money", "wb-where-you-live", "wb-family-friends", "wb-feeling-positive",
)  # fmt: skip


def nhs_number(n: int) -> str:
    """The n-th valid NHS test number (999 range) with a modulus-11 check digit."""
    base = 999000000 + 3 * n  # of three consecutive bases at most one has no check digit
    for candidate in (base, base + 1):
        digit = check_digit(str(candidate))
        if digit is not None:
            return f"{candidate}{digit}"
    raise AssertionError("unreachable: two consecutive bases cannot both lack a check digit")


def write_mappings(directory: Path) -> Path:
    """A practice mappings directory: the contract's example template and ConceptMap."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("example-questionnaire.json", "example-conceptmap.json"):
        shutil.copy(CONTRACT / name, directory / name)
    return directory


def patient(pid: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": NHS, "value": nhs_number(n)}],
        "name": [{"family": f"Testperson{n}", "given": ["Alex"]}],
        "gender": "female" if n % 2 else "male",
        "birthDate": "1956-04-0" + str(1 + n % 9),
        "generalPractitioner": [{"identifier": {"system": ODS, "value": PRACTICE}}],
    }


def review(qid: str, pid: str, *, consent: bool, day: str = "2026-10-14") -> dict[str, Any]:
    """A care-planning review (the contract's template) that refers the person."""
    items: list[dict[str, Any]] = [
        {"linkId": "needs", "answer": [
            {"valueCoding": {"system": TEMPLATE, "code": "UN-PA"}},
            {"valueCoding": {"system": TEMPLATE, "code": "UN-FRIEND"}},
        ]},
        {"linkId": "goal", "answer": [{"valueString": "Walk to the shops twice a week"}]},
        {"linkId": "support", "answer": [{"valueCoding": {"system": TEMPLATE, "code": "SL-2"}}]},
        {"linkId": "refer", "answer": [{"valueBoolean": True}]},
    ]  # fmt: skip
    if consent:
        items.append({"linkId": "consent", "answer": [{"valueBoolean": True}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": qid,
        "questionnaire": QUESTIONNAIRE,
        "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        "authored": f"{day}T10:20:00+01:00",
        "item": items,
    }


def practice_record(people: int, *, without_consent: frozenset[int] = frozenset()) -> list[dict]:
    """``people`` referred people; those numbered in ``without_consent`` gave no consent."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": PRACTICE,
         "identifier": [{"system": ODS, "value": PRACTICE}]},
    ]  # fmt: skip
    for n in range(1, people + 1):
        resources.append(patient(f"p{n}", n))
        resources.append(review(f"qr{n}", f"p{n}", consent=n not in without_consent))
    return resources


def put_all(base_url: str, resources: list[dict[str, Any]]) -> None:
    """Load resources by id in batch bundles (as a GP system would hold them)."""
    for start in range(0, len(resources), 200):
        entries = [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources[start : start + 200]
        ]
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
        response = httpx.post(base_url, json=bundle, timeout=60)
        response.raise_for_status()
        statuses = [e["response"]["status"] for e in response.json()["entry"]]
        assert all(s.startswith("20") for s in statuses), statuses


def reset(*base_urls: str) -> None:
    for base_url in base_urls:
        httpx.post(f"{base_url}/$reset", timeout=30).raise_for_status()


def all_of(base_url: str, resource_type: str, **params: str) -> list[dict[str, Any]]:
    """Every match of a search, following next links."""
    found: list[dict[str, Any]] = []
    url: str | None = f"{base_url}/{resource_type}"
    query: dict[str, str] | None = {"_count": "500", **params}
    while url:
        bundle = httpx.get(url, params=query, timeout=30).json()
        query = None
        found += [e["resource"] for e in bundle.get("entry", [])]
        url = next(
            (lnk["url"] for lnk in bundle.get("link", []) if lnk["relation"] == "next"), None
        )
        if url and not url.startswith("http"):
            url = f"{base_url}/{url}"
    return found


def identifier_counts(base_url: str, resource_type: str, system: str) -> dict[str, int]:
    """How many resources carry each identifier value: duplicates show as counts above 1."""
    counts: dict[str, int] = {}
    for resource in all_of(base_url, resource_type):
        for ident in resource.get("identifier", []):
            if ident.get("system") == system:
                counts[ident["value"]] = counts.get(ident["value"], 0) + 1
    return counts


def provider_outcomes(provider_url: str, scores: int = 4) -> int:
    """What a provider does for each referral: accepts it, records a Star reading and a visit."""
    written = 0
    for request in all_of(provider_url, "ServiceRequest"):
        patient_ref = request["subject"]
        value = next(i["value"] for i in request["identifier"] if i["system"] == REFERRAL)
        star = {
            "resourceType": "Observation",
            "identifier": [{"system": OUTCOME, "value": f"{PROVIDER}-star-{value}"}],
            "status": "final",
            "code": {"coding": [{"system": CONCEPT, "code": "star-wellbeing"}]},
            "component": [
                {"code": {"coding": [{"system": CONCEPT, "code": area}]}, "valueInteger": scores}
                for area in STAR_AREAS
            ],
            "effectiveDateTime": "2026-11-02",
            "subject": patient_ref,
            "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
            "performer": [{"identifier": {"system": ODS, "value": PROVIDER}}],
        }
        visit = {
            "resourceType": "Encounter",
            "identifier": [{"system": OUTCOME, "value": f"{PROVIDER}-visit-{value}"}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": {"start": "2026-11-02T10:00:00Z"},
            "subject": patient_ref,
            "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
            "serviceProvider": {"identifier": {"system": ODS, "value": PROVIDER}},
        }
        for resource in (star, visit):
            query = f"identifier={OUTCOME}|{resource['identifier'][0]['value']}"
            url = f"{provider_url}/{resource['resourceType']}?{query}"
            httpx.put(url, json=resource, timeout=30).raise_for_status()
        task = all_of(provider_url, "Task", identifier=f"{REFERRAL}|{value}-task")[0]
        task.update(status="accepted", lastModified="2026-10-20T09:00:00Z")
        httpx.put(f"{provider_url}/Task/{task['id']}", json=task, timeout=30).raise_for_status()
        written += 1
    return written


def config_text(gp_url: str, provider_url: str, state_dir: Path, mappings_dir: Path) -> str:
    return f"""
[practice]
ods = "{PRACTICE}"

[gp]
base_url = "{gp_url}"

[[provider]]
name = "lead"
ods = "{PROVIDER}"
base_url = "{provider_url}"

[mappings]
dirs = ["{mappings_dir}"]

[state]
path = "{state_dir}/state.db"

[schedule]
every = "1s"
"""

"""Every measure of the demo agreement released from the daemon's state: real daemon cycles
against two real FHIR engines (a GP record with NHS use, a provider answering the referrals and
recording Star readings), then `release prepare`; its figures equal `ltcbridge feed build` run on
an export of the same GP record (the daemon's write-backs included), computed independently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltcbridge.daemon import releases
from ltcbridge.daemon.release_source import keep_answer
from ltcbridge.daemon.state import StateStore
from ltcbridge.identifiable.read import Reader
from ltcbridge.mapping import load_mappings
from sealing.helpers import DEMO_AGREEMENT

from .conftest import Loop
from .loop_data import (
    CONCEPT,
    ODS,
    OUTCOME,
    PRACTICE,
    PROVIDER,
    REFERRAL,
    STAR_AREAS,
    all_of,
    patient,
    put_all,
    review,
)
from .release_data import on, without_date

pytestmark = pytest.mark.integration

PERIOD = "2026-11"
EARLY, LATE = range(1, 13), range(13, 25)  # referred in April (followed up), in November
GP_EXPORT_TYPES = ("Patient", "Organization", "QuestionnaireResponse", "Observation", "Task",
                   "Encounter", "Appointment", "MedicationRequest")  # fmt: skip
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def nhs_use(n: int) -> list[dict[str, Any]]:
    """Person n's use of the NHS: a GP visit and a prescription before the referral, an A&E
    attendance and a GP visit after the provider finished."""
    subject = {"reference": f"Patient/p{n}"}

    def visit(rid: str, day: str) -> dict[str, Any]:
        return {"resourceType": "Appointment", "id": rid, "status": "fulfilled",
                "start": f"{day}T09:00:00Z", "end": f"{day}T09:10:00Z",
                "participant": [{"actor": subject, "status": "accepted"}]}  # fmt: skip

    return [
        visit(f"a{n}-before", "2026-02-10"),
        {"resourceType": "MedicationRequest", "id": f"m{n}", "status": "active",
         "intent": "order", "subject": subject, "authoredOn": "2026-03-01",
         "medicationCodeableConcept": {"text": "Invented tablets"}},
        {"resourceType": "Encounter", "id": f"e{n}", "status": "finished",
         "class": {"system": ACT_CODE, "code": "EMER"}, "subject": subject,
         "period": {"start": "2026-07-01T22:00:00Z", "end": "2026-07-02T01:00:00Z"}},
        visit(f"a{n}-after", "2026-08-03"),
    ]  # fmt: skip


def gp_record() -> list[dict[str, Any]]:
    """24 invented people referred with consent (12 in April, 12 in November) and their NHS use;
    one more person, never referred, using the NHS as well."""
    record: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": PRACTICE,
         "identifier": [{"system": ODS, "value": PRACTICE}]},
    ]  # fmt: skip
    for n in [*EARLY, *LATE, 25]:
        record.append(patient(f"p{n}", n))
        record += nhs_use(n)
    record += [review(f"qr{n}", f"p{n}", consent=True, day="2026-04-14") for n in EARLY]
    record += [review(f"qr{n}", f"p{n}", consent=True, day="2026-11-12") for n in LATE]
    return record


def provider_answers(provider_url: str) -> int:
    """The provider finishes the April referrals in May (a Star reading at the start and one in
    November) and accepts the November ones."""
    answered = 0
    for request in all_of(provider_url, "ServiceRequest"):
        value = next(i["value"] for i in request["identifier"] if i["system"] == REFERRAL)
        early = request["authoredOn"].startswith("2026-04")
        task = all_of(provider_url, "Task", identifier=f"{REFERRAL}|{value}-task")[0]
        if early:
            task.update(status="completed", lastModified="2026-05-20T16:00:00Z")
            for day, score in (("2026-04-20", 2), ("2026-11-10", 5)):
                _put_star(provider_url, request, value, day, score)
        else:
            task.update(status="accepted", lastModified="2026-11-20T09:00:00Z")
        httpx.put(f"{provider_url}/Task/{task['id']}", json=task, timeout=30).raise_for_status()
        answered += 1
    return answered


def _put_star(provider_url: str, request: dict[str, Any], value: str, day: str, score: int) -> None:
    star = {
        "resourceType": "Observation",
        "identifier": [{"system": OUTCOME, "value": f"{PROVIDER}-star-{value}-{day}"}],
        "status": "final",
        "code": {"coding": [{"system": CONCEPT, "code": "star-wellbeing"}]},
        "component": [
            {"code": {"coding": [{"system": CONCEPT, "code": area}]}, "valueInteger": score}
            for area in STAR_AREAS
        ],
        "effectiveDateTime": day,
        "subject": request["subject"],
        "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
        "performer": [{"identifier": {"system": ODS, "value": PROVIDER}}],
    }
    query = f"identifier={OUTCOME}|{star['identifier'][0]['value']}"
    httpx.put(f"{provider_url}/Observation?{query}", json=star, timeout=30).raise_for_status()


def export_gp(gp_url: str, folder: Path) -> Path:
    """The GP record as a bulk export (what `feed build` reads), straight from the server."""
    folder.mkdir(parents=True)
    for kind in GP_EXPORT_TYPES:
        lines = [json.dumps(r) for r in all_of(gp_url, kind)]
        (folder / f"{kind}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def counted(reports: dict[str, dict[str, Any]], report_id: str, group: str) -> int | None:
    """A group total's published count (None when masked)."""
    for item in reports[report_id]["group"]:
        if item["code"]["coding"][0]["code"] == group:
            return item["population"][0].get("count")
    raise AssertionError(f"no group {group} in {report_id}")


def test_every_demo_measure_is_released_from_the_state_as_feed_build_counts_it(
    loop: Loop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(DEMO_AGREEMENT, loop.tmp / "agreement.toml")  # every measure
    with loop.config_path.open("a") as config:
        config.write('[agreements]\nfiles = ["agreement.toml"]\n')
    put_all(loop.gp, gp_record())
    monkeypatch.setattr(releases, "today", lambda: on("2026-12-10"))
    first = loop.sync()
    assert first.status == "ok", first.error
    assert first.summary["referrals_sent"] == 24
    assert provider_answers(loop.provider) == 24
    for _ in range(2):  # the answers and readings come back, then the GP copies are read
        assert loop.sync().status == "ok"

    main = ["--config", str(loop.config_path)]
    assert main_ok("release", "prepare", *main, "--period", PERIOD)
    [release] = json.loads(_out(capsys, "release", "list", *main, "--json"))
    folder = loop.config.state_path.parent / "releases" / release["release_id"]
    daemon = without_date(json.loads((folder / "reports.json").read_text()))

    source = export_gp(loop.gp, loop.tmp / "gp-export")
    out = loop.tmp / "feed"
    assert main_ok("feed", "build", "--source", str(source), "--mappings",
                   str(loop.tmp / "mappings"), "--agreement", str(DEMO_AGREEMENT), "--period",
                   PERIOD, "--out", str(out), "--data-dir", str(loop.tmp / "data"))  # fmt: skip
    built = without_date([json.loads(p.read_text()) for p in sorted(out.glob("*.json"))])
    assert sorted(daemon) == sorted(built) == sorted(
        f"{m}-{PRACTICE}-{PERIOD}" for m in
        ("unmet-need", "referrals", "support-level", "star-distance-travelled", "nhs-use")
    )  # fmt: skip
    assert daemon == built
    # and the figures are the ones this record makes, not empty reports that happen to agree
    assert counted(daemon, f"referrals-{PRACTICE}-{PERIOD}", "referral-accepted") == 10
    assert counted(daemon, f"nhs-use-{PRACTICE}-{PERIOD}", "nhs-use-cohort") == 10
    assert counted(daemon, f"star-distance-travelled-{PRACTICE}-{PERIOD}", "star-wellbeing") == 10


def test_a_later_answer_replaces_the_kept_one_and_a_cancelled_task_retracts_it(
    tmp_path: Path,
) -> None:
    state = StateStore(tmp_path / "state.db")
    reader = Reader(load_mappings([]))
    copy = {"resourceType": "Task", "identifier": [{"system": REFERRAL, "value": "r-1-task"}],
            "status": "accepted", "intent": "order", "focus": {"reference": "ServiceRequest/s1"},
            "for": {"reference": "Patient/p1"}, "lastModified": "2026-10-20"}  # fmt: skip
    try:
        with state.unit():
            assert keep_answer(state, reader, copy, "2026-10-20T09:00:00Z")
            assert not keep_answer(
                state, reader, {**copy, "status": "rejected"}, "2026-10-19T09:00:00Z"
            )  # an older version: kept as it was
        [kept] = state.entries_asserting("referral-accepted")
        with state.unit():
            assert keep_answer(state, reader, {**copy, "status": "cancelled"},
                               "2026-10-21T09:00:00Z")  # fmt: skip
        assert state.entries_asserting("referral-accepted") == []
        assert state.entry(kept.source) is not None and state.entry(kept.source).retracted
    finally:
        state.close()


def main_ok(*argv: str) -> bool:
    from ltcbridge.cli import main

    return main(list(argv)) == 0


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main_ok(*argv)
    return capsys.readouterr().out

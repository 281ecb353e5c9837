"""Write-back the feed reads right: a provider's answer to a referral made in the template
answer counts as that referral's answer, and the practice's own withdrawal coming back from
the provider is attributed to the practice, not to the provider."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from ltcbridge.identifiable.outcomes import Scope, count_referrals
from ltcbridge.identifiable.population import build_population
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import load_mappings

from .conftest import Loop
from .loop_data import (
    OUTCOME,
    PRACTICE,
    PROVIDER,
    REFERRAL,
    all_of,
    practice_record,
    provider_outcomes,
    put_all,
)

pytestmark = pytest.mark.integration
GP_EXPORT_TYPES = ("Patient", "QuestionnaireResponse", "Task", "Observation", "Encounter")


def _gp_export(loop: Loop, path: Path) -> Path:
    """The GP record as the feed reads it: one resource a line."""
    lines = [orjson.dumps(r) for kind in GP_EXPORT_TYPES for r in all_of(loop.gp, kind)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_provider_answers_to_template_answer_referrals_are_counted(loop: Loop) -> None:
    put_all(loop.gp, practice_record(2))
    assert loop.sync().summary["referrals_sent"] == 2
    provider_outcomes(loop.provider)  # the provider accepts both
    assert loop.sync().summary["written_back"] == 6

    mappings = load_mappings([loop.tmp / "mappings"])
    columns = scan_source(_gp_export(loop, loop.tmp / "gp.ndjson"), mappings, months=["2026-10"])
    cube = count_referrals(build_population(columns), Scope("2026-10", stratifiers=("provider",)))

    totals = {group: n for (_, group, name, _), n in cube.cells() if name is None and n}
    assert totals.get("referral-lead-provider") == 2
    assert totals.get("referral-accepted") == 2
    providers = {s: n for (_, g, name, s), n in cube.cells() if name == "provider" and n
                 and g == "referral-accepted"}  # fmt: skip
    assert providers == {PROVIDER: 2}


def _provenance_author(loop: Loop, qid: str, status: str) -> str:
    value = f"{PRACTICE}-QuestionnaireResponse-{qid}-task-{status}-provenance"
    [provenance] = [  # R4 has no identifier search on Provenance
        p
        for p in all_of(loop.gp, "Provenance")
        if {"system": OUTCOME, "value": value} in p["identifier"]
    ]
    return provenance["agent"][0]["who"]["identifier"]["value"]


def test_the_practices_own_withdrawal_comes_back_attributed_to_the_practice(loop: Loop) -> None:
    """The practice deletes the referral entry (the daemon withdraws the referral: its Task is
    cancelled at the provider, and read back); the provider cancels another one itself."""
    put_all(loop.gp, practice_record(2))
    assert loop.sync().summary["referrals_sent"] == 2
    httpx.delete(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).raise_for_status()
    [task] = all_of(loop.provider, "Task", identifier=f"{REFERRAL}|{PRACTICE}-"
                    "QuestionnaireResponse-qr2-task")  # fmt: skip
    task.update(status="cancelled", statusReason={"text": "Moved out of the area"})
    httpx.put(f"{loop.provider}/Task/{task['id']}", json=task, timeout=10).raise_for_status()

    withdrawn = loop.sync()
    assert withdrawn.status == "ok", withdrawn.error
    assert withdrawn.summary["referrals_withdrawn"] == 1
    loop.sync()  # whatever the provider's answers, written back

    assert _provenance_author(loop, "qr1", "cancelled") == PRACTICE
    assert _provenance_author(loop, "qr2", "cancelled") == PROVIDER

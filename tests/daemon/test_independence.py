"""Effects are independent: ordinary faults at a realistic rate drain the backlog within a few
cycles with every effect performed exactly once, and one effect that keeps failing is set aside
without holding back the others."""

from __future__ import annotations

import json

import httpx
import pytest

from ltcbridge.daemon.__main__ import main
from ltcbridge.daemon.effects import MAX_ATTEMPTS

from .conftest import Loop
from .faults import Faults, cycle, scenario
from .loop_data import (
    PRACTICE,
    REFERRAL,
    all_of,
    identifier_counts,
    practice_record,
    provider_outcomes,
    put_all,
)

pytestmark = pytest.mark.integration
RATE = 0.15  # of all requests, to both servers
CYCLES = 6  # the backlog must drain within this many cycles


def test_faults_at_a_realistic_rate_drain_the_backlog_with_every_effect_once(
    any_loop: Loop,
) -> None:
    outcome = scenario(any_loop.gp, any_loop.provider, any_loop.config_path,
                       people=10, rate=RATE, seed=11, limit=CYCLES)  # fmt: skip

    assert sum(outcome.injected.values()) >= 0.1 * outcome.requests  # the faults did happen
    assert outcome.referral_cycles <= CYCLES and outcome.writeback_cycles <= CYCLES
    assert outcome.leaked == []  # nothing left for a person whose consent was withdrawn
    assert set(outcome.referrals) == outcome.expected_referrals
    assert outcome.duplicates == 0 and outcome.set_aside == 0
    per_referral = 6  # Star reading, attendance, Task copy, and a Provenance for each
    assert len(outcome.writebacks) == per_referral * len(outcome.expected_referrals)


def _refuse_qr2(request: httpx.Request) -> httpx.Response | None:
    """The provider fails every time on one referral's Bundle (a persistent HTTP 500)."""
    if request.method == "POST" and b"QuestionnaireResponse-qr2" in request.content:
        return httpx.Response(500, json={"resourceType": "OperationOutcome"}, request=request)
    return None


def test_a_persistent_500_for_one_referral_is_set_aside_and_holds_back_nothing(
    loop: Loop, capsys: pytest.CaptureFixture[str]
) -> None:
    put_all(loop.gp, practice_record(3))
    broken = Faults(0.0, overrides={"lead": _refuse_qr2})
    first = cycle(loop.config_path, broken.client)
    assert first.status == "ok", first.error
    assert first.summary["referrals_sent"] == 2 and first.summary["effects_failed"] == 1
    provider_outcomes(loop.provider)

    results = [cycle(loop.config_path, broken.client) for _ in range(MAX_ATTEMPTS - 1)]

    assert results[0].summary["written_back"] == 6  # the others' outcomes were not held back
    assert [r.summary["set_aside"] for r in results] == [0] * (MAX_ATTEMPTS - 2) + [1]
    state = loop.state()
    assert state.backlog() == 0
    [aside] = state.set_aside_effects()
    assert aside["key"] == f"{PRACTICE}-QuestionnaireResponse-qr2"
    assert aside["last_error"] == "HTTP 500 (ServerError)"
    health = json.loads(loop.config.health_path.read_text())
    assert [e["key"] for e in health["set_aside"]] == [aside["key"]]
    assert main(["status", "--config", str(loop.config_path)]) == 3
    assert "HTTP 500" in capsys.readouterr().out

    assert main(["replay", "--config", str(loop.config_path)]) == 0  # the provider was fixed
    fixed = loop.sync()
    assert fixed.summary["referrals_sent"] == 1
    assert sorted(identifier_counts(loop.provider, "ServiceRequest", REFERRAL).values()) == [1] * 3
    assert len(all_of(loop.provider, "Task")) == 3

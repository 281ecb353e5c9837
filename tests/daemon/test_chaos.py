"""Crash-safety: kill -9 at random points, restart; both servers end as after a clean run.

The full 50-kill run is bench/chaos_daemon.py; this keeps to what fits the test budget.
"""

from __future__ import annotations

import json
import random

import pytest

from .chaos import ChaosLog, kill_and_restart, loop_fingerprint, timed_clean_run
from .conftest import Loop
from .loop_data import PRACTICE, practice_record, provider_outcomes, put_all

pytestmark = pytest.mark.integration
PEOPLE, WITHOUT_CONSENT = 12, frozenset({3, 7, 11})
KILLS_PER_PHASE = 4  # attempts; a run that finishes first is not killed


def test_kill_minus_nine_mid_sync_loses_and_duplicates_nothing(loop: Loop) -> None:
    put_all(loop.gp, practice_record(PEOPLE, without_consent=WITHOUT_CONSENT))
    rng = random.Random(4)
    log = ChaosLog()
    window = (0.0, 0.8)  # seconds into the cycle (after import); a cycle here lasts 0.3-1.5 s
    kill_and_restart(loop.config_path, KILLS_PER_PHASE, window, rng, log)
    assert provider_outcomes(loop.provider) == PEOPLE - len(WITHOUT_CONSENT)
    kill_and_restart(loop.config_path, KILLS_PER_PHASE, window, rng, log)
    assert timed_clean_run(loop.config_path) > 0  # one more run changes nothing

    assert log.kills >= KILLS_PER_PHASE, log  # at least half the runs really were killed mid-way
    found = loop_fingerprint(loop.gp, loop.provider)
    referred = [n for n in range(1, PEOPLE + 1) if n not in WITHOUT_CONSENT]
    referrals = {f"{PRACTICE}-QuestionnaireResponse-qr{n}": 1 for n in referred}
    assert found["provider ServiceRequest"] == referrals
    assert found["provider Task"] == {f"{key}-task": 1 for key in referrals}
    assert sorted(found["provider Patient"].values()) == [1] * len(referred)
    assert sorted(found["provider Goal"].values()) == [1] * len(referred)
    assert sorted(found["gp Observation"].values()) == [1] * len(referred)
    assert sorted(found["gp Encounter"].values()) == [1] * len(referred)
    assert found["gp Task"] == {f"{key}-task": 1 for key in referrals}
    assert sorted(found["gp Provenance"].values()) == [1] * (3 * len(referred))
    state = loop.state()
    not_sent = [r["entity"] for r in state.audit_records() if r["action"] == "referral-not-sent"]
    assert sorted(not_sent) == sorted(f"QuestionnaireResponse/qr{n}" for n in WITHOUT_CONSENT)
    sent = [r for r in state.audit_records() if r["action"] == "referral-sent"]
    assert len({json.loads(r["detail"])["referral"] for r in sent}) == len(referred)
    assert state.backlog() == 0
    state.close()

"""``[gp] mode = "bulk"``: the GP record read by $export, later ones with _since."""

from __future__ import annotations

import pytest

from .conftest import Loop
from .loop_data import REFERRAL, identifier_counts, patient, practice_record, put_all, review

pytestmark = pytest.mark.integration


def test_bulk_mode_reads_everything_then_only_what_changed(loop: Loop) -> None:
    text = loop.config_path.read_text().replace("[gp]\n", '[gp]\nmode = "bulk"\n')
    loop.config_path.write_text(text)
    put_all(loop.gp, practice_record(3, without_consent=frozenset({3})))

    first = loop.sync(poll_seconds=0.01)

    assert first.status == "ok", first.error
    assert first.summary["gp_read"] == 6  # 3 Patients and 3 responses (types ltcbridge reads)
    assert len(identifier_counts(loop.provider, "ServiceRequest", REFERRAL)) == 2
    assert not (loop.config.state_path.parent / "export-work").exists()  # patient data removed

    put_all(loop.gp, [patient("p4", 4), review("qr4", "p4", consent=True)])
    second = loop.sync(poll_seconds=0.01)

    assert second.status == "ok", second.error
    assert second.summary["gp_read"] == 2
    assert sorted(identifier_counts(loop.provider, "ServiceRequest", REFERRAL).values()) == [1] * 3

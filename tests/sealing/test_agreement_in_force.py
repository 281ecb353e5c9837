"""Nothing is sealed or sent under an agreement that is not in force, through the command line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ltcbridge.cli import feed as cli_release
from ltcbridge.cli import main

from .helpers import DEMO_AGREEMENT, PERIOD, PRACTICE, SYNTHETIC, keys, write_pem


@pytest.fixture(autouse=True)
def practice_date(monkeypatch: pytest.MonkeyPatch) -> date:
    """The practice's date, fixed: these tests are about the agreement's window, not the day
    they happen to run."""
    day = date(2026, 12, 3)
    monkeypatch.setattr(cli_release, "today", lambda: day)
    return day


def _agreement(tmp_path: Path, replace: tuple[str, str]) -> Path:
    path = tmp_path / "dsa.toml"
    path.write_text(DEMO_AGREEMENT.read_text().replace(*replace))
    return path


def _seal(tmp_path: Path, agreement: Path) -> int:
    key = write_pem(tmp_path / "k.pem", keys().practice, private=True)
    hub = write_pem(tmp_path / "hub.pem", keys().hub, private=False)
    return main(
        ["feed", "seal", "--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
         "--agreement", str(agreement), "--period", PERIOD, "--workers", "1", "--key", str(key),
         "--recipient-key", str(hub), "--sender", PRACTICE, "--out", str(tmp_path / "out"),
         "--data-dir", str(tmp_path / "data")]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("replace", "named"),
    [
        (('status = "active"', 'status = "suspended"'), "status"),
        (('status = "active"', 'status = "revoked"'), "status"),
        (("valid_until = 2031-03-31", "valid_until = 2026-11-30"), "valid_until"),
        (("valid_from = 2026-04-01", "valid_from = 2027-01-01"), "valid_from"),
    ],
)
def test_an_agreement_not_in_force_seals_nothing(
    tmp_path: Path, replace: tuple[str, str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    agreement = _agreement(tmp_path, replace)
    assert agreement.read_text() != DEMO_AGREEMENT.read_text()
    assert _seal(tmp_path, agreement) == 1
    message = capsys.readouterr().err
    assert named in message and "Traceback" not in message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_month_outside_the_window_is_not_sealed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    agreement = _agreement(tmp_path, ("valid_from = 2026-04-01", "valid_from = 2026-11-01"))
    assert _seal(tmp_path, agreement) == 1
    assert "2026-10 is outside it" in capsys.readouterr().err


def test_a_release_is_not_sent_once_its_agreement_is_revoked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _seal(tmp_path, DEMO_AGREEMENT) == 3  # sealed (the fixtures have quarantined lines)
    (sealed,) = (tmp_path / "out").glob("*.jwe")
    revoked = _agreement(tmp_path, ('status = "active"', 'status = "revoked"'))
    drop = tmp_path / "drop"
    drop.mkdir()
    status = main(["feed", "send", "--release", str(sealed), "--via", "folder", "--to", str(drop),
                   "--agreement", str(revoked), "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert status == 1
    assert "revoked" in capsys.readouterr().err
    assert list(drop.iterdir()) == []


def test_no_practice_release_of_a_month_whose_counts_went_to_secure_aggregation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The area totals made from the shares are published where the practice never sees them,
    so a practice-level release of that month could not be protected against them."""
    from dataclasses import replace

    from ltcbridge.feed.receipts import ReceiptStore
    from ltcbridge.secagg.contribute import secagg_agreement_id

    from .helpers import meta_for

    with ReceiptStore(tmp_path / "data" / "receipts.sqlite") as receipts:
        receipts.record_sealed(
            replace(meta_for(), agreement_id=secagg_agreement_id("DSA-DEMO-001"), period=PERIOD)
        )
    assert _seal(tmp_path, DEMO_AGREEMENT) == 1
    assert "secure aggregation" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

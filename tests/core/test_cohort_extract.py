"""The pseudonymised cohort extract: only when allowed, pseudonyms only, months only."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from outcome_data import COSTS, MONTH, nhs_numbers, write_record

from ltcbridge.agreement import load_agreement
from ltcbridge.cli import main
from ltcbridge.errors import AgreementError
from ltcbridge.feed.cohort_extract import (
    COLUMNS,
    PseudonymKeyError,
    build_cohort_extract,
    load_or_create_secret,
)
from ltcbridge.mapping import load_mappings

AGREEMENT = f"""[agreement]
id = "DSA-COHORT-1"
recipient = "QHM"
valid_from = 2026-04-01
valid_until = 2027-03-31
[disclosure]
threshold = 7
rounding = 5
[breakdowns]
allowed = ["age-band", "sex"]
[unit_costs]
{chr(10).join(f"{kind} = {price}" for kind, price in COSTS.items())}
[cohort_extract]
allowed = true
"""
SECRET = bytes(range(32))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_record(tmp_path / "export.ndjson")


@pytest.fixture
def agreement_file(tmp_path: Path) -> Path:
    path = tmp_path / "agreement.toml"
    path.write_text(AGREEMENT)
    return path


def test_the_extract_is_refused_unless_the_agreement_allows_it(
    source: Path, agreement_file: Path
) -> None:
    agreement = replace(load_agreement(agreement_file), cohort_extract=False)
    with pytest.raises(AgreementError, match=r"\[cohort_extract\] allowed = true"):
        build_cohort_extract(source, load_mappings([]), agreement, MONTH, SECRET)


def test_one_row_per_cohort_member_with_nhs_use_and_cost(
    source: Path, agreement_file: Path
) -> None:
    agreement = load_agreement(agreement_file)
    rows = build_cohort_extract(source, load_mappings([]), agreement, MONTH, SECRET)
    assert len(rows) == 1  # p5, discharged in April: six months after ended in October
    row = rows[0]
    assert set(row) == set(COLUMNS)
    assert re.fullmatch(r"[0-9a-f]{64}", str(row["pseudonym"]))
    assert (row["practice"], row["provider"], row["referral_month"], row["discharge_month"]) == (
        "A81001", "NTP01", "2026-01", "2026-04",
    )  # fmt: skip
    assert (row["age_band"], row["sex"]) == ("60-74", "female")
    assert (row["gp-attendances_before"], row["prescriptions_after"]) == (1, 2)
    assert (row["cost_before"], row["cost_after"]) == (42 + 180, 2 * 9 + 1850)


def test_pseudonyms_are_stable_per_recipient_and_unlinkable_across_recipients(
    source: Path, agreement_file: Path
) -> None:
    agreement, mappings = load_agreement(agreement_file), load_mappings([])
    first = build_cohort_extract(source, mappings, agreement, MONTH, SECRET)[0]["pseudonym"]
    again = build_cohort_extract(source, mappings, agreement, MONTH, SECRET)[0]["pseudonym"]
    other = replace(agreement, recipient="QWU")
    elsewhere = build_cohort_extract(source, mappings, other, MONTH, SECRET)[0]["pseudonym"]
    other_key = build_cohort_extract(source, mappings, agreement, MONTH, bytes(32))[0]["pseudonym"]
    assert first == again and len({first, elsewhere, other_key}) == 3


def test_no_identifier_or_exact_date_leaves(
    tmp_path: Path, source: Path, agreement_file: Path
) -> None:
    key = tmp_path / "keys" / "pseudonym.key"
    out = tmp_path / "out"
    status = main(["feed", "cohort", "--source", str(source), "--agreement", str(agreement_file),
                   "--period", MONTH, "--key", str(key), "--out", str(out)])  # fmt: skip
    assert status == 0
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    text = next(out.glob("cohort-QHM-*.csv")).read_text()
    assert text.count("\n") == 2  # header and p5
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # months only
    assert not [n for n in nhs_numbers()[:8] if n in text]
    assert "p5" not in text.replace("prescriptions", "")


def test_an_opted_out_person_is_not_in_the_extract(tmp_path: Path, agreement_file: Path) -> None:
    dissent = {"resourceType": "Observation", "id": "oo5", "status": "final",
               "subject": {"reference": "Patient/p5"}, "effectiveDateTime": "2026-02-01",
               "code": {"coding": [{"system": "http://snomed.info/sct",
                                    "code": "827241000000103"}]}}  # fmt: skip
    source = write_record(tmp_path / "export.ndjson", [dissent])
    rows = build_cohort_extract(source, load_mappings([]), load_agreement(agreement_file), MONTH,
                                SECRET)  # fmt: skip
    assert rows == []


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "short.key"
    key.write_bytes(b"too short")
    with pytest.raises(PseudonymKeyError, match="Restore it from backup"):
        load_or_create_secret(key)

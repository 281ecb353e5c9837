"""The pseudonymised cohort extract: only when allowed, pseudonyms only, months only."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from outcome_data import COSTS, MONTH, nhs_numbers, write_record

from ltcbridge.agreement import load_agreement
from ltcbridge.cli import main
from ltcbridge.cohort_extract import (
    COLUMNS,
    PseudonymKeyError,
    cohort_rows,
    load_or_create_secret,
)
from ltcbridge.disclosure.rare_combinations import QUASI_IDENTIFIERS, protect_extract
from ltcbridge.errors import AgreementError
from ltcbridge.mapping import load_mappings

AGREEMENT = f"""[agreement]
id = "DSA-COHORT-1"
recipient = "QHM"
valid_from = 2026-04-01
valid_until = 2031-03-31
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
        cohort_rows(source, load_mappings([]), agreement, MONTH, SECRET)


def test_one_row_per_cohort_member_with_nhs_use_and_cost(
    source: Path, agreement_file: Path
) -> None:
    agreement = load_agreement(agreement_file)
    rows = cohort_rows(source, load_mappings([]), agreement, MONTH, SECRET)
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
    first = cohort_rows(source, mappings, agreement, MONTH, SECRET)[0]["pseudonym"]
    again = cohort_rows(source, mappings, agreement, MONTH, SECRET)[0]["pseudonym"]
    other = replace(agreement, recipient="QWU")
    elsewhere = cohort_rows(source, mappings, other, MONTH, SECRET)[0]["pseudonym"]
    other_key = cohort_rows(source, mappings, agreement, MONTH, bytes(32))[0]["pseudonym"]
    assert first == again and len({first, elsewhere, other_key}) == 3


def test_no_identifier_or_exact_date_leaves(
    tmp_path: Path, source: Path, agreement_file: Path
) -> None:
    key = tmp_path / "keys" / "pseudonym.key"
    data = tmp_path / "data"
    status = main(["feed", "cohort", "--source", str(source), "--agreement", str(agreement_file),
                   "--period", MONTH, "--key", str(key), "--data-dir", str(data)])  # fmt: skip
    assert status == 0
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    extract = next((data / "cohort").glob("cohort-QHM-*.csv"))
    assert extract.stat().st_mode & 0o777 == 0o600
    assert (data / "cohort").stat().st_mode & 0o777 == 0o700
    text = extract.read_text()
    assert text.count("\n") == 1  # the header: p5 alone is a combination rarer than 7
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # months only
    assert not [n for n in nhs_numbers()[:8] if n in text]
    assert "p5" not in text.replace("prescriptions", "")


def test_an_opted_out_person_is_not_in_the_extract(tmp_path: Path, agreement_file: Path) -> None:
    dissent = {"resourceType": "Observation", "id": "oo5", "status": "final",
               "subject": {"reference": "Patient/p5"}, "effectiveDateTime": "2026-02-01",
               "code": {"coding": [{"system": "http://snomed.info/sct",
                                    "code": "827241000000103"}]}}  # fmt: skip
    source = write_record(tmp_path / "export.ndjson", [dissent])
    rows = cohort_rows(source, load_mappings([]), load_agreement(agreement_file), MONTH,
                       SECRET)  # fmt: skip
    assert rows == []


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "short.key"
    key.write_bytes(b"too short")
    with pytest.raises(PseudonymKeyError, match="Restore it from backup"):
        load_or_create_secret(key)


def _people(count: int, seed: int) -> list[dict[str, str | int | float]]:
    import random

    rng = random.Random(seed)
    return [
        {"pseudonym": f"{i:064x}", "practice": rng.choice(["A81001", "A81002", "A81003"]),
         "age_band": rng.choice(["0-17", "18-39", "40-59", "60-74", "75+"]),
         "sex": rng.choice(["male", "female"]),
         "ethnicity_group": rng.choice(["white", "asian", "black", "mixed", "other"]),
         "imd_quintile": rng.choice(["1", "2", "3", "4", "5"]), "cost_after": i}
        for i in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize(("count", "seed"), [(0, 1), (5, 2), (40, 3), (400, 4)])
def test_no_combination_in_an_extract_is_rarer_than_the_threshold(count: int, seed: int) -> None:
    """So two recipients (whose pseudonyms differ) cannot link rows by demographics."""
    from collections import Counter

    rows = _people(count, seed)
    extract = protect_extract(rows, 7)
    sizes = Counter(tuple(r[c] for c in QUASI_IDENTIFIERS) for r in extract.rows)
    assert all(size >= 7 for size in sizes.values())
    assert len(extract.rows) + extract.suppressed == count
    assert protect_extract(rows, 7) == extract  # the same month, the same extract
    if count == 400:  # enough people: generalised, not thrown away
        assert extract.generalised and extract.suppressed < count // 10


def test_breakdowns_the_agreement_does_not_allow_are_withheld() -> None:
    extract = protect_extract(_people(400, 5), 7, withheld=["ethnicity_group", "imd_quintile"])
    assert {r["ethnicity_group"] for r in extract.rows} == {"any"}
    assert {r["imd_quintile"] for r in extract.rows} == {"any"}

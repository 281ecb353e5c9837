"""The agreement is law (contract section 4): a strict schema, the floor, the validity window.

Every problem in a file is reported at once, one line each naming the key; nothing is guessed.
"""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from core_data import SYNTHETIC, WINDOW, write_agreement

from ltcbridge.agreement import (
    BREAKDOWNS,
    MEASURES,
    TABLES,
    Agreement,
    load_agreement,
    parse_agreement,
)
from ltcbridge.concepts import NHS_USE
from ltcbridge.demo import demo_agreement_path
from ltcbridge.errors import AgreementError

FLOOR_ADVICE = "set [agreement] internal_recipient = true"


def _data(**tables: dict[str, Any]) -> dict[str, Any]:
    """A valid agreement at the floor, with the given tables' keys changed (None removes one)."""
    data: dict[str, Any] = {
        "agreement": {"id": "DSA-T", "recipient": "QHM", **WINDOW},
        "disclosure": {"threshold": 7, "rounding": 5, "secondary": True},
    }
    for name, keys in tables.items():
        merged = data.get(name, {}) | keys
        data[name] = {key: value for key, value in merged.items() if value is not None}
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    """The listed problems of a refused agreement (the lines after the heading)."""
    with pytest.raises(AgreementError) as raised:
        parse_agreement(data, "a.toml")
    heading, *lines = str(raised.value).splitlines()
    assert heading == f"a.toml: {len(lines)} problem(s) in the agreement:"
    assert all(line.startswith("  - ") for line in lines)
    return [line[4:] for line in lines]


def test_the_bundled_demo_agreement_parses_and_meets_the_floor() -> None:
    agreement = load_agreement(demo_agreement_path())
    assert (agreement.threshold, agreement.rounding, agreement.secondary) == (7, 5, True)
    assert agreement.below_floor() == [] and agreement.warnings() == []
    assert (agreement.valid_from, agreement.valid_until) == (date(2026, 4, 1), date(2031, 3, 31))
    assert agreement.status == "active" and agreement.allows_provider
    assert agreement.covers_period("2026-10")
    agreement.check_in_force(date(2026, 12, 3))


def test_defaults_are_the_ones_the_contract_describes() -> None:
    agreement = parse_agreement(_data())
    assert agreement == Agreement(
        id="DSA-T", recipient="QHM", purpose="jsna", threshold=7, rounding=5, secondary=True,
        breakdowns=(), level="practice", exclude_optouts=True, valid_from=date(2026, 4, 1),
        valid_until=date(2027, 3, 31), status="active", internal_recipient=False,
        measures=MEASURES, unit_costs={}, cohort_extract=False,
    )  # fmt: skip


def test_lists_come_back_in_the_contracts_order_whatever_the_files_order() -> None:
    agreement = parse_agreement(
        _data(
            breakdowns={"allowed": ["provider", "sex", "age-band"]},
            measures={"include": ["nhs-use", "unmet-need"]},
        )
    )
    assert agreement.breakdowns == ("age-band", "sex", "provider")
    assert agreement.measures == ("unmet-need", "nhs-use")


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        ({"disclosure": {"secundary": True}},
         "[disclosure] secundary: unknown key (did you mean 'secondary'?)"),
        ({"disclosure": {"internal_recipient": True}},
         "[disclosure] internal_recipient: unknown key here; it belongs in [agreement]"),
        ({"agreement": {"colour": "red"}},
         "[agreement] colour: unknown key; known here: id, recipient, purpose, valid_from, "
         "valid_until, status, internal_recipient, approval_required"),
        ({"disclosur": {"threshold": 7}},
         "[disclosur]: unknown table (did you mean [disclosure]?)"),
        ({"unit_costs": {"prescription": 9}},
         "[unit_costs] prescription: unknown key (did you mean 'prescriptions'?)"),
        ({"disclosure": {"secondary": "false"}},
         "[disclosure] secondary: must be true or false, without quotes (found 'false')"),
        ({"disclosure": {"threshold": "7"}},
         "[disclosure] threshold: must be a whole number, without quotes (found '7')"),
        ({"disclosure": {"threshold": 7.0}},
         "[disclosure] threshold: must be a whole number, without quotes (found 7.0)"),
        ({"disclosure": {"rounding": True}},
         "[disclosure] rounding: must be a whole number, without quotes (found True)"),
        ({"disclosure": {"threshold": -1}}, "[disclosure] threshold: must be >= 0 (found -1)"),
        ({"disclosure": {"threshold": None}},
         "[disclosure] threshold: is required: counts 1..threshold are masked, e.g. 7"),
        ({"agreement": {"valid_from": "2026-04-01"}},
         "[agreement] valid_from: must be a TOML date such as 2026-04-01, without quotes or a "
         "time (found '2026-04-01')"),
        ({"agreement": {"valid_until": None}},
         "[agreement] valid_until: is required: the last day in force, a TOML date such as "
         "2027-03-31"),
        ({"agreement": {"id": "  "}}, "[agreement] id: must not be empty (found '  ')"),
        ({"agreement": {"recipient": "Q H M"}},
         "[agreement] recipient: 'Q H M' is not an ODS code (3 to 10 letters and digits, e.g. "
         "Y00001)"),
        ({"agreement": {"recipient": 123}},
         "[agreement] recipient: must be text in double quotes (found 123)"),
        ({"agreement": {"status": "paused"}},
         "[agreement] status: must be 'active', 'suspended' or 'revoked' (found 'paused')"),
        ({"agreement": {"valid_until": date(2026, 3, 31)}},
         "[agreement] valid_until: 2026-03-31 is before valid_from 2026-04-01; the window must "
         "end after it starts"),
        ({"breakdowns": {"level": "icb"}},
         "[breakdowns] level: must be 'practice' or 'pcn' (found 'icb')"),
        ({"breakdowns": {"allowed": ["sex", "gender"]}},
         "[breakdowns] allowed: unknown 'gender'; known: " + ", ".join(BREAKDOWNS)),
        ({"breakdowns": {"allowed": ["sex", "sex"]}},
         "[breakdowns] allowed: lists 'sex' more than once"),
        ({"breakdowns": {"allowed": [["sex"]]}},
         "[breakdowns] allowed[0]: must be text in double quotes (found ['sex'])"),
        ({"measures": {"include": ["unmet-needs"]}},
         "[measures] include: unknown 'unmet-needs' (did you mean 'unmet-need'?); known: "
         + ", ".join(MEASURES)),
        ({"measures": {"include": []}}, "[measures] include: must not be empty (found [])"),
        ({"unit_costs": {"gp-attendances": -1}},
         "[unit_costs] gp-attendances: must be >= 0 (found -1)"),
        ({"unit_costs": {"gp-attendances": 42}},
         "[unit_costs]: needs a price for every NHS-use kind or none; missing "
         + ", ".join(kind for kind in NHS_USE if kind != "gp-attendances")),
        ({"cohort_extract": {"allowed": 1}},
         "[cohort_extract] allowed: must be true or false, without quotes (found 1)"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_plain_line_naming_the_key(
    tables: dict[str, dict[str, Any]], expected: str
) -> None:
    assert _problems(_data(**tables)) == [expected]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"disclosure": 5}, "[disclosure]: must be a table, written [disclosure] on a line of its "
         "own (found 5)"),
        ({"threshhold": 7}, "threshhold: unknown key outside any table (did you mean [disclosure] "
         "threshold?)"),
        ({"recipient": "QHM"}, "recipient: unknown key outside any table; it belongs in "
         "[agreement]"),
    ],
)  # fmt: skip
def test_top_level_mistakes_name_the_table(data: dict[str, Any], expected: str) -> None:
    assert _problems(_data() | data) == [expected]


def test_every_problem_in_the_file_is_reported_at_once(tmp_path: Path) -> None:
    """A file with mistakes in several tables (and a rule below the floor) is refused once, with
    every mistake listed, so it is fixed in one go."""
    path = tmp_path / "a.toml"
    path.write_text(
        "[agreement]\n"
        'id = "DSA-T"\nrecipient = "QHM"\nvalid_from = 2026-04-01\nvalid_until = 2027-03-31\n'
        'status = "activ"\n'
        "[disclosure]\nthreshold = 3\nrounding = 5\nsecundary = true\n"
        '[breakdowns]\nallowed = ["sex"]\nlevel = "PCN"\n'
        "[optout]\nexclude = false\n"
    )
    with pytest.raises(AgreementError) as raised:
        load_agreement(path)
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{path}: 5 problem(s) in the agreement:"
    named = [line.split(":")[0].strip(" -") for line in lines[1:]]
    assert named == [
        "[optout]",
        "[agreement] status",
        "[disclosure] secundary",
        "[breakdowns] level",
        "[disclosure] threshold",
    ]


@pytest.mark.parametrize(
    ("rules", "weak"),
    [
        ({"threshold": 4}, ["[disclosure] threshold: 4 is below the floor (at least 5)"]),
        ({"rounding": 3}, ["[disclosure] rounding: 3 is below the floor (at least 5)"]),
        ({"secondary": False}, ["[disclosure] secondary: false is below the floor (true)"]),
        ({"threshold": 0, "rounding": 1, "secondary": None},  # secondary defaults to true
         ["[disclosure] threshold: 0 (no masking) is below the floor (at least 5)",
          "[disclosure] rounding: 1 (no rounding) is below the floor (at least 5)"]),
    ],
)  # fmt: skip
def test_rules_below_the_floor_are_refused_naming_each_key(
    rules: dict[str, Any], weak: list[str]
) -> None:
    problems = _problems(_data(disclosure=rules))
    assert [problem.split(";")[0] for problem in problems] == weak
    assert all(problem.endswith(FLOOR_ADVICE) for problem in problems)


def test_an_internal_recipient_may_have_weak_rules_and_every_build_says_which() -> None:
    agreement = parse_agreement(
        _data(
            agreement={"internal_recipient": True},
            disclosure={"threshold": 3, "rounding": 1, "secondary": False},
        )
    )
    [floor] = agreement.warnings()  # threshold 3 still masks: not UNMASKED
    assert floor.startswith("BELOW THE FLOOR: agreement DSA-T sends figures to QHM")
    for rule in ("threshold = 3", "rounding = 1 (no rounding)", "secondary = false"):
        assert f"[disclosure] {rule}" in floor, rule
    assert "internal_recipient = true" in floor
    exact = parse_agreement(
        _data(agreement={"internal_recipient": True}, disclosure={"threshold": 0, "rounding": 1})
    )
    assert exact.unmasked
    assert [w.split(":")[0] for w in exact.warnings()] == ["BELOW THE FLOOR", "UNMASKED"]
    assert "[disclosure] secondary" not in exact.warnings()[0]  # true meets the floor


def test_an_internal_recipient_at_the_floor_gets_no_warning() -> None:
    agreement = parse_agreement(_data(agreement={"internal_recipient": True}))
    assert agreement.warnings() == [] and not agreement.unmasked


def test_the_feed_build_prints_the_warning(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The command that builds a release says loudly which rules are below the floor."""
    from ltcbridge.cli import main

    agreement = write_agreement(tmp_path / "a.toml", rounding=1, internal="true")
    main(["feed", "build", "--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
          "--agreement", str(agreement), "--period", "2026-10",
          "--out", str(tmp_path / "feed")])  # fmt: skip
    out = capsys.readouterr()
    assert "WARNING: BELOW THE FLOOR" in out.out + out.err
    assert "[disclosure] rounding = 1 (no rounding)" in out.out + out.err


@pytest.mark.parametrize(
    ("status", "on", "key", "advice"),
    [
        ("suspended", date(2026, 12, 3), 'status = "suspended"', 'set status = "active"'),
        ("revoked", date(2026, 12, 3), 'status = "revoked"', "Agree a new agreement"),
        ("active", date(2027, 4, 1), "valid_until = 2027-03-31", "renew it"),
        ("active", date(2026, 3, 31), "valid_from = 2026-04-01", "wait until then"),
    ],
)
def test_an_agreement_not_in_force_is_refused_naming_the_key(
    tmp_path: Path, status: str, on: date, key: str, advice: str
) -> None:
    agreement = load_agreement(write_agreement(tmp_path / "a.toml", status=status))
    with pytest.raises(AgreementError) as raised:
        agreement.check_in_force(on)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'a.toml'}: agreement DSA-TEST-1")
    assert f"[agreement] {key}" in message and advice in message


def test_an_agreement_is_in_force_on_the_first_and_last_day_of_its_window(tmp_path: Path) -> None:
    agreement = load_agreement(write_agreement(tmp_path / "a.toml"))
    for day in (date(2026, 4, 1), date(2026, 12, 3), date(2027, 3, 31)):
        agreement.check_in_force(day)


def test_a_suspended_agreement_still_parses_and_every_build_says_so() -> None:
    agreement = parse_agreement(_data(agreement={"status": "suspended"}))
    assert agreement.warnings() == [
        "SUSPENDED: agreement DSA-T has [agreement] status = 'suspended': nothing may be sealed "
        "or sent under it"
    ]


@pytest.mark.parametrize(
    ("period", "covered"),
    [("2026-03", False), ("2026-04", True), ("2027-03", True), ("2027-04", False)],
)
def test_covers_period_means_the_month_overlaps_the_window(period: str, covered: bool) -> None:
    assert parse_agreement(_data()).covers_period(period) is covered
    mid_month = replace(
        parse_agreement(_data()), valid_from=date(2026, 3, 31), valid_until=date(2026, 4, 1)
    )
    assert mid_month.covers_period("2026-03") and mid_month.covers_period("2026-04")


def test_a_file_that_is_not_toml_or_not_there_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AgreementError, match="does not exist"):
        load_agreement(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[agreement\nid = 1\n")
    with pytest.raises(AgreementError, match="is not valid TOML"):
        load_agreement(broken)


def test_the_contract_example_parses() -> None:
    """The TOML in contract section 4, as written there."""
    example = tomllib.loads(
        '[agreement]\nid = "DSA-2026-014"\nrecipient = "QHM"\npurpose = "jsna"\n'
        'valid_from = 2026-04-01\nvalid_until = 2027-03-31\nstatus = "active"\n'
        "[disclosure]\nthreshold = 7\nrounding = 5\nsecondary = true\n"
        '[breakdowns]\nallowed = ["age-band", "sex", "ethnicity-group", "imd-quintile"]\n'
        'level = "practice"\n[optouts]\nexclude = true\n'
    )
    agreement = parse_agreement(example)
    assert agreement.id == "DSA-2026-014" and not agreement.allows_provider
    assert set(example) <= set(TABLES)


def _stratifiers(reports: list[dict[str, Any]]) -> set[str]:
    """Every stratifier named in a release's MeasureReports."""
    return {
        stratifier["code"][0]["text"]
        for report in reports
        for group in report["group"]
        for stratifier in group.get("stratifier", [])
    }


def test_a_release_without_the_provider_breakdown_has_no_provider_stratifier_anywhere(
    tmp_path: Path,
) -> None:
    """The synthetic practices' October feed under the demo agreement, and under the same
    agreement with "provider" taken out of [breakdowns] allowed: then no MeasureReport, CSV row,
    cube or score carries a provider stratum, and everything else is still there."""
    from ltcbridge.feed.files import write_feed
    from ltcbridge.mapping import load_mappings
    from ltcbridge.pipeline import build_feed

    mappings = load_mappings([SYNTHETIC / "mappings"])
    data = tomllib.loads(demo_agreement_path().read_text())
    data["breakdowns"]["allowed"].remove("provider")
    with_provider, without = load_agreement(demo_agreement_path()), parse_agreement(data)
    assert with_provider.allows_provider and not without.allows_provider
    builds = {
        name: build_feed(SYNTHETIC, mappings, agreement, "2026-10")
        for name, agreement in (("with", with_provider), ("without", without))
    }
    assert "provider" in _stratifiers(builds["with"].reports)
    assert _stratifiers(builds["without"].reports) == _stratifiers(builds["with"].reports) - {
        "provider"
    }
    plain = builds["without"]
    assert not [cube.measure for cube in plain.cubes if "provider" in cube.strata]
    assert not [key for cube in plain.cubes for key in cube.scores if key[2] == "provider"]
    files = write_feed(plain.protected, plain.reports, tmp_path / "feed")
    written = [json.loads(path.read_text()) for path in files if path.suffix == ".json"]
    assert written and _stratifiers(written) == _stratifiers(plain.reports)
    rows = [row for path in files if path.suffix == ".csv" for row in csv.DictReader(path.open())]
    assert rows and "provider" not in {row["stratifier"] for row in rows}


def test_the_recipient_is_read_upper_case_as_the_daemon_and_hub_read_ods_codes() -> None:
    """The daemon's [feed] recipient_keys and the hub's [hub] icb are upper-cased OdsCodes: an
    agreement's "qhm" must find them."""
    assert parse_agreement(_data(agreement={"recipient": " qhm"}), "a.toml").recipient == "QHM"

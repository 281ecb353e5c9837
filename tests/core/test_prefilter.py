"""The raw-line prefilter: lines it skips provably count nothing, so feeds are unchanged."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest
from core_data import SYNTHETIC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltcbridge.agreement import parse_agreement
from ltcbridge.identifiable import prefilter
from ltcbridge.identifiable.identifiers import Identifiers, new_key
from ltcbridge.identifiable.population import build_population
from ltcbridge.identifiable.prefilter import LineFilter, Skipped
from ltcbridge.identifiable.scan import Columns, scan_source
from ltcbridge.mapping import Mappings
from ltcbridge.pipeline import ScannedSource, build_release
from ltcbridge.synthetic.clinical_noise import write_noise

MONTH = "2026-10"
NOISE = 3000
# every measure, every breakdown, no masking: each true count shows
AGREEMENT = """[agreement]
id = "DSA-FILTER"
recipient = "QHM"
valid_from = 2026-04-01
valid_until = 2027-03-31
internal_recipient = true
[disclosure]
threshold = 0
rounding = 1
secondary = false
[breakdowns]
allowed = ["age-band", "sex", "ethnicity-group", "imd-quintile", "provider"]
level = "practice"
"""
SNOMED = "http://snomed.info/sct"


def _figures(columns: Columns, mappings: Mappings) -> dict[Any, float]:
    """Every cell and score of every measure's release for the month."""
    agreement = parse_agreement(tomllib.loads(AGREEMENT))
    scanned = ScannedSource(columns, build_population(columns))
    build = build_release(scanned, mappings, agreement, MONTH)
    figures: dict[Any, float] = {}
    for cube in build.cubes:
        figures.update({(cube.measure, key): n for key, n in cube.cells()})
        figures.update({(cube.measure, "score", key): v for key, v in cube.scores.items()})
    return figures


def _patients() -> list[str]:
    lines = (SYNTHETIC / "Patient.ndjson").read_bytes().splitlines()
    return [orjson.loads(line)["id"] for line in lines if line.startswith(b'{"resourceType"')]


def _escape_codes(line: bytes) -> bytes:
    """The same line with the first character of every code written as a \\u escape."""
    out, rest = [], line
    marker = b'"code":"'
    while (i := rest.find(marker)) >= 0:
        start = i + len(marker)
        out.append(rest[:start] + b"\\u%04x" % rest[start])
        rest = rest[start + 1 :]
    return b"".join(out) + rest


def _padded(folder: Path, mappings: Mappings, *, drop_skippable: bool) -> int:
    """The synthetic practices' export padded with unrelated resources and tricky lines;
    returns how many lines were added that the filter should skip. Relevant Observations are
    written with escapes (\\/ in URLs, \\u in codes): they must still be read."""
    folder.mkdir()
    line_filter = LineFilter(mappings)
    for path in SYNTHETIC.glob("*.ndjson"):
        lines = path.read_bytes().splitlines(keepends=True)
        if drop_skippable:  # no skipped line is then another version of an entry that is read
            lines = [line for line in lines if line_filter.skip(line) is None]
        if path.name == "Observation.ndjson":
            lines = [
                _escape_codes(line.replace(b"/", b"\\/")) if b'"code":"' in line else line
                for line in lines
            ]
        (folder / path.name).write_bytes(b"".join(lines))
    write_noise(folder, NOISE, _patients(), seed=3)
    patients, codes = _patients(), _some_mapped_codes(mappings)
    tricky = [  # unrelated, though a mapped code is in their text: skipped, and harmless
        {
            "resourceType": "Observation",
            "id": f"tricky-{i}",
            "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": "271649006"}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": "2026-10-05",
            "note": [{"text": f'code {code} discussed; "code":"{code}" to follow'}],
        }
        for i, (patient, code) in enumerate(zip(patients, codes, strict=False))
    ]
    (folder / "Tricky.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in tricky))
    return NOISE + len(tricky)


def _some_mapped_codes(mappings: Mappings) -> list[str]:
    codes = sorted({code for by_code in mappings.by_system.values() for code in by_code})
    return codes[:20]


def _crlf(folder: Path) -> None:
    """Every line of every file ended with \r\n, as NDJSON allows (Windows tools write it)."""
    for path in folder.glob("*.ndjson"):
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(line.rstrip(b"\r\n") + b"\r\n" for line in lines))


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
def test_a_padded_export_gives_the_same_release_with_the_filter_as_without(
    tmp_path: Path, synthetic_mappings: Mappings, line_end: str
) -> None:
    folder = tmp_path / "padded"
    added = _padded(folder, synthetic_mappings, drop_skippable=True)
    if line_end == "crlf":
        _crlf(folder)
    filtered = scan_source(folder, synthetic_mappings, months=[MONTH], prefilter=True)
    every_line = scan_source(folder, synthetic_mappings, months=[MONTH])
    assert filtered.lines_skipped >= added  # the filter ran (it did not fall back)
    assert every_line.lines_skipped == 0
    figures = _figures(filtered, synthetic_mappings)
    assert sum(figures.values()) > 0
    assert figures == _figures(every_line, synthetic_mappings)
    assert filtered.resource_counts == every_line.resource_counts
    assert filtered.ignored_counts == every_line.ignored_counts
    assert len(filtered.quarantine) == len(every_line.quarantine) > 0  # the fixtures' bad lines
    # the escaped Observations were read: their facts are all there
    assert len(filtered.f_concept) == len(every_line.f_concept)


def _recoded_version(mappings: Mappings) -> bytes:
    """A later version of an Observation that counts in the month, recoded to a code no
    mapping lists: it asserts nothing, yet it retracts what the earlier version asserted."""
    lines = (SYNTHETIC / "Observation.ndjson").read_bytes().splitlines()
    resources = [orjson.loads(line) for line in lines if line.startswith(b'{"resourceType"')]
    ids = [r["id"] for r in resources]
    for resource in resources:
        coding = resource["code"]["coding"][0]
        if (
            mappings.concept_of(coding["system"], coding["code"])
            and str(resource.get("effectiveDateTime", "")).startswith(MONTH)
            and ids.count(resource["id"]) == 1
        ):
            resource["code"] = {"coding": [{"system": SNOMED, "code": "271649006"}]}
            resource["meta"] = {"versionId": "99", "lastUpdated": "2026-11-30T00:00:00Z"}
            return orjson.dumps(resource) + b"\n"
    raise AssertionError("no Observation counting in the month")


def test_a_skipped_line_that_is_another_version_of_a_read_entry_makes_the_scan_read_all(
    tmp_path: Path, synthetic_mappings: Mappings
) -> None:
    folder = tmp_path / "padded"
    _padded(folder, synthetic_mappings, drop_skippable=True)
    before = scan_source(folder, synthetic_mappings, months=[MONTH])
    recoded = _recoded_version(synthetic_mappings)
    (folder / "Recoded.ndjson").write_bytes(recoded)
    assert LineFilter(synthetic_mappings).skip(recoded) is not None  # it cannot count itself
    filtered = scan_source(folder, synthetic_mappings, months=[MONTH], prefilter=True)
    every_line = scan_source(folder, synthetic_mappings, months=[MONTH])
    assert filtered.lines_skipped == 0  # read again, without the filter
    figures = _figures(filtered, synthetic_mappings)
    assert figures == _figures(every_line, synthetic_mappings)
    assert figures != _figures(before, synthetic_mappings)  # the recoded version retracted one


def test_coverage_still_sees_the_codes_of_every_line(
    tmp_path: Path, synthetic_mappings: Mappings
) -> None:
    folder = tmp_path / "padded"
    _padded(folder, synthetic_mappings, drop_skippable=True)
    every_line = scan_source(folder, synthetic_mappings)  # as `mappings coverage` scans
    filtered = scan_source(folder, synthetic_mappings, prefilter=True)
    loinc_height = ("http://loinc.org", "8302-2")  # on skipped vital signs only
    assert every_line.unmapped[loinc_height] > 0
    assert filtered.unmapped[loinc_height] == 0


@pytest.fixture
def line_filter(synthetic_mappings: Mappings) -> LineFilter:
    return LineFilter(synthetic_mappings)


def _observation(code: str, **extra: Any) -> bytes:
    resource = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        **extra,
    }
    return orjson.dumps(resource) + b"\n"


def test_the_filter_parses_whatever_might_count(
    line_filter: LineFilter, synthetic_mappings: Mappings
) -> None:
    mapped = _some_mapped_codes(synthetic_mappings)[0]
    key = b'Observation","id":"o1'  # what identifies the skipped entry, as the line spells it
    assert line_filter.skip(_observation("271649006")) == ("Observation", key)
    ids = Identifiers(new_key())
    assert ids.of_raw(key) == ids.of("Observation", "o1")  # comparable with the entries read
    assert line_filter.skip(_observation(mapped)) is None
    escaped = _escape_codes(_observation(mapped))
    assert orjson.loads(escaped) == orjson.loads(_observation(mapped))
    spaced = _observation(mapped).replace(b'"code":"', b'"code" : "')
    first_id = b'{"id":"o1",' + _observation("271649006").replace(b',"id":"o1"', b"")[1:]
    cut = _observation("271649006")[:-20]
    slashed = _observation("271649006").replace(b"/", b"\\/")
    not_ascii = _observation("271649006").replace(b'"o1"', '"ö1"'.encode())
    not_utf8 = _observation("271649006").replace(b'"o1"', b'"\xff1"')
    for line in (escaped, spaced, first_id, cut, slashed, not_ascii, not_utf8):
        assert line_filter.skip(line) is None, line
    assert line_filter.skip(b'{"resourceType":"Claim","id":"c1"}\n') == ("Claim", None)
    assert line_filter.skip(b'{"resourceType":"Clam","id":"c1"}\n') is None  # not FHIR: read
    for always in ("Patient", "Organization", "Goal", "Task", "OperationOutcome", "Bundle"):
        assert line_filter.skip(b'{"resourceType":"%s","id":"x"}\n' % always.encode()) is None
    stopped = b'{"resourceType":"MedicationRequest","id":"m1","status":"stopped"}\n'
    assert line_filter.skip(stopped) == ("MedicationRequest", b'MedicationRequest","id":"m1')
    assert line_filter.skip(stopped.replace(b"stopped", b"active")) is None
    booked = b'{"resourceType":"Appointment","id":"a1","status":"booked"}\n'
    assert line_filter.skip(booked) == ("Appointment", b'Appointment","id":"a1')
    assert line_filter.skip(booked.replace(b"booked", b"fulfilled")) is None


def _codes_under_code_keys(value: Any) -> set[str]:
    """Every text value of a ``code`` key anywhere in a parsed resource."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "code" and isinstance(item, str):
                found.add(item)
            found |= _codes_under_code_keys(item)
    elif isinstance(value, list):
        for item in value:
            found |= _codes_under_code_keys(item)
    return found


_CODINGS = st.lists(
    st.fixed_dictionaries(
        {"system": st.sampled_from([SNOMED, "http://loinc.org"]), "code": st.text(max_size=8)}
    ),
    max_size=3,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_skipped_line_never_holds_a_mapped_code_whatever_its_layout(
    data: st.DataObject, line_filter: LineFilter, synthetic_mappings: Mappings
) -> None:
    """Written apart from the filter: parse the line, collect every ``code`` value, and a line
    the filter skips must hold none a mapping lists; codes nest anywhere, and the JSON is
    written compact or spaced, with \\u and \\/ escapes or without."""
    mapped = _some_mapped_codes(synthetic_mappings)
    code = st.one_of(st.sampled_from(mapped), st.sampled_from(["271649006", "8302-2", "mm[Hg]"]))
    coding = st.fixed_dictionaries({"system": st.just(SNOMED), "code": code})
    resource = {
        "resourceType": "Observation",
        "id": data.draw(st.from_regex(r"[A-Za-z0-9\-.]{1,12}", fullmatch=True)),
        "status": "final",
        "code": {"coding": data.draw(st.lists(st.one_of(coding, _CODINGS.map(dict)), max_size=3))},
        "component": [
            {"code": {"coding": data.draw(st.lists(coding, max_size=2))}, "valueInteger": 3}
        ],
        "valueQuantity": {"value": 1, "code": data.draw(code)},
        "note": [{"text": data.draw(st.text(max_size=20))}],
    }
    for item in resource["code"]["coding"]:  # a list of codings drawn as one element
        if isinstance(item, dict) and "code" not in item:
            item.update(data.draw(coding))
    separators = data.draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
    text = json.dumps(resource, separators=separators, ensure_ascii=data.draw(st.booleans()))
    if data.draw(st.booleans()):
        text = text.replace("/", "\\/")
    line = text.encode() + b"\n"
    held = _codes_under_code_keys(orjson.loads(line)) & set(mapped)
    verdict = line_filter.skip(line)
    if held:
        assert verdict is None, line
    if verdict is not None:
        assert verdict == ("Observation", b'Observation","id":"' + resource["id"].encode())


def _chunk_lines(mapped: list[str], only_observations: bool) -> st.SearchStrategy[list[bytes]]:
    """Lines of a chunk: mostly unrelated Observations, some with a mapped code or an escape;
    unless ``only_observations``, also an id FHIR does not allow, another type, another
    layout, a blank line or a cut-off end."""

    def numbered(line: bytes) -> st.SearchStrategy[bytes]:
        return st.integers(0, 10**6).map(lambda i: line.replace(b'"o1"', b'"o%d"' % i))

    plain = st.sampled_from(["271649006", "8302-2"]).map(_observation).flatmap(numbered)
    counting = st.one_of(
        numbered(_observation(mapped[0])),
        numbered(_observation("271649006").replace(b"/", b"\\/")),
    )
    odd = st.sampled_from(
        [
            _observation("271649006").replace(b'"o1"', b'"o 1"'),
            _observation("271649006").replace(b'"o1"', '"ö1"'.encode()),
            b'{"resourceType":"Claim","id":"c1"}\n',
            b'{"resourceType":"Procedure","id":"p1","status":"completed"}\n',
            b'{"id":"o2","resourceType":"Observation"}\n',
            b"\n",
            b'{"resourceType":"Observation","id":"o3","status":"fin\n',
            _observation("271649006").replace(b"\n", b"\r\n"),
        ]
    )
    if only_observations:  # one line in twenty may count: the rest is tested at once
        return st.lists(st.one_of(*[plain] * 19, counting), max_size=120)
    return st.lists(st.one_of(plain, counting, odd), max_size=60)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_testing_the_rest_of_a_chunk_at_once_decides_as_line_by_line(
    data: st.DataObject,
    line_filter: LineFilter,
    synthetic_mappings: Mappings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After its first lines, a chunk of one type is tested at once: the lines to parse (with
    their numbers), the tallies and the keys are those testing every line one by one gives."""
    mapped = _some_mapped_codes(synthetic_mappings)
    head = data.draw(st.integers(1, 6))
    lines = [_observation("271649006").replace(b'"o1"', b'"h%d"' % i) for i in range(head)]
    lines += data.draw(_chunk_lines(mapped, only_observations=data.draw(st.booleans())))
    chunk = b"".join(lines)
    if data.draw(st.booleans()):
        chunk = chunk.removesuffix(b"\n")  # a file's last line may have no newline

    def decided(sample_lines: int) -> tuple[Any, ...]:
        monkeypatch.setattr(prefilter, "SAMPLE_LINES", sample_lines)
        return _decisions(line_filter, chunk)

    assert decided(head) == decided(10**9)


def _decisions(line_filter: LineFilter, chunk: bytes) -> tuple[Any, ...]:
    """Everything ``lines_to_parse`` decides about a chunk."""
    skipped = Skipped[bytes]()
    parsed = list(line_filter.lines_to_parse(chunk, skipped, bytes))
    tallies = (skipped.lines, skipped.lines_seen, skipped.entries, skipped.never_read)
    return parsed, tallies, sorted(skipped.keys)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_chunk_of_one_type_is_tested_at_once_after_its_sample(
    line_filter: LineFilter,
    synthetic_mappings: Mappings,
    monkeypatch: pytest.MonkeyPatch,
    line_end: bytes,
) -> None:
    mapped = _some_mapped_codes(synthetic_mappings)
    lines = [_observation("271649006").replace(b'"o1"', b'"o%d"' % i) for i in range(100)]
    lines[40] = _observation(mapped[0]).replace(b'"o1"', b'"m40"')
    lines[41] = _observation(mapped[1], valueQuantity={"code": mapped[0]})  # two matches
    lines[77] = lines[77].replace(b"/", b"\\/")  # an escape that could hide a code
    chunk = b"".join(line.replace(b"\n", line_end) for line in lines)
    line_by_line = _decisions(line_filter, chunk)
    monkeypatch.setattr(prefilter, "SAMPLE_LINES", 5)
    rest_at_once = prefilter.LineFilter._rest_at_once
    taken: list[bool] = []

    def watched(self: LineFilter, *args: Any) -> Any:
        rest = rest_at_once(self, *args)
        taken.append(rest is not None)
        return rest

    monkeypatch.setattr(prefilter.LineFilter, "_rest_at_once", watched)
    assert _decisions(line_filter, chunk) == line_by_line
    assert taken == [True]
    parsed_numbers = [number for number, _ in line_by_line[0]]
    assert parsed_numbers == [41, 42, 78]

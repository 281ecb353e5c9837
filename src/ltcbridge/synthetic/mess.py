"""The deliberate mess: one small scenario per awkward thing a real record does.

Each scenario adds a person (or a few) to one practice and writes the records that exercise one rule
of docs/counting-rules.md, recording by hand what the entries finally mean. Scenarios are dealt out
to practices in turn, and each practice's list is written to truth.json under "mess".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import codes, entries, records
from .ledger import Ledger
from .nhs import NhsNumbers
from .people import Person, shift_month
from .population import add_person, new_person
from .practices import Practice
from .questionnaires import Answers


@dataclass(frozen=True)
class Scene:
    """What a scenario works with: the ledger, NHS numbers, its practice and the main months."""

    ledger: Ledger
    nhs: NhsNumbers
    practice: Practice
    months: tuple[str, ...]

    @property
    def main(self) -> str:
        """The middle reporting month (2026-10 by default)."""
        return self.months[len(self.months) // 2]

    @property
    def later(self) -> str:
        """The month after the main one."""
        return self.months[-1]

    def person(self) -> Person:
        """A new ordinary person of this practice."""
        return new_person(self.ledger, self.nhs, self.practice)

    def need(self, concept: str) -> entries.Code:
        """The practice's equivalent code for a need."""
        return self.practice.template.code_for(concept)


SCENARIOS: list[tuple[str, Callable[[Scene], None]]] = []


def scenario(name: str) -> Callable[[Callable[[Scene], None]], Callable[[Scene], None]]:
    """Register a scenario under a short name (shown in truth.json "mess")."""

    def register(fn: Callable[[Scene], None]) -> Callable[[Scene], None]:
        SCENARIOS.append((name, fn))
        return fn

    return register


def instant(text: str) -> datetime:
    """Parse a lastUpdated the generator itself wrote (its own decision, not the output)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def write_versions(
    s: Scene,
    person: Person,
    kind: str,
    rid: str,
    versions: list[tuple[str, entries.Code, str | None, str | None, str | None]],
    **kw: Any,
) -> None:
    """Write versions (when, code, status, lastUpdated, versionId) in the order given."""
    for when, code, status, updated, vid in versions:
        coding, unmapped, non_asserting = entries.local(s.practice.template, code)
        res = records.entry(kind, rid, person.ref, when, codings=[coding], status=status, **kw)
        s.ledger.write(
            records.with_meta(res, updated, vid), unmapped=unmapped, non_asserting=non_asserting
        )


@scenario("amended-code: newer version changes the need; newer written first")
def amended_code(s: Scene) -> None:
    p = s.person()
    when = f"{s.main}-12"
    rid = s.ledger.new_id("observation")
    t1, t2 = "2026-10-12T10:00:00Z", "2026-10-13T09:00:00Z"
    write_versions(
        s,
        p,
        "Observation",
        rid,
        [
            (when, s.need("need-healthy-eating"), None, t2, "2"),
            (when, s.need("need-arts-for-health"), None, t1, "1"),
        ],
    )
    s.ledger.fact(p, frozenset({"need-healthy-eating"}), when, instant(t2))


@scenario("amended-month: newer version moves the clinical date into the next month")
def amended_month(s: Scene) -> None:
    p = s.person()
    rid = s.ledger.new_id("condition")
    old, new = f"{s.main}-28", f"{s.later}-03"
    t1, t2 = "2026-10-28T15:00:00+01:00", "2026-11-03T11:00:00Z"
    code = s.need("need-volunteering")
    write_versions(s, p, "Condition", rid, [(old, code, None, t1, "1"), (new, code, None, t2, "2")])
    s.ledger.fact(p, frozenset({"need-volunteering"}), new, instant(t2))


@scenario("lastupdated-zones: the lexically larger lastUpdated is the earlier instant")
def lastupdated_zones(s: Scene) -> None:
    p = s.person()
    rid = s.ledger.new_id("observation")
    when = f"{s.main}-20"
    early, late = "2026-10-20T09:30:00+01:00", "2026-10-20T08:45:00Z"  # 08:30Z < 08:45Z
    write_versions(
        s,
        p,
        "Observation",
        rid,
        [
            (when, s.need("need-befriending"), None, late, s.ledger.uuid()),
            (when, s.need("need-welfare-benefits"), None, early, s.ledger.uuid()),
        ],
    )
    s.ledger.fact(p, frozenset({"need-befriending"}), when, instant(late))


@scenario("versionid-tie: same lastUpdated, integer versionIds; the higher one is written first")
def versionid_tie(s: Scene) -> None:
    p = s.person()
    rid = s.ledger.new_id("observation")
    when, t = f"{s.main}-07", "2026-10-07T12:00:00Z"
    write_versions(
        s,
        p,
        "Observation",
        rid,
        [
            (when, s.need("need-other"), None, t, "3"),
            (when, s.need("need-physical-activity"), None, t, "2"),
        ],
    )
    s.ledger.fact(p, frozenset({"need-other"}), when, instant(t))


@scenario("uuid-versions: three versions with UUID versionIds, out of order")
def uuid_versions(s: Scene) -> None:
    p = s.person()
    rid = s.ledger.new_id("procedure")
    stamps = ("2026-10-02T08:00:00Z", "2026-10-03T08:00:00Z", "2026-10-04T08:00:00+01:00")
    plan = [
        (f"{s.main}-02", s.need("need-arts-for-health"), None, stamps[0], s.ledger.uuid()),
        (f"{s.main}-02", s.need("need-healthy-eating"), None, stamps[1], s.ledger.uuid()),
        (f"{s.main}-04", s.need("need-physical-activity"), None, stamps[2], s.ledger.uuid()),
    ]
    write_versions(s, p, "Procedure", rid, [plan[1], plan[2], plan[0]])
    s.ledger.fact(p, frozenset({"need-physical-activity"}), f"{s.main}-04", instant(stamps[2]))


@scenario("no-lastupdated: a version without meta.lastUpdated, written last, loses")
def no_lastupdated(s: Scene) -> None:
    p = s.person()
    rid = s.ledger.new_id("observation")
    when, t = f"{s.main}-09", "2026-10-09T10:00:00Z"
    write_versions(
        s,
        p,
        "Observation",
        rid,
        [
            (when, s.need("need-welfare-benefits"), None, t, "1"),
            (when, s.need("need-volunteering"), None, None, "9"),
        ],
    )
    s.ledger.fact(p, frozenset({"need-welfare-benefits"}), when, instant(t))


@scenario("retracted: Observation amended to entered-in-error, Procedure to cancelled")
def retracted(s: Scene) -> None:
    p = s.person()
    when = f"{s.main}-15"
    for kind, status in (("Observation", "entered-in-error"), ("Procedure", "cancelled")):
        rid = s.ledger.new_id(kind.lower())
        code = s.need("need-befriending")
        write_versions(
            s,
            p,
            kind,
            rid,
            [
                (when, code, status, "2026-10-16T09:00:00Z", "2"),
                (when, code, None, "2026-10-15T09:00:00Z", "1"),
            ],
        )


@scenario("retracted-form-and-referral: QR entered-in-error, referral revoked")
def retracted_form(s: Scene) -> None:
    p = s.person()
    when = f"{s.main}-18"
    answers = Answers(needs=(s.need("need-healthy-eating"),), support="support-high", referral=True)
    # The newer version below asserts nothing, so the form never counts.
    rid = entries.review_response(s.ledger, s.practice, p, when, answers, counts=False)
    res = records.entry(
        "QuestionnaireResponse",
        rid,
        p.ref,
        when,
        status="entered-in-error",
        questionnaire=s.practice.template.canonical(),
        item=[],
    )
    # Amended after the form's own lastUpdated (at most 20 days after its date), whatever the
    # months: the 1st of the second month after the main one (2026-12-01 by default).
    after = shift_month(s.main, 2)
    s.ledger.write(records.with_meta(res, f"{after}-01T09:00:00Z", None))
    sr = s.ledger.new_id("servicerequest")
    coding = {"system": codes.SNOMED, "code": codes.SNOMED_REFERRAL}
    for status, t in (("revoked", "2026-10-20T09:00:00Z"), ("active", "2026-10-18T09:00:00Z")):
        res = records.entry("ServiceRequest", sr, p.ref, when, codings=[coding], status=status)
        s.ledger.write(records.with_meta(res, t, None))


@scenario("condition-verification: entered-in-error and refuted Conditions never count")
def condition_verification(s: Scene) -> None:
    p = s.person()
    for status in ("entered-in-error", "refuted"):
        entries.coded(
            s.ledger,
            s.practice,
            p,
            "Condition",
            f"{s.main}-05",
            s.need("need-befriending"),
            status=status,
        )


@scenario("goal-cancelled: a Goal later cancelled; another rejected")
def goal_cancelled(s: Scene) -> None:
    p = s.person()
    for status in ("cancelled", "rejected"):
        entries.goal(s.ledger, p, f"{s.main}-11", "Try the walking group", status=status)


def _optout(
    s: Scene,
    p: Person,
    when: str,
    concept: str,
    updated: str,
    *,
    form: str = "snomed",
    status: str | None = None,
) -> None:
    """Write one opt-out or withdrawal Observation and record it unless retracted."""
    t = s.practice.template
    if concept == codes.OPTOUT and form == "snomed":
        coding = {"system": codes.SNOMED, "code": codes.SNOMED_OPTOUT}
    elif concept == codes.OPTOUT and form == "read":
        coding = {"system": codes.READ_V2, "code": codes.READ_OPTOUT}
    else:
        coding = t.coding_for(concept)
    res = records.entry(
        "Observation", s.ledger.new_id("observation"), p.ref, when, codings=[coding], status=status
    )
    s.ledger.write(records.with_meta(res, updated, "1"))
    if status is None:
        s.ledger.fact(p, frozenset({concept}), when, instant(updated))


def _needs_now(s: Scene, p: Person) -> None:
    """Give a person plain needs in the main month so their opt-out state shows in the counts."""
    for need in ("need-physical-activity", "need-befriending"):
        entries.coded(s.ledger, s.practice, p, "Observation", f"{s.main}-21", s.need(need))
    entries.referral(s.ledger, p, f"{s.main}-21")


@scenario("optout-still: opted out (SNOMED, 2019) and still is: counts nowhere")
def optout_still(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2019-05-01", codes.OPTOUT, "2019-05-01T10:00:00Z")
    _needs_now(s, p)


@scenario("optout-read: opted out with the Read code 9Nu0.: counts nowhere")
def optout_read(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2016-03-14", codes.OPTOUT, "2016-03-14T10:00:00Z", form="read")
    _needs_now(s, p)


@scenario("optout-withdrawn: opted out 2019, withdrew 2024 (practice code): counts")
def optout_withdrawn(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2019-02-01", codes.OPTOUT, "2019-02-01T10:00:00Z")
    _optout(s, p, "2024-06-11", codes.OPTOUT_WITHDRAWN, "2024-06-11T10:00:00+01:00")
    _needs_now(s, p)


@scenario("optout-again: opted out, withdrew, opted out again: counts nowhere")
def optout_again(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2025-01-20", codes.OPTOUT, "2025-01-20T10:00:00Z")  # latest, written first
    _optout(s, p, "2018-04-04", codes.OPTOUT, "2018-04-04T10:00:00Z")
    _optout(s, p, "2021-09-09", codes.OPTOUT_WITHDRAWN, "2021-09-09T10:00:00+01:00")
    _needs_now(s, p)


@scenario("optout-same-day: opt-out and withdrawal on one date, withdrawal updated later: counts")
def optout_same_day(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2023-03-03", codes.OPTOUT_WITHDRAWN, "2023-03-03T11:00:00Z")
    _optout(s, p, "2023-03-03", codes.OPTOUT, "2023-03-03T11:30:00+01:00")  # 10:30Z: earlier
    _needs_now(s, p)


@scenario("optout-tie: opt-out and withdrawal, same date and lastUpdated: dissent wins")
def optout_tie(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2022-07-07", codes.OPTOUT_WITHDRAWN, "2022-07-07T09:00:00Z")
    _optout(s, p, "2022-07-07", codes.OPTOUT, "2022-07-07T10:00:00+01:00")
    _needs_now(s, p)


@scenario("optout-retracted: the only opt-out is entered-in-error: counts")
def optout_retracted(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2020-01-10", codes.OPTOUT, "2020-01-10T10:00:00Z", status="entered-in-error")
    _needs_now(s, p)


@scenario("optout-future: opt-out dated after the months reported still excludes them")
def optout_future(s: Scene) -> None:
    p = s.person()
    _optout(s, p, "2026-12-05", codes.OPTOUT, "2026-12-05T10:00:00Z")
    _needs_now(s, p)


@scenario("wider-narrower: a wider code counts, a narrower code does not")
def wider_narrower(s: Scene) -> None:
    p = s.person()
    t = s.practice.template
    for code in t.codes:
        if code.concept in codes.NEEDS and code.equivalence != "equivalent":
            entries.coded(s.ledger, s.practice, p, "Observation", f"{s.main}-08", code)


@scenario("two-codings: one mapped and one unmapped coding on the same entry")
def two_codings(s: Scene) -> None:
    p = s.person()
    system, code, display = codes.UNMAPPED_CLINICAL[0]
    codings = [
        {"system": system, "code": code, "display": display},
        s.practice.template.coding_for("need-healthy-eating"),
    ]
    entries.single(
        s.ledger,
        p,
        "Observation",
        f"{s.main}-22",
        frozenset({"need-healthy-eating"}),
        codings=codings,
        unmapped=(f"{system}|{code}",),
    )


@scenario("same-need-twice: form and coded entry for one need in one month count once")
def same_need_twice(s: Scene) -> None:
    p = s.person()
    code = s.need("need-befriending")
    entries.review_response(s.ledger, s.practice, p, f"{s.main}-03", Answers(needs=(code,)))
    entries.coded(s.ledger, s.practice, p, "Observation", f"{s.main}-25", code)


@scenario("month-end-zones: late-night dates with offsets keep the month as written")
def month_end_zones(s: Scene) -> None:
    p = s.person()
    for when, need in (
        (f"{s.main}-31T23:30:00-05:00", "need-arts-for-health"),
        (f"{s.later}-01T00:15:00+01:00", "need-welfare-benefits"),
        (f"{s.months[0]}-30T23:59:00+14:00", "need-other"),
    ):
        entries.coded(s.ledger, s.practice, p, "Observation", when, s.need(need))


@scenario("first-date-wins: effectiveDateTime before issued, onsetDateTime before recordedDate")
def first_date_wins(s: Scene) -> None:
    p = s.person()
    entries.coded(
        s.ledger,
        s.practice,
        p,
        "Observation",
        f"{s.main}-31",
        s.need("need-other"),
        issued=f"{s.later}-02T09:00:00Z",
    )
    entries.coded(
        s.ledger,
        s.practice,
        p,
        "Condition",
        f"{s.later}-01",
        s.need("need-volunteering"),
        recordedDate=f"{s.main}-30",
    )


@scenario("month-precision: effectiveDateTime '2026-10' (a month, no day) counts in that month")
def month_precision(s: Scene) -> None:
    p = s.person()
    entries.coded(s.ledger, s.practice, p, "Observation", s.main, s.need("need-physical-activity"))


@scenario("outside-months: entries in 2025-10, 2026-08 and 2026-12")
def outside_months(s: Scene) -> None:
    p = s.person()
    for when in ("2025-10-10", "2026-08-15", "2026-12-02"):
        entries.coded(s.ledger, s.practice, p, "Observation", when, s.need("need-befriending"))


@scenario("form-canonicals: QRs naming the form without a version and with an unloaded one")
def form_canonicals(s: Scene) -> None:
    t = s.practice.template
    for version in (None, "1"):
        p = s.person()
        answers = Answers(needs=(s.need("need-arts-for-health"),), support="support-minimal")
        entries.review_response(
            s.ledger, s.practice, p, f"{s.main}-13", answers, canonical=t.canonical(version)
        )


@scenario("form-unknown: a QR to a Questionnaire no mapping loads asserts nothing")
def form_unknown(s: Scene) -> None:
    p = s.person()
    items = [{"linkId": "q1", "answer": [{"valueString": "Yes, had flu jab elsewhere"}]}]
    entries.single(
        s.ledger,
        p,
        "QuestionnaireResponse",
        f"{s.main}-02",
        frozenset(),
        questionnaire="https://example.org/fhir/Questionnaire/flu-consent|1",
        item=items,
    )


@scenario("form-amended-status: a QR with status 'amended' still counts; false booleans do not")
def form_amended(s: Scene) -> None:
    p = s.person()
    answers = Answers(needs=(s.need("need-welfare-benefits"),), referral=False, consent=False)
    entries.review_response(s.ledger, s.practice, p, f"{s.main}-19", answers, status="amended")


@scenario("star-forms: Star as Observation components and as the bundled Star form")
def star_forms(s: Scene) -> None:
    p = s.person()
    scores = (3, 4, 5, 2, 3, 7, 4, 3)
    entries.star_reading(s.ledger, s.practice, p, f"{s.main}-02", scores)
    entries.star_response(s.ledger, p, f"{s.later}-20", tuple(min(10, x + 2) for x in scores))


@scenario("logical-subject: entries naming the patient by NHS number or by full URL")
def logical_subject(s: Scene) -> None:
    p = s.person()
    entries.coded(
        s.ledger,
        s.practice,
        p,
        "Observation",
        f"{s.main}-06",
        s.need("need-volunteering"),
        subject=records.by_nhs_number(p.nhs),
    )
    url = {"reference": f"https://gp.example.nhs.uk/fhir/R4/Patient/{p.id}"}
    entries.coded(
        s.ledger, s.practice, p, "Condition", f"{s.later}-06", s.need("need-other"), subject=url
    )


@scenario("unattributed: entries about a patient not in the source count nowhere")
def unattributed(s: Scene) -> None:
    ghost = Person(id=s.ledger.new_id("ghost"), nhs=s.nhs.valid(), practice=None, gp=[])
    rid = entries.coded(
        s.ledger, s.practice, ghost, "Observation", f"{s.main}-10", s.need("need-befriending")
    )
    s.ledger.unattributed.append(f"Observation/{rid}")
    rid = entries.coded(
        s.ledger,
        s.practice,
        ghost,
        "Observation",
        f"{s.main}-10",
        s.need("need-other"),
        subject=records.by_nhs_number(ghost.nhs),
    )
    s.ledger.unattributed.append(f"Observation/{rid}")


NO_PRACTICE_ORG = "org-branch-pharmacy"


@scenario("no-practice: no generalPractitioner, a Practitioner only, an Organization w/o ODS")
def no_practice(s: Scene) -> None:
    gps: tuple[list[dict[str, Any]], ...] = (
        [],
        [{"reference": "Practitioner/gp-0001"}],
        [records.literal_gp(NO_PRACTICE_ORG)],
    )
    for gp in gps:
        p = new_person(s.ledger, s.nhs, s.practice, write=False)
        p.practice, p.gp = None, gp
        add_person(s.ledger, p)
        _needs_now(s, p)


@scenario("gp-practitioner-first: a Practitioner before the practice in generalPractitioner")
def gp_practitioner_first(s: Scene) -> None:
    p = new_person(s.ledger, s.nhs, s.practice, write=False)
    p.gp = [{"reference": "Practitioner/gp-0002"}, records.literal_gp(s.practice.org_id)]
    add_person(s.ledger, p)
    _needs_now(s, p)


@scenario("invalid-nhs: an NHS number failing the check digit; the Patient and entries held")
def invalid_nhs(s: Scene) -> None:
    p = new_person(s.ledger, s.nhs, s.practice, write=False)
    p.nhs, p.valid_nhs = s.nhs.invalid(), False
    s.ledger.people[p.id] = p
    s.ledger.write(records.patient(p), quarantine="nhs-number-check-digit")
    rid = entries.coded(
        s.ledger, s.practice, p, "Observation", f"{s.main}-14", s.need("need-befriending")
    )
    s.ledger.held.append(f"Observation/{rid}")
    rid = entries.referral(s.ledger, p, f"{s.main}-14")
    s.ledger.held.append(f"ServiceRequest/{rid}")


def _edge_person(s: Scene, **demo: object) -> None:
    p = new_person(s.ledger, s.nhs, s.practice, write=False)
    for key, value in demo.items():
        setattr(p, key, value)
    add_person(s.ledger, p)
    for month in s.months:
        entries.coded(
            s.ledger, s.practice, p, "Observation", f"{month}-16", s.need("need-physical-activity")
        )


@scenario("age-edges: birthdays that move a person between age bands month to month")
def age_edges(s: Scene) -> None:
    from datetime import date

    for born in (date(2008, 10, 31), date(1966, 11, 15), date(1951, 10, 31), date(1986, 11, 30)):
        _edge_person(s, birth=born, birth_written=born.isoformat())


@scenario("partial-birth: birthDate '1958' (unknown age) and '1960-07' (read as 1960-07-01)")
def partial_birth(s: Scene) -> None:
    from datetime import date

    _edge_person(s, birth=None, birth_written="1958")
    _edge_person(s, birth=date(1960, 7, 1), birth_written="1960-07")
    _edge_person(s, birth=None, birth_written=None)


@scenario("odd-demographics: gender other/unknown/missing, ethnicity Z/99/odd/missing")
def odd_demographics(s: Scene) -> None:
    for gender, ethnic in (("other", "Z"), ("unknown", "99"), (None, "X9"), ("female", None)):
        _edge_person(s, gender=gender, ethnic=ethnic)


@scenario("odd-postcodes: no address, a postcode not in the lookup, odd case and spacing")
def odd_postcodes(s: Scene) -> None:
    known, quintile = s.practice.area.known[0]
    outward, inward = known.split(" ")
    _edge_person(s, postcode=None, imd="unknown")
    _edge_person(s, postcode=s.practice.area.unknown[0], imd="unknown")
    _edge_person(s, postcode=f" {outward.lower()}   {inward.lower()}", imd=quintile)
    _edge_person(s, postcode=f"{outward}{inward}", imd=quintile)


@scenario("patient-versions: the newer Patient version (written first) holds the demographics")
def patient_versions(s: Scene) -> None:
    p = new_person(s.ledger, s.nhs, s.practice, write=False)
    known, quintile = s.practice.area.known[1]
    old_known = s.practice.area.known[2][0]
    p.gender, p.postcode, p.imd = "female", known, quintile
    s.ledger.people[p.id] = p
    new = records.patient(p)
    old = dict(new, gender="unknown", address=[{"use": "home", "postalCode": old_known}])
    s.ledger.write(records.with_meta(new, "2026-06-01T09:00:00Z", "2"))
    s.ledger.write(records.with_meta(old, "2024-06-01T09:00:00Z", "1"))
    entries.coded(
        s.ledger, s.practice, p, "Observation", f"{s.main}-17", s.need("need-welfare-benefits")
    )


@scenario("gp-connect-practice: the usual GP in generalPractitioner, the practice beside it")
def gp_connect_practice(s: Scene) -> None:
    """GP Connect's Patient: ``generalPractitioner`` names the usual GP (a Practitioner) and
    ``managingOrganization`` the registered practice; the person counts at that practice."""
    p = new_person(s.ledger, s.nhs, s.practice, write=False)
    p.gp = [{"reference": "Practitioner/gp-0003"}]
    p.managing = records.literal_gp(s.practice.org_id)
    add_person(s.ledger, p)
    _needs_now(s, p)


@scenario("moved-house: a former address (use old, ended) and a work address before the home one")
def moved_house(s: Scene) -> None:
    """The deprivation quintile is the home address's, whatever addresses come before it."""
    home, quintile = s.practice.area.known[3]
    elsewhere = [pc for pc, q in s.practice.area.known if q != quintile] or [
        s.practice.area.unknown[0]
    ]
    p = new_person(s.ledger, s.nhs, s.practice, write=False)
    p.postcode, p.imd = home, quintile
    p.other_addresses = [
        {"use": "old", "postalCode": elsewhere[0], "period": {"start": "2001-05-01",
                                                               "end": "2025-03-31"}},
        {"use": "work", "postalCode": elsewhere[-1]},
    ]  # fmt: skip
    add_person(s.ledger, p)
    _needs_now(s, p)


def run_scenarios(
    ledger: Ledger, nhs: NhsNumbers, practices: list[Practice], months: tuple[str, ...]
) -> None:
    """Deal every scenario to the practices in turn (so each carries a different mix)."""
    for i, (name, fn) in enumerate(SCENARIOS):
        practice = practices[i % len(practices)]
        fn(Scene(ledger, nhs, practice, months))
        ledger.mess[practice.ods].append(name.split(":")[0])

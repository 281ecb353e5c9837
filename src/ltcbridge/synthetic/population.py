"""The ordinary patients of a practice and their everyday care-planning records.

This is the bulk of each practice: people with a spread of demographics, most with a review in one
of the main months, recorded either as a template (QuestionnaireResponse) or as separate coded
entries, plus the everyday noise of a GP record (diagnoses, blood pressures: unmapped codes).
"""

from __future__ import annotations

import random

from . import codes, entries, records
from .ledger import Ledger
from .nhs import NhsNumbers
from .people import Person, random_demographics
from .practices import Practice
from .questionnaires import Answers
from .templates import Code

GOALS = (
    "Walk to the shops twice a week",
    "Cook a hot meal three times a week",
    "Join the Tuesday singing group",
    "Sort out my PIP claim",
    "See my neighbour for coffee weekly",
    "Volunteer at the community garden",
    "Swim once a week",
)
NEED_WEIGHTS = (5, 3, 1, 4, 3, 1, 1)
CODED_KINDS = ("Observation", "Observation", "Condition", "Procedure")
DATE_FIELDS = {
    "Observation": (
        "effectiveDateTime",
        "effectiveDateTime",
        "effectivePeriod.start",
        "effectiveInstant",
        "issued",
    ),
    "Condition": ("onsetDateTime", "onsetDateTime", "recordedDate"),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "ServiceRequest": ("occurrenceDateTime", "authoredOn"),
}


def clinical_date(rng: random.Random, month: str) -> str:
    """A clinical date in the month: a plain date, or a local time with an offset."""
    day = rng.randint(1, 28)
    if rng.random() < 0.6:
        return f"{month}-{day:02d}"
    hour, minute = rng.randint(8, 18), rng.choice((0, 10, 20, 30, 40, 50))
    offset = "+01:00" if month < "2026-10" or rng.random() < 0.3 else "Z"
    return f"{month}-{day:02d}T{hour:02d}:{minute:02d}:00{offset}"


def new_person(
    ledger: Ledger, nhs: NhsNumbers, practice: Practice, *, write: bool = True
) -> Person:
    """A person registered at the practice (GP reference literal or logical) with demographics."""
    rng = ledger.rng
    gp = (
        records.literal_gp(practice.org_id)
        if rng.random() < 0.6
        else records.logical_gp(practice.ods)
    )
    person = Person(id=ledger.new_id("pat"), nhs=nhs.valid(), practice=practice.ods, gp=[gp])
    random_demographics(rng, person, practice.area)
    if write:
        add_person(ledger, person)
    return person


def add_person(ledger: Ledger, person: Person) -> None:
    """Write the Patient and remember the person."""
    ledger.people[person.id] = person
    ledger.write(records.patient(person))


def pick_need_codes(rng: random.Random, practice: Practice) -> tuple[Code, ...]:
    """One to three needs, mostly by their equivalent code, now and then by a wider one."""
    t = practice.template
    chosen = sorted(
        set(rng.choices(codes.NEEDS, NEED_WEIGHTS, k=rng.randint(1, 3))), key=codes.NEEDS.index
    )
    picked = []
    for need in chosen:
        wider = [c for c in t.codes if c.concept == need and c.equivalence == "wider"]
        picked.append(wider[0] if wider and rng.random() < 0.25 else t.code_for(need))
    if rng.random() < 0.08:
        picked.append(
            rng.choice([c for c in t.codes if c.concept in codes.NEEDS and not c.asserts])
        )
    if rng.random() < 0.06:
        picked.append(t.unmapped())
    return tuple(picked)


def review_answers(rng: random.Random, practice: Practice) -> Answers:
    """What one care-planning review records."""
    t = practice.template
    needs = pick_need_codes(rng, practice)
    support = rng.choice(codes.SUPPORT_LEVELS) if rng.random() < 0.8 else None
    referred = support in ("support-moderate", "support-high") and rng.random() < 0.6
    declined: tuple[Code, ...] = ()
    if t.star_uses_local_codes and rng.random() < 0.5:
        declined = tuple(t.code_for(n) for n in codes.NEEDS if t.code_for(n) not in needs)[:2]
    return Answers(
        needs=needs,
        declined=declined,
        support=support,
        goal=rng.choice(GOALS) if rng.random() < 0.5 else None,
        referral=referred if rng.random() < 0.9 else None,
        consent=(rng.random() < 0.9) if referred else None,
        star=tuple(rng.randint(1, 10) for _ in codes.STAR_AREAS)
        if t.star_uses_local_codes and rng.random() < 0.3
        else None,
    )


def write_review_coded(
    ledger: Ledger, practice: Practice, person: Person, when: str, a: Answers
) -> None:
    """The same review as separate coded entries (one per need), a Goal and a ServiceRequest."""
    rng = ledger.rng
    t = practice.template
    for code in a.needs:
        kind = rng.choice(CODED_KINDS)
        field = rng.choice(DATE_FIELDS[kind])
        entries.coded(ledger, practice, person, kind, when, code, date_field=field)
    if a.support:
        entries.coded(ledger, practice, person, "Observation", when, t.code_for(a.support))
    if a.referral:
        entries.referral(ledger, person, when, date_field=rng.choice(DATE_FIELDS["ServiceRequest"]))
    if a.goal:
        entries.goal(ledger, person, when, a.goal)
    if a.star:
        entries.star_reading(ledger, practice, person, when, a.star)


def write_review(ledger: Ledger, practice: Practice, person: Person, month: str) -> None:
    """One review: as the practice's form half the time, as coded entries otherwise."""
    rng = ledger.rng
    when = clinical_date(rng, month)
    answers = review_answers(rng, practice)
    if rng.random() < 0.5:
        entries.review_response(ledger, practice, person, when, answers)
    else:
        write_review_coded(ledger, practice, person, when, answers)


def write_noise(ledger: Ledger, person: Person, months: tuple[str, ...]) -> None:
    """Everyday GP-record entries no care-planning mapping covers (counted in truth.unmapped)."""
    rng = ledger.rng
    if rng.random() < 0.3:
        system, code, display = rng.choice(
            codes.UNMAPPED_CLINICAL[:2] + codes.UNMAPPED_CLINICAL[3:]
        )
        coding = {"system": system, "code": code, "display": display}
        entries.single(
            ledger,
            person,
            "Condition",
            f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            frozenset(),
            codings=[coding],
            unmapped=(f"{system}|{code}",),
        )
    if rng.random() < 0.25:
        system, code, display = codes.UNMAPPED_CLINICAL[2]
        entries.single(
            ledger,
            person,
            "Observation",
            clinical_date(rng, rng.choice(months)),
            frozenset(),
            codings=[{"system": system, "code": code, "display": display}],
            unmapped=(f"{system}|{code}",),
            valueQuantity={"value": rng.randint(105, 170), "unit": "mmHg"},
        )


def populate(
    ledger: Ledger,
    nhs: NhsNumbers,
    practice: Practice,
    months: tuple[str, ...],
    size: tuple[int, int],
) -> None:
    """The practice's ordinary patients with reviews and noise."""
    rng = ledger.rng
    outside = ("2026-08", "2026-12", "2025-10")
    for _ in range(rng.randint(*size)):
        person = new_person(ledger, nhs, practice)
        if rng.random() < 0.65:
            first = rng.choices(months, [4 if i == 1 else 3 for i in range(len(months))])[0]
            write_review(ledger, practice, person, first)
            if rng.random() < 0.12:
                write_review(ledger, practice, person, rng.choice(months))
        if rng.random() < 0.04:
            write_review(ledger, practice, person, rng.choice(outside))
        write_noise(ledger, person, months)

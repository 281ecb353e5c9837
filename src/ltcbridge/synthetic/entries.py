"""Writing one entry (a single version) and recording its meaning in the same step.

Every helper takes the meaning first (concepts, date) and derives the FHIR from it, so the ledger's
fact and the written line cannot disagree by accident of a later edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import codes, records
from .ledger import Ledger, Referral, StarReading
from .people import Person
from .practices import Practice
from .questionnaires import Answers, answer_items
from .templates import Code, Template

RETRACTING = frozenset({"entered-in-error", "cancelled", "revoked", "refuted", "rejected"})


def local(
    template: Template, code: Code
) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """A local coding plus its unmapped / non-asserting side notes."""
    key = f"{template.system}|{code.code}"
    unmapped = (key,) if code.concept is None else ()
    non_asserting = (key,) if code.concept is not None and code.asserts is None else ()
    return template.coding(code), unmapped, non_asserting


def single(
    ledger: Ledger,
    person: Person,
    kind: str,
    when: str,
    concepts: frozenset[str],
    *,
    codings: list[dict[str, str]] | None = None,
    subject: dict[str, Any] | None = None,
    unmapped: tuple[str, ...] = (),
    non_asserting: tuple[str, ...] = (),
    date_field: str | None = None,
    status: str | None = None,
    counts: bool = True,
    star: Mapping[str, int] | None = None,
    provider: str | None = None,
    **extra: Any,
) -> str:
    """Write a one-version entry for a person and record that it asserts `concepts`.

    `counts=False` is for an entry whose status (or a newer version) makes it assert nothing.
    `star` (area -> score) makes it a Star reading taken by `provider` (None: the practice).
    """
    rid = ledger.new_id(kind.lower())
    res = records.entry(
        kind,
        rid,
        subject or person.ref,
        when,
        codings=codings,
        date_field=date_field,
        status=status,
        **extra,
    )
    stamp, instant = ledger.stamp(when)
    version = str(ledger.rng.randint(1, 3)) if ledger.rng.random() < 0.5 else ledger.uuid()
    ledger.write(
        records.with_meta(res, stamp, version), unmapped=unmapped, non_asserting=non_asserting
    )
    if counts:
        ledger.fact(person, concepts, when, instant)
        if star is not None:
            ledger.stars.append(
                StarReading(person.id, codes.STAR, when, instant, dict(star), provider)
            )
    return rid


def coded(
    ledger: Ledger,
    practice: Practice,
    person: Person,
    kind: str,
    when: str,
    code: Code,
    **kw: Any,
) -> str:
    """A coded Observation/Condition/Procedure/ServiceRequest carrying one local template code."""
    coding, unmapped, non_asserting = local(practice.template, code)
    asserts = frozenset({code.asserts}) if code.asserts else frozenset()
    if kw.get("status") in RETRACTING:
        kw["counts"] = False
    return single(
        ledger,
        person,
        kind,
        when,
        asserts,
        codings=[coding],
        unmapped=unmapped,
        non_asserting=non_asserting,
        **kw,
    )


def referral(ledger: Ledger, person: Person, when: str, **kw: Any) -> str:
    """A ServiceRequest with the national social-prescribing referral code (remembered by id)."""
    coding = {
        "system": codes.SNOMED,
        "code": codes.SNOMED_REFERRAL,
        "display": "Referral to social prescribing service",
    }
    if kw.get("status") in RETRACTING:
        kw["counts"] = False
    rid = single(
        ledger, person, "ServiceRequest", when, frozenset({codes.REFERRAL}), codings=[coding], **kw
    )
    ledger.referrals[rid] = Referral(rid, person.id, when, kw.get("counts", True))
    return rid


def declined(ledger: Ledger, person: Person, kind: str, when: str, **kw: Any) -> str:
    """An Observation or Procedure with the national "social prescribing declined" code."""
    coding = {
        "system": codes.SNOMED,
        "code": codes.SNOMED_DECLINED,
        "display": "Social prescribing declined",
    }
    if kw.get("status") in RETRACTING:
        kw["counts"] = False
    return single(
        ledger, person, kind, when, frozenset({codes.REFERRAL_DECLINED}), codings=[coding], **kw
    )


def goal(ledger: Ledger, person: Person, when: str, text: str, **kw: Any) -> str:
    """A Goal resource (asserts `goal`; no measure counts goals yet)."""
    return single(
        ledger, person, "Goal", when, frozenset({codes.GOAL}), description={"text": text}, **kw
    )


def star_reading(
    ledger: Ledger,
    practice: Practice,
    person: Person,
    when: str,
    scores: tuple[int | None, ...],
    *,
    provider: str | None = None,
    performer: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> str:
    """A Star reading Observation (an area scored None is left out).

    The practice codes it locally (Riverside) or with ltcbridge concepts (ICB); a provider's
    reading, as the daemon copies it back, always carries ltcbridge concepts and a performer
    naming the provider by ODS code (`performer` overrides that list as written).
    """
    t = practice.template
    if t.star_uses_local_codes and provider is None:
        star = t.coding_for(codes.STAR)
        areas = [t.coding_for(a) for a in codes.STAR_AREAS]
    else:
        star = codes.concept_coding(codes.STAR)
        areas = [codes.concept_coding(a) for a in codes.STAR_AREAS]
    kept = [
        (a, coding, s)
        for a, coding, s in zip(codes.STAR_AREAS, areas, scores, strict=True)
        if s is not None
    ]
    if provider is not None:
        kw["performer"] = performer or [records.ods_ref(provider)]
    return single(
        ledger,
        person,
        "Observation",
        when,
        frozenset({codes.STAR}),
        codings=[star],
        component=records.star_components(
            tuple(s for _, _, s in kept), [coding for _, coding, _ in kept]
        ),
        star={a: s for a, _, s in kept},
        provider=provider,
        **kw,
    )


def review_response(
    ledger: Ledger,
    practice: Practice,
    person: Person,
    when: str,
    answers: Answers,
    *,
    canonical: str | None = None,
    **kw: Any,
) -> str:
    """A QuestionnaireResponse to the practice's care-planning form."""
    t = practice.template
    return single(
        ledger,
        person,
        "QuestionnaireResponse",
        when,
        answers.concepts(),
        unmapped=answers.unmapped(t),
        non_asserting=answers.non_asserting(t),
        questionnaire=canonical or t.canonical(),
        item=answer_items(t, answers),
        star=dict(zip(codes.STAR_AREAS, answers.star, strict=True))
        if answers.star and t.star_uses_local_codes  # only that form has Star items
        else None,
        **kw,
    )


def star_response(ledger: Ledger, person: Person, when: str, scores: tuple[int, ...]) -> str:
    """A Star reading as a response to the bundled Well-being Star questionnaire."""
    items = [
        {"linkId": area, "answer": [{"valueInteger": s}]}
        for area, s in zip(codes.STAR_AREAS, scores, strict=True)
    ]
    return single(
        ledger,
        person,
        "QuestionnaireResponse",
        when,
        frozenset(),
        questionnaire="https://ltcbridge.github.io/fhir/Questionnaire/star-wellbeing|1",
        item=items,
        star=dict(zip(codes.STAR_AREAS, scores, strict=True)),
    )

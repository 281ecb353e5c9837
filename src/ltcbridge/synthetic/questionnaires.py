"""Questionnaires of the two templates, and the answers a QuestionnaireResponse gives to them.

The ICB form is the contract's example (flat items, needs as a repeating choice). The Riverside form
is deliberately different: other url and linkIds, groups nested two deep, needs as one boolean item
per need, Star areas as integer items and a note nested under an answer (answer.item).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import codes
from .templates import ICB, RIVERSIDE, Code, Template


@dataclass(frozen=True)
class Answers:
    """What a care-planning form records; every field is an intended meaning, not FHIR."""

    needs: tuple[Code, ...] = ()
    declined: tuple[Code, ...] = ()  # boolean need items answered false (Riverside form)
    support: str | None = None
    goal: str | None = None
    referral: bool | None = None
    consent: bool | None = None
    star: tuple[int, ...] | None = None

    def concepts(self) -> frozenset[str]:
        """The ltcbridge concepts these answers assert (by the template's own table)."""
        out = {c.asserts for c in self.needs if c.asserts}
        if self.support:
            out.add(self.support)
        if self.goal:
            out.add(codes.GOAL)
        if self.referral:
            out.add(codes.REFERRAL)
        if self.consent:
            out.add(codes.CONSENT)
        return frozenset(out)

    def unmapped(self, template: Template) -> tuple[str, ...]:
        """`system|code` of each answer valueCoding no mapping covers."""
        return tuple(f"{template.system}|{c.code}" for c in self.needs if c.concept is None)

    def non_asserting(self, template: Template) -> tuple[str, ...]:
        """`system|code` of each answer valueCoding mapped, but with a non-asserting equivalence."""
        return tuple(
            f"{template.system}|{c.code}"
            for c in self.needs
            if c.concept is not None and c.asserts is None
        )


def _option(template: Template, code: Code, with_display: bool) -> dict[str, Any]:
    coding = (
        template.coding(code) if with_display else {"system": template.system, "code": code.code}
    )
    return {"valueCoding": coding}


def _icb_questionnaire() -> dict[str, Any]:
    t = ICB
    needs = [t.code_for(n) for n in codes.NEEDS]
    support = [t.code_for(s) for s in codes.SUPPORT_LEVELS]
    return {
        "resourceType": "Questionnaire",
        "id": "care-planning-example",
        "url": t.questionnaire_url,
        "version": t.questionnaire_version,
        "name": "CarePlanningReview",
        "title": "Annual care-planning review (example template)",
        "status": "active",
        "item": [
            {
                "linkId": "needs",
                "text": "Unmet needs the person identified",
                "type": "choice",
                "repeats": True,
                "answerOption": [_option(t, c, True) for c in needs],
            },
            {
                "linkId": "goal",
                "text": "Goal agreed",
                "type": "string",
                "repeats": True,
                "code": [{"system": t.system, "code": "GOAL"}],
            },
            {
                "linkId": "support",
                "text": "Support level",
                "type": "choice",
                "answerOption": [_option(t, c, False) for c in support],
            },
            {
                "linkId": "refer",
                "text": "Referred to health link worker",
                "type": "boolean",
                "code": [
                    {
                        "system": codes.SNOMED,
                        "code": codes.SNOMED_REFERRAL,
                        "display": "Referral to social prescribing service",
                    }
                ],
            },
            {
                "linkId": "consent",
                "text": "Agrees to details being shared with the provider",
                "type": "boolean",
                "code": [{"system": t.system, "code": "CONSENT-NTP"}],
            },
        ],
    }


def _coded_item(link_id: str, kind: str, code: Code, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": link_id, "text": code.display, "type": kind}
    item["code"] = [RIVERSIDE.coding(code)]
    item.update(extra)
    return item


def _riverside_questionnaire() -> dict[str, Any]:
    t = RIVERSIDE
    extra_needs = [c for c in t.codes if c.concept in codes.NEEDS and c.equivalence != "equivalent"]
    extra_needs.append(t.unmapped())
    return {
        "resourceType": "Questionnaire",
        "id": "riverside-ltc-annual-review",
        "url": t.questionnaire_url,
        "version": t.questionnaire_version,
        "name": "RiversideLtcAnnualReview",
        "title": "Riverside PCN long-term condition annual review",
        "status": "active",
        "item": [
            {
                "linkId": "sec-needs",
                "text": "What matters to you: support you would like",
                "type": "group",
                "item": [
                    *(
                        _coded_item(f"need-{i + 1:02d}", "boolean", t.code_for(n))
                        for i, n in enumerate(codes.NEEDS)
                    ),
                    {
                        "linkId": "need-more",
                        "text": "Other needs",
                        "type": "choice",
                        "repeats": True,
                        "answerOption": [_option(t, c, True) for c in extra_needs],
                    },
                ],
            },
            {
                "linkId": "sec-star",
                "text": "Well-being Star",
                "type": "group",
                "item": [
                    {
                        "linkId": "star-areas",
                        "text": "Scores (1-10)",
                        "type": "group",
                        "item": [
                            _coded_item(f"star-{i + 1}", "integer", t.code_for(a))
                            for i, a in enumerate(codes.STAR_AREAS)
                        ],
                    }
                ],
            },
            {
                "linkId": "sec-plan",
                "text": "Plan",
                "type": "group",
                "item": [
                    _coded_item("goal-text", "string", t.code_for(codes.GOAL)),
                    {
                        "linkId": "support",
                        "text": "Support level",
                        "type": "choice",
                        "answerOption": [
                            _option(t, t.code_for(s), True) for s in codes.SUPPORT_LEVELS
                        ],
                    },
                    _coded_item(
                        "refer",
                        "boolean",
                        t.code_for(codes.REFERRAL),
                        item=[{"linkId": "refer-note", "text": "Note", "type": "string"}],
                    ),
                    _coded_item("consent", "boolean", t.code_for(codes.CONSENT)),
                ],
            },
        ],
    }


QUESTIONNAIRES = {ICB.key: _icb_questionnaire, RIVERSIDE.key: _riverside_questionnaire}


def questionnaire(template: Template) -> dict[str, Any]:
    """The template's Questionnaire as FHIR R4 JSON."""
    return QUESTIONNAIRES[template.key]()


def _answer(value_key: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {value_key: value, **extra}


def _icb_items(a: Answers) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if a.needs:
        answers = [_answer("valueCoding", {"system": ICB.system, "code": c.code}) for c in a.needs]
        items.append({"linkId": "needs", "answer": answers})
    if a.goal:
        items.append({"linkId": "goal", "answer": [_answer("valueString", a.goal)]})
    if a.support:
        coding = {"system": ICB.system, "code": ICB.code_for(a.support).code}
        items.append({"linkId": "support", "answer": [_answer("valueCoding", coding)]})
    if a.referral is not None:
        items.append({"linkId": "refer", "answer": [_answer("valueBoolean", a.referral)]})
    if a.consent is not None:
        items.append({"linkId": "consent", "answer": [_answer("valueBoolean", a.consent)]})
    return items


def _riverside_needs(a: Answers) -> list[dict[str, Any]]:
    t = RIVERSIDE
    link = {t.code_for(n).code: f"need-{i + 1:02d}" for i, n in enumerate(codes.NEEDS)}
    items = [
        {"linkId": link[c.code], "answer": [_answer("valueBoolean", c in a.needs)]}
        for c in (*a.needs, *a.declined)
        if c.code in link
    ]
    more = [c for c in a.needs if c.code not in link]
    if more:
        answers = [_answer("valueCoding", t.coding(c)) for c in more]
        items.append({"linkId": "need-more", "answer": answers})
    return items


def _riverside_plan(a: Answers) -> list[dict[str, Any]]:
    t = RIVERSIDE
    items: list[dict[str, Any]] = []
    if a.goal:
        items.append({"linkId": "goal-text", "answer": [_answer("valueString", a.goal)]})
    if a.support:
        coding = t.coding_for(a.support)
        items.append({"linkId": "support", "answer": [_answer("valueCoding", coding)]})
    if a.referral is not None:
        note = [{"linkId": "refer-note", "answer": [_answer("valueString", "Seen by HLW soon")]}]
        items.append(
            {"linkId": "refer", "answer": [_answer("valueBoolean", a.referral, item=note)]}
        )
    if a.consent is not None:
        items.append({"linkId": "consent", "answer": [_answer("valueBoolean", a.consent)]})
    return items


def _riverside_items(a: Answers) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    needs = _riverside_needs(a)
    if needs:
        items.append({"linkId": "sec-needs", "item": needs})
    if a.star:
        scores = [
            {"linkId": f"star-{i + 1}", "answer": [_answer("valueInteger", s)]}
            for i, s in enumerate(a.star)
        ]
        items.append({"linkId": "sec-star", "item": [{"linkId": "star-areas", "item": scores}]})
    plan = _riverside_plan(a)
    if plan:
        items.append({"linkId": "sec-plan", "item": plan})
    return items


def answer_items(template: Template, answers: Answers) -> list[dict[str, Any]]:
    """The QuestionnaireResponse.item tree for these answers on the template's form."""
    if template.key == ICB.key:
        return _icb_items(answers)
    return _riverside_items(answers)

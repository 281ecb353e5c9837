"""The two ways the synthetic practices code their care-planning templates.

PCN 1 uses the contract's example ICB template codes; PCN 2 uses an "unseen" local template with its
own code system and a nested Questionnaire. Each template knows which local code stands for which
ltcbridge concept, and with what ConceptMap equivalence, so that the generator can write entries and
know their meaning without ever reading them back. The ConceptMaps and Questionnaires shipped in
the output's mappings/ are built from the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import codes

ICB_SYSTEM = "https://example-icb.nhs.uk/fhir/CodeSystem/care-planning-template-codes"
RIVERSIDE_SYSTEM = "https://riverside-pcn.example.org/fhir/CodeSystem/ltc-review-local"

ASSERTING = frozenset({"equal", "equivalent", "wider", "subsumes"})


@dataclass(frozen=True)
class Code:
    """One local template code and what a ConceptMap says it means."""

    code: str
    concept: str | None
    equivalence: str = "equivalent"
    display: str | None = None

    @property
    def asserts(self) -> str | None:
        """The concept this code asserts, or None (unmapped, or a non-asserting equivalence)."""
        if self.concept is None or self.equivalence not in ASSERTING:
            return None
        return self.concept


@dataclass(frozen=True)
class ConceptMapSpec:
    """A ConceptMap the template ships: which of its codes go in it."""

    id: str
    url: str
    codes: tuple[str, ...]
    with_display: bool


@dataclass(frozen=True)
class Template:
    """A practice template: its code system, codes, ConceptMaps and Questionnaire."""

    key: str
    system: str
    codes: tuple[Code, ...]
    maps: tuple[ConceptMapSpec, ...]
    questionnaire_url: str
    questionnaire_version: str
    star_uses_local_codes: bool
    by_code: dict[str, Code] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", {c.code: c for c in self.codes})

    def code_for(self, concept: str, equivalence: str = "equivalent") -> Code:
        """The local code that stands for a concept with the given equivalence."""
        for c in self.codes:
            if c.concept == concept and c.equivalence == equivalence:
                return c
        raise KeyError(f"{self.key}: no {equivalence} code for {concept}")

    def coding(self, code: Code) -> dict[str, str]:
        """The FHIR coding of a local code (with its display when it has one)."""
        out = {"system": self.system, "code": code.code}
        if code.display:
            out["display"] = code.display
        return out

    def coding_for(self, concept: str, equivalence: str = "equivalent") -> dict[str, str]:
        """The FHIR coding a practice on this template writes for a concept."""
        return self.coding(self.code_for(concept, equivalence))

    def unmapped(self) -> Code:
        """The template's local code that no ConceptMap covers."""
        return next(c for c in self.codes if c.concept is None)

    def canonical(self, version: str | None = "default") -> str:
        """The Questionnaire canonical a QuestionnaireResponse names (optionally versioned)."""
        if version == "default":
            version = self.questionnaire_version
        return self.questionnaire_url if version is None else f"{self.questionnaire_url}|{version}"


def _icb_codes() -> tuple[Code, ...]:
    needs = (
        ("UN-PA", "Wants support to be more physically active"),
        ("UN-FOOD", "Wants support with healthy eating or cooking"),
        ("UN-ARTS", "Wants creative or arts activity"),
        ("UN-FRIEND", "Feels isolated, wants befriending"),
        ("UN-MONEY", "Needs welfare rights or benefits advice"),
        ("UN-VOL", "Wants volunteering opportunities"),
        ("UN-OTHER", "Other unmet need"),
    )
    return (
        *(Code(c, n, display=d) for (c, d), n in zip(needs, codes.NEEDS, strict=True)),
        Code("GOAL", codes.GOAL),
        *(Code(f"SL-{i}", s) for i, s in enumerate(codes.SUPPORT_LEVELS)),
        Code("CONSENT-NTP", codes.CONSENT),
        # Practice additions (a second ConceptMap): a withdrawal code, wider and narrower codes.
        Code("OPT-WD", codes.OPTOUT_WITHDRAWN, display="Withdrawal of dissent from secondary use"),
        Code("UN-WALK", "need-physical-activity", "wider", "Wants to join a walking group"),
        Code("UN-BENCHK", "need-welfare-benefits", "wider", "Wants a benefits check"),
        Code("UN-SOCIAL", "need-befriending", "narrower", "Has social needs"),
        Code("UN-TRANSPORT", None, display="Needs transport to appointments"),
    )


def _riverside_codes() -> tuple[Code, ...]:
    needs = (
        "Physical activity support wanted",
        "Healthy eating support wanted",
        "Arts and creativity support wanted",
        "Befriending wanted",
        "Welfare and benefits advice wanted",
        "Volunteering wanted",
        "Other support wanted",
    )
    areas = (
        "Lifestyle",
        "Looking after yourself",
        "Managing symptoms",
        "Work and volunteering",
        "Money",
        "Where you live",
        "Family and friends",
        "Feeling positive",
    )
    return (
        *(
            Code(f"RV-N0{i + 1}", n, display=d)
            for i, (n, d) in enumerate(zip(codes.NEEDS, needs, strict=True))
        ),
        Code("RV-G", codes.GOAL, display="Personal goal"),
        *(
            Code(f"RV-S{i}", s, display=f"Support level {i}")
            for i, s in enumerate(codes.SUPPORT_LEVELS)
        ),
        Code("RV-R", codes.REFERRAL, display="Referred to health link worker"),
        Code("RV-C", codes.CONSENT, display="Consents to sharing with provider"),
        Code("RV-OD", codes.OPTOUT, display="Patient dissents from secondary use"),
        Code("RV-OW", codes.OPTOUT_WITHDRAWN, display="Dissent from secondary use withdrawn"),
        Code("RV-STAR", codes.STAR, display="Well-being Star reading"),
        *(
            Code(f"RV-A{i + 1}", a, display=d)
            for i, (a, d) in enumerate(zip(codes.STAR_AREAS, areas, strict=True))
        ),
        Code("RV-GYM", "need-physical-activity", "wider", "Wants gym referral"),
        Code("RV-COOK", "need-healthy-eating", "wider", "Wants cookery class"),
        Code("RV-LONELY", "need-befriending", "narrower", "Reports loneliness"),
        Code("RV-N99", None, display="Other need (uncoded)"),
    )


ICB = Template(
    key="icb",
    system=ICB_SYSTEM,
    codes=_icb_codes(),
    maps=(
        ConceptMapSpec(
            "example-icb-template",
            "https://example-icb.nhs.uk/fhir/ConceptMap/care-planning",
            (
                *(f"UN-{s}" for s in ("PA", "FOOD", "ARTS", "FRIEND", "MONEY", "VOL", "OTHER")),
                "GOAL",
                "SL-0",
                "SL-1",
                "SL-2",
                "SL-3",
                "CONSENT-NTP",
            ),
            with_display=False,
        ),
        ConceptMapSpec(
            "example-icb-practice-additions",
            "https://example-icb.nhs.uk/fhir/ConceptMap/care-planning-practice-additions",
            ("OPT-WD", "UN-WALK", "UN-BENCHK", "UN-SOCIAL"),
            with_display=True,
        ),
    ),
    questionnaire_url="https://example-icb.nhs.uk/fhir/Questionnaire/care-planning",
    questionnaire_version="3",
    star_uses_local_codes=False,
)

RIVERSIDE = Template(
    key="riverside",
    system=RIVERSIDE_SYSTEM,
    codes=_riverside_codes(),
    maps=(
        ConceptMapSpec(
            "riverside-ltc-review",
            "https://riverside-pcn.example.org/fhir/ConceptMap/ltc-review",
            tuple(c.code for c in _riverside_codes() if c.concept is not None),
            with_display=True,
        ),
    ),
    questionnaire_url="https://riverside-pcn.example.org/fhir/Questionnaire/ltc-annual-review",
    questionnaire_version="2025.2",
    star_uses_local_codes=True,
)

TEMPLATES = (ICB, RIVERSIDE)


def conceptmap(template: Template, spec: ConceptMapSpec) -> dict[str, Any]:
    """A FHIR R4 ConceptMap from the template's table (equivalences exactly as the table says)."""
    elements = []
    for code in spec.codes:
        c = template.by_code[code]
        element: dict[str, Any] = {"code": c.code}
        if spec.with_display and c.display:
            element["display"] = c.display
        target: dict[str, Any] = {"code": c.concept, "equivalence": c.equivalence}
        if c.equivalence in ("narrower", "inexact"):  # R4 invariant cmd-1 asks for a comment
            target["comment"] = f"{c.concept} is only part of what {c.display or c.code} means"
        element["target"] = [target]
        elements.append(element)
    return {
        "resourceType": "ConceptMap",
        "id": spec.id,
        "url": spec.url,
        "status": "active",
        "group": [{"source": template.system, "target": codes.CONCEPT, "element": elements}],
    }

"""A referral as the provider sees it: the ServiceRequest, its Task, the person and their goals.

The four PRSB Social Prescribing groups are read straight off the contract's resources:
demographics (Patient), needs and concerns (``ServiceRequest.reasonCode``), support offered
(``orderDetail`` and the Goals). Codings reach ltcbridge concepts through the mappings, so a
practice that sends its own codes alongside still reads the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ltcbridge.concepts import CONCEPT_SYSTEM, NEED_DOMAINS, SUPPORT_LEVELS
from ltcbridge.mapping import Mappings
from ltcbridge.provider.identifiers import (
    REFERRAL_ID,
    first_value,
    local_reference,
    nhs_number_of,
    ods_of,
)

Resource = dict[str, Any]


@dataclass
class Referral:
    """One referral on the provider's endpoint, with what it carries under each PRSB group."""

    service_request: Resource
    task: Resource
    patient: Resource | None = None
    goal_resources: list[Resource] = field(default_factory=list)
    mappings: Mappings | None = None

    @property
    def referral_id(self) -> str:
        """The ``.../referral`` value: stable across resends, the key of every later write."""
        return first_value(self.service_request, REFERRAL_ID) or ""

    @property
    def status(self) -> str:
        """The Task's status: requested, accepted, rejected, completed…"""
        return str(self.task.get("status", ""))

    @property
    def requester_ods(self) -> str | None:
        """The referring practice: the only organisation outcomes may go back to."""
        return ods_of(self.service_request.get("requester"))

    @property
    def owner_ods(self) -> str | None:
        return ods_of(self.task.get("owner"))

    @property
    def nhs_number(self) -> str | None:
        return nhs_number_of(self.patient) if self.patient else None

    @property
    def subject(self) -> Resource:
        """The reference outcomes use for the person (the ServiceRequest's own subject)."""
        return dict(self.service_request.get("subject") or {})

    @property
    def service_request_reference(self) -> Resource:
        return {"reference": local_reference(self.service_request)}

    @property
    def authored_on(self) -> str | None:
        return self.service_request.get("authoredOn")

    # -- PRSB groups -----------------------------------------------------------------------
    @property
    def demographics(self) -> Resource:
        """Name, birth date, gender, telecom and address as the GP sent them (consent allowing)."""
        keys = ("name", "birthDate", "gender", "telecom", "address")
        return {k: self.patient[k] for k in keys if self.patient and k in self.patient}

    @property
    def needs(self) -> tuple[str, ...]:
        """Needs and concerns: the need concepts of ``reasonCode``, in the order sent."""
        found = (self._concept(c) for c in self.service_request.get("reasonCode") or ())
        return tuple(c for c in found if c in NEED_DOMAINS)

    @property
    def support_level(self) -> str | None:
        """Support offered: the support-level concept of ``orderDetail``."""
        for detail in self.service_request.get("orderDetail") or ():
            found = self._concept(detail)
            if found in SUPPORT_LEVELS:
                return found
        return None

    @property
    def goals(self) -> tuple[str, ...]:
        """Support offered: the goals agreed with the person, as text."""
        return tuple(str((g.get("description") or {}).get("text", "")) for g in self.goal_resources)

    @property
    def note(self) -> str:
        return "\n".join(str(n.get("text", "")) for n in self.service_request.get("note") or ())

    def _concept(self, concept: Resource) -> str | None:
        for coding in concept.get("coding") or ():
            system, code = coding.get("system"), coding.get("code")
            if system == CONCEPT_SYSTEM:
                return code
            if self.mappings is not None:
                mapped = self.mappings.concept_of(system, code)
                if mapped is not None:
                    return mapped
        return None

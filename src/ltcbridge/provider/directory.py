"""The on-line directory of providers: HealthcareService + Organization, searchable and routable.

Registering must be trivial (the cat-and-dog shelter test): a name, a contact and the domains;
locality and ODS code are optional. A provider is keyed on ``.../provider`` (its ODS code, or a
slug of its name when it has none), so registering again updates the same entry.

Searching by domain uses the standard ``service-category`` parameter. Locality is
``coverageArea.display`` (free text: there is no Location to point at for a village hall) and is
matched after the search, case-insensitively; a provider with no locality serves anywhere.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ltcbridge.concepts import CONCEPT_SYSTEM
from ltcbridge.errors import LtcbridgeError
from ltcbridge.fhirclient import FhirClient
from ltcbridge.provider.domains import known_domains_text, parse_domains
from ltcbridge.provider.identifiers import PROVIDER_ID, concept, first_value, identifier, query
from ltcbridge.uris import ODS_CODE

Resource = dict[str, Any]


class DirectoryError(LtcbridgeError):
    """A registration is incomplete, or no provider can take a referral."""


@dataclass(frozen=True)
class Listing:
    """What a provider tells the directory: only name, contact and domains are required."""

    name: str
    contact: str  # a phone number or an email address
    domains: tuple[str, ...]  # need concepts
    locality: str | None = None
    ods: str | None = None

    @property
    def key(self) -> str:
        """The ``.../provider`` value: the ODS code, else a slug of the name."""
        return self.ods or slug(self.name)


@dataclass(frozen=True)
class ProviderEntry:
    """A registered provider as the directory returns it."""

    listing: Listing
    service_id: str

    @property
    def reference(self) -> Resource:
        """What goes in ``ServiceRequest.performer`` and ``Task.owner`` for this provider."""
        ref: Resource = {
            "reference": f"HealthcareService/{self.service_id}",
            "display": self.listing.name,
        }
        if self.listing.ods:
            ref["identifier"] = identifier(ODS_CODE, self.listing.ods)
        return ref


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "provider"


def make_listing(
    name: str, contact: str, domains: str | Sequence[str], locality: str = "", ods: str = ""
) -> Listing:
    """A Listing from what a person typed; DirectoryError says everything missing at once."""
    text = domains if isinstance(domains, str) else ",".join(domains)
    found, unknown = parse_domains(text)
    problems = []
    if not name.strip():
        problems.append("give the provider's name")
    if not contact.strip():
        problems.append("give a contact: a phone number or an email address")
    if unknown:
        problems.append(f"{', '.join(unknown)}: not a domain (use {known_domains_text()})")
    elif not found:
        problems.append(f"give at least one domain ({known_domains_text()})")
    if problems:
        raise DirectoryError("; ".join(problems))
    return Listing(
        name.strip(), contact.strip(), found, locality.strip() or None, ods.strip().upper() or None
    )


def _telecom(contact: str) -> list[Resource]:
    return [{"system": "email" if "@" in contact else "phone", "value": contact}]


def listing_resources(listing: Listing) -> tuple[Resource, Resource]:
    """The Organization and the HealthcareService (``providedBy`` left for the caller to link)."""
    identifiers = [identifier(PROVIDER_ID, listing.key)]
    if listing.ods:
        identifiers.append(identifier(ODS_CODE, listing.ods))
    organization = {
        "resourceType": "Organization",
        "identifier": identifiers,
        "active": True,
        "name": listing.name,
        "telecom": _telecom(listing.contact),
    }
    service: Resource = {
        "resourceType": "HealthcareService",
        "identifier": list(identifiers),
        "active": True,
        "name": listing.name,
        "telecom": _telecom(listing.contact),
        "category": [concept(domain) for domain in listing.domains],
    }
    if listing.locality:
        service["coverageArea"] = [{"display": listing.locality}]
    return organization, service


def listing_of(service: Resource) -> Listing:
    """Read a Listing back from a stored HealthcareService."""
    domains = tuple(
        c["code"]
        for category in service.get("category") or ()
        for c in category.get("coding") or ()
        if c.get("system") == CONCEPT_SYSTEM
    )
    telecom = (service.get("telecom") or [{}])[0].get("value", "")
    areas = [a.get("display") for a in service.get("coverageArea") or () if a.get("display")]
    return Listing(
        name=service.get("name", ""),
        contact=telecom,
        domains=domains,
        locality=areas[0] if areas else None,
        ods=first_value(service, ODS_CODE),
    )


def serves(listing: Listing, locality: str | None) -> bool:
    if not locality or listing.locality is None:
        return True
    return listing.locality.casefold() == locality.strip().casefold()


def choose_provider(
    candidates: Iterable[ProviderEntry], needs: Sequence[str], locality: str | None
) -> ProviderEntry | None:
    """The provider that best fits: most of the needs covered, then local before anywhere,
    then by name (so the same referral always goes to the same place)."""

    def fit(entry: ProviderEntry) -> tuple[int, int, str, str]:
        covered = sum(need in entry.listing.domains for need in needs)
        local = int(bool(locality) and entry.listing.locality is not None)
        return (-covered, -local, entry.listing.name.casefold(), entry.service_id)

    eligible = [
        e for e in candidates if serves(e.listing, locality) and set(needs) & set(e.listing.domains)
    ]
    return min(eligible, key=fit) if eligible else None


class Directory:
    """The directory on a FHIR endpoint (``fhir`` is an open FhirClient)."""

    def __init__(self, fhir: FhirClient) -> None:
        self.fhir = fhir

    async def register(self, listing: Listing) -> ProviderEntry:
        """Create or update the provider's entry: one transaction, safe to repeat."""
        organization, service = listing_resources(listing)
        org_urn = f"urn:uuid:{_uuid(listing.key)}"
        service["providedBy"] = {"reference": org_urn, "display": listing.name}
        entries: list[dict[str, Any]] = [
            {"fullUrl": org_urn, "resource": organization, "request": _put(organization, listing)},
            {"resource": service, "request": _put(service, listing)},
        ]
        await self.fhir.transaction(entries)
        found = await self._search({"identifier": f"{PROVIDER_ID}|{listing.key}"})
        return found[0]

    async def find(
        self, domain: str | None = None, locality: str | None = None
    ) -> list[ProviderEntry]:
        """Active providers offering ``domain`` (a need concept) and serving ``locality``."""
        params = {"active": "true"}
        if domain:
            params["service-category"] = f"{CONCEPT_SYSTEM}|{domain}"
        return [e for e in await self._search(params) if serves(e.listing, locality)]

    async def route_referral(self, needs: Sequence[str], locality: str | None) -> Resource:
        """The performer reference for a referral with ``needs`` from ``locality``.

        Raises DirectoryError when no provider offers any of the needs there, so the daemon
        can hold the referral and say why rather than send it nowhere.
        """
        candidates: dict[str, ProviderEntry] = {}
        for need in needs:
            for entry in await self.find(need, locality):
                candidates[entry.service_id] = entry
        chosen = choose_provider(candidates.values(), needs, locality)
        if chosen is None:
            raise DirectoryError(
                f"no provider in the directory offers {', '.join(needs) or 'these needs'}"
                f"{' in ' + locality if locality else ''}: register one, or refer by hand"
            )
        return chosen.reference

    async def _search(self, params: dict[str, str]) -> list[ProviderEntry]:
        return [
            ProviderEntry(listing_of(service), service["id"])
            async for service in self.fhir.search("HealthcareService", params)
        ]


def _put(resource: Resource, listing: Listing) -> Resource:
    return {"method": "PUT", "url": f"{resource['resourceType']}?{query(PROVIDER_ID, listing.key)}"}


def _uuid(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PROVIDER_ID}|{key}"))

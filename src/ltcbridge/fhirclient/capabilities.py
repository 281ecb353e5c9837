"""What a server says it can do, from its CapabilityStatement (``GET /metadata``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ResourceSupport:
    """Interactions and search parameters the server supports for one resource type."""

    type: str
    interactions: frozenset[str]
    search_params: tuple[str, ...]
    search_includes: tuple[str, ...] = ()
    conditional_create: bool = False
    conditional_update: bool = False


@dataclass(frozen=True, slots=True)
class Capabilities:
    """A readable summary of a CapabilityStatement; ``describe()`` is what ``ltcbridge check``
    prints."""

    fhir_version: str
    software: str
    resources: dict[str, ResourceSupport] = field(default_factory=dict)
    system_interactions: frozenset[str] = frozenset()
    operations: tuple[str, ...] = ()

    @classmethod
    def from_statement(cls, statement: Mapping[str, Any]) -> Capabilities:
        rest: Mapping[str, Any] = next(
            (r for r in statement.get("rest") or () if r.get("mode", "server") == "server"), {}
        )
        resources = {}
        for entry in rest.get("resource") or ():
            support = ResourceSupport(
                type=entry["type"],
                interactions=frozenset(i["code"] for i in entry.get("interaction") or ()),
                search_params=tuple(sorted(p["name"] for p in entry.get("searchParam") or ())),
                search_includes=tuple(entry.get("searchInclude") or ()),
                conditional_create=bool(entry.get("conditionalCreate")),
                conditional_update=bool(entry.get("conditionalUpdate")),
            )
            resources[support.type] = support
        software = statement.get("software") or {}
        return cls(
            fhir_version=str(statement.get("fhirVersion", "unknown")),
            software=" ".join(filter(None, (software.get("name"), software.get("version")))),
            resources=resources,
            system_interactions=frozenset(i["code"] for i in rest.get("interaction") or ()),
            operations=tuple(o["name"] for o in rest.get("operation") or ()),
        )

    def supports(self, resource_type: str, interaction: str) -> bool:
        support = self.resources.get(resource_type)
        return support is not None and interaction in support.interactions

    def supports_search_param(self, resource_type: str, name: str) -> bool:
        support = self.resources.get(resource_type)
        return support is not None and name in support.search_params

    def describe(self) -> str:
        """Human-readable text: one block per resource type, then system-level abilities."""
        lines = [f"FHIR {self.fhir_version} server: {self.software or 'software not stated'}"]
        for name in sorted(self.resources):
            support = self.resources[name]
            conditional = [
                label
                for label, flag in (
                    ("conditional create", support.conditional_create),
                    ("conditional update", support.conditional_update),
                )
                if flag
            ]
            lines.append(
                f"  {name}: {', '.join(sorted(support.interactions)) or 'no interactions'}"
            )
            if conditional:
                lines.append(f"    also: {', '.join(conditional)}")
            params = ", ".join(support.search_params) or "none"
            lines.append(f"    search parameters: {params}")
        system = ", ".join(sorted(self.system_interactions)) or "none"
        lines.append(f"  system interactions: {system}")
        lines.append(f"  operations: {', '.join(self.operations) or 'none'}")
        return "\n".join(lines)

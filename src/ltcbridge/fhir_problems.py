"""Locating what is not valid FHIR in a resource someone sent, for the message a person reads.

Readers of outside data (the GP export, the GP server, a provider's server, a practice's
MeasureReports) work on plain dicts and expect FHIR's shapes. A value of the wrong JSON type
makes them raise one of ``MALFORMED``; they catch it and call ``fhir_problem`` to name the
element, so the resource is kept aside with a path instead of stopping the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# What reading a resource of the wrong shape raises: a number where FHIR has an object, text
# where it has a list, a missing key or index.
MALFORMED = (AttributeError, TypeError, ValueError, LookupError)


def fhir_problem(
    resource: dict[str, Any], text_elements: Iterable[str] = ()
) -> tuple[str, str] | None:
    """The first element of a resource that is not valid FHIR, as (path, what is wrong), e.g.
    (".meta", "is not valid FHIR here: ..."); None when the resource is valid. Slow (a full
    validation with fhir.resources): for locating problems, never for reading.

    Two things the models let through are checked first: JSON nulls (FHIR JSON leaves an element
    out instead) and numbers in ``text_elements``, dates the caller reads as text (the models
    take numbers as timestamps); a Period there is checked at its start."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    null = _first_null(resource, "")
    if null is not None:
        return null, "is null: FHIR JSON leaves an element out instead of writing null"
    for element in text_elements:
        value, path = resource.get(element), f".{element}"
        if isinstance(value, dict):
            value, path = value.get("start"), f"{path}.start"
        if value is not None and not isinstance(value, str):
            return path, f"must be a FHIR date or dateTime, written as text (found {value!r:.60})"
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        path = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in first["loc"]
            if part != "root"
        )
        return path, f"is not valid FHIR here: {first['msg']} (found {first['input']!r:.60})"
    except (KeyError, TypeError) as exc:  # a model fhir.resources has no class for
        return "", f"cannot be checked against FHIR ({exc})"
    return None


def problem_of(resource: dict[str, Any], exc: Exception) -> tuple[str, str]:
    """(path, what is wrong) for a resource that raised ``exc`` while being read: its first
    element that is not valid FHIR, else the error itself."""
    return fhir_problem(resource) or ("", f"cannot be read ({type(exc).__name__}: {exc})")


def _first_null(value: Any, path: str) -> str | None:
    """The path of the first JSON null inside a resource, or None."""
    if isinstance(value, dict):
        items: Any = ((f"{path}.{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    for where, item in items:
        found = where if item is None else _first_null(item, where)
        if found is not None:
            return found
    return None

"""The exception hierarchy: every error ltcbridge raises on purpose is an ``LtcbridgeError``.

Callers can catch one base class; the CLI turns each into a message that says what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass


class LtcbridgeError(Exception):
    """Base class of every error ltcbridge raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input, located precisely enough for a person to fix it."""

    where: str  # file, file:line, or file#element
    path: str  # FHIR path or element inside the file, "" when the whole thing is wrong
    message: str

    def __str__(self) -> str:
        location = f"{self.where} {self.path}".strip()
        return f"{location}: {self.message}"


class MappingError(LtcbridgeError):
    """The mappings cannot be trusted: loading stops so that nothing is counted wrongly."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the mappings:\n{lines}")


class AgreementError(LtcbridgeError):
    """The data-sharing agreement file is missing, malformed or asks for something unsupported."""


class SourceError(LtcbridgeError):
    """The source export is empty, missing or unreadable as a whole (not one bad line)."""


class BadResource(LtcbridgeError):
    """One resource cannot be read; it goes to quarantine and the run goes on."""

    def __init__(self, reason: str, path: str, message: str) -> None:
        self.reason = reason  # short machine-readable kind, e.g. "impossible-date"
        self.path = path  # FHIR path of the offending element
        self.message = message
        super().__init__(f"{path}: {message}")

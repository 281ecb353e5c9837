"""The pseudonymised cohort extract: one row per person of a month's NHS-use cohort.

For a commissioner's cost analysis, and only when the agreement says ``[cohort_extract] allowed
= true``. Each person is a keyed pseudonym, HMAC-SHA256 over their NHS number with a key derived
for the recipient from the practice's own secret: the secret never leaves the practice, the same
person has the same pseudonym in every month's extract to that recipient (so the analyst can
follow them), and different recipients cannot link their extracts. No direct identifier, no
exact date (months only), and demographics only as the feed's breakdowns.

The privacy boundary here is ``extract_rows``: it is the one place that sees who a person is, and
what it returns carries only the pseudonym. The rows then pass the disclosure step
(`ltcbridge.disclosure.rare_combinations`): no combination of practice, age band, sex, ethnic
group and deprivation is rarer than the agreement's threshold. The extract is written owner-only
into the practice data directory, for a person to check before it is sent.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ltcbridge.agreement import Agreement
from ltcbridge.concepts import NHS_USE, STRATIFIERS
from ltcbridge.disclosure.rare_combinations import ProtectedExtract, protect_extract
from ltcbridge.errors import AgreementError, LtcbridgeError
from ltcbridge.identifiable.counting import Strata
from ltcbridge.identifiable.measures import reporting_orgs
from ltcbridge.identifiable.outcomes import Scope, nhs_use_cohort
from ltcbridge.identifiable.population import Population, build_population
from ltcbridge.identifiable.scan import ProgressCallback, scan_source
from ltcbridge.mapping import Mappings
from ltcbridge.period import check_period
from ltcbridge.private_data import write_private

KEY_BYTES = 32
COLUMNS = (
    "pseudonym", "practice", "pcn", "provider", "age_band", "sex", "ethnicity_group",
    "imd_quintile", "referral_month", "discharge_month",
    *(f"{kind}_{window}" for kind in NHS_USE for window in ("before", "after")),
    "cost_before", "cost_after",
)  # fmt: skip


class PseudonymKeyError(LtcbridgeError):
    """The practice's pseudonym secret is missing, unreadable or too short."""


@dataclass(frozen=True)
class Pseudonymiser:
    """Keyed pseudonyms for one recipient (the key is derived; the secret stays in the file)."""

    key: bytes

    @classmethod
    def for_recipient(cls, secret: bytes, recipient: str) -> Pseudonymiser:
        derived = hmac.new(secret, b"ltcbridge pseudonym v1|" + recipient.encode(), "sha256")
        return cls(derived.digest())

    def __call__(self, identity: str) -> str:
        return hmac.new(self.key, identity.encode(), hashlib.sha256).hexdigest()


def load_or_create_secret(path: Path | str) -> tuple[bytes, bool]:
    """The practice's pseudonym secret, made (readable by its owner only) when missing.

    Returns (secret, created). Losing the file changes every pseudonym from then on.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
        return path.read_bytes(), True
    try:
        secret = path.read_bytes()
    except OSError as exc:
        raise PseudonymKeyError(f"cannot read the pseudonym key {path}: {exc}") from None
    if len(secret) < KEY_BYTES:
        raise PseudonymKeyError(
            f"the pseudonym key {path} holds {len(secret)} bytes; it needs at least {KEY_BYTES}. "
            "Restore it from backup (a new key would change every pseudonym)"
        )
    return secret, False


def protect_cohort(
    rows: list[dict[str, str | int | float]], agreement: Agreement
) -> ProtectedExtract:
    """What may leave of `cohort_rows`: no combination rarer than the agreement's threshold;
    breakdowns the agreement does not allow withheld."""
    withheld = [n.replace("-", "_") for n in STRATIFIERS if n not in agreement.breakdowns]
    return protect_extract(rows, max(agreement.threshold, 1), withheld)


def cohort_rows(
    source: Path | str,
    mappings: Mappings,
    agreement: Agreement,
    period: str,
    secret: bytes,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[dict[str, str | int | float]]:
    """Every cohort member's row, pseudonymised but not yet protected: person-level, it stays
    here (`protect_cohort` makes what may leave)."""
    if not agreement.cohort_extract:
        raise AgreementError(
            f"agreement {agreement.id} does not allow a pseudonymised cohort extract: it needs "
            "[cohort_extract] allowed = true, agreed with the practice's IG lead"
        )
    check_period(period)
    columns = scan_source(
        source, mappings, workers=workers, progress=progress, months=[period], keep_identity=True
    )
    population = build_population(columns)
    if not agreement.exclude_optouts:
        population.opted_out[:] = False
    scope = Scope(period, agreement.level, agreement.breakdowns, mappings.pcn_of)
    return extract_rows(
        population, scope, agreement, Pseudonymiser.for_recipient(secret, agreement.recipient)
    )


def extract_rows(
    population: Population, scope: Scope, agreement: Agreement, pseudonym: Pseudonymiser
) -> list[dict[str, str | int | float]]:
    """One row per cohort member; the NHS number goes into the pseudonym and nowhere else."""
    if population.identity is None:
        raise LtcbridgeError("internal error: the scan did not keep identities for the extract")
    cohort = nhs_use_cohort(population, scope)
    units = cohort.units(population)
    strata = Strata.at_month_end(
        population.birth, population.sex, population.ethnicity, population.imd, scope.month
    ).by_name
    pcn_of = scope.pcn_of or {}
    rows = []
    for i, person in enumerate(cohort.patient.tolist()):
        practice = population.practices[population.patient_practice[person]]
        provider = population.providers[cohort.provider[i]] if cohort.provider[i] >= 0 else ""
        row: dict[str, str | int | float] = {
            "pseudonym": pseudonym(population.identity[person]),
            "practice": practice,
            "pcn": pcn_of.get(practice, ""),
            "provider": provider,
            **{
                name.replace("-", "_"): STRATIFIERS[name][int(strata[name][person])]
                for name in STRATIFIERS
            },
            "referral_month": _month(int(cohort.start[i])),
            "discharge_month": _month(int(cohort.end[i])),
        }
        for kind in NHS_USE:
            for window in ("before", "after"):
                row[f"{kind}_{window}"] = int(units[(kind, window)][i])
        for window in ("before", "after"):
            row[f"cost_{window}"] = sum(
                int(units[(kind, window)][i]) * price
                for kind, price in agreement.unit_costs.items()
            )
        rows.append(row)
    _check_level(population, scope)
    return sorted(rows, key=lambda r: str(r["pseudonym"]))


def _check_level(population: Population, scope: Scope) -> None:
    """The extract is per practice; a PCN-level agreement still needs every PCN known."""
    reporting_orgs(population, scope.level, scope.pcn_of or {})


def _month(yyyymmdd: int) -> str:
    return f"{yyyymmdd // 10000:04d}-{yyyymmdd // 100 % 100:02d}"


def write_extract(extract: ProtectedExtract, path: Path) -> Path:
    """The extract as CSV, owner-only (0600 in a 0700 folder), written whole or not at all."""
    with write_private(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(extract.rows)
    return path

"""generate(): a small, fully described set of synthetic practices, with its truth."""

from __future__ import annotations

import random
from pathlib import Path

from . import records
from .badlines import write_bad_lines
from .ledger import Ledger
from .mess import NO_PRACTICE_ORG, run_scenarios
from .nhs import NhsNumbers
from .outcomes import run_outcomes
from .output import write_mappings, write_ndjson, write_truth
from .population import populate
from .practices import make_practices
from .truth import Truth, compute

DEFAULT_MONTHS = ("2026-09", "2026-10", "2026-11")
OUR_FILES = ("*.ndjson", "truth.json", "mappings/*.json", "mappings/*.csv")


def _clear(out: Path) -> None:
    """Remove files a previous run wrote, so a smaller run leaves no stale file behind."""
    for pattern in OUR_FILES:
        for path in out.glob(pattern):
            path.unlink()


def generate(
    out_dir: str | Path,
    *,
    seed: int = 2026,
    practices: int = 6,
    per_pcn: int = 3,
    patients: tuple[int, int] = (40, 80),
    months: tuple[str, ...] = DEFAULT_MONTHS,
) -> Truth:
    """Write a bulk-export-like directory of synthetic practices and its truth.json.

    The same arguments always give byte-identical files. Months must be consecutive YYYY-MM
    strings; the middle one is where most of the deliberate mess is dated.
    """
    rng = random.Random(seed)
    ledger = Ledger(rng)
    nhs = NhsNumbers(rng)
    surgeries = make_practices(rng, practices, per_pcn)
    for p in surgeries:
        ledger.write(records.organization(p.org_id, p.name, p.ods))
    ledger.write(records.organization(NO_PRACTICE_ORG, "Branch pharmacy (no ODS code)", None))
    for p in surgeries:
        populate(ledger, nhs, p, months, patients)
    run_scenarios(ledger, nhs, surgeries, months)
    run_outcomes(ledger, nhs, surgeries, months)
    first = next(p for p in ledger.people.values() if p.practice == surgeries[0].ods)
    write_bad_lines(ledger, surgeries[0], first, months[len(months) // 2])

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    quarantine = write_ndjson(out, ledger)
    write_mappings(out, surgeries)
    truth = compute(ledger, {p.ods: p.pcn for p in surgeries}, quarantine)
    write_truth(out, truth.as_dict())
    return truth

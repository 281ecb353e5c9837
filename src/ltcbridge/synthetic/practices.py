"""The synthetic practices and PCNs: ODS codes, Organization resources, templates, catchments."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .people import Postcodes, catchment
from .templates import TEMPLATES, Template

AREAS = ("QX", "QV", "QW", "RV", "RW", "RX", "SA", "SB", "SC", "SD")


@dataclass(frozen=True)
class Practice:
    """One GP practice: ODS code, the PCN it belongs to, its coding template and catchment."""

    ods: str
    pcn: str
    org_id: str  # the Organization resource id (not always the ODS code)
    name: str
    template: Template
    area: Postcodes


def make_practices(rng: random.Random, total: int, per_pcn: int) -> list[Practice]:
    """PCN n's practices use template n (PCN 1: the example ICB codes; PCN 2: Riverside)."""
    out = []
    for p in range(-(-total // per_pcn)):
        template = TEMPLATES[p % len(TEMPLATES)]
        for i in range(min(per_pcn, total - p * per_pcn)):
            ods = f"Y{(p + 1) * (10 if per_pcn < 10 else 100) + i + 1:05d}"
            # Half the Organizations have ids that are not their ODS code: resolve, don't guess.
            org_id = ods if i % 2 == 0 else f"org-{rng.getrandbits(32):08x}"
            area = catchment(rng, AREAS[(p * per_pcn + i) % len(AREAS)])
            name = f"{template.key.title()} Synthetic Surgery {ods}"
            out.append(Practice(ods, f"U{p + 1:05d}", org_id, name, template, area))
    return out

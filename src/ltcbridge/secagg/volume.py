"""An ICB month at realistic volume, counted into a practice-level unmet-need cube.

For the secure-aggregation benchmark and tests (issue 15): practices of unequal size (about
8,000 registered people on average, log-normal), grouped into PCNs of about five; each month
about 0.6% of people record an unmet need, most in one domain, some in two or three, with a
skewed domain mix (physical activity and healthy eating common, volunteering rare). People with
unmet need are older than the practice list on average; an unknown age, sex or deprivation is
rare (a tenth of a percent or so: a birth date, a sex and a postcode are nearly always recorded),
an unstated ethnicity is not (6.5%); each practice has its own deprivation
and ethnicity mix, so small strata are small in some practices and not in others. The counts go
through the real counter (``aggregate.cube.count_people``), so every relation a reader knows
holds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltcbridge.concepts import NEED_DOMAINS, STRATIFIERS
from ltcbridge.counts import Cube
from ltcbridge.identifiable.counting import Strata, count_people
from ltcbridge.measure_catalogue import UNMET_NEED

MONTHLY_RATE = 0.006  # share of registered people recording an unmet need in a month
MEAN_LIST_SIZE = 8_000
# need-physical-activity, healthy-eating, arts-for-health, befriending, welfare-benefits,
# volunteering, other: a skewed mix, as social prescribing link workers report it
DOMAIN_MIX = (0.30, 0.22, 0.06, 0.16, 0.14, 0.04, 0.08)
AGE_MIX = (0.04, 0.14, 0.26, 0.30, 0.259, 0.001)  # 0-17, 18-39, 40-59, 60-74, 75+, unknown
SEX_MIX = (0.44, 0.559, 0.001)
ETHNICITY_MIX = (0.78, 0.025, 0.08, 0.035, 0.015, 0.065)
BREAKDOWNS = tuple(STRATIFIERS)


@dataclass(frozen=True)
class IcbMonth:
    """One ICB's month: its practices' exact counts and who belongs where."""

    icb: str
    pcn_of: dict[str, str]  # practice -> PCN
    list_sizes: dict[str, int]
    cube: Cube  # level "practice": one org per practice

    @property
    def pcns(self) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for practice, pcn in self.pcn_of.items():
            members.setdefault(pcn, []).append(practice)
        return members


def icb_month(
    practices: int = 30,
    *,
    per_pcn: int = 5,
    month: str = "2026-10",
    seed: int = 15,
    icb: str = "QXX",
    rate: float = MONTHLY_RATE,
    start: int = 1,
) -> IcbMonth:
    """A month of ``practices`` practices in PCNs of about ``per_pcn`` (the last may be larger).

    Practice codes run from ``Y{start:05d}`` and PCN codes from ``U{start:05d}``, so several
    ICBs generated with different starts never share a code.
    """
    rng = np.random.default_rng(seed)
    codes = [f"Y{index:05d}" for index in range(start, start + practices)]
    n_pcns = max(1, practices // per_pcn)
    pcn_of = {code: f"U{start + min(i // per_pcn, n_pcns - 1):05d}" for i, code in enumerate(codes)}
    sizes = np.maximum(1_500, rng.lognormal(np.log(MEAN_LIST_SIZE) - 0.08, 0.4, practices))
    people = rng.binomial(sizes.astype(np.int64), rate)
    person_org = np.repeat(np.arange(practices), people)
    strata = _strata(rng, person_org, practices)
    memberships = _needs(rng, len(person_org))
    cube = count_people(
        measure=UNMET_NEED.canonical,
        month=month,
        level="practice",
        orgs=codes,
        groups=UNMET_NEED.groups,
        person_org=person_org,
        memberships=memberships,
        strata=strata,
        stratifiers=BREAKDOWNS,
    )
    return IcbMonth(icb, pcn_of, dict(zip(codes, sizes.astype(int).tolist(), strict=True)), cube)


def _needs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(person, group) pairs: each person 1 to 3 domains (70% one), plus need-any for all."""
    how_many = rng.choice([1, 2, 3], size=n, p=[0.7, 0.22, 0.08])
    person = np.repeat(np.arange(n), how_many)
    domain = rng.choice(len(NEED_DOMAINS), size=len(person), p=DOMAIN_MIX)
    anyone = len(NEED_DOMAINS)  # need-any is the last group
    return (
        np.concatenate([person, np.arange(n)]),
        np.concatenate([domain, np.full(n, anyone)]),
    )


def _strata(rng: np.random.Generator, person_org: np.ndarray, practices: int) -> Strata:
    """Age and sex from one mix; ethnicity and deprivation from each practice's own mix."""
    n = len(person_org)
    ethnicity = _per_practice(rng, person_org, practices, ETHNICITY_MIX, concentration=30.0)
    home = rng.integers(0, 5, practices)  # each practice's most common IMD quintile
    spread = np.array([0.55, 0.2, 0.2, 0.025, 0.025])  # around the home quintile
    imd_mix = np.array([np.roll(spread, h) for h in home])
    imd_mix = np.column_stack([imd_mix * 0.998, np.full(practices, 0.002)])  # unknown
    return Strata(
        {
            "age-band": rng.choice(len(AGE_MIX), size=n, p=AGE_MIX),
            "sex": rng.choice(len(SEX_MIX), size=n, p=SEX_MIX),
            "ethnicity-group": ethnicity,
            "imd-quintile": _draw_rows(rng, imd_mix[person_org]),
        }
    )


def _per_practice(
    rng: np.random.Generator,
    person_org: np.ndarray,
    practices: int,
    mix: tuple[float, ...],
    concentration: float,
) -> np.ndarray:
    mixes = rng.dirichlet(np.asarray(mix) * concentration, practices)
    return _draw_rows(rng, mixes[person_org])


def _draw_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category per row of a probability matrix (inverse CDF, vectorised)."""
    cumulative = probabilities.cumsum(axis=1)
    cumulative /= cumulative[:, -1:]
    return (rng.random(len(probabilities))[:, None] > cumulative).sum(axis=1)

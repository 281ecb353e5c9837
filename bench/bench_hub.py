"""National-scale hub: synthetic practice releases loaded, collated and reported on one machine.

    python bench/bench_hub.py --practices 6500 --months 12                  # five measures, SQLite
    python bench/bench_hub.py --practices 6500 --months 12 --measures unmet-need   # as before
    python bench/bench_hub.py --practices 500 --months 12 --postgres   # a throwaway PostgreSQL

Each practice sends one release a month holding the MeasureReports a real practice feed holds
(docs/counting-rules.md): unmet need and support levels broken down by age band, sex, ethnicity
and deprivation; referrals, Star distance travelled and NHS use by those and by ``provider``, with
scores (``measureScore`` and the ``score-total`` extension). They are made by the feed's own code:
synthetic people are counted into a ``Cube`` (``aggregate.cube.count_people``), protected by
``disclosure.gate.protect_release`` (counts 1..7 masked, others rounded to 5, as the demo
agreement) and written by ``feed.measure_report.release_reports`` (validated FHIR R4B).

Practices are 5 to a PCN and split into 42 ICB-sized regions, each with 4 lead providers of its
own (168 providers and ``none``), all collated by one hub: harder than reality. Generating
reports is not measured: each region has a few synthetic practice-months, kept as JSON and
reused round robin; each release parses its JSON (as the receiver does after decrypting), gets
its practice, month and id stamped in, and goes through ``HubStoreDb.add_release`` exactly as
``hub receive`` calls it. Then: every PCN and ICB total (streamed), the outcomes by provider, the
report data and HTML, and the tidy CSV files. Prints a Markdown table row per phase: wall time
and the process's peak resident memory so far.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltcbridge.concepts import NHS_USE, PROVIDER, STRATIFIERS
from ltcbridge.counts import Cube
from ltcbridge.disclosure.cells import DisclosureRules
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.hub.collate import Collator
from ltcbridge.hub.config import HubConfig
from ltcbridge.hub.outcomes import outcomes
from ltcbridge.hub.report.csv_out import write_csv
from ltcbridge.hub.report.data import gather
from ltcbridge.hub.report.html import write_html
from ltcbridge.hub.report.tables import tidy_tables
from ltcbridge.hub.store import HubStoreDb, open_store
from ltcbridge.identifiable.counting import Strata, count_people
from ltcbridge.identifiable.outcomes import (
    NHS_USE_MEASURE,
    REFERRAL_GROUPS,
    REFERRALS,
    STAR_DISTANCE,
    STAR_GROUP_SUFFIXES,
    nhs_use_groups,
)
from ltcbridge.measure_catalogue import SUPPORT_LEVEL, UNMET_NEED

PRACTICES_PER_PCN = 5
REGIONS = 42  # ICB-sized regions, each with its own providers
PROVIDERS_PER_REGION = 4
VARIANTS = 3  # synthetic practice-months per region, reused round robin
RULES = DisclosureRules(threshold=7, rounding=5)  # the demo agreement's
UNIT_COSTS = {"gp-attendances": 42.0, "ae-attendances": 180.0, "prescriptions": 9.0,
              "unplanned-admissions": 1850.0}  # fmt: skip
MEASURES = {
    "unmet-need": UNMET_NEED.canonical,
    "support-level": SUPPORT_LEVEL.canonical,
    "referrals": REFERRALS,
    "star-distance-travelled": STAR_DISTANCE,
    "nhs-use": NHS_USE_MEASURE,
}


def months(count: int, first_year: int = 2026) -> list[str]:
    return [f"{first_year + m // 12}-{m % 12 + 1:02d}" for m in range(count)]


def practice_map(practices: int) -> dict[str, str]:
    return {f"P{i:05d}": f"N{i // PRACTICES_PER_PCN:04d}" for i in range(practices)}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []

    @contextlib.contextmanager
    def phase(self, name: str, note: str = "") -> Iterator[None]:
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.rows.append((name, elapsed, peak_mb(), note))
        print(f"| {name} | {elapsed:,.1f} s | {peak_mb():,.0f} MB | {note} |", flush=True)


# -- synthetic practice-months, counted, protected and written by the feed's own code -------------
class People:
    """Synthetic people of a region's variant practices: each one's practice and strata."""

    def __init__(self, rng: np.random.Generator, per_org: Sequence[int]) -> None:
        self.org = np.repeat(np.arange(len(per_org)), per_org)
        n = len(self.org)
        self.rng = rng
        self.by_name = {
            "age-band": rng.choice(6, n, p=[0.02, 0.13, 0.25, 0.3, 0.28, 0.02]),
            "sex": rng.choice(3, n, p=[0.45, 0.54, 0.01]),
            "ethnicity-group": rng.choice(6, n, p=[0.8, 0.03, 0.08, 0.04, 0.02, 0.03]),
            "imd-quintile": rng.choice(6, n, p=[0.25, 0.22, 0.2, 0.17, 0.14, 0.02]),
        }

    def __len__(self) -> int:
        return len(self.org)

    def strata(self, provider: np.ndarray | None = None, providers: Sequence[str] = ()) -> Strata:
        strata = Strata(dict(self.by_name))
        return strata if provider is None else strata.with_provider(provider, providers)

    def providers(self, share: float, count: int) -> np.ndarray:
        """Each person's provider index, or -1 (none) for about 1 - ``share`` of them."""
        chosen = self.rng.integers(0, count, len(self))
        return np.where(self.rng.random(len(self)) < share, chosen, -1)


def region_cubes(region: int, month: str, orgs: list[str], measures: Sequence[str]) -> list[Cube]:
    """One cube per measure for the region's variant practices in ``month``."""
    rng = np.random.default_rng(2026 + region)
    providers = sorted(f"T{region:02d}P{k}" for k in range(PROVIDERS_PER_REGION))
    demographic = tuple(STRATIFIERS)
    common = {"month": month, "level": "practice", "orgs": orgs}
    cubes = []

    def sizes(low: int, high: int) -> list[int]:
        return [int(n) for n in rng.integers(low, high + 1, len(orgs))]

    if "unmet-need" in measures:  # 1-3 domains each, and need-any
        people = People(rng, sizes(0, 60))
        domains = len(UNMET_NEED.concepts)
        pick = rng.random((len(people), domains)) < 1.6 / domains
        pick[np.arange(len(people)), rng.integers(0, domains, len(people))] = True
        person, group = np.nonzero(pick)
        anyone = np.arange(len(people))
        cubes.append(count_people(
            measure=UNMET_NEED.canonical, groups=UNMET_NEED.groups, person_org=people.org,
            memberships=(np.concatenate([person, anyone]),
                         np.concatenate([group, np.full(len(anyone), domains)])),
            strata=people.strata(), stratifiers=demographic, **common))  # fmt: skip
    if "support-level" in measures:  # one level each
        people = People(rng, sizes(20, 120))
        level = rng.choice(len(SUPPORT_LEVEL.concepts), len(people), p=[0.4, 0.3, 0.2, 0.1])
        cubes.append(count_people(
            measure=SUPPORT_LEVEL.canonical, groups=SUPPORT_LEVEL.groups, person_org=people.org,
            memberships=(np.arange(len(people)), level), strata=people.strata(),
            stratifiers=demographic, **common))  # fmt: skip
    if "referrals" in measures:  # made; accepted or declined by a provider
        people = People(rng, sizes(0, 40))
        answer = rng.random(len(people))
        accepted, declined = answer < 0.6, (answer >= 0.6) & (answer < 0.8)
        provider = np.where(accepted | declined, people.providers(0.95, len(providers)), -1)
        everyone = np.arange(len(people))
        person = np.concatenate([everyone, everyone[accepted], everyone[declined]])
        group = np.repeat([0, 1, 2], [len(everyone), accepted.sum(), declined.sum()])
        cubes.append(count_people(
            measure=REFERRALS, groups=REFERRAL_GROUPS, person_org=people.org,
            memberships=(person, group), strata=people.strata(provider, providers),
            stratifiers=(*demographic, PROVIDER), **common))  # fmt: skip
    if "star-distance-travelled" in measures:
        cubes.append(_star_cube(rng, People(rng, sizes(0, 30)), providers, common))
    if "nhs-use" in measures:
        cubes.append(_nhs_use_cube(rng, People(rng, sizes(0, 25)), providers, common))
    return cubes


def _star_cube(
    rng: np.random.Generator, people: People, providers: list[str], common: dict[str, Any]
) -> Cube:
    """People reviewed in the month: change per area scored in both readings (as the feed's
    ``count_star_distance``), improved, a year on."""
    from ltcbridge.mapping import load_mappings  # the bundled Stars and their areas

    star, areas = next((c, s.areas) for c, s in sorted(load_mappings().stars.items()))
    both = rng.random((len(people), len(areas))) < 0.9
    change = np.where(both, rng.integers(-2, 5, (len(people), len(areas))), 0)
    total = change.sum(axis=1)
    reviewed = both.any(axis=1)
    year_on = rng.random(len(people)) < 0.3
    members = [
        reviewed,
        reviewed & (total > 0),
        reviewed & year_on,
        reviewed & year_on & (total > 0),
    ]
    members += [both[:, a] for a in range(len(areas))]
    values = [total] * 4 + [change[:, a] for a in range(len(areas))]
    everyone = np.arange(len(people))
    groups = (star, *(star + suffix for suffix in STAR_GROUP_SUFFIXES), *areas)
    return count_people(
        measure=STAR_DISTANCE,
        groups=groups,
        person_org=people.org,
        memberships=(
            np.concatenate([everyone[m] for m in members]),
            np.concatenate([np.full(m.sum(), g) for g, m in enumerate(members)]),
        ),
        values=np.concatenate([v[m] for v, m in zip(values, members, strict=True)]).astype(float),
        score_units={star: "points", **dict.fromkeys(areas, "points")},
        strata=people.strata(people.providers(0.85, len(providers)), providers),
        stratifiers=(*STRATIFIERS, PROVIDER),
        **common,
    )


def _nhs_use_cube(
    rng: np.random.Generator, people: People, providers: list[str], common: dict[str, Any]
) -> Cube:
    """The cohort's units of each kind six months before and after, and their cost."""
    groups = nhs_use_groups(UNIT_COSTS)
    rates = {"gp-attendances": 3.0, "ae-attendances": 0.5, "prescriptions": 6.0,
             "unplanned-admissions": 0.2}  # fmt: skip
    n = len(people)
    units = {}
    for kind in NHS_USE:
        units[(kind, "before")] = rng.poisson(rates[kind], n)
        units[(kind, "after")] = rng.poisson(rates[kind] * 0.8, n)
    values = [np.zeros(n)]
    for kind in NHS_USE:
        values += [units[(kind, window)] for window in ("before", "after")]
    for window in ("before", "after"):
        values.append(sum(units[(kind, window)] * UNIT_COSTS[kind] for kind in NHS_USE))
    return count_people(
        measure=NHS_USE_MEASURE,
        groups=groups,
        person_org=people.org,
        memberships=(np.tile(np.arange(n), len(groups)), np.repeat(np.arange(len(groups)), n)),
        values=np.concatenate(values).astype(float),
        score_units={g: ("GBP" if g.startswith("nhs-cost") else "units") for g in groups[1:]},
        strata=people.strata(people.providers(1.0, len(providers)), providers),
        stratifiers=(*STRATIFIERS, PROVIDER),
        **common,
    )


Pool = list[list[list[Path]]]


def template_pool(measures: Sequence[str], folder: Path) -> Pool:
    """pool[region][variant]: files of the variant practice's MeasureReports, one per measure
    (JSON, as a release holds them). Run in a child process: FHIR validation's memory and time
    are the practices', not the hub's."""
    from ltcbridge.disclosure.gate import protect_release
    from ltcbridge.disclosure.protected import ReleaseTerms
    from ltcbridge.feed.measure_report import release_reports

    folder.mkdir(parents=True, exist_ok=True)
    pool: Pool = []
    orgs = [f"V{v}" for v in range(VARIANTS)]
    for region in range(REGIONS):
        cubes = region_cubes(region, "2026-01", orgs, measures)
        terms = ReleaseTerms("DSA-BENCH", "QHM", "jsna", "2026-01", "practice", RULES.threshold,
                             RULES.rounding, secondary=False, internal_recipient=False)  # fmt: skip
        written = release_reports(protect_release(cubes, terms).protected)
        reports = [written[m * len(orgs) : (m + 1) * len(orgs)] for m in range(len(cubes))]
        pool.append([])
        for v in range(VARIANTS):
            pool[-1].append([folder / f"{region:02d}-{v}-{m}.json" for m in range(len(reports))])
            for path, report in zip(pool[-1][-1], reports, strict=True):
                path.write_bytes(orjson.dumps(report[v]))
    return pool


def _in_child(function: Any, *args: Any) -> Any:
    """``function(*args)`` in a child process, so its memory is not the benchmark's."""
    with ProcessPoolExecutor(1) as executor:
        return executor.submit(function, *args).result()


def stamped(template: bytes, org: str, period: str) -> dict[str, Any]:
    """A template report parsed and made the practice's report for ``period``."""
    report = orjson.loads(template)
    last = calendar.monthrange(int(period[:4]), int(period[5:]))[1]
    slug = report["measure"].rsplit("/", 1)[-1]
    report["id"] = f"{slug}-{org}-{period}"
    report["period"] = {"start": f"{period}-01", "end": f"{period}-{last:02d}"}
    report["reporter"]["identifier"]["value"] = org
    return report


# -- the phases ------------------------------------------------------------------------------------
def load(
    store: HubStoreDb,
    practices: dict[str, str],
    periods: list[str],
    pool: Pool,
    canonicals: tuple[str, ...],
) -> int:
    """One release per practice and month; returns the number of figure rows stored."""
    figures = 0
    count = len(practices)
    for m, period in enumerate(periods):
        for i, practice in enumerate(practices):
            templates = pool[i * REGIONS // count][(i * 7 + m) % VARIANTS]
            reports = [stamped(path.read_bytes(), practice, period) for path in templates]
            meta = ReleaseMeta(f"{practice}-{period}", "DSA-BENCH", practice, "QHM", period, m + 1,
                               f"{period}-28T00:00:00+00:00", canonicals)  # fmt: skip
            store.add_release(meta, reports)
            figures += sum(_figure_count(r) for r in reports)
    return figures


def _figure_count(report: dict[str, Any]) -> int:
    return sum(1 + sum(len(s["stratum"]) for s in g.get("stratifier", [])) for g in report["group"])


def collate_all(collator: Collator) -> int:
    """Every PCN and ICB total, streamed (what the CSV totals table holds)."""
    return sum(1 for level in ("icb", "pcn") for _ in collator.totals(level))


def run(args: argparse.Namespace, target: str, work: Path) -> None:
    practices, periods = practice_map(args.practices), months(args.months)
    measures = list(MEASURES) if args.measures == "all" else args.measures.split(",")
    canonicals = tuple(MEASURES[m] for m in measures)
    config = HubConfig(name="Bench ICB", icb="QHM", practices=practices, months=tuple(periods),
                       unit_costs=dict(UNIT_COSTS))  # fmt: skip
    timer = Timer()
    print(f"\n{args.practices} practices x {args.months} months on {target.split(':')[0]}: "
          f"{', '.join(measures)}\n")  # fmt: skip
    print("| phase | time | peak RSS | note |\n|---|---|---|---|")
    with timer.phase("generate report templates (child process: not part of the hub)"):
        pool = [] if args.skip_load else _in_child(template_pool, measures, work / "templates")
    if pool:
        sizes = [sum(p.stat().st_size for p in variant) for region in pool for variant in region]
        per_release = [_figure_count(orjson.loads(p.read_bytes())) for p in pool[0][0]]
        print(f"| (templates) | | | {REGIONS * VARIANTS} practice-months, "
              f"{sum(sizes) / len(sizes) / 1e3:,.0f} kB of JSON and {sum(per_release):,} figures "
              f"a release ({' + '.join(map(str, per_release))}) |")  # fmt: skip
    with timer.phase("open store (runs pending migrations)"):
        store = open_store(target)
    with store:
        store.set_practices(practices)
        releases = args.practices * args.months
        if args.skip_load:
            print(f"| (load skipped) | | | reusing {target} at schema {store.schema_version()} |")
        else:
            with timer.phase("receive: parse + add_release", f"{releases:,} releases"):
                figures = load(store, practices, periods, pool, canonicals)
            rate = figures / timer.rows[-1][1]
            print(f"| (load rate) | | | {figures:,} figures, {rate:,.0f} figures/s, "
                  f"{releases / timer.rows[-1][1]:,.0f} releases/s |")  # fmt: skip
        del pool
        collator = Collator(store, config)
        with timer.phase("collate: every PCN and ICB total"):
            totals = collate_all(collator)
        print(f"| (totals) | | | {totals:,} rows |")
        with timer.phase("outcomes by provider"):
            by_provider = outcomes(collator)
        with timer.phase("outcomes ICB-wide (provider 'all')"):
            icb = outcomes(collator, by_provider=False)
        print(f"| (outcomes) | | | {len(by_provider.providers)} providers, "
              f"{len(by_provider.rows):,} provider-periods |")  # fmt: skip
        with timer.phase("report data (gather: works out both outcome views again)"):
            data = gather(collator)
        with timer.phase("HTML"):
            write_html(data, work / "report.html")
        print(f"| (report.html) | | | {(work / 'report.html').stat().st_size / 1e6:.1f} MB |")
        del data
        if not args.skip_csv:
            with timer.phase("tidy CSV export (all tables)"):
                write_csv(tidy_tables(collator, (icb, by_provider)), work)
            sizes = {p.name: p.stat().st_size / 1e6 for p in sorted(work.glob("*.csv"))}
            print("| (CSV) | | | " + ", ".join(f"{k} {v:,.0f} MB" for k, v in sizes.items())
                  + " |")  # fmt: skip
        if target.endswith(".sqlite"):
            size = Path(target).stat().st_size / 1e9
            print(f"| (store size) | | | {size:.2f} GB SQLite |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=6500)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument(
        "--measures",
        default="all",
        help=f"'all' or a comma-separated subset of {', '.join(MEASURES)}",
    )
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server")
    parser.add_argument("--skip-csv", action="store_true", help="skip the CSV export phase")
    parser.add_argument(
        "--skip-load",
        action="store_true",
        help="reuse the SQLite store a previous run left in --work (migrated on open)",
    )
    parser.add_argument(
        "--work", type=Path, help="folder for the store and outputs (default: temp)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.measures.split(",")) - set(MEASURES) - {"all"}
    if unknown:
        parser.error(f"unknown measure(s) {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as temp:
        work = args.work or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        if args.postgres:
            sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "hub"))
            from postgres_server import running_postgres

            with running_postgres() as url:
                run(args, url, work)
        else:
            run(args, str(work / "hub.sqlite"), work)
    return 0


if __name__ == "__main__":
    sys.exit(main())

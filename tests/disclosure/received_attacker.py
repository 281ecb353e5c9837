"""An exact attacker holding everything a commissioner (or several) ever received.

Written for the tests from the contract alone, not from the disclosure engine: it reads the
MeasureReports as they arrived, knows what any reader of the contract knows (strata add up to
their group, a need domain is at most need-any and need-any at most the sum of the domains, a PCN
is the sum of its practices, published counts are rounded, masked ones are 1..threshold or 0),
and asks an integer programme, for every masked figure whose truth is 1..threshold, how low and
how high it could be. It is given the practice's true counts only to play the strongest
intruder the engine promises to resist: one who knows which figures a rebuilt month changed
(a figure with the same key and the same true count in two releases is one unknown).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

MASKED = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
SCORE_TOTAL = "https://ltcbridge.github.io/fhir/StructureDefinition/score-total"
STAR = "https://ltcbridge.github.io/fhir/Measure/star-distance-travelled"
NHS_USE = "https://ltcbridge.github.io/fhir/Measure/nhs-use"
STAR_AREAS = 8  # the Well-being Star: 8 areas scored 1..10, public knowledge
STAR_STEP = 9  # one area moves at most 9 points either way
UNMET_NEED = "https://ltcbridge.github.io/fhir/Measure/unmet-need"
NEED_ANY = "need-any"

# (measure, month, org, group, stratifier, stratum)
Key = tuple[str, str, str, str, str | None, str | None]


@dataclass(frozen=True)
class Received:
    """One release as the recipient read it, with the rules it was made under and the true
    counts the practice kept (`truth`, for the intruder's revision knowledge and the audit)."""

    reports: list[dict[str, Any]]
    threshold: int
    rounding: int
    truth: Mapping[Key, int]
    state: str  # which version of the record it was built from (a rebuilt month is another)


@dataclass
class Narrowed:
    key: Key
    truth: int
    low: int
    high: int


@dataclass
class _Model:
    variables: dict[tuple[Key, int], int] = field(default_factory=dict)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    truth: list[int] = field(default_factory=list)
    small: dict[int, tuple[Key, int]] = field(default_factory=dict)  # var -> key, threshold
    continuous: set[int] = field(default_factory=set)  # score totals: not whole numbers
    rows: list[tuple[dict[int, int], float, float]] = field(default_factory=list)

    def variable(self, key: Key, truth: int) -> int:
        index = self.variables.get((key, truth))
        if index is None:
            index = self.variables[(key, truth)] = len(self.truth)
            self.truth.append(truth)
            self.lower.append(0.0)
            self.upper.append(highspy.kHighsInf)
        return index

    def narrow(self, var: int, low: float, high: float) -> None:
        self.lower[var] = max(self.lower[var], low)
        self.upper[var] = min(self.upper[var], high)

    def row(self, terms: dict[int, int], low: float, high: float) -> None:
        terms = {v: c for v, c in terms.items() if c}
        if terms:
            self.rows.append((terms, low, high))


def figures(report: dict[str, Any]) -> Iterable[tuple[Key, int | None]]:
    """Every (key, published count or None when masked) of one MeasureReport."""
    measure, month = report["measure"], report["period"]["start"][:7]
    org = report["reporter"]["identifier"]["value"]
    for group in report["group"]:
        code = group["code"]["coding"][0]["code"]
        yield (measure, month, org, code, None, None), _count(group)
        for stratifier in group.get("stratifier", []):
            name = stratifier["code"][0]["coding"][0]["code"] if "coding" in stratifier[
                "code"][0] else stratifier["code"][0]["text"]  # fmt: skip
            for stratum in stratifier["stratum"]:
                value = stratum["value"]["coding"][0]["code"]
                yield (measure, month, org, code, name, value), _count(stratum)


def _count(element: dict[str, Any]) -> int | None:
    population = element["population"][0]
    if "count" in population:
        return int(population["count"])
    assert any(e["url"] == MASKED for e in population.get("extension", [])), element
    return None


def score_totals(report: dict[str, Any]) -> Iterable[tuple[Key, float]]:
    """Every (key, published score total) of one MeasureReport."""
    measure, month = report["measure"], report["period"]["start"][:7]
    org = report["reporter"]["identifier"]["value"]
    for group in report["group"]:
        code = group["code"]["coding"][0]["code"]
        elements = [((None, None), group)] + [
            ((st["code"][0].get("text"), s["value"]["coding"][0]["code"]), s)
            for st in group.get("stratifier", [])
            for s in st["stratum"]
        ]
        for (name, value), element in elements:
            for extension in element.get("extension", []):
                if extension["url"] == SCORE_TOTAL:
                    yield (measure, month, org, code, name, value), extension["valueDecimal"]


def per_person(key: Key) -> tuple[float, float] | None:
    """What one person can add to a group's score, as anyone reading the Measure knows."""
    if key[0] == NHS_USE:
        return (0.0, highspy.kHighsInf)
    if key[0] == STAR:
        reach = STAR_STEP * (STAR_AREAS if key[3] == "star-wellbeing" else 1)
        return (-float(reach), float(reach))
    return None


def interval(published: int, threshold: int, rounding: int) -> tuple[int, int]:
    """True counts a published (unmasked) count may stand for."""
    if published == 0:
        return 0, 0
    low = max(1, published - rounding // 2, threshold + 1)
    return low, published + (rounding - 1) // 2


def narrowed(releases: list[Received], pcn_of: Mapping[str, str]) -> list[Narrowed]:
    """Every small masked figure whose feasible range spans fewer than `threshold` values."""
    model = _Model()
    for release in releases:
        _add_release(model, release)
    _add_pcn_sums(model, releases, pcn_of)
    return _solve(model)


def _add_release(model: _Model, release: Received) -> None:
    by_org: dict[tuple[str, str, str], dict[Key, int]] = defaultdict(dict)
    for report in release.reports:
        for key, published in figures(report):
            var = model.variable(key, release.truth[key])
            by_org[key[:3]][key] = var
            if published is None:
                truth = release.truth[key]
                model.narrow(var, min(1, truth), highspy.kHighsInf)
                if 1 <= truth <= release.threshold:
                    model.small[var] = (key, release.threshold)
            else:
                model.narrow(var, *interval(published, release.threshold, release.rounding))
    for cells in by_org.values():
        _add_sums(model, cells)
    _add_scores(model, release)


def _add_scores(model: _Model, release: Received) -> None:
    """Each published score total: a continuous unknown within its rounding, bounded by what
    its people can add (a group of c people of at most 9 points each: at most 9c), and the
    scored strata of a breakdown adding up to their group's total."""
    totals: dict[Key, int] = {}
    for report in release.reports:
        for key, total in score_totals(report):
            count_var = model.variables[(key, release.truth[key])]
            var = model.variable((*key, "score", id(release)), 0)  # type: ignore[arg-type]
            model.lower[var], model.upper[var] = _total_interval(total, release.rounding)
            model.continuous.add(var)
            low, high = per_person(key) or (-highspy.kHighsInf, highspy.kHighsInf)
            if high != highspy.kHighsInf:
                model.row({var: 1, count_var: -int(high)}, -highspy.kHighsInf, 0)
            if low != -highspy.kHighsInf:
                model.row({var: 1, count_var: -int(low)}, 0, highspy.kHighsInf)
            totals[key] = var
    for key, var in totals.items():
        if key[4] is not None:
            continue
        parts = [v for k, v in totals.items() if k[:4] == key[:4] and k[4] is not None]
        if parts:
            model.row({var: -1, **dict.fromkeys(parts, 1)}, -1e-6, 1e-6)


def _total_interval(published: float, rounding: int) -> tuple[float, float]:
    """The true total a rounded one may stand for (rounded to a whole number first)."""
    if published == 0:
        return -0.5, 0.5
    size = abs(published)
    low = 1 if size == rounding else size - rounding // 2
    high = size + (rounding - 1) // 2
    sign = 1 if published > 0 else -1
    ends = sorted((sign * (low - 0.5), sign * (high + 0.5)))
    return ends[0], ends[1]


def _add_sums(model: _Model, cells: dict[Key, int]) -> None:
    """Strata add up to their group; need domains against need-any (unmet need only)."""
    totals = {key[3]: var for key, var in cells.items() if key[4] is None}
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for key, var in cells.items():
        if key[4] is not None:
            strata[(key[3], key[4])].append(var)
    for (group, _), parts in strata.items():
        model.row({totals[group]: -1, **dict.fromkeys(parts, 1)}, 0, 0)
    if next(iter(cells))[0] != UNMET_NEED:
        return
    breakdowns: dict[tuple[str | None, str | None], dict[str, int]] = defaultdict(dict)
    for key, var in cells.items():
        breakdowns[(key[4], key[5])][key[3]] = var
    for groups in breakdowns.values():
        anyone = groups.get(NEED_ANY)
        domains = [var for group, var in groups.items() if group != NEED_ANY]
        if anyone is None:
            continue
        for domain in domains:
            model.row({domain: 1, anyone: -1}, -highspy.kHighsInf, 0)
        model.row({anyone: 1, **dict.fromkeys(domains, -1)}, -highspy.kHighsInf, 0)


def _add_pcn_sums(model: _Model, releases: list[Received], pcn_of: Mapping[str, str]) -> None:
    """A PCN figure is the sum of its practices' figures built from the same record."""
    members: dict[str, list[str]] = defaultdict(list)
    for practice, pcn in pcn_of.items():
        members[pcn].append(practice)
    by_state: dict[str, dict[Key, int]] = defaultdict(dict)
    for release in releases:
        for report in release.reports:
            for key, _ in figures(report):
                by_state[release.state][key] = model.variables[(key, release.truth[key])]
    for cells in by_state.values():
        for key, var in cells.items():
            parts = [cells.get((key[0], key[1], p, *key[3:])) for p in members.get(key[2], ())]
            if parts and all(p is not None for p in parts):
                model.row({var: -1, **dict.fromkeys(parts, 1)}, 0, 0)  # type: ignore[arg-type]


def _solve(model: _Model) -> list[Narrowed]:
    """Min and max of every small masked figure, one integer programme per linked group.

    Every optimum found is a whole set of figures consistent with everything received, so the
    lowest and highest value each small figure took in any of them is a range the attacker
    cannot rule out: a figure already seen spread `threshold - 1` apart needs no programme."""
    found = []
    for members, rows in _components(model):
        small = [var for var in members if var in model.small]
        if not small:
            continue
        column = {var: i for i, var in enumerate(members)}
        highs = _programme(model, members, rows, column, integer=True)
        relaxed = _programme(model, members, rows, column, integer=False)
        counts = np.array([i for i, v in enumerate(members) if v not in model.continuous], int)
        truth = np.array([model.truth[var] for var in members], dtype=float)
        seen_low, seen_high = truth.copy(), truth.copy()
        for var in small:
            key, threshold = model.small[var]
            col = column[var]
            if seen_high[col] - seen_low[col] >= threshold - 1:
                continue
            for sign in (1.0, -1.0):
                way = _optimum(relaxed, col, len(members), sign)
                if way is not None and not _integral(
                    way, counts
                ):  # the relaxation's corner is no count
                    way = _optimum(highs, col, len(members), sign)
                if way is None:  # unbounded: the figure has no upper limit at all
                    seen_high[col] = np.inf
                    continue
                way = np.round(way)
                seen_low, seen_high = np.minimum(seen_low, way), np.maximum(seen_high, way)
            if seen_high[col] - seen_low[col] < threshold - 1:
                found.append(
                    Narrowed(key, model.truth[var], int(seen_low[col]), int(seen_high[col]))
                )
    return found


def _components(model: _Model) -> list[tuple[list[int], list[int]]]:
    parent = list(range(len(model.truth)))

    def find(var: int) -> int:
        while parent[var] != var:
            parent[var] = parent[parent[var]]
            var = parent[var]
        return var

    for terms, _, _ in model.rows:
        first, *others = terms
        for other in others:
            parent[find(other)] = find(first)
    members: dict[int, list[int]] = defaultdict(list)
    for var in range(len(parent)):
        members[find(var)].append(var)
    rows: dict[int, list[int]] = defaultdict(list)
    for index, (terms, _, _) in enumerate(model.rows):
        rows[find(next(iter(terms)))].append(index)
    return [(vars_, rows[root]) for root, vars_ in members.items()]


def _programme(
    model: _Model, members: list[int], rows: list[int], column: dict[int, int], *, integer: bool
) -> highspy.Highs:
    """The group's programme: integer, or its linear relaxation (whose optimum, when it is a
    whole number everywhere, is also the integer optimum: it is feasible and no worse)."""
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", 0.0)
    for var in members:
        highs.addVar(model.lower[var], model.upper[var])
    if integer:
        whole = np.array(
            [i for i, v in enumerate(members) if v not in model.continuous], dtype=np.int32
        )
        kinds = np.full(len(whole), highspy.HighsVarType.kInteger)
        if len(whole):
            highs.changeColsIntegrality(len(whole), whole, kinds)
    for index in rows:
        terms, low, high = model.rows[index]
        cols = np.array([column[v] for v in terms], dtype=np.int32)
        highs.addRow(low, high, len(cols), cols, np.array(list(terms.values()), float))
    return highs


def _optimum(highs: highspy.Highs, col: int, n: int, sign: float) -> np.ndarray | None:
    """An integer solution with one column at its smallest (sign 1) or largest (sign -1) value;
    None when it can grow without bound."""
    cost = np.zeros(n)
    cost[col] = sign
    highs.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    highs.run()
    status = highs.getModelStatus()
    if status in (
        highspy.HighsModelStatus.kUnbounded,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        return None
    assert status == highspy.HighsModelStatus.kOptimal, f"attacker model: {status}"
    return np.asarray(highs.getSolution().col_value)


def _integral(way: np.ndarray, whole: np.ndarray) -> bool:
    """Whether every count (not the continuous score totals) is a whole number."""
    return bool(np.all(np.abs(way[whole] - np.round(way[whole])) < 1e-9))

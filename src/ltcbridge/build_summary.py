"""A short account of a feed build that a practice manager can read and act on.

It is printed at the practice and never sent: it shows the true counts before masking."""

from __future__ import annotations

from collections import Counter

from ltcbridge.identifiable.read import export_failed
from ltcbridge.identifiable.sources import INCREMENTAL_EXPORT
from ltcbridge.pipeline import FeedBuild

TOP_UNMAPPED = 5


def summarise(build: FeedBuild) -> list[str]:
    """Plain lines: what was read, what was not understood, what was kept aside, what was masked."""
    population = build.population
    read = sum(build.resource_counts.values())
    by_type = ", ".join(f"{n} {kind}" for kind, n in sorted(build.resource_counts.items()))
    optouts = (
        f"opted out of secondary use (counted nowhere): {population.opted_out}"
        if build.agreement.exclude_optouts
        else "opted out of secondary use: counted like everyone else ([optouts] exclude = false "
        "in the agreement)"
    )
    lines = [
        f"Read {read} resources ({by_type}).",
        f"People: {population.patients}; {optouts}; without a practice (counted nowhere): "
        f"{population.without_practice}.",
        f"Entries: {population.entry_versions} versions read, {population.replaced_versions} "
        "replaced by a newer version; "
        f"{population.entries_held_with_quarantined_patient} held with a quarantined patient; "
        f"{population.entries_unattributed} for people not in the source.",
        *population.uncounted(),
    ]
    if population.entry_versions and not build.facts_in_period:
        lines.append(
            f"Nothing read is dated {build.period}, so every count is 0: check --period (the "
            "month the entries were made in, YYYY-MM) and that the export covers it."
        )
    lines += _tally_line("Read, though not as written", build.notes)
    lines += _diagnostics_lines(build)
    lines += _unmapped_lines(build)
    lines += _quarantine_lines(build)
    lines += _measure_lines(build)
    lines += _disclosure_lines(build)
    return lines


def _measure_lines(build: FeedBuild) -> list[str]:
    """Each measure's headline across the organisations, before masking (it stays here)."""
    lines = []
    for cube in build.cubes:
        name = cube.measure.rstrip("/").rsplit("/", 1)[-1].replace("-", " ")
        same_people = {r.left for r in cube.relations if r.op == "=="}
        people = [
            f"{group} {int(cube.totals[:, g].sum())}"
            for g, group in enumerate(cube.groups)
            if group not in same_people
        ]
        lines.append(f"Counted for {name} (people, before masking): {', '.join(people)}.")
        if cube.score_units:
            sums = [
                f"{group} {sum(cube.scores[(o, group, None, None)] for o in cube.orgs):g}"
                for group in cube.score_units
            ]
            lines.append(f"  Score totals: {', '.join(sums)}.")
    return lines


def _tally_line(label: str, tally: Counter[str]) -> list[str]:
    """One line of what was tallied, most often first; none when nothing was."""
    if not tally:
        return []
    return [f"{label}: {', '.join(f'{n} × {what}' for what, n in tally.most_common())}."]


def _diagnostics_lines(build: FeedBuild) -> list[str]:
    """The export's own log and error files, tallied (never their text): an error there means
    the exporting server left something out, which no count here can show."""
    lines = _tally_line("The export's own log and error files", build.diagnostics)
    if export_failed(build.diagnostics):
        lines.append(
            "The exporting server reported errors, so the export may lack resources and the "
            "counts be too low: ask whoever ran the export what failed (its error files say), "
            "then export again."
        )
    if INCREMENTAL_EXPORT in build.diagnostics:
        lines.append(
            "This export holds only what changed since an earlier one (it has a deleted/ "
            "folder: an export with _since), so the counts are partial: build the feed from a "
            "whole export."
        )
    return lines


def _unmapped_lines(build: FeedBuild) -> list[str]:
    lines = []
    if build.unmapped:
        total = sum(build.unmapped.values())
        top = ", ".join(f"{s}|{c} ({n})" for (s, c), n in build.unmapped.most_common(TOP_UNMAPPED))
        lines.append(
            f"Unmapped: {total} codings ({len(build.unmapped)} distinct codes) that no mapping "
            f"covers in the entries read, most often {top}. Lines that cannot count are not "
            "read: run `ltcbridge mappings coverage` for every code of the export."
        )
    else:
        lines.append(
            "Unmapped: none in the entries read (lines that cannot count are not read: "
            "`ltcbridge mappings coverage` reads every code)."
        )
    for canonical, n in build.unmapped_questionnaires.most_common():
        lines.append(
            f"Unmapped template: {n} QuestionnaireResponse(s) answer {canonical or '(none)'}, "
            "which no mappings directory defines; their answers were not read."
        )
    return lines


def _quarantine_lines(build: FeedBuild) -> list[str]:
    if not build.quarantine:
        return ["Quarantined: nothing."]
    reasons = Counter(item.reason for item in build.quarantine)
    listed = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    return [
        f"Quarantined: {len(build.quarantine)} lines ({listed}), kept aside with file:line and "
        "what to fix; the rest of the run went on."
    ]


def _disclosure_lines(build: FeedBuild) -> list[str]:
    agreement = build.agreement
    masked = build.masked
    cells = build.protected.figure_count()
    lines = [
        f"Feed: {len(build.reports)} MeasureReport(s) for {build.period} at {agreement.level} "
        f"level under agreement {agreement.id} to {agreement.recipient}.",
        f"Disclosure: {sum(masked.values())} of {cells} figures masked "
        f"({masked.get('primary', 0)} because they were {_small(agreement.threshold)}, "
        f"{masked.get('secondary', 0)} to stop a masked figure being worked out, "
        f"{masked.get('history', 0)} kept masked because an earlier release masked them); other "
        f"counts rounded to the nearest {agreement.rounding}.",
    ]
    return lines + [f"WARNING: {w}" for w in agreement.warnings()]


def _small(threshold: int) -> str:
    return f"1..{threshold}" if threshold else "small (none: threshold 0)"

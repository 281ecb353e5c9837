"""The feed under secondary suppression, protected against earlier releases kept in history."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltcbridge.agreement import load_agreement
from ltcbridge.cli import EXIT_QUARANTINED, main
from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import DisclosureRules, LinearConstraint
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.disclosure.secondary import UnprotectableError
from ltcbridge.mapping import load_mappings
from ltcbridge.pipeline import build_feed

SYNTHETIC = Path(__file__).resolve().parents[2] / "fixtures" / "synthetic"
RULES = DisclosureRules(threshold=7, rounding=5)


def _agreement(tmp_path: Path, level: str) -> Path:
    path = tmp_path / f"{level}.toml"
    path.write_text(
        f"""[agreement]
id = "DSA-{level.upper()}"
recipient = "QHM"
valid_from = 2026-04-01
valid_until = 2027-03-31

[disclosure]
threshold = 7
rounding = 5
secondary = true

[breakdowns]
allowed = ["sex", "imd-quintile"]
level = "{level}"
"""
    )
    return path


def _pcn_ties(constraints: tuple[LinearConstraint, ...]) -> list[LinearConstraint]:
    """Relations naming both a PCN (U...) and a practice (Y...) figure."""
    return [c for c in constraints if {k[2][0] for k, _ in c.terms} == {"U", "Y"}]


def test_pcn_release_is_protected_against_the_practice_release_sent_before(
    tmp_path: Path,
) -> None:
    mappings = load_mappings([SYNTHETIC / "mappings"])
    practice_agreement = load_agreement(_agreement(tmp_path, "practice"))
    sent = build_feed(SYNTHETIC, mappings, practice_agreement, "2026-10").release
    store = HistoryStore(tmp_path / "history.sqlite")
    store.record("QHM", practice_agreement.id, sent)
    pcn_path = _agreement(tmp_path, "pcn")
    history = store.load_all()
    pcn = build_feed(
        SYNTHETIC, mappings, load_agreement(pcn_path), "2026-10", history=history
    ).release
    assert _pcn_ties(pcn.constraints)  # PCN = sum of its practices, across the two releases
    assert audit(pcn, RULES, history) == []
    status = main(
        ["feed", "build", "--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
         "--agreement", str(pcn_path), "--period", "2026-10", "--out", str(tmp_path / "out"),
         "--data-dir", str(tmp_path)]
    )  # fmt: skip
    assert status == EXIT_QUARANTINED  # the fixtures carry bad lines on purpose
    assert store.load_all() == [sent]  # building records nothing: sealing does


def test_a_practice_release_that_would_narrow_a_pcn_figure_sent_before_is_refused(
    tmp_path: Path,
) -> None:
    """A PCN figure of 2 sent first; two practices each showing at least one person pins it to
    2 or more, whatever else is masked (zeros are published as 0). Refusing is the only safe
    answer."""
    mappings = load_mappings([SYNTHETIC / "mappings"])
    sent = build_feed(
        SYNTHETIC, mappings, load_agreement(_agreement(tmp_path, "pcn")), "2026-10"
    ).release
    practice = load_agreement(_agreement(tmp_path, "practice"))
    with pytest.raises(UnprotectableError, match="nothing was sealed or recorded"):
        build_feed(SYNTHETIC, mappings, practice, "2026-10", history=[sent])

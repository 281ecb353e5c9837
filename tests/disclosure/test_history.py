"""Releases are protected against every earlier release to the same recipient."""

from __future__ import annotations

from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import MASKED, DisclosureRules, Release
from ltcbridge.disclosure.secondary import protect

from .helpers import total_of

EXACT = DisclosureRules(threshold=7, rounding=1)


def month(total: int, female: int, male: int) -> Release:
    return Release(
        cells={"total": total, "female": female, "male": male},
        constraints=[total_of("total", ["female", "male"])],
    )


def test_republished_month_where_n_to_n_plus_1_would_reveal() -> None:
    first = protect(month(total=47, female=0, male=47), EXACT)
    assert first.values == {"total": 47, "female": 0, "male": 47}
    # Late entries: three women added to the same month. Male is unchanged and was published.
    revised = month(total=50, female=3, male=47)
    one_table_at_a_time = protect(revised, EXACT)  # what a per-release tool would do
    assert audit(one_table_at_a_time, EXACT, history=[first]) != []
    published = protect(revised, EXACT, history=[first])
    assert published.values["female"] is MASKED
    assert published.values["total"] is MASKED
    assert audit(published, EXACT, history=[first]) == []


def test_a_cell_masked_before_stays_masked_when_republished() -> None:
    first = protect(month(total=30, female=3, male=27), EXACT)
    assert first.values["female"] is MASKED
    published = protect(month(total=40, female=13, male=27), EXACT, history=[first])
    assert published.values["female"] is MASKED
    assert published.reasons["female"] == "history"
    assert audit(published, EXACT, history=[first]) == []


def test_complements_chosen_before_stay_consistent() -> None:
    first = protect(month(total=30, female=3, male=27), EXACT)
    # Female unchanged (3) and total revised: the old complement must not be published now.
    published = protect(month(total=31, female=3, male=28), EXACT, history=[first])
    assert audit(published, EXACT, history=[first]) == []

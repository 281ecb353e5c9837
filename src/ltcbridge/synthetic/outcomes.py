"""Outcomes: providers' answers to referrals (Task), Star readings over time, and NHS use.

The practice daemon writes a provider's answer back to the GP record as a Task on the referral
ServiceRequest, and copies the provider's Star reviews back as Observations naming the provider as
performer. The GP record itself holds the NHS use the outcome measure compares before and after an
intervention: appointments, A&E attendances and admissions (Encounters) and prescriptions.

Three parts, run after the ordinary patients and the care-planning mess:
- `answer_referrals`: providers answer most of the ordinary patients' referral ServiceRequests;
- per practice, people with a whole course (referral, accepted then completed Task, Star baseline
  and reviews, NHS use in the six months before and after), ending six months before a reporting
  month so the NHS-use cohort of each reporting month has people;
- scenarios for the awkward cases, listed per practice in truth.json "mess" like the others.

As everywhere in the generator, each helper records what it wrote means (ledger.answers,
ledger.stars, ledger.nhs_use, ledger.referrals) in the step that writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from . import codes, entries, records
from .ledger import ZONES, Answer, Ledger, NhsUnit, Referral, iso
from .mess import Scene, _optout, instant
from .nhs import NhsNumbers
from .people import Person, add_months, shift_month
from .practices import Practice

PROVIDERS = ("NTP01", "NTP02", "NTP03")  # invented provider ODS codes (practices are Y*, PCNs U*)
ACCEPTING = frozenset({"accepted", "in-progress", "completed"})
DRUGS = (
    "Amlodipine 5mg tablets",
    "Metformin 500mg tablets",
    "Salbutamol 100micrograms/dose inhaler",
    "Sertraline 50mg tablets",
    "Atorvastatin 20mg tablets",
)
EMER = (codes.ACT_EMERGENCY, "emergency")
AMB = ("AMB", "ambulatory")
IMP = ("IMP", "inpatient encounter")
ADMISSION = (codes.SNOMED_ADMISSION, "Emergency hospital admission")


def day_of(when: str) -> date:
    """The day of a clinical date as written."""
    return date.fromisoformat(when[:10])


def _at(ledger: Ledger, day: date, hour: int | None = None) -> str:
    """A daytime instant on the day, in local time (the day as written is the local day)."""
    hour = ledger.rng.randint(8, 17) if hour is None else hour
    minute = ledger.rng.choice((0, 10, 20, 30, 40, 50))
    offset = "+01:00" if 4 <= day.month <= 9 else "Z"
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{offset}"


def _write(ledger: Ledger, res: dict, when: str, *, unmapped: tuple[str, ...] = ()) -> None:
    """One version of a resource, with meta stamped some time after its date."""
    stamp, _ = ledger.stamp(when, ledger.rng.randint(60, 60 * 24 * 3))
    ledger.write(records.with_meta(res, stamp, "1"), unmapped=unmapped)


# -- providers' answers ------------------------------------------------------------------------
def answer(
    ledger: Ledger,
    person: Person,
    request: str,
    owner: str,
    steps: list[tuple[str, date]],
    *,
    newest_first: bool = False,
    last_modified: bool = True,
) -> str:
    """A Task answering a referral, one version per (status, day) step; the last step wins.

    Each later version has a later meta.lastUpdated; `newest_first` writes them newest first.
    Without `last_modified` the Task is dated by its authoredOn (the first step).
    """
    rng = ledger.rng
    taken = {a.date[:10] for a in ledger.answers if a.patient == person.id}
    while steps[-1][1].isoformat() in taken:  # one answer a day per person: "latest" is clear
        steps = [(status, day + timedelta(days=1)) for status, day in steps]
    rid = ledger.new_id("task")
    lines = []
    updated: datetime | None = None
    authored = None
    for number, (status, day) in enumerate(steps, start=1):
        modified = f"{day.isoformat()}T{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}:00+00:00"
        authored = authored or modified
        moment = datetime.fromisoformat(modified) + timedelta(minutes=rng.randint(5, 600))
        updated = moment if updated is None or moment > updated else updated + timedelta(hours=1)
        res = records.task(
            rid,
            person.id,
            request,
            person.practice or "",
            owner,
            status,
            authored=authored,
            last_modified=modified if last_modified else None,
        )
        stamp = iso(updated.astimezone(rng.choice(ZONES)))
        lines.append(records.with_meta(res, stamp, str(number)))
    for res in lines[::-1] if newest_first else lines:
        ledger.write(res)
    final = lines[-1]
    when = final.get("lastModified", final["authoredOn"])
    ledger.answers.append(Answer(rid, person.id, request, final["status"], when, owner))
    return rid


def answer_referrals(ledger: Ledger, referrals: list[Referral]) -> None:
    """Providers answer about two in three referrals; a few answers are withdrawn or cancelled."""
    rng = ledger.rng
    for ref in referrals:
        person = ledger.people.get(ref.patient)
        if person is None or person.practice is None or not person.valid_nhs:
            continue
        roll = rng.random()
        if roll < 0.35:
            continue  # not answered (yet)
        first = day_of(ref.date) + timedelta(days=rng.randint(1, 20))
        later = first + timedelta(days=rng.randint(1, 10))
        if roll < 0.70:
            steps = [("accepted", first)]
        elif roll < 0.80:
            steps = [("accepted", first), ("in-progress", later)]
        elif roll < 0.85:
            steps = [("accepted", first), ("completed", later + timedelta(days=30))]
        elif roll < 0.95:
            steps = [("rejected", first)]
        else:
            steps = [("accepted", first), ("cancelled", later)]
        answer(
            ledger, person, ref.id, rng.choice(PROVIDERS), steps, newest_first=rng.random() < 0.3
        )


def retracted_referral(ledger: Ledger, person: Person, when: str) -> str:
    """A referral ServiceRequest later amended to entered-in-error (newer version written first)."""
    rid = ledger.new_id("servicerequest")
    coding = {"system": codes.SNOMED, "code": codes.SNOMED_REFERRAL}
    first = datetime.fromisoformat(f"{when[:10]}T10:00:00+00:00")
    for status, moment in (
        ("entered-in-error", first + timedelta(days=2)),
        ("active", first),
    ):
        res = records.entry(
            "ServiceRequest", rid, person.ref, when, codings=[coding], status=status
        )
        ledger.write(records.with_meta(res, iso(moment), None))
    ledger.referrals[rid] = Referral(rid, person.id, when, counts=False)
    return rid


# -- NHS use -----------------------------------------------------------------------------------
def gp_visit(ledger: Ledger, person: Person, day: date, status: str = "fulfilled") -> str:
    """A GP appointment; only a fulfilled one is an attendance."""
    rid = ledger.new_id("appointment")
    start = _at(ledger, day)
    res = records.appointment(
        rid, person.ref, start, status, patient_first=ledger.rng.random() < 0.6
    )
    _write(ledger, res, start)
    if status == "fulfilled":
        ledger.nhs_use.append(NhsUnit(person.id, "gp-attendances", start, f"Appointment/{rid}"))
    return rid


def hospital(
    ledger: Ledger,
    person: Person,
    day: date,
    kind: str,
    *,
    status: str = "finished",
    based_on: str | None = None,
    provider: str | None = None,
) -> str:
    """An Encounter: kind "ae" (class EMER), "admission" (IMP, SNOMED type) or "amb" (neither).

    Only a finished Encounter without basedOn counts; its codings are then read, so an unmapped
    class (AMB, IMP) is tallied in truth.unmapped.
    """
    rid = ledger.new_id("encounter")
    start = _at(ledger, day)
    cls, snomed = {"ae": (EMER, None), "admission": (IMP, ADMISSION), "amb": (AMB, None)}[kind]
    res = records.encounter(
        rid,
        person.ref,
        start,
        cls,
        status=status,
        snomed_type=snomed,
        based_on=based_on,
        provider=provider,
    )
    read = status == "finished" and based_on is None
    unmapped = (f"{codes.ACT_CODE}|{cls[0]}",) if read and cls is not EMER else ()
    _write(ledger, res, start, unmapped=unmapped)
    unit = {"ae": "ae-attendances", "admission": "unplanned-admissions"}.get(kind)
    if read and unit:
        ledger.nhs_use.append(NhsUnit(person.id, unit, start, f"Encounter/{rid}"))
    return rid


def prescription(
    ledger: Ledger, person: Person, day: date, status: str = "active", intent: str = "order"
) -> str:
    """A MedicationRequest; an active or completed order is a prescription."""
    rid = ledger.new_id("medicationrequest")
    when = _at(ledger, day) if ledger.rng.random() < 0.5 else day.isoformat()
    drug = ledger.rng.choice(DRUGS)
    _write(ledger, records.medication_request(rid, person.ref, when, status, intent, drug), when)
    if status in ("active", "completed") and intent == "order":
        ledger.nhs_use.append(NhsUnit(person.id, "prescriptions", when, f"MedicationRequest/{rid}"))
    return rid


def _days(ledger: Ledger, low: date, high: date, n: int) -> list[date]:
    """n random days from low to high inclusive."""
    span = (high - low).days
    return [low + timedelta(days=ledger.rng.randint(0, span)) for _ in range(n)]


def nhs_history(ledger: Ledger, person: Person, start: date, end: date) -> None:
    """NHS use in the six months before the referral and after the intervention, and outside."""
    rng = ledger.rng
    one = timedelta(days=1)
    before = (add_months(start, -6), start - one)
    after = (end + one, add_months(end, 6))
    uses = (
        (before, rng.randint(1, 5), rng.randint(0, 4), rng.randint(0, 2), rng.random() < 0.3),
        (after, rng.randint(0, 3), rng.randint(0, 3), int(rng.random() < 0.3), rng.random() < 0.1),
    )
    for (low, high), gp, rx, ae, admitted in uses:
        for day in _days(ledger, low, high, gp):
            gp_visit(ledger, person, day)
        for day in _days(ledger, low, high, rx):
            prescription(ledger, person, day, status=rng.choice(("active", "completed")))
        for day in _days(ledger, low, high, ae):
            hospital(ledger, person, day, "ae")
        if admitted:
            hospital(ledger, person, _days(ledger, low, high, 1)[0], "admission")
    outside = (
        (before[0] - timedelta(days=120), before[0] - one),
        (start, end),
        (after[1] + one, after[1] + timedelta(days=60)),
    )
    for low, high in rng.sample(outside, 2):
        gp_visit(ledger, person, _days(ledger, low, high, 1)[0])
    if rng.random() < 0.3:
        gp_visit(ledger, person, _days(ledger, *before, 1)[0], rng.choice(("noshow", "cancelled")))
    if rng.random() < 0.2:
        prescription(ledger, person, _days(ledger, *after, 1)[0], intent="plan")


# -- Star readings -----------------------------------------------------------------------------
def _evolve(ledger: Ledger, scores: tuple[int, ...], trend: str) -> tuple[int, ...]:
    steps = {"better": (0, 1, 1, 2, 3), "worse": (-2, -1, -1, 0, 1), "same": (-1, 0, 0, 1)}[trend]
    return tuple(min(10, max(1, s + ledger.rng.choice(steps))) for s in scores)


def _gap(ledger: Ledger, scores: tuple[int, ...]) -> tuple[int | None, ...]:
    """Now and then one area is not scored."""
    if ledger.rng.random() >= 0.15:
        return scores
    missing = ledger.rng.randrange(len(scores))
    return tuple(None if i == missing else s for i, s in enumerate(scores))


def star_course(
    s: Scene, person: Person, baseline: date, reviews: list[tuple[date, str | None]]
) -> None:
    """A baseline taken at the practice, then reviews (by a provider, or None: the practice)."""
    ledger = s.ledger
    rng = ledger.rng
    scores = tuple(rng.randint(2, 7) for _ in codes.STAR_AREAS)
    if rng.random() < 0.3:
        entries.star_response(ledger, person, baseline.isoformat(), scores)
    else:
        entries.star_reading(ledger, s.practice, person, baseline.isoformat(), _gap(ledger, scores))
    trend = rng.choice(("better", "better", "worse", "same"))
    for day, provider in reviews:
        scores = _evolve(ledger, scores, trend)
        when = _at(ledger, day) if rng.random() < 0.4 else day.isoformat()
        entries.star_reading(
            ledger, s.practice, person, when, _gap(ledger, scores), provider=provider
        )


# -- whole courses -----------------------------------------------------------------------------
def _some_day(ledger: Ledger, month: str, low: int = 1, high: int = 28) -> date:
    return date(int(month[:4]), int(month[5:7]), ledger.rng.randint(low, high))


def course(
    s: Scene,
    end_month: str,
    *,
    person: Person | None = None,
    newest_first: bool | None = None,
    stars: bool = True,
) -> tuple[Person, str, date, date]:
    """A referral, an accepted then completed Task ending in `end_month`, Stars and NHS use."""
    ledger = s.ledger
    rng = ledger.rng
    p = person or s.person()
    start = _some_day(ledger, shift_month(end_month, -rng.randint(1, 4)))
    when = start.isoformat() if rng.random() < 0.6 else _at(ledger, start)
    entries.coded(ledger, s.practice, p, "Observation", when, s.need(rng.choice(codes.NEEDS)))
    request = entries.referral(
        ledger, p, when, date_field=rng.choice(("occurrenceDateTime", "authoredOn"))
    )
    owner = rng.choice(PROVIDERS)
    accepted = start + timedelta(days=rng.randint(2, 10))
    end = _some_day(ledger, end_month, 14)
    steps = [("accepted", accepted)]
    if rng.random() < 0.3:
        steps.append(("in-progress", accepted + timedelta(days=1)))
    steps.append(("completed", end))
    if newest_first is None:
        newest_first = rng.random() < 0.4
    answer(ledger, p, request, owner, steps, newest_first=newest_first)
    if stars:
        reviews: list[tuple[date, str | None]] = []
        if rng.random() < 0.8:
            reviews.append((end, owner))
        if rng.random() < 0.6:
            reviews.append((_some_day(ledger, rng.choice(s.months)), rng.choice((owner, None))))
        star_course(s, p, start + timedelta(days=rng.randint(0, 1)), reviews)
    nhs_history(ledger, p, start, end)
    return p, request, start, end


def star_only(s: Scene) -> None:
    """A Star baseline 9-14 months before the reporting months and a review in one of them."""
    ledger = s.ledger
    rng = ledger.rng
    p = s.person()
    baseline = _some_day(ledger, shift_month(s.months[0], -rng.randint(9, 14)))
    if rng.random() < 0.5:
        request = entries.referral(ledger, p, baseline.isoformat())
        steps = [("accepted", baseline + timedelta(days=rng.randint(3, 12)))]
        answer(ledger, p, request, rng.choice(PROVIDERS), steps)
    review = _some_day(ledger, rng.choice(s.months))
    star_course(s, p, baseline, [(review, rng.choice((*PROVIDERS, None)))])


def cohort_month(s: Scene, i: int) -> str:
    """The month an intervention ends in for the NHS-use cohort of reporting month i."""
    return shift_month(s.months[i % len(s.months)], -6)


# -- the awkward cases -------------------------------------------------------------------------
OUTCOME_SCENARIOS: list[tuple[str, Callable[[Scene], None]]] = []


def scenario(name: str) -> Callable[[Callable[[Scene], None]], Callable[[Scene], None]]:
    """Register an outcome scenario under a short name (shown in truth.json "mess")."""

    def register(fn: Callable[[Scene], None]) -> Callable[[Scene], None]:
        OUTCOME_SCENARIOS.append((name, fn))
        return fn

    return register


@scenario("task-versions: completed version written before accepted; the later lastUpdated wins")
def task_versions(s: Scene) -> None:
    course(s, cohort_month(s, 0), newest_first=True)


@scenario("task-retracted: Tasks accepted, then entered-in-error / cancelled, count nothing")
def task_retracted(s: Scene) -> None:
    for last in ("entered-in-error", "cancelled"):
        p = s.person()
        request = entries.referral(s.ledger, p, f"{s.main}-04")
        steps = [("accepted", date.fromisoformat(f"{s.main}-06")), (last, day_of(f"{s.main}-12"))]
        answer(s.ledger, p, request, PROVIDERS[0], steps, newest_first=last == "cancelled")


@scenario("task-on-retracted-referral: an answer to a referral that was entered-in-error")
def task_on_retracted(s: Scene) -> None:
    ledger = s.ledger
    p = s.person()
    gone = retracted_referral(ledger, p, f"{s.main}-05")
    entries.referral(ledger, p, f"{s.main}-19")  # the referral that stands: no answer yet
    answer(ledger, p, gone, PROVIDERS[1], [("accepted", day_of(f"{s.main}-09"))])
    # Completed, but on a retracted referral: no intervention, so not in the NHS-use cohort.
    q = s.person()
    end_month = cohort_month(s, 1)
    start = day_of(f"{shift_month(end_month, -2)}-10")
    gone = retracted_referral(ledger, q, start.isoformat())
    steps = [("accepted", start + timedelta(days=3)), ("completed", day_of(f"{end_month}-20"))]
    answer(ledger, q, gone, PROVIDERS[1], steps)
    nhs_history(ledger, q, start, day_of(f"{end_month}-20"))


@scenario("two-referrals-one-month: the first accepted (NTP01), the second rejected later (NTP02)")
def two_referrals(s: Scene) -> None:
    p = s.person()
    first = entries.referral(s.ledger, p, f"{s.main}-03")
    second = entries.referral(s.ledger, p, f"{s.main}-17T11:20:00+01:00")
    answer(s.ledger, p, first, PROVIDERS[0], [("accepted", day_of(f"{s.main}-08"))])
    answer(s.ledger, p, second, PROVIDERS[1], [("rejected", day_of(f"{s.main}-24"))])


@scenario("declined-coded: 'social prescribing declined' with a referral, without, retracted")
def declined_coded(s: Scene) -> None:
    ledger = s.ledger
    p = s.person()
    entries.referral(ledger, p, f"{s.main}-02")
    entries.declined(ledger, p, "Observation", f"{s.main}-09")
    q = s.person()  # declined, but no referral this month: not in the cohort
    entries.referral(ledger, q, f"{s.months[0]}-15")
    entries.declined(ledger, q, "Procedure", f"{s.main}-11", date_field="performedPeriod.start")
    r = s.person()  # the decline was entered in error
    entries.referral(ledger, r, f"{s.main}-12")
    entries.declined(ledger, r, "Observation", f"{s.main}-13", status="entered-in-error")


@scenario("nhs-use-windows: clamped month edges, same-day units, records that count nothing")
def nhs_use_windows(s: Scene) -> None:
    ledger = s.ledger
    p = s.person()
    end_month = cohort_month(s, 0)
    start = add_months(day_of(f"{shift_month(end_month, -3)}-01"), 1) - timedelta(days=1)
    end = add_months(day_of(f"{end_month}-01"), 1) - timedelta(days=1)  # both month ends
    request = entries.referral(ledger, p, start.isoformat())
    owner = PROVIDERS[2]
    answer(ledger, p, request, owner, [("accepted", start + timedelta(days=4)), ("completed", end)])
    one = timedelta(days=1)
    low, high = add_months(start, -6), add_months(end, 6)  # e.g. 2025-12-31 - 6 = 2025-06-30
    for day in (low - one, low, start, end, high, high + one):  # in: low and high only
        gp_visit(ledger, p, day)
    twice = low + timedelta(days=40)
    gp_visit(ledger, p, twice)
    gp_visit(ledger, p, twice)  # same day: one attendance
    ae_day = end + timedelta(days=30)
    hospital(ledger, p, ae_day, "ae")
    hospital(ledger, p, ae_day, "ae")  # same day: one attendance
    rx_day = start - timedelta(days=20)
    prescription(ledger, p, rx_day)
    prescription(ledger, p, rx_day, status="completed")  # two prescriptions
    hospital(ledger, p, start - timedelta(days=50), "admission")
    # Count nothing: not fulfilled, a provider's session, no mapped class, not finished, not an
    # order, stopped.
    gp_visit(ledger, p, start - timedelta(days=10), "noshow")
    gp_visit(ledger, p, end + timedelta(days=10), "cancelled")
    hospital(ledger, p, end + timedelta(days=12), "amb", based_on=request, provider=owner)
    hospital(ledger, p, end + timedelta(days=14), "amb")
    hospital(ledger, p, end + timedelta(days=16), "ae", status="cancelled")
    prescription(ledger, p, end + timedelta(days=18), intent="plan")
    prescription(ledger, p, end + timedelta(days=19), status="stopped")
    # Versions: an appointment booked then fulfilled counts; a prescription retracted does not.
    rid = ledger.new_id("appointment")
    when = _at(ledger, end + timedelta(days=20), 9)
    t0 = instant(f"{when[:10]}T07:00:00Z")
    for status, t in (("fulfilled", t0 + timedelta(hours=3)), ("booked", t0 - timedelta(days=9))):
        res = records.appointment(rid, p.ref, when, status, patient_first=True)
        ledger.write(records.with_meta(res, iso(t), None))
    ledger.nhs_use.append(NhsUnit(p.id, "gp-attendances", when, f"Appointment/{rid}"))
    rid = ledger.new_id("medicationrequest")
    when = (end + timedelta(days=22)).isoformat()
    for status, t in (("active", t0 + timedelta(days=2)), ("entered-in-error", t0 + timedelta(3))):
        res = records.medication_request(rid, p.ref, when, status, "order", DRUGS[0])
        ledger.write(records.with_meta(res, iso(t), None))


@scenario("star-edges: year-on review naming a Practitioner first, same-day readings, worse")
def star_edges(s: Scene) -> None:
    ledger = s.ledger
    p = s.person()
    base = (3, 4, 2, 1, 5, 6, 3, 2)
    entries.star_reading(ledger, s.practice, p, f"{shift_month(s.main, -13)}-20", base)
    performer = [{"reference": "Practitioner/hlw-0007"}, records.ods_ref(PROVIDERS[1])]
    review = (5, 6, 4, None, 6, 6, 5, 4)  # work-volunteering not scored: left out of the change
    entries.star_reading(
        ledger, s.practice, p, f"{s.main}-06", review, provider=PROVIDERS[1], performer=performer
    )
    q = s.person()  # two readings on one day: the second is not a review of the first
    entries.star_reading(ledger, s.practice, q, f"{s.main}-14", (4,) * 8)
    entries.star_reading(ledger, s.practice, q, f"{s.main}-14T16:00:00+01:00", (6,) * 8)
    r = s.person()  # worse, reviewed on the bundled form
    entries.star_reading(ledger, s.practice, r, f"{s.months[0]}-03", (7, 6, 7, 5, 6, 8, 7, 6))
    entries.star_response(ledger, r, f"{s.later}-09", (5, 5, 6, 5, 4, 8, 6, 5))


@scenario("task-authored-only: a completed Task with no lastModified is dated by authoredOn")
def task_authored_only(s: Scene) -> None:
    ledger = s.ledger
    p = s.person()
    end_month = cohort_month(s, 2)
    start = day_of(f"{shift_month(end_month, -2)}-06")
    request = entries.referral(ledger, p, start.isoformat())
    end = day_of(f"{end_month}-09")
    answer(ledger, p, request, PROVIDERS[0], [("completed", end)], last_modified=False)
    nhs_history(ledger, p, start, end)


@scenario("optout-outcomes: opted out, with a completed referral, Stars and NHS use: nowhere")
def optout_outcomes(s: Scene) -> None:
    p, *_ = course(s, cohort_month(s, 1))
    _optout(s, p, "2024-02-02", codes.OPTOUT, "2024-02-02T10:00:00Z")


def run_outcomes(
    ledger: Ledger, nhs: NhsNumbers, practices: list[Practice], months: tuple[str, ...]
) -> None:
    """Answers to existing referrals, whole courses in every practice, then the scenarios."""
    answer_referrals(ledger, list(ledger.referrals.values()))
    for practice in practices:
        s = Scene(ledger, nhs, practice, months)
        for i in range(len(months)):
            course(s, cohort_month(s, i))
        for _ in range(ledger.rng.randint(1, 2)):
            star_only(s)
    for i, (name, fn) in enumerate(OUTCOME_SCENARIOS):
        practice = practices[(i + 1) % len(practices)]
        fn(Scene(ledger, nhs, practice, months))
        ledger.mess[practice.ods].append(name.split(":")[0])

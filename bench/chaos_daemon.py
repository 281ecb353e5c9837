"""Chaos: kill -9 the practice daemon at random points of its syncs, 50+ times, then compare
both servers with a clean run of the same practice: zero lost, zero duplicated.

Run: .venv/bin/python bench/chaos_daemon.py [--kills 50] [--people 40] [--seed 7]
 or: .venv/bin/python bench/chaos_daemon.py --faults 0.15 [--people 40] [--seed 7]
With ``--faults RATE`` it injects ordinary faults instead of kills (tests/daemon/faults.py: 503,
429, connections dropped before or after the server acted, truncated answers, on that share of
all requests to both servers), against a GP engine of each profile (the project's, and the
independent one without ``_history``), and reports the cycles the backlog took to drain, the
effects performed, duplicates and leaks (referrals of people whose consent was withdrawn).
Needs `npm ci --prefix tests/fhir_engine`. Starts two engines (GP and provider). Each sync is a
real `python -m ltcbridge.daemon sync --once` process killed with SIGKILL after a random delay.
Three phases, each with its share of the kills: referrals out; provider outcomes back; a second
wave of reviews (new referrals) together with the provider discharging the first wave.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import running_engine  # noqa: E402
from tests.daemon.chaos import (  # noqa: E402
    ChaosLog,
    kill_and_restart,
    loop_fingerprint,
    sync_process,
)
from tests.daemon.faults import scenario as fault_scenario  # noqa: E402
from tests.daemon.loop_data import (  # noqa: E402
    all_of,
    config_text,
    patient,
    practice_record,
    provider_outcomes,
    put_all,
    reset,
    review,
    write_mappings,
)

WINDOW = (0.0, 2.0)  # seconds after the sync process began its cycle (import not counted)


def discharge_all(provider: str) -> None:
    """The provider completes every accepted referral (Task completed)."""
    import httpx

    for task in all_of(provider, "Task"):
        if task["status"] == "accepted":
            task["status"] = "completed"
            task["output"] = [{"type": {"text": "summary"}, "valueString": "Finished the course"}]
            httpx.put(f"{provider}/Task/{task['id']}", json=task, timeout=30).raise_for_status()


def second_wave(gp: str, people: int) -> None:
    resources = []
    for n in range(people + 1, people + 1 + people // 2):
        resources += [patient(f"p{n}", n), review(f"qr{n}", f"p{n}", consent=n % 5 != 0)]
    put_all(gp, resources)


def run_to_completion(config: Path) -> None:
    process = sync_process(config)
    assert process.wait(timeout=600) in (0, 3)


def scenario(gp: str, provider: str, config: Path, people: int, kills: int, seed: int) -> ChaosLog:
    """The three phases; with kills=0 it is the clean run."""
    rng, log = random.Random(seed), ChaosLog()
    shares = [kills // 3, kills // 3, kills - 2 * (kills // 3)]
    put_all(gp, practice_record(people, without_consent=frozenset(range(5, people + 1, 5))))
    phase(config, shares[0], rng, log)
    provider_outcomes(provider)
    phase(config, shares[1], rng, log)
    second_wave(gp, people)
    discharge_all(provider)
    phase(config, shares[2], rng, log)
    provider_outcomes(provider, scores=6)  # outcomes for the second wave (and new readings)
    run_to_completion(config)
    return log


def phase(config: Path, kills: int, rng: random.Random, log: ChaosLog) -> None:
    if kills == 0:
        run_to_completion(config)
        return
    goal, window = log.kills + kills, WINDOW
    while log.kills < goal:  # a run that finishes before its kill time is not counted
        kill_and_restart(config, goal - log.kills, window, rng, log)
        # the phase's work is done: later kills land within the life of a quick (no-op) cycle
        window = (0.0, 0.4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", type=float, help="fault rate (0-1) instead of kills")
    args = parser.parse_args()
    if args.faults is not None:
        return fault_run(args.faults, args.people, args.seed)
    with running_engine() as gp, running_engine() as provider:
        tmp = Path(tempfile.mkdtemp(prefix="ltcbridge-chaos-"))
        results = {}
        for label, kills in (("clean", 0), ("chaos", args.kills)):
            reset(gp, provider)
            state_dir = tmp / label
            config = tmp / f"{label}.toml"
            config.write_text(config_text(gp, provider, state_dir, write_mappings(tmp / "maps")))
            started = time.monotonic()
            log = scenario(gp, provider, config, args.people, kills, args.seed)
            results[label] = (loop_fingerprint(gp, provider), log, time.monotonic() - started)
    clean, chaos = results["clean"][0], results["chaos"][0]
    log = results["chaos"][1]
    print(
        f"people {args.people} (+{args.people // 2} second wave); kills {log.kills} "
        f"in {log.runs} sync processes; chaos run {results['chaos'][2]:.0f} s, clean run "
        f"{results['clean'][2]:.0f} s"
    )
    print(f"kill delays (s): min {min(log.kill_delays):.2f} max {max(log.kill_delays):.2f}")
    ok = True
    for what in clean:
        duplicated = sum(1 for c in chaos[what].values() if c > 1)
        lost = len(set(clean[what]) - set(chaos[what]))
        extra = len(set(chaos[what]) - set(clean[what]))
        same = chaos[what] == clean[what]
        ok &= same
        print(
            f"{what:24} clean {len(clean[what]):4}  chaos {len(chaos[what]):4}  lost {lost}  "
            f"duplicated {duplicated}  unexpected {extra}  {'equal' if same else 'DIFFERENT'}"
        )
    print("RESULT:", "PASS (final state equals the clean run's)" if ok else "FAIL")
    return 0 if ok else 1


FAULT_CYCLE_LIMIT = 10


def fault_run(rate: float, people: int, seed: int) -> int:
    """The fault scenario against each GP profile; PASS when every effect happened once, none
    leaked, and the backlog drained within ``FAULT_CYCLE_LIMIT`` cycles."""
    ok = True
    logging.disable(logging.CRITICAL)  # the retries' warnings; the summary says what happened
    independent_profile = running_engine({"ENGINE_PROFILE": "independent"})
    with independent_profile as independent, running_engine() as gp, running_engine() as provider:
        for label, gp_url in (("project engine", gp), ("independent engine", independent)):
            reset(gp_url, provider)
            tmp = Path(tempfile.mkdtemp(prefix="ltcbridge-faults-"))
            config = tmp / "ltcbridge.toml"
            maps = write_mappings(tmp / "maps")
            config.write_text(config_text(gp_url, provider, tmp / "state", maps))
            started = time.monotonic()
            run = fault_scenario(gp_url, provider, config, people, rate, seed,
                                 FAULT_CYCLE_LIMIT)  # fmt: skip
            seconds = time.monotonic() - started
            injected = sum(run.injected.values())
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(run.injected.items()))
            print(
                f"GP {label}: fault rate {rate:.0%}; {injected} faults in {run.requests} "
                f"requests ({kinds}); referrals drained in {run.referral_cycles} cycle(s), "
                f"write-backs in {run.writeback_cycles}; effects {len(run.referrals)} "
                f"referrals + {len(run.writebacks)} GP writes; duplicates {run.duplicates}; "
                f"leaks {len(run.leaked)}; set aside {run.set_aside}; {seconds:.0f} s"
            )
            ok &= (
                run.duplicates == 0
                and not run.leaked
                and set(run.referrals) == run.expected_referrals
                and max(run.referral_cycles, run.writeback_cycles) <= FAULT_CYCLE_LIMIT
            )
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

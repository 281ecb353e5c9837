"""The practice daemon's first sync of a large practice, and an incremental sync of a day.

Run: .venv/bin/python bench/bench_daemon.py [--resources 180000] [--day 1500] [--mode bulk]
Needs `npm ci --prefix tests/fhir_engine`. Streams a synthetic practice record
(`ltcbridge.synthetic.generate_bulk`: about one resource in six a Patient, so 180,000 resources
is about 30,000 patients and 150,000 care-planning entries) into a local GP engine with batch
bundles, then times `python -m ltcbridge.daemon sync --once` (REST incremental search; referrals
with consent go to a second engine, the provider) as a separate process, with its peak RSS.
Then a day's changes (amended entries) are written and a second sync is timed.

`--transfer` measures instead what the first sync asks the GP server for (issue 13 item 5): a
practice of `--plain` Patients with no care-planning entry plus the synthetic care-planning people
(`--resources`), each person with `--noise` everyday resources no mapping names (NHS use among
them: tests/daemon/pull_data.py), read in-process through a counting transport by the filtered
pull and by a full read, REST and bulk; requests, resources and body bytes, against what the
mappings and measures need (every Patient, the entries that assert something, and the referral
cohort's NHS use). A full read by REST search is measured only with `--rest-full` (the bulk full
read gives what is needed). The test engine looks indexed filters up and keeps a search's match
list for its further pages (tests/fhir_engine/indexed.mjs), so a full-size practice (about
6 million resources: `--resources 18000 --plain 27000`) can be measured; it is given a 16 GB heap.

Every synthetic review carries consent; only the first --referred people keep it, because the
test engine used to answer a conditional write in O(resources of that type) (about 0.5-1 s per
referral transaction once it held a thousand referrals, before its search indexes; not
re-measured since), which made a full-size send measure the engine rather than the daemon.
The summary line shows where each sync spent its time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import running_engine  # noqa: E402
from tests.daemon.loop_data import config_text  # noqa: E402
from tests.daemon.pull_data import Counting, noisy_practice  # noqa: E402

from ltcbridge.daemon.pull import pull_gp, referral_cohort  # noqa: E402
from ltcbridge.daemon.pull_bulk import pull_gp_bulk  # noqa: E402
from ltcbridge.daemon.pull_plan import PullPlan, full_plan  # noqa: E402
from ltcbridge.daemon.state import StateStore  # noqa: E402
from ltcbridge.fhirclient import FhirClient  # noqa: E402
from ltcbridge.identifiable.read import CARE_PLANNING_TYPES, NHS_USE_TYPES, Reader  # noqa: E402
from ltcbridge.mapping import load_mappings  # noqa: E402
from ltcbridge.synthetic import generate_bulk  # noqa: E402

MAPPINGS = ROOT / "fixtures" / "synthetic" / "mappings"
BATCH = 500
# The engine holds the whole practice in memory (about 1 GB a million resources, more while an
# export is served): a full-size practice passes Node's default heap limit. Kept beside any
# NODE_OPTIONS of the caller's (e.g. a profiler's).
ENGINE_ENV = {
    "NODE_OPTIONS": f"{os.environ.get('NODE_OPTIONS', '')} --max-old-space-size=16384".strip()
}


def load(base_url: str, path: Path, referred: int) -> tuple[int, list[dict]]:
    """PUT every resource by id (later versions override earlier lines); returns the count and
    a sample of entries to amend for the day's changes. Only the first ``referred`` people keep
    their consent answers (see the module docstring)."""
    sample: list[dict] = []
    consenting: set[str] = set()
    entries: list[dict] = []
    total = 0
    with httpx.Client(timeout=300) as http:
        for line in path.open(encoding="utf-8"):
            resource = json.loads(line)
            resource.pop("meta", None)  # the engine stamps its own versions and times
            if resource["resourceType"] == "QuestionnaireResponse":
                _limit_consent(resource, consenting, referred)
            url = f"{resource['resourceType']}/{resource['id']}"
            entries.append({"resource": resource, "request": {"method": "PUT", "url": url}})
            if resource["resourceType"] == "Observation" and len(sample) < 100_000:
                sample.append(resource)
            if len(entries) == BATCH:
                total += _post(http, base_url, entries)
                entries = []
        total += _post(http, base_url, entries)
    return total, sample


def _limit_consent(response: dict, consenting: set[str], referred: int) -> None:
    subject = response["subject"]["reference"]
    if subject not in consenting and len(consenting) < referred:
        consenting.add(subject)
    if subject not in consenting:
        response["item"] = [i for i in response["item"] if i["linkId"] != "consent"]


def _post(http: httpx.Client, base_url: str, entries: list[dict]) -> int:
    if not entries:
        return 0
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    response = http.post(base_url, json=bundle)
    response.raise_for_status()
    return len(entries)


def day_of_changes(base_url: str, sample: list[dict], count: int) -> None:
    """``count`` amended entries (new effective date and a second version), as a busy day."""
    entries = []
    for resource in sample[:count]:
        resource = {**resource, "effectiveDateTime": "2026-11-20T09:00:00+00:00"}
        url = f"Observation/{resource['id']}"
        entries.append({"resource": resource, "request": {"method": "PUT", "url": url}})
    with httpx.Client(timeout=300) as http:
        for start in range(0, len(entries), BATCH):
            _post(http, base_url, entries[start : start + BATCH])


def timed_sync(config: Path) -> tuple[float, int, dict]:
    """Wall seconds, peak RSS (MiB) and the cycle summary (plus the process's own CPU seconds,
    to tell the daemon's cost from the engines') of one sync process.

    Peak RSS is the child's ``VmHWM``, polled while it runs: ``ru_maxrss`` would include this
    bench process's own size, which a child inherits at fork and keeps across exec on Linux.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "ltcbridge.daemon", "sync", "--once", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak_kib = 0
    while True:
        peak_kib = max(peak_kib, _high_water_kib(process.pid))
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    assert os.waitstatus_to_exitcode(status) in (0, 3), status
    health = json.loads((config.parent / "state" / "health.json").read_text())
    summary = {"cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), **health["last_cycle"]}
    return seconds, peak_kib // 1024, summary


def _high_water_kib(pid: int, field: str = "VmHWM") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def engine_memory() -> str:
    """The resident and peak memory of the engines this process started (its `node`
    children), for the figures: the engine holds the whole practice."""
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if fields.get("Name", "").strip() == "node" and int(fields["PPid"]) == os.getpid():
            pid = int(status.parent.name)
            now, peak = _high_water_kib(pid, "VmRSS"), _high_water_kib(pid)
            sizes.append(f"{now / 2**20:.1f} GiB now, {peak / 2**20:.1f} GiB peak")
    return "; ".join(sizes) or "unknown"


async def _first_sync(gp: str, state: StateStore, plan: PullPlan | None, mode: str) -> Counting:
    """One first sync in-process, counted at the client transport."""
    counting = Counting()
    reader = Reader(load_mappings([MAPPINGS]))
    async with FhirClient(gp, transport=counting, timeout=600) as client:
        if mode == "bulk":
            work = state.path.parent / f"export-{state.path.stem}"
            await pull_gp_bulk(client, state, reader, work, plan=plan, poll_seconds=0.2)
        else:
            await pull_gp(client, state, reader, plan=plan)
    return counting


def needed(state: StateStore) -> tuple[int, int]:
    """Resources and compact JSON bytes the mappings and measures need, from a full read's
    state: every Patient, every care-planning entry asserting something, and the NHS use of
    the referral cohort."""
    cohort = set(referral_cohort(state))
    rows = [raw for (raw,) in state.db.execute("SELECT resource FROM patient")]
    entries = state.db.execute(
        "SELECT e.resource_type, e.subject_value, e.concepts, r.resource FROM entry e JOIN "
        "entry_resource r ON r.resource_type = e.resource_type AND r.id = e.id"
    )
    for kind, subject, concepts, raw in entries:
        if (kind in CARE_PLANNING_TYPES and concepts != "||") or (
            kind in NHS_USE_TYPES and subject in cohort
        ):
            rows.append(raw)
    compact = sum(len(json.dumps(json.loads(r), separators=(",", ":")).encode()) for r in rows)
    return len(rows), compact


def transfer(args: argparse.Namespace) -> int:
    """--transfer: what the first sync transfers, filtered and in full, against what is needed."""
    tmp = Path(tempfile.mkdtemp(prefix="ltcbridge-bench-transfer-"))
    source = tmp / "practice.ndjson"
    lines = noisy_practice(source, args.resources, args.noise, plain=args.plain)
    with running_engine(ENGINE_ENV) as gp:
        started = time.monotonic()
        loaded, _ = load(gp, source, referred=10**9)
        print(f"loaded {loaded} resources ({lines} lines) in {time.monotonic() - started:.0f} s")
        print(f"engine memory after loading: {engine_memory()}", flush=True)
        results = {}
        runs = [("rest", "filtered")] if "rest" in args.transfer_modes else []
        runs += [("bulk", "filtered"), ("bulk", "full")]  # the full read gives what is needed
        runs += [("rest", "full")] if args.rest_full else []
        for mode, name in runs:
            state = StateStore(tmp / f"{mode}-{name}.db")
            plan = full_plan() if name == "full" else None
            started = time.monotonic()
            counted = asyncio.run(_first_sync(gp, state, plan, mode))
            print(f"{mode} {name}: {time.monotonic() - started:.0f} s", flush=True)
            print(f"engine memory: {engine_memory()}", flush=True)
            results[mode, name] = (counted, state)
        full = results["bulk", "full"][1]
        need, need_bytes = needed(full)
        people = full.db.execute("SELECT count(*) FROM patient").fetchone()[0]
        cohort = len(referral_cohort(full))
        print(
            f"practice: {loaded} resources, {people} patients, referral cohort {cohort}; needed "
            f"{need} resources ({need / loaded:.1%}), {need_bytes / 1e6:.1f} MB"
        )
        print("| mode | pull | requests | resources | MB | resources / needed | bytes / needed |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for (mode, name), (c, _) in results.items():
            print(
                f"| {mode} | {name} | {c.requests} | {c.resources} | {c.bytes / 1e6:.1f} | "
                f"{c.resources / need:.2f} | {c.bytes / need_bytes:.2f} |"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfer", action="store_true", help="measure what is transferred")
    parser.add_argument("--noise", type=int, default=200, help="unrelated resources a person")
    parser.add_argument("--plain", type=int, default=0, help="Patients with no care planning")
    parser.add_argument(
        "--rest-full",
        action="store_true",
        help="also a full read by REST search (the bulk full read already gives what is needed)",
    )
    parser.add_argument(
        "--transfer-modes",
        default="rest,bulk",
        help="with --transfer: rest,bulk or bulk (which first syncs are measured; a bulk full "
        "read always runs, for what is needed)",
    )
    parser.add_argument("--resources", type=int, default=180_000)
    parser.add_argument("--day", type=int, default=1500, help="entries changed in a day")
    parser.add_argument("--mode", choices=("rest", "bulk"), default="bulk", help="[gp] mode")
    parser.add_argument(
        "--referred", type=int, default=200, help="people whose consent answers are kept"
    )
    args = parser.parse_args()
    if args.transfer:
        return transfer(args)
    tmp = Path(tempfile.mkdtemp(prefix="ltcbridge-bench-"))
    source = tmp / "practice.ndjson"
    lines = generate_bulk(source, args.resources)
    with running_engine() as gp, running_engine() as provider:
        started = time.monotonic()
        loaded, sample = load(gp, source, args.referred)
        print(
            f"loaded {loaded} lines ({lines} generated) into the GP engine in "
            f"{time.monotonic() - started:.0f} s"
        )
        config = tmp / "ltcbridge.toml"
        text = config_text(gp, provider, tmp / "state", MAPPINGS)
        config.write_text(text.replace("[gp]\n", f'[gp]\nmode = "{args.mode}"\n'))
        seconds, rss, summary = timed_sync(config)
        print(
            f"mode {args.mode}; first sync: {seconds:.1f} s, peak RSS {rss} MiB, summary {summary}"
        )
        day_of_changes(gp, sample, args.day)
        seconds, rss, summary = timed_sync(config)
        print(
            f"incremental sync of {args.day} changed entries: {seconds:.1f} s, peak RSS "
            f"{rss} MiB, summary {summary}"
        )
        seconds, rss, summary = timed_sync(config)
        print(f"sync with nothing changed: {seconds:.1f} s, peak RSS {rss} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

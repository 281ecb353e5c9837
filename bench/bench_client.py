"""Paging through FhirClient vs raw httpx GETs of the same URLs, same local engine, one run.

Run: .venv/bin/python bench/bench_client.py [--resources 2000] [--count 100] [--rounds 7]
Needs `npm ci --prefix tests/fhir_engine`. Both sides parse bodies with orjson and follow
Bundle.link next; the figure of merit is the median ratio client/raw (target <= 1.10).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
from pathlib import Path

import httpx
import orjson

from ltcbridge.fhirclient import FhirClient, upsert_entry

ENGINE = Path(__file__).resolve().parent.parent / "tests" / "fhir_engine" / "server.mjs"


def start_engine() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        ["node", str(ENGINE), "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    port = process.stdout.readline().split()[1]
    return process, f"http://127.0.0.1:{port}/fhir"


async def load(fhir: FhirClient, total: int) -> None:
    entries = [
        upsert_entry(
            {
                "resourceType": "Patient",
                "identifier": [{"system": "https://bench.example/id", "value": f"b{n}"}],
                "name": [{"family": f"Bench{n}"}],
            }
        )
        for n in range(total)
    ]
    for offset in range(0, total, 40):
        await fhir.batch(entries[offset : offset + 40])


async def page_raw(http: httpx.AsyncClient, base: str, count: int) -> int:
    url: str | None = f"{base}/Patient?_count={count}"
    seen = 0
    while url:
        bundle = orjson.loads((await http.get(url)).content)
        seen += len(bundle.get("entry") or ())
        url = next((x["url"] for x in bundle.get("link", []) if x["relation"] == "next"), None)
    return seen


async def page_client(fhir: FhirClient, count: int) -> int:
    return sum([1 async for _ in fhir.search("Patient", {"_count": count})])


async def main(resources: int, count: int, rounds: int) -> None:
    process, base = start_engine()
    try:
        async with FhirClient(base) as fhir, httpx.AsyncClient() as http:
            await load(fhir, resources)
            raw_times, client_times = [], []
            for _ in range(rounds):  # interleaved, so drift in the engine hits both sides
                started = time.perf_counter()
                assert await page_raw(http, base, count) == resources
                raw_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                assert await page_client(fhir, count) == resources
                client_times.append(time.perf_counter() - started)
    finally:
        process.terminate()
    raw, client = statistics.median(raw_times), statistics.median(client_times)
    print(f"resources={resources} _count={count} rounds={rounds}")
    print(f"raw httpx   median {raw * 1000:8.1f} ms")
    print(f"FhirClient  median {client * 1000:8.1f} ms")
    print(f"ratio client/raw   {client / raw:8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.resources, args.count, args.rounds))

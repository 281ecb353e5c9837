"""Bulk export files are downloaded again after a busy answer, a dropped connection or a file
cut short; an export is not abandoned for one 429 or 503 (injected with respx)."""

from __future__ import annotations

import httpx
import orjson
import pytest
import respx

from ltcbridge.fhirclient import FhirClient, RetryableHttpError, RetryPolicy, TruncatedFileError

pytestmark = pytest.mark.anyio
BASE = "https://gp.example.test/fhir"
FILE = "https://files.example.test/export/1.ndjson"
LINES = [{"resourceType": "Patient", "id": f"p{n}"} for n in range(3)]
WHOLE = b"".join(orjson.dumps(line) + b"\n" for line in LINES)


def _export(file_answers: list[httpx.Response | Exception], count: int | None = None) -> None:
    """Kick-off, a ready manifest naming one file, and the file's answers in turn."""
    respx.get(f"{BASE}/$export").mock(
        return_value=httpx.Response(202, headers={"Content-Location": f"{BASE}/status/1"})
    )
    output = {"type": "Patient", "url": FILE, **({"count": count} if count else {})}
    manifest = {"transactionTime": "2026-10-01T00:00:00Z", "output": [output], "error": []}
    respx.get(f"{BASE}/status/1").mock(return_value=httpx.Response(200, json=manifest))
    respx.delete(f"{BASE}/status/1").mock(return_value=httpx.Response(202))
    respx.get(FILE).mock(side_effect=file_answers)


@respx.mock
async def test_a_busy_answer_a_reset_and_a_truncated_file_are_fetched_again(
    fake_time, tmp_path
) -> None:
    _export([
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503),
        httpx.ReadError("connection reset by peer"),
        httpx.Response(200, content=WHOLE[: len(WHOLE) - 9]),  # cut inside the last line
        httpx.Response(200, content=WHOLE),
    ])  # fmt: skip
    async with FhirClient(BASE, **fake_time.client_kwargs()) as fhir:
        result = await fhir.bulk_export(tmp_path)

    [exported] = result.files
    assert exported.count == 3 and exported.path.read_bytes() == WHOLE
    assert fake_time.sleeps[0] == 7.0 and len(fake_time.sleeps) == 4
    assert not list(tmp_path.glob("*.partial"))


@respx.mock
async def test_fewer_lines_than_the_manifest_announced_is_a_truncated_file(
    fake_time, tmp_path
) -> None:
    short = WHOLE.split(b"\n", 1)[1]  # whole lines, one missing
    _export([httpx.Response(200, content=short)] * 2, count=3)
    retry = RetryPolicy(max_attempts=2, base_delay=0.1)
    async with FhirClient(BASE, retry=retry, **fake_time.client_kwargs()) as fhir:
        with pytest.raises(TruncatedFileError, match="2 lines where the manifest announced 3"):
            await fhir.bulk_export(tmp_path)
    assert not list(tmp_path.glob("*.ndjson")) and not list(tmp_path.glob("*.partial"))


@respx.mock
async def test_a_file_still_busy_after_every_attempt_fails_the_export(fake_time, tmp_path) -> None:
    _export([httpx.Response(503)] * 3)
    retry = RetryPolicy(max_attempts=3, base_delay=0.1)
    async with FhirClient(BASE, retry=retry, **fake_time.client_kwargs()) as fhir:
        with pytest.raises(RetryableHttpError):
            await fhir.bulk_export(tmp_path)
    assert len(fake_time.sleeps) == 2


@respx.mock
async def test_a_last_line_without_its_newline_is_accepted_when_whole(fake_time, tmp_path) -> None:
    _export([httpx.Response(200, content=WHOLE.rstrip(b"\n"))])
    async with FhirClient(BASE, **fake_time.client_kwargs()) as fhir:
        result = await fhir.bulk_export(tmp_path)
    assert result.files[0].count == 3 and fake_time.sleeps == []

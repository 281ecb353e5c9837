"""Referrals are routed through the provider directory to a configured provider offering the
person's needs; with nobody offering them, nothing is sent and the audit log says why."""

from __future__ import annotations

import asyncio
import json

import pytest

from ltcbridge.fhirclient import FhirClient
from ltcbridge.provider.directory import Directory, make_listing

from .conftest import Loop
from .loop_data import REFERRAL, all_of, practice_record, put_all

pytestmark = pytest.mark.integration


def _register(directory_url: str, *listings: tuple[str, str, tuple[str, ...]]) -> None:
    async def register() -> None:
        async with FhirClient(directory_url) as fhir:
            for name, ods, domains in listings:
                await Directory(fhir).register(
                    make_listing(name, "01234 567890", list(domains), ods=ods)
                )

    asyncio.run(register())


def _with_directory(loop: Loop) -> None:
    """Two providers on the provider engine, and the directory on it too."""
    text = loop.config_path.read_text()
    text += f"""
[[provider]]
name = "friends"
ods = "F0001"
base_url = "{loop.provider}"

[directory]
base_url = "{loop.provider}"
"""
    loop.config_path.write_text(text)


def test_a_referral_goes_to_the_provider_offering_the_most_of_its_needs(loop: Loop) -> None:
    _with_directory(loop)
    _register(
        loop.provider,
        ("Walkers", "W0001", ("need-physical-activity",)),
        ("Friends of the Park", "F0001", ("need-befriending", "need-physical-activity")),
    )
    put_all(loop.gp, practice_record(1))  # needs: physical activity and befriending

    result = loop.sync()

    assert result.status == "ok", result.error
    (request,) = [r for r in all_of(loop.provider, "ServiceRequest") if "identifier" in r]
    assert request["identifier"][0]["system"] == REFERRAL
    assert request["performer"][0]["identifier"]["value"] == "F0001"
    (task,) = all_of(loop.provider, "Task")
    assert task["owner"]["identifier"]["value"] == "F0001"


def test_nobody_offering_the_needs_means_nothing_is_sent_and_the_audit_says_so(
    loop: Loop,
) -> None:
    _with_directory(loop)
    _register(loop.provider, ("Arts Club", "F0001", ("need-arts-for-health",)))
    put_all(loop.gp, practice_record(1))

    result = loop.sync()

    assert result.status == "ok", result.error
    assert result.summary["referrals_without_provider"] == 1
    assert all_of(loop.provider, "ServiceRequest") == []
    state = loop.state()
    reasons = [
        json.loads(r["detail"])["reason"]
        for r in state.audit_records()
        if r["action"] == "referral-not-sent"
    ]
    assert reasons == ["no-provider"]

"""The directory of providers on the real engine: register, find, route; and its commands."""

from __future__ import annotations

import argparse

import pytest
from provider_data import count

from ltcbridge.cli.provider import register
from ltcbridge.fhirclient import FhirClient
from ltcbridge.provider.directory import Directory, DirectoryError, make_listing

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def test_registration_needs_only_name_contact_and_domains_and_says_what_is_missing() -> None:
    listing = make_listing("Paws Dog Walks", "01392 000000", "exercise; befriending")
    assert listing.domains == ("need-physical-activity", "need-befriending")
    with pytest.raises(DirectoryError) as raised:
        make_listing("", "", "knitting")
    assert "name" in str(raised.value) and "contact" in str(raised.value)
    assert "knitting" in str(raised.value)


async def test_find_by_domain_and_locality_and_route_to_a_provider_offering_it(
    engine: str,
) -> None:
    async with FhirClient(engine) as fhir:
        directory = Directory(fhir)
        for _ in range(2):  # registering again updates, never duplicates
            await directory.register(
                make_listing("Paws Dog Walks", "paws@example.org", "physical activity", "Exeter")
            )
        await directory.register(make_listing("Cook Club", "0100", "healthy eating", "Exeter"))
        await directory.register(
            make_listing("Friends Far", "0101", "befriending; physical activity", "Plymouth")
        )
        walkers_exeter = await directory.find("need-physical-activity", "exeter")
        walkers = await directory.find("need-physical-activity")
        routed = await directory.route_referral(["need-physical-activity"], "Exeter")
        routed_both = await directory.route_referral(
            ["need-befriending", "need-physical-activity"], "Plymouth"
        )
        with pytest.raises(DirectoryError, match="no provider"):
            await directory.route_referral(["need-arts-for-health"], "Exeter")
    assert count(engine, "HealthcareService") == 3 and count(engine, "Organization") == 3
    assert [e.listing.name for e in walkers_exeter] == ["Paws Dog Walks"]
    assert sorted(e.listing.name for e in walkers) == ["Friends Far", "Paws Dog Walks"]
    assert routed["display"] == "Paws Dog Walks"
    assert routed["reference"].startswith("HealthcareService/")
    assert routed_both["display"] == "Friends Far"


def test_register_and_find_commands(engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="ltcbridge")
    register(parser.add_subparsers())
    base = ["--endpoint", engine]
    args = parser.parse_args(
        [
            "provider",
            "register",
            *base,
            "--name",
            "Art Shed",
            "--contact",
            "0102",
            "--domains",
            "arts",
            "--locality",
            "Exeter",
        ]
    )
    assert args.run(args) == 0
    args = parser.parse_args(
        ["provider", "find", *base, "--domain", "arts for health", "--locality", "Exeter"]
    )
    assert args.run(args) == 0
    assert "Art Shed" in capsys.readouterr().out

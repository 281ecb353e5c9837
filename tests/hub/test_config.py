"""The hub config: defaults from the Year of Care guide, and mistakes named by key."""

from __future__ import annotations

import pytest

from ltcbridge.hub.config import DEFAULT_TARIFF, HubConfigError, load_hub_config, parse_hub_config


def test_defaults_are_the_guides_tariff() -> None:
    config = load_hub_config(None)
    assert config.tariff == DEFAULT_TARIFF
    levels = ("support-minimal", "support-moderate", "support-high", "maintenance")
    assert [config.tariff[level] for level in levels] == [70, 150, 260, 24]
    assert config.threshold == 7 and not config.secondary and config.practices == {}


def test_a_set_tariff_overrides_only_its_level() -> None:
    config = parse_hub_config({"tariff": {"support-high": 300}}, "t")
    assert config.tariff["support-high"] == 300 and config.tariff["support-minimal"] == 70


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tariff": {"support-huge": 1}},
         r"\[tariff\] support-huge: unknown key \(did you mean 'support-high'\?\)"),
        ({"tariff": {"support-high": -1}}, r"\[tariff\] support-high: must be >= 0"),
        ({"commissioned": {"need-gardening": "x"}},
         r"\[commissioned\] need-gardening: unknown key"),
        ({"hub": {"months": ["2026-13"]}}, r"\[hub\] months\[0\]: '2026-13' has no month 13"),
        ({"hub": {"months": ["Oct 2026"]}}, r"'Oct 2026' is not a month written 'YYYY-MM'"),
        ({"disclosure": {"threshold": "7"}}, r"threshold: must be a whole number, without quotes"),
        ({"disclosure": {"secondary": "false"}},
         r"secondary: must be true or false, without quotes \(found 'false'\)"),
        ({"practices": {"Y00011": 5}}, r"\[practices\] Y00011: must be text in double quotes"),
        ({"practices": {"Y00011": "U1"}},
         r"\[practices\] Y00011: 'U1' is not an ODS code \(3 to 10 letters and digits"),
        ({"practices": {"Y0001 1": "U00001"}}, r"\[practices\] Y0001 1: 'Y0001 1' is not an ODS"),
        ({"pcn_names": {"U-0001": "Riverside"}}, r"\[pcn_names\] U-0001: 'U-0001' is not an ODS"),
        ({"provider_names": {"NTP01!": "x"}}, r"\[provider_names\] NTP01!: 'NTP01!' is not an"),
        ({"hub": {"icb": "Q"}}, r"\[hub\] icb: 'Q' is not an ODS code"),
        ({"hub": {"icb": 123}}, r"\[hub\] icb: must be text in double quotes"),
        ({"practices": "Y1"}, r"\[practices\]: must be a table"),
        ({"practices": {"y00011": "U00001", "Y00011": "U00002"}},
         r"\[practices\]: 'y00011' and 'Y00011' are the same ODS code: keep one"),
        ({"provider_names": {"NTP01": "a", " ntp01": "b"}},
         r"\[provider_names\]: 'NTP01' and ' ntp01' are the same ODS code"),
    ],
)  # fmt: skip
def test_mistakes_are_named(data: dict, message: str) -> None:
    with pytest.raises(HubConfigError, match=message):
        parse_hub_config(data, "hub.toml")


def test_codes_are_read_upper_case_as_releases_carry_them() -> None:
    config = parse_hub_config(
        {"hub": {"icb": " qhm"}, "practices": {"y00011": "u00001"},
         "pcn_names": {"u00001": "Riverside PCN"}, "provider_names": {"ntp01": "Wellbeing"}},
        "hub.toml",
    )  # fmt: skip
    assert config.icb == "QHM" and config.practices == {"Y00011": "U00001"}
    assert config.pcn_names == {"U00001": "Riverside PCN"}
    assert config.provider_names == {"NTP01": "Wellbeing"}


def test_every_malformed_code_is_listed_at_once() -> None:
    with pytest.raises(HubConfigError) as raised:
        parse_hub_config({"practices": {"Y1": "U00001", "Y00012": "U 2"}}, "hub.toml")
    message = str(raised.value)
    assert "2 problem(s)" in message
    assert "[practices] Y1: 'Y1' is not an ODS code" in message
    assert "[practices] Y00012: 'U 2' is not an ODS code" in message

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
        ({"practices": {"Y1": 5}}, r"\[practices\] Y1: must be text in double quotes"),
        ({"practices": "Y1"}, r"\[practices\]: must be a table"),
    ],
)  # fmt: skip
def test_mistakes_are_named(data: dict, message: str) -> None:
    with pytest.raises(HubConfigError, match=message):
        parse_hub_config(data, "hub.toml")

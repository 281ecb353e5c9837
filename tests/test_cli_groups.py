"""Every command group named alone shows its own commands, not the top-level help."""

from __future__ import annotations

import pytest

from ltcbridge.cli import main


@pytest.mark.parametrize(
    "group", ["feed", "hub", "mappings", "provider", "audit", "release", "secagg"]
)
def test_a_command_group_named_alone_shows_its_own_commands(
    group: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([group]) == 2
    assert f"{group} commands" in capsys.readouterr().out

"""A provider developer installs only the core: the extras split, proved in a core-only Python.

The core-only Python is this interpreter started with ``-S`` (no site-packages) and a path holding
only ltcbridge's source and the distributions the core dependencies of pyproject.toml need,
followed transitively through their installed metadata. HiGHS, mesh-client, openpyxl and psycopg
are installed in the test environment, so they are unreachable there only if the split is right.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ltcbridge.extras import MissingExtraError, optional_imports

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OPTIONAL_MODULES = ("highspy", "mesh_client", "openpyxl", "psycopg")


def _closure(requirements: list[str]) -> set[str]:
    """The installed distributions ``requirements`` need, following their own requirements."""
    seen: set[str] = set()
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = md.distribution(requirement.name).metadata["Name"]
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        pending.extend(Requirement(text) for text in md.requires(name) or [])
    return seen


def _link_distribution(name: str, into: Path) -> None:
    """Symlink each top-level file and folder of an installed distribution into ``into``."""
    dist = md.distribution(name)
    for file in dist.files or []:
        top = file.parts[0]
        if top in ("..", "__pycache__") or top.endswith(".pth"):
            continue
        source = Path(str(dist.locate_file(top)))
        target = into / top
        if source.exists() and not target.exists():
            target.symlink_to(source)


@pytest.fixture(scope="module")
def core_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment variables that run ``python -S`` with only the core dependencies importable."""
    packages = tmp_path_factory.mktemp("core-only")
    for name in _closure(PYPROJECT["dependencies"]):
        _link_distribution(name, packages)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(packages)])
    yield env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_heavy_packages_are_extras_not_core() -> None:
    core = {Requirement(text).name.lower() for text in PYPROJECT["dependencies"]}
    extras = PYPROJECT["optional-dependencies"]
    assert not core & {"highspy", "mesh-client", "openpyxl", "psycopg"}
    assert {Requirement(t).name for t in extras["practice"]} == {"highspy", "mesh-client"}
    assert {"openpyxl", "psycopg", "mesh-client"} <= {Requirement(t).name for t in extras["hub"]}
    assert Requirement(extras["all"][0]).extras == {"practice", "hub", "postgres-binary"}
    assert "ltcbridge[all]" in extras["test"]


def test_the_core_only_python_cannot_see_the_optional_packages(core_only: dict[str, str]) -> None:
    for module in OPTIONAL_MODULES:
        result = _run(core_only, "-c", f"import {module}")
        assert "ModuleNotFoundError" in result.stderr, module


def test_the_provider_library_imports_with_the_core_only(core_only: dict[str, str]) -> None:
    script = (
        "import sys, ltcbridge, ltcbridge.provider, ltcbridge.fhirclient\n"
        "assert ltcbridge.ProviderClient is ltcbridge.provider.ProviderClient\n"
        "from ltcbridge.provider.csv_template import template_for\n"
        "from ltcbridge.mapping import load_mappings\n"
        "print(len(template_for(load_mappings([])).header))\n"
        f"print(sorted(m for m in {OPTIONAL_MODULES!r} if m in sys.modules))\n"
    )
    result = _run(core_only, "-c", script)
    assert result.returncode == 0, result.stderr
    count, loaded = result.stdout.splitlines()
    assert int(count) > 0
    assert loaded == "[]"


def test_the_provider_commands_run_with_the_core_only(core_only: dict[str, str]) -> None:
    result = _run(core_only, "-m", "ltcbridge.cli", "provider", "--help")
    assert result.returncode == 0, result.stderr
    assert "template" in result.stdout


def test_feed_build_says_which_extra_to_install(core_only: dict[str, str], tmp_path: Path) -> None:
    result = _run(
        core_only,
        *("-m", "ltcbridge.cli", "feed", "build", "--source", str(tmp_path)),
        *("--agreement", str(tmp_path / "dsa.toml"), "--period", "2026-10"),
        *("--out", str(tmp_path / "feed")),
    )
    assert result.returncode == 1
    assert "pip install 'ltcbridge[practice]'" in result.stderr
    assert "highspy" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_optional_module_names_the_extra() -> None:
    with (
        pytest.raises(MissingExtraError, match=r"ltcbridge\[hub\]") as caught,
        optional_imports("hub"),
    ):
        import ltcbridge_no_such_optional_package  # noqa: F401
    assert "ltcbridge_no_such_optional_package" in str(caught.value)


def test_a_missing_ltcbridge_module_is_not_blamed_on_an_extra() -> None:
    with pytest.raises(ModuleNotFoundError), optional_imports("hub"):
        import ltcbridge.no_such_module  # noqa: F401

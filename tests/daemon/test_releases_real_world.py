"""A real bulk export nobody on this project wrote (``--real-world DIR``, read in place) stored the
way the daemon's pull stores it, then released from the state: the exact figures (an internal
recipient's agreement: no masking, no rounding) equal `ltcbridge feed build` on the same files.

The export has no registered practice: each Patient is given one (an ODS identifier, added in a
temporary copy outside the project) so both paths attribute people the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.test_real_world import social_mappings  # noqa: F401  (a fixture)
from ltcbridge import Reader
from ltcbridge.cli import main
from ltcbridge.daemon.config import load_config
from ltcbridge.daemon.pull import store_batch
from ltcbridge.daemon.pull_plan import GP_TYPES
from ltcbridge.daemon.releases import agreements_of, prepare_releases
from ltcbridge.daemon.state import StateStore
from ltcbridge.mapping import load_mappings

from .release_data import without_date

pytestmark = pytest.mark.real_world

PRACTICE, PERIOD = "Y00001", "2021-09"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
EXACT_AGREEMENT = """
[agreement]
id = "DSA-INTERNAL-1"
recipient = "Y00001"
valid_from = 2000-01-01
valid_until = 2031-03-31
internal_recipient = true
[disclosure]
threshold = 0
rounding = 1
secondary = false
"""


def registered_copy(export: Path, folder: Path) -> Path:
    """The export's resource files, each Patient registered at the practice (nothing else
    changed), in a temporary folder."""
    folder.mkdir()
    for path in export.glob("*.ndjson"):
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        for resource in lines:
            if resource.get("resourceType") == "Patient":
                resource["generalPractitioner"] = [{"identifier": {"system": ODS,
                                                                   "value": PRACTICE}}]  # fmt: skip
        text = "".join(json.dumps(r) + "\n" for r in lines)
        (folder / path.name).write_text(text, encoding="utf-8")
    return folder


def stored_as_the_pull_does(source: Path, state: StateStore, mappings_dir: Path) -> int:
    """Every resource of a type the daemon pulls, through the pull's own `store_batch`."""
    reader = Reader(load_mappings([mappings_dir]))
    stored = 0
    for path in sorted(source.glob("*.ndjson")):
        kind = path.name.split(".", 1)[0]
        if kind not in GP_TYPES:
            continue
        batch = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert store_batch(state, reader, kind, batch) == 0  # nothing quarantined
        stored += len(batch)
    return stored


def test_the_real_export_released_from_the_state_equals_feed_build(
    real_world: Path,
    social_mappings: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    source = registered_copy(real_world, tmp_path / "export")
    (tmp_path / "agreement.toml").write_text(EXACT_AGREEMENT, encoding="utf-8")
    config_path = tmp_path / "ltcbridge.toml"
    config_path.write_text(
        f'[practice]\nods = "{PRACTICE}"\n[gp]\nbase_url = "https://gp.invalid/R4"\n'
        '[[provider]]\nname = "lead"\nods = "NTP001"\nbase_url = "https://ntp.invalid/R4"\n'
        f'[mappings]\ndirs = ["{social_mappings}"]\n[agreements]\nfiles = ["agreement.toml"]\n',
        encoding="utf-8",
    )
    config = load_config(config_path)
    state = StateStore(config.state_path)
    try:
        assert stored_as_the_pull_does(source, state, social_mappings) > 1000
        [release] = prepare_releases(config, state, PERIOD, agreements_of(config), by="test")
    finally:
        state.close()
    folder = config.state_path.parent / "releases" / release.release_id
    daemon = without_date(json.loads((folder / "reports.json").read_text()))

    out = tmp_path / "feed"
    assert main(["feed", "build", "--source", str(source), "--mappings", str(social_mappings),
                 "--agreement", str(tmp_path / "agreement.toml"), "--period", PERIOD,
                 "--out", str(out), "--data-dir", str(tmp_path / "data")]) == 0  # fmt: skip
    built = without_date([json.loads(p.read_text()) for p in out.glob("*.json")])
    assert daemon == built
    need = daemon[f"unmet-need-{PRACTICE}-{PERIOD}"]
    assert any(g["population"][0].get("count") for g in need["group"])  # not all zero

"""A practice daemon with a filled state and a folder drop, and the commissioner's hub behind it.

The state is filled the way the daemon's pull fills it (`store_batch`) from the synthetic
fixture's practice Y00011 (invented people, NHS test numbers), so the releases are built from
the state and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ltcbridge import Reader  # the public name (the module behind it may move)
from ltcbridge.cli import main
from ltcbridge.daemon.config import Config, load_config
from ltcbridge.daemon.pull import store_batch
from ltcbridge.daemon.pull_plan import GP_TYPES
from ltcbridge.daemon.state import StateStore
from ltcbridge.hub.store import open_store
from ltcbridge.mapping import load_mappings
from sealing.helpers import DEMO_AGREEMENT, SYNTHETIC, keys, write_pem

PRACTICE, HUB, AGREEMENT_ID = "Y00011", "QHM", "DSA-DEMO-001"
MAPPINGS = SYNTHETIC / "mappings"


def agreement_text(valid_from: str = "2026-04-01") -> str:
    """The demo agreement, counting only what the daemon's state holds."""
    text = DEMO_AGREEMENT.read_text(encoding="utf-8").replace(
        "valid_from = 2026-04-01", f"valid_from = {valid_from}"
    )
    return text + '\n[measures]\ninclude = ["unmet-need", "support-level"]\n'


def config_text(drop: str, *, extra_feed: str = "") -> str:
    return f"""
[practice]
ods = "{PRACTICE}"
[gp]
base_url = "https://gp.invalid/R4"
[[provider]]
name = "lead"
ods = "NTP001"
base_url = "https://ntp.invalid/R4"
[mappings]
dirs = ["{MAPPINGS}"]
[agreements]
files = ["agreement.toml"]
[feed]
transport = "folder"
folder = "{drop}"
recipient_keys = {{{HUB} = "hub/{HUB}-public.pem"}}
signing_key = "keys/private-key.pem"
grace_days = 5
{extra_feed}
"""


@dataclass
class Practice:
    """The daemon's configuration, state and drop folder, and a hub collecting from the folder."""

    tmp: Path

    @property
    def config_path(self) -> Path:
        return self.tmp / "ltcbridge.toml"

    @property
    def drop(self) -> Path:
        return self.tmp / "drop"

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def state(self) -> StateStore:
        return StateStore(self.config.state_path)

    def cli(self, *args: str) -> int:
        return main([*args[:2], "--config", str(self.config_path), *args[2:]])

    def hub_receive(self) -> list[tuple[Any, ...]]:
        """`ltcbridge hub receive` from the drop folder; the hub's releases, oldest first."""
        store = self.tmp / "hub" / "store.sqlite"
        code = main(["hub", "receive", "--from", "folder", "--dir", str(self.drop),
                     "--keys", str(self.tmp / "hub" / "practices"),
                     "--key", str(self.tmp / "hub" / "private.pem"), "--hub", HUB,
                     "--store", str(store)])  # fmt: skip
        assert code == 0
        with open_store(store) as hub:
            return hub.rows("SELECT release_id, period, sequence FROM releases ORDER BY sequence")

    def hub_latest(self) -> list[tuple[Any, ...]]:
        with open_store(self.tmp / "hub" / "store.sqlite") as hub:
            return hub.rows("SELECT release_id FROM latest_releases")


def make_practice(tmp: Path, *, valid_from: str = "2026-04-01") -> Practice:
    practice = Practice(tmp)
    practice.drop.mkdir()
    (tmp / "agreement.toml").write_text(agreement_text(valid_from), encoding="utf-8")
    write_pem(tmp / "keys" / "private-key.pem", keys().practice, private=True)
    write_pem(tmp / "hub" / f"{HUB}-public.pem", keys().hub, private=False)
    write_pem(tmp / "hub" / "private.pem", keys().hub, private=True)
    write_pem(tmp / "hub" / "practices" / f"{PRACTICE}.pem", keys().practice, private=False)
    practice.config_path.write_text(config_text(str(practice.drop)), encoding="utf-8")
    fill_state(practice)
    return practice


def fill_state(practice: Practice, only: set[str] | None = None) -> None:
    """Store the fixture's Patients and care-planning entries as the daemon's pull does."""
    reader = Reader(load_mappings([MAPPINGS]))
    state = practice.state()
    try:
        for kind in GP_TYPES:  # what the daemon's pull reads
            path = SYNTHETIC / f"{kind}.ndjson"
            if not path.exists():
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            batch = [json.loads(line) for line in lines if line.strip()]
            if kind == "Patient":  # a GP record holds its own practice's patients
                batch = [r for r in batch if PRACTICE in json.dumps(r.get("generalPractitioner"))]
            if only is not None:
                batch = [r for r in batch if r.get("id") in only]
            store_batch(state, reader, kind, batch)
    finally:
        state.close()


def on(day: str) -> date:
    return date.fromisoformat(day)


def without_date(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """MeasureReports by id, without the moment each was generated: what two builds of the
    same records must agree on."""
    return {r["id"]: {k: v for k, v in r.items() if k != "date"} for r in reports}

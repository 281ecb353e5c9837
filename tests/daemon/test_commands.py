"""The daemon's commands as practice IT uses them, against the two real engines."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from joserfc.jwk import ECKey, RSAKey

from ltcbridge.daemon.__main__ import main
from ltcbridge.daemon.config import load_config

from .conftest import Loop
from .loop_data import TEMPLATE, nhs_number, practice_record, put_all

pytestmark = pytest.mark.integration


def test_init_writes_a_config_that_loads_once_filled_in_and_private_keys(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path / "rsa"), "--ods", "Y12345"]) == 0
    assert main(["init", str(tmp_path / "ec"), "--key-type", "ec"]) == 0
    for kind, key_class in (("rsa", RSAKey), ("ec", ECKey)):
        private = tmp_path / kind / "keys" / "private-key.pem"
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        key = key_class.import_key(private.read_bytes())
        assert key.is_private
        jwks = json.loads((tmp_path / kind / "keys" / "jwks.json").read_text())
        assert "d" not in jwks["keys"][0] and jwks["keys"][0]["kid"] == "ltcbridge-1"
    assert ECKey.import_key((tmp_path / "ec/keys/private-key.pem").read_bytes()).curve_name == (
        "P-384"
    )
    config = tmp_path / "rsa" / "ltcbridge.toml"
    (tmp_path / "rsa" / "secrets").mkdir()
    (tmp_path / "rsa" / "secrets" / "provider-token").write_text("t")
    loaded = load_config(config)  # the template is valid as soon as its secrets exist
    assert loaded.practice_ods == "Y12345" and loaded.gp.auth.kind == "smart"
    assert main(["init", str(tmp_path / "rsa")]) == 1  # never overwrites


def test_check_reports_ready_and_names_what_to_fix(
    loop: Loop, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(loop.config_path)]) == 0
    text = capsys.readouterr().out
    assert "GP record" in text and "provider lead" in text and "Ready to run." in text
    broken = loop.config_path.read_text().replace(loop.provider, "http://127.0.0.1:9/fhir")
    loop.config_path.write_text(broken)
    assert main(["check", "--config", str(loop.config_path)]) == 1
    text = capsys.readouterr().out
    assert "cannot connect" in text and "firewall" in text


def test_status_audit_export_and_json_logs_without_patient_identifiers(
    loop: Loop, capsys: pytest.CaptureFixture[str]
) -> None:
    put_all(loop.gp, practice_record(3, without_consent=frozenset({2})))
    process = subprocess.run(
        [sys.executable, "-m", "ltcbridge.daemon", "sync", "--once", "--json-logs",
         "--config", str(loop.config_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    lines = [json.loads(line) for line in process.stderr.splitlines()]
    assert {"gp.pulled", "referrals.sent", "cycle.finished"} <= {line["event"] for line in lines}
    for n in (1, 2, 3):
        assert nhs_number(n) not in process.stderr and f"Testperson{n}" not in process.stderr
    health = json.loads(loop.config.health_path.read_text())
    assert health["status"] == "ok" and health["backlog"] == 0 and health["last_success"]

    assert main(["status", "--config", str(loop.config_path)]) == 0
    status = capsys.readouterr().out
    assert "ok at" in status and "next run due" in status

    out = loop.tmp / "audit.json"
    assert main(["audit", "export", "--config", str(loop.config_path), "--out", str(out)]) == 0
    bundle = json.loads(out.read_text())
    events = [AuditEvent.model_validate(e["resource"]) for e in bundle["entry"]]
    kinds = {e.subtype[0].code for e in events}
    assert {"read", "referral-sent", "referral-not-sent"} <= kinds
    assert all(nhs_number(n) not in out.read_text() for n in (1, 2, 3))


def test_replay_releases_quarantine_after_the_mapping_is_fixed(
    loop: Loop, capsys: pytest.CaptureFixture[str]
) -> None:
    undated = {  # a coded entry with a year only: no reporting month, so quarantined
        "resourceType": "Observation", "id": "o-undated", "status": "final",
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026",
        "code": {"coding": [{"system": TEMPLATE, "code": "UN-MONEY"}]},
    }  # fmt: skip
    put_all(loop.gp, [*practice_record(1), undated])
    assert loop.sync().status == "ok"
    state = loop.state()
    assert [r["resource"] for r in state.quarantined()] == ["Observation/o-undated"]
    assert main(["status", "--config", str(loop.config_path)]) == 3
    # the practice finds that UN-MONEY on Observations is a mistaken mapping and removes it
    conceptmap = loop.tmp / "mappings" / "example-conceptmap.json"
    data = json.loads(conceptmap.read_text())
    data["group"][0]["element"] = [
        e for e in data["group"][0]["element"] if e["code"] != "UN-MONEY"
    ]
    conceptmap.write_text(json.dumps(data))

    assert main(["replay", "--config", str(loop.config_path)]) == 0
    assert "Released 1" in capsys.readouterr().out
    assert state.quarantined() == []
    assert any(r["action"] == "replayed" for r in state.audit_records())
    state.close()


def test_daemon_stops_cleanly_on_sigterm(loop: Loop) -> None:
    put_all(loop.gp, practice_record(2))
    process = subprocess.Popen(
        [sys.executable, "-m", "ltcbridge.daemon", "daemon", "--config", str(loop.config_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    health = loop.config.health_path
    deadline = time.monotonic() + 30
    while not health.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert health.exists(), "the daemon never finished a cycle"
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert "daemon.stopped" in (process.stderr.read() if process.stderr else "")
    state = loop.state()
    assert state.last_run()["status"] in ("ok", "stopped") and state.backlog() == 0
    state.close()


def test_init_offers_exactly_the_key_types_the_daemon_can_make() -> None:
    """The command line names the key types without importing the key code (start-up speed)."""
    from ltcbridge.cli import daemon as cli_daemon
    from ltcbridge.daemon import keys

    assert cli_daemon.KEY_TYPES == keys.KEY_TYPES


def test_the_command_starts_without_importing_what_its_commands_use() -> None:
    """Building the parser (``--help``, and before any command runs) imports none of the heavy
    parts: FHIR models, numpy, the HTTP client, the hub's workbook writer, the LP solver."""
    code = (
        "import sys; import ltcbridge.cli.app as c; c._parser(); "
        "print(' '.join(m for m in ('fhir.resources', 'numpy', 'httpx', 'openpyxl', 'highspy', "
        "'cryptography', 'ltcbridge.pipeline', 'ltcbridge.daemon.cycle') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""

"""``ltcbridge check`` rows for the monthly releases: the transport, the keys, the agreements.

The transport is tried for real where that sends nothing: the MESH mailbox's handshake, the HTTPS
endpoint's reachability, the drop folder written to (a probe file, removed at once).
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

import httpx

from ltcbridge.agreement import load_agreement
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.seal import load_key

if TYPE_CHECKING:
    from ltcbridge.daemon.check import CheckRow
    from ltcbridge.daemon.config import Config


def feed_checks(config: Config) -> list[CheckRow]:
    """One row for the transport, one for the keys, one per agreement."""
    from ltcbridge.daemon.check import NOTE, CheckRow
    from ltcbridge.daemon.releases import today

    feed = config.feed
    if not feed.configured:
        return [CheckRow("commissioner feed", NOTE, "no [feed] section: no release is sent")]
    rows = [_transport(config), _keys(config)]
    for agreement_id, path in sorted(config.agreements.items()):
        rows.append(_agreement(agreement_id, str(path), today()))
    return rows


def _transport(config: Config) -> CheckRow:
    from ltcbridge.daemon.check import PROBLEM, READY, CheckRow, _feed

    feed = config.feed
    if feed.transport == "mesh":
        return _feed(feed.mesh_mapping())
    if feed.transport == "https":
        try:
            httpx.head(str(feed.url), timeout=10)
        except httpx.HTTPError as exc:
            return CheckRow("commissioner feed (HTTPS)", PROBLEM,
                            f"{feed.url}: cannot connect ({type(exc).__name__})",
                            "check [feed] url, the network/firewall and the proxy")  # fmt: skip
        return CheckRow("commissioner feed (HTTPS)", READY, f"{feed.url} reachable")
    folder = feed.folder
    try:
        descriptor, probe = tempfile.mkstemp(dir=folder, prefix=".ltcbridge-check-")
        os.close(descriptor)
        os.unlink(probe)
    except OSError as exc:
        return CheckRow("commissioner feed (folder)", PROBLEM,
                        f"cannot write to {folder} ({exc.strerror})",
                        "give the service account write access to [feed] folder")  # fmt: skip
    return CheckRow("commissioner feed (folder)", READY, f"{folder} exists and is writable")


def _keys(config: Config) -> CheckRow:
    from ltcbridge.daemon.check import PROBLEM, READY, CheckRow

    feed = config.feed
    try:
        load_key(str(feed.signing_key), private=True)
        for path in feed.recipient_keys.values():
            load_key(path, private=False)
    except LtcbridgeError as exc:
        return CheckRow("release keys", PROBLEM, str(exc),
                        "fix [feed] signing_key or recipient_keys")  # fmt: skip
    missing = []
    for agreement_id, path in sorted(config.agreements.items()):
        try:
            recipient = load_agreement(path).recipient
        except LtcbridgeError:
            continue  # its own row says why
        if recipient not in feed.recipient_keys:
            missing.append(f"{recipient} (agreement {agreement_id})")
    if missing:
        return CheckRow("release keys", PROBLEM, "no public key for " + ", ".join(missing),
                        'add each to [feed] recipient_keys, e.g. QHM = "keys/QHM.pem"')  # fmt: skip
    return CheckRow("release keys", READY, f"signing key and {len(feed.recipient_keys)} "
                    "recipient key(s) load")  # fmt: skip


def _agreement(agreement_id: str, path: str, on: object) -> CheckRow:
    from ltcbridge.daemon.check import PROBLEM, READY, CheckRow

    label = f"agreement {agreement_id}"
    try:
        agreement = load_agreement(path)
        agreement.check_in_force(on)  # type: ignore[arg-type]
    except LtcbridgeError as exc:
        return CheckRow(label, PROBLEM, str(exc).splitlines()[0], f"fix or replace {path}")
    notes = "; ".join(agreement.warnings())
    detail = (f"in force {agreement.valid_from}..{agreement.valid_until}, threshold "
              f"{agreement.threshold}, rounding {agreement.rounding}")  # fmt: skip
    return CheckRow(label, READY, detail + (f"; {notes}" if notes else ""))

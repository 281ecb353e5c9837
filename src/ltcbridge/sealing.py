"""Sealing a release at the practice, and remembering it: one order for every path that seals.

A release is recorded in the release history before its sealed file exists, so nothing can leave
that later releases are not protected against; the receipt comes last, so a crash before it
leaves the release unsealed (sealing again records the same history entry once). The sealed file
is written whole (a hidden file renamed into place), and removed again when its receipt cannot
be recorded: no sealed file is left that the receipts do not know (``feed send`` would refuse
it, and a drop folder might pass it on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltcbridge.disclosure.cells import PublishedRelease
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.feed.receipts import ReceiptStore
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.feed.seal import Key, seal_release
from ltcbridge.private_data import write_private


def seal_and_record(
    meta: ReleaseMeta,
    reports: list[dict[str, Any]],
    history_entry: PublishedRelease,
    *,
    keys: tuple[Key, Key],
    history: HistoryStore,
    receipts: ReceiptStore,
    sealed_path: Path,
) -> Path:
    """Seal `reports` (signed with keys[0], encrypted to keys[1]), record the release in the
    history, write the sealed file whole (owner-only), then its receipt (or take the file back
    when the receipt fails)."""
    signing_key, recipient_key = keys
    token = seal_release(meta, reports, signing_key, recipient_key)
    history.record(meta.recipient, meta.agreement_id, history_entry)
    with write_private(sealed_path, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    try:
        receipts.record_sealed(meta)
    except BaseException:
        sealed_path.unlink(missing_ok=True)
        raise
    return sealed_path

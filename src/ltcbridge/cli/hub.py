"""``ltcbridge hub receive | load | report | status``: the commissioner's commands, a thin
shell over ``ltcbridge.hub``. ``cli.app`` wires them in with ``register``. Each command
imports what it uses when it runs, so that the ``ltcbridge`` command starts fast.

Exit status as for every ltcbridge command: 0 done; 1 error (the message says what to do).
``hub load`` exits 3 when something in the folder was refused (the rest is loaded);
``hub status --strict`` exits 4 when an expected practice return is missing, for schedulers.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from ltcbridge.cli.feed import add_mesh_options, mesh_settings, required
from ltcbridge.cli.support import add_command as _command
from ltcbridge.errors import LtcbridgeError

if TYPE_CHECKING:
    from ltcbridge.hub.report.area_totals import AreaTotals

EXIT_OK, EXIT_REFUSED, EXIT_INCOMPLETE = 0, 3, 4  # 1 and 2 are cli.app's error and usage

out = Console(highlight=False, soft_wrap=True)


def run_load(args: argparse.Namespace) -> int:
    from ltcbridge.hub.config import load_hub_config
    from ltcbridge.hub.load import load_folder
    from ltcbridge.hub.store import open_store

    config = load_hub_config(args.config)
    with open_store(args.store) as store:
        if args.config:
            store.set_practices(config.practices)
        result = load_folder(args.dir, store, args.recipient or config.icb)
    out.print(
        f"Loaded {len(result.stored)} release(s) from {result.files} file(s) in {escape(args.dir)}"
        f" into {escape(_shown(args.store))}; {result.already_stored} already stored, left alone."
    )
    for meta in result.stored:
        out.print(f"  {meta.sender} {meta.period} sequence {meta.sequence} ({meta.release_id})")
    for item in result.refused:
        out.print(f"  [red]refused[/] {escape(item.what)}: {escape(item.reason)}")
    if result.refused:
        out.print(
            f"{len(result.refused)} refused (recorded among the store's rejections): fix them and "
            "load the folder again; what was loaded is not loaded twice."
        )
        return EXIT_REFUSED
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    from ltcbridge.hub.collate import Collator
    from ltcbridge.hub.config import load_hub_config
    from ltcbridge.hub.report.build import write_report
    from ltcbridge.hub.store import open_store

    config = load_hub_config(args.config)
    area = None if args.area_figures is None else read_area_totals(args.area_figures)
    with open_store(args.store) as store:
        files = write_report(Collator(store, config), args.out, area)
    latest = files.data.latest or "no unmet-need figures yet"
    out.print(f"Report for {escape(config.name)} (latest month {latest}):")
    out.print(f"  HTML (offline, single file): {files.html}")
    out.print(f"  Workbook: {files.xlsx}")
    out.print(f"  Tidy CSV: {', '.join(p.name for p in files.csv)} in {files.csv[0].parent}")
    if area is not None:
        shown = escape(str(args.area_figures))
        out.print(f"  Area totals from secure aggregation: {len(area.values):,} from {shown}")
    out.print(
        f"  FHIR definitions (Measures, CodeSystems): {len(files.definitions)} files in "
        f"{files.definitions[0].parent}"
    )
    if config.source == "defaults":
        out.print(
            "No --config given: no expected practices, the guide's tariff, nothing commissioned."
        )
    standing_in = sum(n for _rules, source, n in files.data.rules if source != "release")
    if standing_in:
        out.print(
            f"{standing_in} release(s) carried no disclosure rules: their ranges use the hub "
            "config's [disclosure] threshold, rounding and secondary (the report says so)."
        )
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ltcbridge.hub.collate import Collator, completeness
    from ltcbridge.hub.config import load_hub_config
    from ltcbridge.hub.store import open_store

    config = load_hub_config(args.config)
    with open_store(args.store) as store:
        done = completeness(Collator(store, config))
    if not done.expected:
        out.print("No expected practices configured: list them under [practices] in --config.")
        return EXIT_OK
    received = done.expected_returns - done.missing_returns
    out.print(
        f"{received} of {done.expected_returns} expected returns received "
        f"({len(done.expected)} practices x {len(done.months)} month(s): "
        f"{', '.join(done.months) or 'none yet'})."
    )
    if done.missing:
        table = Table(title="Practices that have not reported")
        for column in ("practice", "PCN", "months missing"):
            table.add_column(column)
        for practice, months in done.missing.items():
            table.add_row(practice, config.practices[practice], ", ".join(months))
        out.print(table)
    if done.unexpected:
        out.print(f"Received from organisations not in the config: {', '.join(done.unexpected)}")
    return EXIT_INCOMPLETE if args.strict and done.missing else EXIT_OK


def read_area_totals(path: str | Path) -> AreaTotals:
    """The area figures of the leader aggregator's share store at ``path``, for the report (read
    here: the hub imports nothing of secure aggregation). A clear error when the file is missing
    (opening it would create an empty store and show nothing) or is not a share store."""
    from ltcbridge.hub.report.area_totals import area_totals
    from ltcbridge.secagg.store import ShareStore

    path = Path(path)
    if not path.is_file():
        raise LtcbridgeError(
            f"--area-figures {path}: no such file; give the leader aggregator's share store "
            "(the SQLite file its secure aggregation writes)"
        )
    try:
        with ShareStore(path) as store:
            return area_totals(store.area_figures())
    except sqlite3.DatabaseError as exc:
        raise LtcbridgeError(
            f"--area-figures {path}: not a readable share store ({exc}); give the leader "
            "aggregator's share store"
        ) from None


# -- hub receive ---------------------------------------------------------------------------------
def run_hub_receive(args: argparse.Namespace) -> int:
    """Collect releases, verify, decrypt, check and store them; report every rejection."""
    from ltcbridge.feed.seal import load_key
    from ltcbridge.hub.keys import load_key_registry
    from ltcbridge.hub.receive import Receiver, receive_folder, receive_mesh
    from ltcbridge.hub.store import open_store

    private_key = load_key(args.key, private=True)
    registry = load_key_registry(args.keys)
    with open_store(args.store) as store:
        receiver = Receiver(
            store=store,
            recipient=args.hub.upper(),
            private_key=private_key,
            sender_keys=registry,
            agreements=frozenset(args.agreement_id) if args.agreement_id else None,
        )
        if args.source == "folder":
            result = receive_folder(receiver, required(args.dir, "--dir DIR"))
        else:
            with mesh_settings(args).client() as client:
                result = receive_mesh(receiver, client, args.workflow_id)
    return print_received(result)


def print_received(result: Any) -> int:
    out.print(f"Stored {len(result.stored)} release(s); rejected {len(result.rejected)}.")
    for meta in result.stored:
        out.print(f"  stored: {meta.sender} {meta.agreement_id} {meta.period} #{meta.sequence}")
    for gap in result.gaps:
        first, last = gap.missing
        missing = f"{first}" if first == last else f"{first}..{last}"
        out.print(
            f"  gap: {gap.sender} under {gap.agreement_id} has not sent release(s) {missing}; "
            "ask the practice to send them"
        )
    for rejection in result.rejected:
        out.print(
            f"  rejected ({rejection.reason}) from {rejection.sender or 'unknown sender'}: "
            f"{escape(rejection.detail)} [{escape(rejection.origin)}]"
        )
    return EXIT_REFUSED if result.rejected else EXIT_OK


def register(hub: argparse._SubParsersAction) -> None:
    """Add ``receive``, ``load``, ``report`` and ``status`` to the ``hub`` command group."""
    _add_receive(hub)
    load = _command(
        hub,
        "load",
        "Load MeasureReport JSON files (or Bundles of them) from a folder into the hub store, "
        "one release per organisation and month; files already loaded are left alone.",
        run_load,
    )
    load.add_argument("dir", metavar="DIR", help="folder of MeasureReport JSON files")
    _store_options(load)
    load.add_argument("--recipient", help="commissioner ODS code (default: [hub] icb in --config)")
    report = _command(
        hub,
        "report",
        "Collate the store and write the HTML report (single file, offline), the XLSX workbook "
        "and tidy CSV files into a folder.",
        run_report,
    )
    _store_options(report)
    report.add_argument("--out", required=True, help="folder for report.html, hub.xlsx, csv/")
    report.add_argument(
        "--area-figures",
        metavar="SHARE_STORE",
        help="the leader aggregator's share store: show its exact PCN and ICB totals (secure "
        "aggregation) beside the ranges summed from practice figures",
    )
    status = _command(
        hub,
        "status",
        "Completeness: which expected practices have not reported for which months.",
        run_status,
    )
    _store_options(status)
    status.add_argument(
        "--strict", action="store_true", help="exit 4 when any expected return is missing"
    )


def _add_receive(hub: argparse._SubParsersAction) -> None:
    receive = _command(
        hub,
        "receive",
        "Collect sealed releases, verify and decrypt them, check recipient, agreement, period and "
        "sequence, and store them; every rejection is recorded with its reason (exit status 3).",
        run_hub_receive,
    )
    add_receive_options(receive, senders="practices'", me="this hub's")
    receive.add_argument("--hub", required=True, help="this commissioner's ODS code")
    receive.add_argument("--store", required=True, help="hub store (SQLite path or database URL)")
    receive.add_argument(
        "--agreement-id", action="append", default=[], help="accept only these agreements (repeat)"
    )


def add_receive_options(command: argparse.ArgumentParser, *, senders: str, me: str) -> None:
    """Where sealed files arrive (MESH or a folder) and the keys to open and verify them: the
    same for the hub and for a secure-aggregation aggregator."""
    command.add_argument("--from", dest="source", required=True, choices=("mesh", "folder"))
    command.add_argument("--dir", help="folder: where sealed files (.jwe) arrive")
    add_mesh_options(command)
    command.add_argument(
        "--keys", required=True, help=f"{senders} public keys: ODS.pem dir or JWKS"
    )
    command.add_argument("--key", required=True, help=f"{me} private key (PEM)")


def _store_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--store",
        required=True,
        help="the hub store: a SQLite file path (created if new) or a postgresql:// URL",
    )
    command.add_argument(
        "--config", help="hub config TOML: practices and PCNs, tariff, what was commissioned"
    )


def _shown(store: str) -> str:
    """A store URL without its password, for messages."""
    if "://" in store and "@" in store:
        scheme, rest = store.split("://", 1)
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}://{user}@{rest.split('@', 1)[1]}"
    return store

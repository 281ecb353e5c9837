"""``ltcbridge hub receive | load | report | status``: the commissioner's commands, a thin
shell over ``ltcbridge.hub``. ``cli.app`` wires them in with ``register``. Each command
imports what it uses when it runs, so that the ``ltcbridge`` command starts fast.

Exit status as for every ltcbridge command (docs/cli.md): 0 done; 1 error (the message says
what to do); 3 done, but something was set aside: ``hub load`` refused a file or ``hub receive``
rejected a release (the rest is stored); 4 incomplete: ``hub status --strict`` when an expected
practice return is missing, for schedulers.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from ltcbridge.cli.support import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_SET_ASIDE,
    add_force_option,
    add_json_option,
    out,
    print_json,
    print_table,
    set_aside,
    staged_dir,
)
from ltcbridge.cli.support import add_command as _command
from ltcbridge.cli.transport import add_mesh_options, mesh_settings, required
from ltcbridge.errors import LtcbridgeError

if TYPE_CHECKING:
    from ltcbridge.hub.report.area_totals import AreaTotals
    from ltcbridge.hub.store import HubStoreDb

EXIT_REFUSED = EXIT_SET_ASIDE  # the name earlier callers import


@contextmanager
def hub_store(target: str, *, reading: bool) -> Iterator[HubStoreDb]:
    """The ``--store`` a command names, opened with a message that names it when it cannot be.

    ``reading``: the command only reads (report, status), so a store that does not exist is a
    mistyped path, refused rather than created empty (which would report nothing, silently)."""
    from ltcbridge.hub.store import open_store

    is_url = "://" in target
    if reading and not is_url and not Path(target).is_file():
        raise LtcbridgeError(
            f"--store {target}: no such hub store. Check the path (`hub load` or `hub receive` "
            "create a store; this command only reads one)"
        )
    if not is_url and Path(target).is_dir():
        raise LtcbridgeError(f"--store {target} is a folder: give the SQLite file's path")
    if not is_url and not Path(target).parent.is_dir():
        raise LtcbridgeError(
            f"--store {target}: {Path(target).parent} is not an existing folder: create it or "
            "give another path"
        )
    try:
        with open_store(target) as store:
            yield store
    except sqlite3.Error as exc:
        raise LtcbridgeError(
            f"--store {_shown(target)}: cannot use it as a hub store ({exc}): check that it is "
            "a hub store file in a folder you can write, or give another path"
        ) from None


def run_load(args: argparse.Namespace) -> int:
    from ltcbridge.hub.config import load_hub_config
    from ltcbridge.hub.load import load_folder

    config = load_hub_config(args.config)
    _existing_folder(args.dir, "DIR")
    with hub_store(args.store, reading=False) as store:
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
    return set_aside(result.refused)


def _existing_folder(path: str, option: str) -> None:
    """A folder to read from that does not exist is a mistyped path, not an empty delivery."""
    if not Path(path).is_dir():
        raise LtcbridgeError(
            f"{option} {path} is not a folder: check the path (nothing was stored)"
        )


def run_report(args: argparse.Namespace) -> int:
    from ltcbridge.hub.collate import Collator
    from ltcbridge.hub.config import load_hub_config
    from ltcbridge.hub.report.build import write_report

    config = load_hub_config(args.config)
    area = None if args.area_figures is None else read_area_totals(args.area_figures)
    with (
        hub_store(args.store, reading=True) as store,
        staged_dir(args.out, force=args.force) as staging,
    ):
        files = write_report(Collator(store, config), staging, area)
    files = files.moved(staging, Path(args.out))
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
    from ltcbridge.hub.collate import Collator, completeness
    from ltcbridge.hub.config import load_hub_config

    config = load_hub_config(args.config)
    with hub_store(args.store, reading=True) as store:
        done = completeness(Collator(store, config))
    status = EXIT_INCOMPLETE if args.strict and done.missing else EXIT_OK
    if args.json:
        print_json(
            {
                "expected_practices": sorted(done.expected),
                "months": list(done.months),
                "expected_returns": done.expected_returns,
                "missing_returns": done.missing_returns,
                "missing": {p: list(m) for p, m in done.missing.items()},
                "unexpected": sorted(done.unexpected),
            }
        )
        return status
    if not done.expected:
        out.print(
            escape("No expected practices configured: list them under [practices] in --config.")
        )
        return EXIT_OK
    received = done.expected_returns - done.missing_returns
    out.print(
        f"{received} of {done.expected_returns} expected returns received "
        f"({len(done.expected)} practices x {len(done.months)} month(s): "
        f"{', '.join(done.months) or 'none yet'})."
    )
    if done.missing:
        print_table(
            "Practices that have not reported",
            ("practice", "PCN", "months missing"),
            [(p, config.practices[p], ", ".join(m)) for p, m in done.missing.items()],
        )
    if done.unexpected:
        out.print(f"Received from organisations not in the config: {', '.join(done.unexpected)}")
    return status


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

    if args.source == "folder":
        _existing_folder(required(args.dir, "--dir DIR"), "--dir")
    private_key = load_key(args.key, private=True)
    registry = load_key_registry(args.keys)
    with hub_store(args.store, reading=False) as store:
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
    return set_aside(result.rejected)


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
    report.add_argument(
        "--out",
        required=True,
        help="new or empty folder for report.html, hub.xlsx, csv/ (written whole)",
    )
    add_force_option(report)
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
    add_json_option(status, "completeness as one JSON object")


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
    command.add_argument(
        "--from",
        dest="source",
        required=True,
        choices=("mesh", "folder"),
        help="where sealed releases arrive",
    )
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
        help="the hub store: a SQLite file path or a postgresql:// URL (load and receive "
        "create a new SQLite file; report and status refuse one that does not exist)",
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

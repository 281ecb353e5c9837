"""``ltcbridge secagg ...``: secure aggregation of area totals (docs/secure-aggregation.md).

The practice runs ``contribute``; each aggregator runs ``receive`` into its own share store;
the leader (the ICB hub) runs ``propose``, the helper (the second organisation) ``aggregate``,
and the leader ``combine`` and ``figures``. Sealed files travel with ``ltcbridge feed send``
(MESH, HTTPS or a folder), so every file has a receipt. ``cli.app`` wires the group in with
``register(commands)``; each command imports what it uses when it runs.

Exit status: 0 done; 1 error (the message says what to do); 3 something was refused or
rejected (the rest was done; each refusal is printed with its reason).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rich.markup import escape

from ltcbridge.cli.support import (
    EXIT_OK,
    EXIT_SET_ASIDE,
    add_data_dir_option,
    add_group,
    add_mappings_option,
    out,
    practice_data,
    sender_of,
)
from ltcbridge.cli.support import add_command as _command
from ltcbridge.errors import AgreementError, LtcbridgeError

if TYPE_CHECKING:
    from ltcbridge.agreement import Agreement
    from ltcbridge.secagg.config import SecureAggregation
    from ltcbridge.secagg.pipeline import Area

EXIT_REFUSED = EXIT_SET_ASIDE  # refused batches, rejected share files (docs/cli.md)


def load_section(path: str) -> tuple[Agreement, SecureAggregation]:
    """The agreement and its [secure_aggregation] section (required for every secagg command)."""
    from ltcbridge.cli.support import load_agreement

    agreement = load_agreement(path)
    if agreement.secure_aggregation is None:
        raise AgreementError(
            f"{path} has no [secure_aggregation] section: add one naming the two aggregators, "
            'e.g. aggregators = ["QXX", "X9L1A"] (docs/secure-aggregation.md)'
        )
    return agreement, agreement.secure_aggregation


def _receipts(args: argparse.Namespace) -> Path:
    """The receipts store: given, else the one in the (owner-only) data directory, never the
    working directory."""
    from ltcbridge.private_data import RECEIPTS_FILE

    return Path(args.receipts) if args.receipts else practice_data(args) / RECEIPTS_FILE


def run_contribute(args: argparse.Namespace) -> int:
    """Count the month, split every count into two shares, seal one to each aggregator."""
    from ltcbridge.feed.receipts import ReceiptStore
    from ltcbridge.feed.seal import load_key
    from ltcbridge.mapping import load_mappings
    from ltcbridge.pipeline import build_feed
    from ltcbridge.secagg.contribute import seal_shares, secagg_agreement_id

    agreement, section = load_section(args.agreement)
    if agreement.level != "practice":
        raise AgreementError(
            f"{args.agreement}: secure aggregation shares a practice's own counts; set "
            '[breakdowns] level = "practice"'
        )
    build = build_feed(
        args.source, load_mappings([Path(m) for m in args.mappings]), agreement, args.period
    )
    keys = {
        section.leader: load_key(args.leader_key, private=False),
        section.helper: load_key(args.helper_key, private=False),
    }
    signing_key = load_key(args.key, private=True)
    shared_id = secagg_agreement_id(agreement.id)
    practice = sender_of(build, args.sender)
    with ReceiptStore(_receipts(args)) as receipts:
        sequences = {a: receipts.next_sequence(practice, a, shared_id) for a in keys}
        for sealed in seal_shares(
            build.cubes,
            practice,
            section,
            agreement_id=agreement.id,
            signing_key=signing_key,
            aggregator_keys=keys,
            sequences=sequences,
        ):
            folder = Path(args.out) / sealed.aggregator
            path = _write(folder, sealed.meta.release_id, sealed.token)
            receipts.record_sealed(sealed.meta)
            out.print(f"{practice} -> {sealed.aggregator}: {path}")
    out.print(
        "Send each file to its aggregator: ltcbridge feed send --release FILE --via mesh|https|"
        "folder ... (each aggregator sees only uniformly random shares)"
    )
    return EXIT_OK


def run_receive(args: argparse.Namespace) -> int:
    """Open, authenticate and check sealed share files, and keep them in this share store."""
    from ltcbridge.cli.hub import print_received
    from ltcbridge.cli.transport import mesh_settings
    from ltcbridge.feed.seal import load_key
    from ltcbridge.hub.keys import load_key_registry
    from ltcbridge.hub.receive import Receiver, receive_folder, receive_mesh
    from ltcbridge.secagg.store import ShareStore

    with ShareStore(args.store) as store:
        receiver = Receiver(
            store=store,
            recipient=args.me.upper(),
            private_key=load_key(args.key, private=True),
            sender_keys=load_key_registry(args.keys),
        )
        if args.source == "folder":
            if not args.dir or not Path(args.dir).is_dir():
                raise LtcbridgeError(
                    f"--from folder needs --dir DIR, an existing folder (given: {args.dir})"
                )
            result = receive_folder(receiver, args.dir)
        else:
            with mesh_settings(args).client() as client:
                result = receive_mesh(receiver, client, args.workflow_id)
    print_received(result)
    return EXIT_REFUSED if result.rejected else EXIT_OK


def run_propose(args: argparse.Namespace) -> int:
    """The leader's batches of a month, written for the helper (codes only, nothing secret)."""
    from ltcbridge.secagg.pipeline import MonthOutcome, proposals_for
    from ltcbridge.secagg.store import ShareStore

    _, section = load_section(args.agreement)
    outcome = MonthOutcome()
    with ShareStore(args.store) as store:
        proposals = [
            p
            for measure in store.measures(args.period)
            for p in proposals_for(
                store,
                _areas(args, section),
                section,
                measure=measure,
                month=args.period,
                outcome=outcome,
            )
        ]
    Path(args.out).write_bytes(
        orjson.dumps([p.to_dict() for p in proposals], option=orjson.OPT_INDENT_2)
    )
    out.print(f"{len(proposals)} batch(es) proposed for {args.period}: {args.out}")
    return _refusals(outcome.refused)


def run_aggregate(args: argparse.Namespace) -> int:
    """The helper: check the proposed batches, sum its shares, seal the sums to the leader."""
    from ltcbridge.feed.receipts import ReceiptStore
    from ltcbridge.feed.seal import load_key, peek_headers
    from ltcbridge.secagg.batch import seal_partial_sums
    from ltcbridge.secagg.contribute import secagg_agreement_id
    from ltcbridge.secagg.pipeline import helper_sums
    from ltcbridge.secagg.store import ShareStore

    agreement, section = load_section(args.agreement)
    proposals = _proposals(args.proposals)
    with ShareStore(args.store) as store:
        sums, refused = helper_sums(store, proposals, section)
    if sums:
        shared_id = secagg_agreement_id(agreement.id)
        with ReceiptStore(_receipts(args)) as receipts:
            sequence = receipts.next_sequence(section.helper, section.leader, shared_id)
            token = seal_partial_sums(
                sums,
                agreement_id=shared_id,
                helper=section.helper,
                leader=section.leader,
                signing_key=load_key(args.key, private=True),
                leader_key=load_key(args.leader_key, private=False),
                sequence=sequence,
            )
            release_id = str(peek_headers(token)["ltc_release"])
            path = _write(Path(args.out), release_id, token)
        out.print(f"{len(sums)} partial sum(s) sealed to {section.leader}: {path}")
    return _refusals(refused)


def run_combine(args: argparse.Namespace) -> int:
    """The leader: add the helper's sums to its own, protect the area figures, keep them."""
    from ltcbridge.disclosure.cells import DisclosureRules
    from ltcbridge.disclosure.history import HistoryStore
    from ltcbridge.secagg.disclose import disclose_month
    from ltcbridge.secagg.pipeline import MonthOutcome, leader_totals
    from ltcbridge.secagg.store import ShareStore

    agreement, section = load_section(args.agreement)
    proposals = _proposals(args.proposals)
    rules = DisclosureRules(agreement.threshold, agreement.rounding)
    outcome = MonthOutcome()
    parent_of = {a.code: a.parent for a in _areas(args, section) if a.parent}
    with ShareStore(args.store) as store:
        theirs = {p.batch_id: s for p in proposals if (s := store.partial_sum(p.batch_id))}
        by_month: dict[tuple[str, str], list[Any]] = {}
        for p in proposals:
            by_month.setdefault((p.measure, p.month), []).append(p)
        for batch in by_month.values():
            totals = leader_totals(store, batch, theirs, section, outcome)
            release = disclose_month(
                store,
                HistoryStore(args.history),
                totals,
                agreement_id=agreement.id,
                rules=rules,
                secondary=agreement.secondary,
                parent_of=parent_of,
            )
            out.print(f"{len(release.figures)} area figure(s) kept for {batch[0].month}")
            outcome.refused += release.held_back
    return _refusals(outcome.refused)


def run_figures(args: argparse.Namespace) -> int:
    """Print (or write as CSV) the protected area figures: all that is meant to be read."""
    import csv
    import sys

    from ltcbridge.secagg.store import ShareStore

    with ShareStore(args.store) as store:
        figures = store.area_figures(month=args.period)
    handle = open(args.csv, "w", newline="", encoding="utf-8") if args.csv else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "measure",
                "month",
                "level",
                "area",
                "group",
                "stratifier",
                "stratum",
                "value",
                "status",
                "practices",
                "version",
            ]
        )
        for f in figures:
            writer.writerow(
                [
                    f.measure,
                    f.month,
                    f.level,
                    f.area,
                    f.group,
                    f.stratifier or "",
                    f.stratum or "",
                    "" if f.value is None else f.value,
                    "masked" if f.value is None else "published",  # never why: see the docs
                    f.practices,
                    f.version,
                ]
            )
    finally:
        if args.csv:
            handle.close()
    return EXIT_OK


def _areas(args: argparse.Namespace, section: SecureAggregation) -> list[Area]:
    from ltcbridge.hub.config import load_hub_config
    from ltcbridge.secagg.pipeline import areas_of

    config = load_hub_config(args.hub_config)
    if not config.practices:
        raise LtcbridgeError(
            f"{args.hub_config}: [practices] is empty; secure aggregation needs each practice's "
            "PCN to know which practices make up each area"
        )
    return areas_of(config.practices, config.icb, section.areas)


def _proposals(path: str) -> list[Any]:
    from ltcbridge.secagg.batch import Proposal

    try:
        data = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise LtcbridgeError(f"cannot read batch proposals {path}: {exc}") from None
    if not isinstance(data, list):
        raise LtcbridgeError(f"{path} is not a list of batch proposals (written by propose)")
    return [Proposal.from_dict(item) for item in data]


def _write(directory: Path, release_id: str, token: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{release_id}.jwe"
    path.write_text(token + "\n", encoding="ascii")
    return path


def _refusals(notes: list[str]) -> int:
    for note in notes:
        out.print(f"  [red]refused[/] {escape(note)}")
    return EXIT_REFUSED if notes else EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``secagg`` command group."""
    from ltcbridge.cli.hub import add_receive_options

    sub = add_group(commands, "secagg", "secure aggregation of area totals between two aggregators")
    contribute = _command(
        sub,
        "contribute",
        "Practice: count the month, split every exact count into two random shares and seal one "
        "to each aggregator named in the agreement; files go to --out/AGGREGATOR/.",
        run_contribute,
    )
    contribute.add_argument("--source", required=True, help="bulk export directory or file")
    add_mappings_option(contribute)
    _agreement(contribute)
    contribute.add_argument("--period", required=True, help="reporting month YYYY-MM")
    contribute.add_argument("--key", required=True, help="the practice's private key (PEM)")
    contribute.add_argument(
        "--sender", help="ODS code sending (default: the one practice reported)"
    )
    contribute.add_argument("--leader-key", required=True, help="the leader's public key (PEM)")
    contribute.add_argument("--helper-key", required=True, help="the helper's public key (PEM)")
    contribute.add_argument("--out", required=True, help="directory for the sealed files")
    contribute.add_argument(
        "--receipts",
        help="receipts store (default: receipts.sqlite in the practice data directory)",
    )
    add_data_dir_option(contribute)
    receive = _command(
        sub,
        "receive",
        "Aggregator: open, authenticate and check sealed share files (practices' shares, or the "
        "helper's sums at the leader) and keep them in this share store.",
        run_receive,
    )
    add_receive_options(receive, senders="senders'", me="this aggregator's")
    receive.add_argument("--me", required=True, help="this aggregator's ODS code")
    _store(receive)
    propose = _command(
        sub,
        "propose",
        "Leader: propose the month's batches (area, practices) from the shares held; batches "
        "below min_practices are refused. Writes --out for the helper.",
        run_propose,
    )
    _store(propose)
    _agreement(propose)
    _hub_config(propose)
    propose.add_argument("--period", required=True, help="month YYYY-MM")
    propose.add_argument("--out", required=True, help="the proposals file (JSON) to write")
    aggregate = _command(
        sub,
        "aggregate",
        "Helper: check each proposed batch against the shares held here, sum them, and seal the "
        "sums to the leader (a file in --out to send with ltcbridge feed send).",
        run_aggregate,
    )
    _store(aggregate)
    _agreement(aggregate)
    aggregate.add_argument("--proposals", required=True, help="the leader's proposals file")
    aggregate.add_argument("--key", required=True, help="the helper's private key (PEM)")
    aggregate.add_argument("--leader-key", required=True, help="the leader's public key (PEM)")
    aggregate.add_argument("--out", required=True, help="directory for the sealed sums")
    aggregate.add_argument(
        "--receipts", help="receipts store (default: receipts.sqlite in the data directory)"
    )
    add_data_dir_option(aggregate)
    combine = _command(
        sub,
        "combine",
        "Leader: add the helper's received sums to its own, check them, protect the area "
        "figures against every earlier release and keep only the protected figures.",
        run_combine,
    )
    _store(combine)
    _agreement(combine)
    _hub_config(combine)
    combine.add_argument("--proposals", required=True, help="the proposals file sent to the helper")
    combine.add_argument(
        "--history", required=True, help="the leader's area-release history (SQLite)"
    )
    figures = _command(
        sub,
        "figures",
        "Leader: the protected area figures as CSV (masked figures empty, with the reason).",
        run_figures,
    )
    _store(figures)
    figures.add_argument("--period", help="only this month YYYY-MM")
    figures.add_argument("--csv", help="write to this file instead of the screen")


def _store(command: argparse.ArgumentParser) -> None:
    command.add_argument("--store", required=True, help="this aggregator's share store (SQLite)")


def _agreement(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--agreement", required=True, help="agreement TOML with [secure_aggregation]"
    )


def _hub_config(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--hub-config", required=True, help="hub config TOML: [hub] icb and [practices] -> PCN"
    )

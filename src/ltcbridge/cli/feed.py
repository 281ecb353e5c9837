"""``ltcbridge feed build|preview|seal|send|cohort|measures``: the month's release, built, sealed
and on the move.

Wired into ``cli.app`` by ``register``. Each command imports what it
uses when it runs, so that the ``ltcbridge`` command starts fast. Secrets (MESH password and
shared key, an HTTPS bearer token) come from the environment, never from the command line, where
other users of the machine could read them.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from ltcbridge.cli.support import (
    EXIT_OK,
    EXIT_SET_ASIDE,
    add_data_dir_option,
    add_force_option,
    add_json_option,
    add_mappings_option,
    add_workers_option,
    check_writable,
    err,
    out,
    practice_data,
    print_json,
    progress_bar,
    refuse_inside,
    sender_of,
    set_aside,
    stage,
    staged_dir,
)
from ltcbridge.cli.support import add_command as _command
from ltcbridge.cli.transport import add_mesh_options, mesh_settings, required
from ltcbridge.errors import LtcbridgeError

if TYPE_CHECKING:
    from ltcbridge.feed.release import ReleaseMeta
    from ltcbridge.feed.transport.base import Transport
    from ltcbridge.pipeline import FeedBuild

EXIT_ATTENTION = EXIT_SET_ASIDE  # the name earlier callers import


# -- feed build ----------------------------------------------------------------------------------
def run_feed_build(args: argparse.Namespace) -> int:
    """Build the month's feed for inspection, protected against the practice's release history."""
    from ltcbridge.build_summary import summarise
    from ltcbridge.feed.files import write_feed

    refuse_inside(practice_data(args), args.out, "the practice data directory")
    with staged_dir(args.out, force=args.force) as staging:  # checked before the build
        build = build_protected(args)
        files = write_feed(build.protected, build.reports, staging)
        quarantined = keep_quarantine(args, build)  # before the feed is moved into place
    if args.json:
        print_json(build_json(build, summarise(build), files, args.out, quarantined))
        return set_aside(build.quarantine)
    for line in summarise(build):
        out.print(escape(line))
    note = f"; quarantined input (patient data, stays here): {quarantined}" if quarantined else ""
    out.print(escape(f"Wrote {len(files)} file(s) to {args.out}{note}."))
    return set_aside(build.quarantine)


def build_json(
    build: FeedBuild, summary: list[str], files: list[Path], where: str, quarantine: Path | None
) -> dict[str, Any]:
    """``feed build --json``: what a script needs to act on (docs/cli.md lists the keys)."""
    return {
        "period": build.period,
        "agreement": build.agreement.id,
        "recipient": build.agreement.recipient,
        "level": build.agreement.level,
        "out": str(where),
        "files": sorted(f.name for f in files),
        "reports": len(build.reports),
        "figures": build.protected.figure_count(),
        "masked": dict(sorted(build.masked.items())),
        "quarantined": len(build.quarantine),
        "quarantine_file": None if quarantine is None else str(quarantine),
        "unmapped_codings": sum(build.unmapped.values()),
        "diagnostics": dict(sorted(build.diagnostics.items())),
        "summary": summary,
    }


def check_mapped(build: FeedBuild, source: str, *, facts: int, strict: bool) -> None:
    """A forgotten ``--mappings`` must not pass as a feed of zeros (dbt's way with warnings:
    said plainly, an error under ``--warn-error``).

    ``facts``: what the export's entries assert, any month. None at all while codings or
    templates went unmapped is always an error: such a feed would report no need anywhere.
    A measure that counted nobody in a month that has facts, while templates went unread, is
    a warning. (Facts in other months only: the summary says to check ``--period``.)"""
    templates = sum(build.unmapped_questionnaires.values())
    advice = (
        "give the practice's mappings with --mappings DIR (run `ltcbridge mappings coverage` "
        "to see what is not covered)"
    )
    if not facts and (build.unmapped or templates):
        raise LtcbridgeError(
            f"nothing in --source {source} was counted: no entry matched a mapping while "
            f"{sum(build.unmapped.values())} coding(s) and {templates} template answer(s) "
            f"matched none; nothing was written: {advice}"
        )
    empty = [_measure_name(c.measure) for c in build.cubes if not c.totals.any()]
    if not (empty and templates and build.facts_in_period):
        return  # codings nobody maps are normal in a GP record; an unread template is not
    message = (
        f"{', '.join(empty)} counted nobody while {templates} QuestionnaireResponse(s) answer "
        f"templates no mapping defines: {advice}"
    )
    if strict:
        raise LtcbridgeError(f"{message} (--warn-error: nothing was written)")
    err.print(f"[yellow]warning:[/] {escape(message)}")


def _measure_name(canonical: str) -> str:
    return canonical.rstrip("/").rsplit("/", 1)[-1]


# -- feed preview --------------------------------------------------------------------------------
def run_feed_preview(args: argparse.Namespace) -> int:
    """Show exactly what would leave, and the manifest; send and write nothing."""
    from ltcbridge.feed.preview import release_tables
    from ltcbridge.pipeline import manifest_of

    build = build_protected(args)
    if getattr(args, "json", False):  # callers may build the namespace by hand
        print_json(preview_json(build))
        return set_aside(build.quarantine)
    for table in release_tables(build.protected):
        out.print(table)
    out.print(escape(manifest_of(build).text()))
    out.print("Nothing was sent or written. `ltcbridge feed seal` seals this release.")
    return set_aside(build.quarantine)


def preview_json(build: FeedBuild) -> dict[str, Any]:
    """``feed preview --json``: every figure that would leave, as the CSV of ``feed build``
    has them (a masked figure is ``null`` with status ``masked``), and the manifest's text."""
    from ltcbridge.feed.files import csv_rows
    from ltcbridge.pipeline import manifest_of

    return {
        "period": build.period,
        "agreement": build.agreement.id,
        "recipient": build.agreement.recipient,
        "level": build.agreement.level,
        "quarantined": len(build.quarantine),
        "figures": list(csv_rows(build.protected)),
        "manifest": manifest_of(build).text(),
    }


# -- feed seal -----------------------------------------------------------------------------------
def run_feed_seal(args: argparse.Namespace) -> int:
    """Build, seal to the recipient, write the sealed file and the manifest; send nothing.

    The release is recorded in the practice's history as it is sealed: from then on it may
    leave, so every later build is protected against it, whether or not it is ever sent.
    """
    from ltcbridge.build_summary import summarise
    from ltcbridge.disclosure.history import HistoryStore
    from ltcbridge.feed.manifest import release_measures, reports_of_org
    from ltcbridge.feed.receipts import ReceiptStore
    from ltcbridge.feed.release import new_release_meta
    from ltcbridge.feed.seal import load_key
    from ltcbridge.private_data import HISTORY_FILE, RECEIPTS_FILE, RELEASES_DIR
    from ltcbridge.sealing import seal_and_record

    data = practice_data(args)
    refuse_inside(data, args.out, "the practice data directory")
    check_writable(args.out, "--out")  # before the build, not after it
    signing_key = load_key(args.key, private=True)
    recipient_key = load_key(args.recipient_key, private=False)
    _check_sealable(args)
    build = build_protected(args)
    sender = sender_of(build, args.sender)
    reports = reports_of_org(build.reports, sender)
    quarantined = keep_quarantine(args, build)  # kept before sealing, as `feed build` keeps it
    with ReceiptStore(data / RECEIPTS_FILE) as receipts:
        meta = new_release_meta(
            agreement_id=build.agreement.id,
            sender=sender,
            recipient=build.agreement.recipient,
            period=build.period,
            sequence=receipts.next_sequence(sender, build.agreement.recipient, build.agreement.id),
            measures=release_measures(reports),
        )
        # The manifest first: a sealed release always has its reasons; a failed seal takes it back.
        manifest = data / RELEASES_DIR / f"{meta.release_id}.manifest.md"
        try:
            _write_manifest(meta, build, manifest)
            sealed = seal_and_record(
                meta,
                reports,
                build.release,
                keys=(signing_key, recipient_key),
                history=HistoryStore(data / HISTORY_FILE),
                receipts=receipts,
                sealed_path=Path(args.out) / f"{meta.release_id}.jwe",
            )
        except BaseException as exc:
            manifest.unlink(missing_ok=True)
            _explain_unsealed(exc, args.out)
            raise
    for line in summarise(build):
        out.print(escape(line))
    out.print(
        f"Sealed release {meta.sequence} ({meta.release_id}) to {meta.recipient}: {sealed}\n"
        f"Recorded in the release history ({data / HISTORY_FILE}): every later release is "
        "protected against it.\n"
        f"Manifest for the IG lead (stays here, never sent): {manifest}\n"
        + (f"Quarantined input (patient data, stays here): {quarantined}\n" if quarantined else "")
        + f"Next: ltcbridge feed send --release {sealed} --via mesh|https|folder ..."
    )
    return set_aside(build.quarantine)


def _explain_unsealed(exc: BaseException, out_dir: str) -> None:
    """A write that failed while sealing, said as what it means (nothing sealed, nothing half
    written; the history may keep the figures, which only protects later releases more)."""
    if isinstance(exc, OSError):
        where = f" in {Path(exc.filename).parent}" if exc.filename else ""
        raise LtcbridgeError(
            f"nothing was sealed: a write{where} failed ({exc.strerror or exc}); no sealed file "
            f"is left in {out_dir} and no receipt was kept. The release history may keep these "
            "figures, so later releases stay protected against them. Free some space or fix the "
            "permissions, then run `ltcbridge feed seal` again"
        ) from None


def _check_sealable(args: argparse.Namespace) -> None:
    """Nothing is sealed under an agreement not in force today, or for a month outside it
    (checked before the export is read)."""
    from ltcbridge.cli.support import load_agreement
    from ltcbridge.period import check_period

    agreement = load_agreement(args.agreement)
    agreement.check_in_force(today())
    _refuse_after_shares(args)
    if not agreement.covers_period(check_period(args.period)):
        raise LtcbridgeError(
            f"agreement {agreement.id} runs from {agreement.valid_from} to "
            f"{agreement.valid_until}; {args.period} is outside it, so no release of that month "
            "is sealed under it ([agreement] valid_from / valid_until)"
        )


def _refuse_after_shares(args: argparse.Namespace) -> None:
    """Once this practice's exact counts of a month went to secure aggregation, the area totals
    made from them are published where this practice never sees them: a practice-level
    release of the same month could not be protected against them, so none is sealed."""
    from ltcbridge.feed.receipts import ReceiptStore
    from ltcbridge.private_data import RECEIPTS_FILE
    from ltcbridge.secagg.contribute import AGREEMENT_SUFFIX

    path = practice_data(args) / RECEIPTS_FILE
    if not path.exists():
        return
    with ReceiptStore(path) as receipts:
        shared = [
            r for r in receipts.all()
            if r.period == args.period and r.agreement_id.endswith(AGREEMENT_SUFFIX)
        ]  # fmt: skip
    if shared:
        raise LtcbridgeError(
            f"this practice sent secret shares of its {args.period} counts for secure "
            f"aggregation ({shared[0].agreement_id}); the area totals made from them cannot be "
            "seen here, so a practice-level release of that month could not be protected "
            "against them and is not sealed (docs/secure-aggregation.md)"
        )


def today() -> date:
    """The practice's date, for the agreement's validity window."""
    return date.today()


def _write_manifest(meta: ReleaseMeta, build: FeedBuild, manifest: Path) -> None:
    """The manifest (why figures were masked), whole and owner-only, at ``manifest`` in the
    practice data directory only."""
    from ltcbridge.pipeline import manifest_of
    from ltcbridge.private_data import write_private

    with write_private(manifest, "w", encoding="utf-8") as handle:
        handle.write(manifest_of(build, meta).text())


# -- feed send -----------------------------------------------------------------------------------
def run_feed_send(args: argparse.Namespace) -> int:
    """Send a sealed release by one transport, unless the receipts show it was delivered."""
    from ltcbridge.feed.receipts import ReceiptStore
    from ltcbridge.feed.transport.base import RetryPolicy
    from ltcbridge.feed.transport.send import read_sealed, send_release
    from ltcbridge.private_data import RECEIPTS_FILE

    release, meta = read_sealed(args.release)
    if args.agreement:
        _check_agreement_for(args.agreement, meta)
    transport = make_transport(args)
    policy = RetryPolicy(attempts=args.attempts, initial_wait=args.backoff)
    with ReceiptStore(practice_data(args) / RECEIPTS_FILE) as receipts:
        if receipts.get(release.release_id) is None:
            raise LtcbridgeError(
                f"release {release.release_id} was not sealed with this practice data directory "
                f"({practice_data(args)}), so it is not in the release history later releases "
                "are protected against: send it with the --data-dir it was sealed with"
            )
        outcome = send_release(
            release.token,
            transport,
            receipts,
            policy=policy,
            on_retry=lambda n, why: err.print(f"attempt {n} failed ({escape(why)}); retrying"),
        )
    _close(transport)
    out.print(escape(outcome.describe()))
    return EXIT_OK


def _check_agreement_for(path: str, meta: ReleaseMeta) -> None:
    """Nothing is sent under an agreement that is suspended, revoked or out of its dates."""
    from ltcbridge.cli.support import load_agreement

    agreement = load_agreement(path)
    if agreement.id != meta.agreement_id:
        raise LtcbridgeError(
            f"--agreement {path} is {agreement.id}, but the release was sealed under "
            f"{meta.agreement_id}: give that agreement's file"
        )
    agreement.check_in_force(today())


def make_transport(args: argparse.Namespace) -> Transport:
    """The transport ``--via`` names, configured from options and the environment."""
    from ltcbridge.feed.transport.folder import FolderTransport

    if args.via == "folder":
        return FolderTransport(required(args.to, "--to DIR"))
    if args.via == "https":
        from ltcbridge.feed.transport.https import HttpsTransport

        token = os.environ.get(args.token_env) if args.token_env else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return HttpsTransport(required(args.url, "--url URL"), headers=headers)
    from ltcbridge.feed.transport.mesh import MeshTransport

    return MeshTransport(mesh_settings(args), required(args.mesh_to, "--mesh-to MAILBOX"))


# -- feed cohort ---------------------------------------------------------------------------------
def run_feed_cohort(args: argparse.Namespace) -> int:
    """Write the pseudonymised cohort extract, when the agreement allows it."""
    from ltcbridge.cli.support import load_agreement
    from ltcbridge.cohort_extract import (
        cohort_rows,
        load_or_create_secret,
        protect_cohort,
        write_extract,
    )
    from ltcbridge.mapping import load_mappings
    from ltcbridge.private_data import COHORT_DIR, PSEUDONYM_KEY_FILE

    agreement = load_agreement(args.agreement)
    if not agreement.cohort_extract:  # say so before reading a large export
        raise LtcbridgeError(
            f"agreement {agreement.id} does not allow a pseudonymised cohort extract: it needs "
            "[cohort_extract] allowed = true, agreed with the practice's IG lead"
        )
    agreement.check_in_force(today())
    data = practice_data(args)
    key = Path(args.key) if args.key else data / PSEUDONYM_KEY_FILE
    secret, created = load_or_create_secret(key)
    if created:
        err.print(
            f"Created a new pseudonym key at {key} (readable by you only). Keep it and back "
            "it up: it never leaves the practice, and a new key changes every pseudonym."
        )
    rows = cohort_rows(
        args.source, load_mappings(args.mappings), agreement, args.period, secret,
        workers=args.workers,
    )  # fmt: skip
    extract = protect_cohort(rows, agreement)
    name = f"cohort-{agreement.recipient}-{args.period}.csv"
    path = write_extract(extract, data / COHORT_DIR / name)
    generalised = "; ".join(extract.generalised) or "nothing generalised"
    out.print(
        f"Cohort extract: {len(extract.rows)} people whose six months after a provider's "
        f"intervention ended in {args.period}, pseudonymised for {agreement.recipient} "
        f"(HMAC-SHA256), months only, no identifier: {path}\n"
        f"No combination of practice, age band, sex, ethnic group and deprivation is shared by "
        f"fewer than {extract.threshold} people ({generalised}; {extract.suppressed} row(s) "
        "left out).\nIt stays here, readable by you only, and is not sealed: check it, then "
        "send it as the agreement says."
    )
    return EXIT_OK


# -- feed measures -------------------------------------------------------------------------------
def run_feed_measures(args: argparse.Namespace) -> int:
    """Write the Measure definitions (and the measure-group CodeSystem) the feed refers to."""
    from ltcbridge.feed.measure_definitions import write_definitions
    from ltcbridge.mapping import load_mappings

    with staged_dir(args.out, force=args.force) as staging:
        resources = write_definitions(load_mappings(args.mappings), staging)
    out.print(f"Wrote {len(resources)} FHIR definitions to {args.out}: " + ", ".join(
        r.get("url", r["id"]) for r in resources))  # fmt: skip
    return EXIT_OK


# -- shared plumbing -----------------------------------------------------------------------------
def build_protected(args: argparse.Namespace) -> FeedBuild:
    """Build the month's release, protected against every release this practice recorded.

    The history is always on: it comes from the practice data directory, whatever the working
    directory, so a release built by any command (build, preview, seal, cohort) is protected
    against everything sealed before, to any recipient, under any agreement, at any level.
    """
    from ltcbridge.cli.support import load_agreement
    from ltcbridge.disclosure.history import HistoryStore
    from ltcbridge.mapping import load_mappings
    from ltcbridge.pipeline import build_release, scan_for_feed
    from ltcbridge.private_data import HISTORY_FILE

    agreement = load_agreement(args.agreement)
    history = HistoryStore(practice_data(args) / HISTORY_FILE).load_all()
    mappings = load_mappings(args.mappings)
    with progress_bar("Reading") as progress:
        scanned = scan_for_feed(
            args.source, mappings, args.period, agreement.measures, workers=args.workers,
            progress=progress,
        )  # fmt: skip
    with stage("Counting and applying the disclosure rules"):
        build = build_release(scanned, mappings, agreement, args.period, history=history)
    check_mapped(
        build,
        args.source,
        facts=len(scanned.population.fact_date),
        strict=getattr(args, "warn_error", False),
    )
    return build


def keep_quarantine(args: argparse.Namespace, build: FeedBuild) -> Path | None:
    """Quarantined input (patient data) into the practice data directory, owner-only."""
    from ltcbridge.pipeline import write_quarantine
    from ltcbridge.private_data import QUARANTINE_DIR

    if not build.quarantine:
        return None
    folder = practice_data(args) / QUARANTINE_DIR
    return write_quarantine(build.quarantine, folder, build.period)


def _close(thing: Any) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        close()


# -- registration --------------------------------------------------------------------------------
def _add_build(sub: argparse._SubParsersAction) -> None:
    build = _command(
        sub,
        "build",
        "From a FHIR R4 bulk export, write one month's feed: every measure the agreement names "
        "(unmet need, referrals, support levels, Star distance travelled, NHS use before and "
        "after), as MeasureReport JSON and one CSV, unsealed, for inspection. Exit status 3 means "
        "the feed was written but some input was quarantined for a person to look at.",
        run_feed_build,
    )
    build.add_argument("--source", required=True, help="bulk export: a directory of .ndjson "
                       "files (or .ndjson.gz), or one file")  # fmt: skip
    add_mappings_option(build)
    build.add_argument("--agreement", required=True, help="data-sharing agreement TOML file")
    build.add_argument("--period", required=True, help="reporting month YYYY-MM")
    build.add_argument(
        "--out", required=True, help="new or empty folder for the feed files (written whole)"
    )
    add_force_option(build)
    add_workers_option(build)
    add_data_dir_option(build)
    add_warn_error_option(build)
    add_json_option(build, "the build summary as one JSON object")


def register(feed: argparse._SubParsersAction) -> None:
    """Add ``build``, ``preview``, ``seal``, ``send``, ``cohort`` and ``measures`` to the ``feed``
    command group."""
    _add_build(feed)
    preview = _command(
        feed,
        "preview",
        "Show exactly what a release would send (every figure; masked ones as 'masked') and the "
        "manifest for the information-governance lead. Nothing is sent or written.",
        run_feed_preview,
    )
    _add_build_options(preview)
    add_warn_error_option(preview)
    add_json_option(preview, "every figure that would leave and the manifest, as one JSON object")
    seal = _command(
        feed,
        "seal",
        "Build a release, sign it with the practice's key and encrypt it to the recipient's; "
        "write it (RELEASE_ID.jwe) and its manifest (stays in the practice) to --out.",
        run_feed_seal,
    )
    _add_build_options(seal)
    seal.add_argument(
        "--key", required=True, help="the practice's private key (PEM, RSA or EC P-384)"
    )
    seal.add_argument("--recipient-key", required=True, help="the commissioner's public key (PEM)")
    seal.add_argument("--sender", help="ODS code sending (default: the one organisation reported)")
    seal.add_argument(
        "--out",
        required=True,
        help="directory for the sealed release (the manifest stays in the practice data directory)",
    )
    measures = _command(
        feed,
        "measures",
        "Write the FHIR Measure resources behind the feed's canonicals (groups, what each counts, "
        "breakdowns, scores) and the CodeSystem of the outcome measures' group codes, validated.",
        run_feed_measures,
    )
    measures.add_argument(
        "--mappings",
        action="append",
        default=[],
        metavar="DIR",
        help="mappings directory added to the bundled ones (Stars are data); may repeat",
    )
    measures.add_argument(
        "--out", required=True, help="new or empty folder to write the JSON files to"
    )
    add_force_option(measures)
    cohort = _command(
        feed,
        "cohort",
        "Write the pseudonymised cohort extract for the commissioner's cost analysis (one row per "
        "person of the month's NHS-use cohort: a keyed pseudonym, breakdowns, months, NHS use "
        "and cost before and after). Only when the agreement has [cohort_extract] allowed = true.",
        run_feed_cohort,
    )
    _add_build_options(cohort)
    cohort.add_argument(
        "--key",
        help="the practice's pseudonym secret (made, owner-readable, if missing; never sent; "
        "default: pseudonym.key in the practice data directory)",
    )
    send = _command(
        feed,
        "send",
        "Send a sealed release. A release already delivered is never sent again; retried with "
        "backoff when the failure is temporary.",
        run_feed_send,
    )
    send.add_argument("--release", required=True, help="sealed release file (.jwe)")
    send.add_argument(
        "--via",
        required=True,
        choices=("mesh", "https", "folder"),
        help="how to send: NHS MESH, an HTTPS endpoint, or a folder the recipient collects from",
    )
    send.add_argument("--to", help="folder: the directory the recipient collects from")
    send.add_argument("--url", help="https: the commissioner's receiving endpoint")
    send.add_argument("--token-env", help="https: environment variable holding a bearer token")
    send.add_argument("--mesh-to", help="mesh: the commissioner's mailbox id")
    add_mesh_options(send)
    send.add_argument("--attempts", type=int, default=5, help="attempts for temporary failures")
    send.add_argument("--backoff", type=float, default=2.0, help="first wait in seconds, doubling")
    send.add_argument(
        "--agreement",
        help="the agreement file the release was sealed under: checked again before sending "
        "(suspended, revoked or out of its dates: nothing is sent)",
    )
    add_data_dir_option(send)


def add_warn_error_option(command: argparse.ArgumentParser) -> None:
    """``--warn-error`` (as dbt's): a warning that a measure counted nobody is an error."""
    command.add_argument(
        "--warn-error",
        action="store_true",
        help="treat a warning (a measure counted nobody while templates went unmapped) as an "
        "error: exit 1, nothing written",
    )


def _add_build_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--source", required=True, help="bulk export directory or file")
    add_mappings_option(command)
    command.add_argument("--agreement", required=True, help="data-sharing agreement TOML file")
    command.add_argument("--period", required=True, help="reporting month YYYY-MM")
    command.add_argument("--workers", type=int, help="processes to read with")
    add_data_dir_option(command)

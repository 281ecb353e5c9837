"""The practice daemon's commands: init, check, sync, daemon, status, replay, audit export.

``register(subparsers)`` adds them to the ``ltcbridge`` command. Each command imports what it
uses when it runs, so that ``ltcbridge --help`` and every other command start fast. Exit status
as everywhere in ltcbridge (docs/cli.md): 0 done; 1 error (the message says what to do; ``check``:
something is not ready); 3 done, but input was quarantined or set aside for a person.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from ltcbridge.cli.support import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SET_ASIDE,
    add_force_option,
    add_group,
    add_json_option,
    err,
    out,
    print_json,
    print_table,
    set_aside,
    showing_progress,
    staged_file,
)
from ltcbridge.cli.support import add_command as _command

if TYPE_CHECKING:
    from ltcbridge.daemon.config import Config
    from ltcbridge.daemon.pull import Progress as ProgressCallback
    from ltcbridge.daemon.state import StateStore

KEY_TYPES = ("rsa", "ec")  # as daemon.keys.KEY_TYPES (a test keeps them the same)

EXIT_QUARANTINED = EXIT_SET_ASIDE  # the name earlier callers import
__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_QUARANTINED", "err", "out", "register"]


# -- commands ------------------------------------------------------------------------------------
def _json_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """With ``--json-logs``, a command's error (bad config, state file refused, another process
    running) is one JSON log line too, like everything else on standard error."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        from ltcbridge.errors import LtcbridgeError

        try:
            return run(args)
        except LtcbridgeError as exc:
            if not getattr(args, "json_logs", False):
                raise
            line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "level": "error", "event": "command.error", "error": str(exc)}  # fmt: skip
            sys.stderr.write(json.dumps(line) + "\n")
            return EXIT_ERROR

    return wrapped


def _json_logs(args: argparse.Namespace, config: Config) -> bool:
    return bool(config.log_json or getattr(args, "json_logs", False))


def run_init(args: argparse.Namespace) -> int:
    from ltcbridge.daemon.template import write_initial_config

    config = write_initial_config(Path(args.dir), args.ods.upper(), args.key_type)
    out.print(
        f"Wrote {config} and keys in {config.parent / 'keys'} (private key readable by "
        "its owner only)."
    )
    out.print(
        "Next: register keys/jwks.json with the GP endpoint, fill in the file, then run "
        f"`ltcbridge check --config {config}`."
    )
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    from ltcbridge.daemon.check import PROBLEM, run_checks
    from ltcbridge.daemon.config import load_config

    config = load_config(args.config)
    rows = run_checks(config)
    problems = sum(row.status == PROBLEM for row in rows)
    if args.json:
        print_json(
            {
                "config": str(config.path),
                "ready": not problems,
                "checks": [
                    {"thing": r.thing, "status": r.status, "detail": r.detail, "action": r.action}
                    for r in rows
                ],
            }
        )
        return EXIT_ERROR if problems else EXIT_OK
    print_table(
        f"ltcbridge readiness: {config.path}",
        ("thing", "status", "detail", "what to do"),
        [(r.thing, r.status, r.detail, r.action) for r in rows],
    )
    out.print("Ready to run." if not problems else f"{problems} problem(s): fix them, run again.")
    return EXIT_ERROR if problems else EXIT_OK


@_json_errors
def run_sync(args: argparse.Namespace) -> int:
    import asyncio

    from ltcbridge.daemon.cycle import OK, Syncer
    from ltcbridge.daemon.lock import single_instance

    config = _configured(args)
    with single_instance(config.state_path), _store(config) as state, _progress() as progress:
        result = asyncio.run(Syncer(config, state, progress=progress).run_once())
    summary = result.summary
    out.print(
        f"Sync {result.status}: read {summary.get('gp_read', 0)} GP resource(s); referrals sent "
        f"{summary.get('referrals_sent', 0)}, not sent for lack of consent "
        f"{summary.get('referrals_without_consent', 0)}; outcomes written back "
        f"{summary.get('written_back', 0)}; backlog {summary.get('backlog', 0)}; quarantined "
        f"{summary.get('quarantine', 0)}."
    )
    if result.status != OK:
        if not _json_logs(args, config):  # under JSON logs, the cycle.error line said it
            err.print(
                f"[red]error:[/] {escape(result.error or result.status)}\nNothing committed was "
                "lost: the next run resumes from the last committed point."
            )
        return EXIT_ERROR
    return set_aside(summary.get("quarantine") or summary.get("set_aside"))


@_json_errors
def run_service(args: argparse.Namespace) -> int:
    import asyncio

    from ltcbridge.daemon.lock import single_instance
    from ltcbridge.daemon.runner import run_daemon

    config = _configured(args)
    with single_instance(config.state_path), _store(config) as state:
        return asyncio.run(run_daemon(config, state))


def run_status(args: argparse.Namespace) -> int:
    from ltcbridge.daemon.config import load_config
    from ltcbridge.daemon.releases import release_status_rows
    from ltcbridge.daemon.status import read_status, status_document

    config = load_config(args.config)
    with _store(config) as state:
        status = read_status(config, state)
        document = status_document(config, state) if args.json else None
    if document is not None:
        print_json(document)
    else:
        rows = [*status.rows(), *release_status_rows(config, status.release_errors)]
        print_table("ltcbridge status", ("what", "value"), rows)
    return set_aside(status.quarantine or status.set_aside)


@_json_errors
def run_replay(args: argparse.Namespace) -> int:
    from ltcbridge.daemon.lock import single_instance
    from ltcbridge.daemon.replay import replay_quarantine
    from ltcbridge.identifiable.read import Reader
    from ltcbridge.mapping import load_mappings

    config = _configured(args)
    reader = Reader(load_mappings(config.mappings_dirs))
    with single_instance(config.state_path), _store(config) as state:
        result = replay_quarantine(state, reader)
    out.print(
        f"Released {result.released} resource(s) from quarantine; "
        f"{result.still_quarantined} still need a fix. Put {result.resumed} effect(s) set aside "
        "back in the outbox. The next sync acts on them."
    )
    return set_aside(result.still_quarantined)


def run_audit_export(args: argparse.Namespace) -> int:
    from ltcbridge.daemon.audit_export import audit_events
    from ltcbridge.daemon.config import load_config

    config = load_config(args.config)
    with _store(config) as state:
        events = list(audit_events(state.audit_records(), config.practice_ods))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": e} for e in events],
    }
    text = json.dumps(bundle, indent=1)
    if args.out:
        with staged_file(args.out, option="--out", force=args.force) as partial:
            partial.write_text(text + "\n", encoding="utf-8")
        out.print(escape(f"Wrote {len(events)} AuditEvent(s) to {args.out}."))
    else:
        sys.stdout.write(text + "\n")
    return EXIT_OK


# -- plumbing ------------------------------------------------------------------------------------
def _configured(args: argparse.Namespace) -> Config:
    from ltcbridge.daemon.config import load_config
    from ltcbridge.daemon.logs import setup_logging

    config = load_config(args.config)
    setup_logging(config.log_level, _json_logs(args, config))
    return config


@contextmanager
def _store(config: Config) -> Iterator[StateStore]:
    from ltcbridge.daemon.state import StateStore

    state = StateStore(config.state_path)
    try:
        yield state
    finally:
        state.close()


@contextmanager
def _progress() -> Iterator[ProgressCallback | None]:
    """A live count per resource type on a terminal (long first syncs); nothing otherwise."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    if not showing_progress():
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err) as bar:
        task = bar.add_task("Reading the GP record", total=None)

        def update(resource_type: str, count: int) -> None:
            bar.update(task, description=f"Reading the GP record: {count} {resource_type}")

        yield update


def _config_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", required=True, metavar="FILE", help="the ltcbridge.toml")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the daemon's commands to the ``ltcbridge`` command."""
    init = _command(
        subparsers,
        "init",
        "Write a commented configuration and generate the practice's signing key pair in DIR.",
        run_init,
    )
    init.add_argument("dir", metavar="DIR", help="directory for ltcbridge.toml and keys/")
    init.add_argument("--ods", default="Y00000", help="the practice's ODS code")
    init.add_argument(
        "--key-type",
        choices=KEY_TYPES,
        default="rsa",
        help="rsa (RS384, 3072-bit) or ec (P-384, ES384)",
    )
    check = _command(
        subparsers,
        "check",
        "Test every connection and setting; print what is ready and what to do about the rest.",
        run_check,
    )
    _config_option(check)
    add_json_option(check, "every check as one JSON object")
    sync = _command(
        subparsers,
        "sync",
        "Run one sync cycle: GP changes in, referrals out (with consent), outcomes back.",
        run_sync,
    )
    sync.add_argument("--once", action="store_true", help="one cycle, then exit (the default)")
    _config_option(sync)
    service = _command(
        subparsers,
        "daemon",
        "Run cycles on the [schedule] until SIGTERM or "
        "SIGINT (then finish the unit of work in hand and exit 0).",
        run_service,
    )
    _config_option(service)
    status = _command(
        subparsers, "status", "Show the last run, backlog, quarantine and next run.", run_status
    )
    _config_option(status)
    add_json_option(status, "the status as one JSON object")
    replay = _command(
        subparsers,
        "replay",
        "Re-read quarantined resources (after fixing a mapping); the next sync acts on them.",
        run_replay,
    )
    _config_option(replay)
    audit_commands = add_group(subparsers, "audit", "the audit log")
    export = _command(
        audit_commands,
        "export",
        "Write the audit log as a FHIR Bundle of AuditEvent resources.",
        run_audit_export,
    )
    _config_option(export)
    export.add_argument("--out", metavar="FILE", help="output file (default: standard output)")
    add_force_option(export)
    for command in (sync, service, replay):
        command.add_argument("--json-logs", action="store_true", help="log one JSON object a line")

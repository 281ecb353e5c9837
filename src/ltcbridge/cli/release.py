"""``ltcbridge release list|prepare|approve|resend``: the practice daemon's monthly releases.

Wired into ``cli.app`` by ``register``. Each command reads the daemon's configuration and state
directory (``--config``); nothing here sends: the daemon's next cycle seals and sends what a person
approved (``ltcbridge.daemon.releases``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.markup import escape

from ltcbridge.cli.support import EXIT_OK, add_group, out, print_json, print_table
from ltcbridge.cli.support import add_command as _command

if TYPE_CHECKING:
    from ltcbridge.daemon.config import Config
    from ltcbridge.daemon.state import StateStore


def run_list(args: argparse.Namespace) -> int:
    """Every release and its state; ``--json`` for scripts and monitoring."""
    from ltcbridge.daemon.config import load_config
    from ltcbridge.daemon.releases import open_index

    config = load_config(args.config)
    with open_index(config) as index:
        releases = index.all()
    if args.json:
        print_json([r.to_dict() for r in releases])
        return EXIT_OK
    print_table(
        f"ltcbridge releases: {config.path}",
        ("release", "agreement", "month", "state", "approved by", "detail"),
        [
            (r.release_id, r.agreement_id, r.period, r.state,
             f"{r.approved_by} {r.approved_at}" if r.approved_by else "", r.detail or "")
            for r in releases
        ],
    )  # fmt: skip
    return EXIT_OK


def run_prepare(args: argparse.Namespace) -> int:
    """Prepare a month's release(s) by hand (after a correction, say); nothing is sent."""
    from ltcbridge.daemon.releases import agreements_of, open_index, prepare_releases

    with _daemon(args) as (config, state):
        agreements = {a.id: a for a in agreements_of(config, args.agreement)}
        made = prepare_releases(config, state, args.period, [*agreements.values()], by=_who(args))
        with open_index(config) as index:
            folders = [index.folder_of(r.release_id) for r in made]
    for release, folder in zip(made, folders, strict=True):
        if agreements[release.agreement_id].approval_required:
            then = f"then `ltcbridge release approve --config {args.config} {release.release_id}`"
        else:
            then = (
                f"agreement {release.agreement_id} needs no approval ([agreement] "
                "approval_required = false): the daemon's next cycle seals and sends it"
            )
        out.print(
            f"Prepared release {release.release_id} ({release.agreement_id}, {release.period}) "
            f"to {release.recipient}. Read {folder / 'preview.txt'} (every figure that would "
            f"leave) and {folder / 'manifest.md'} (both stay here); {escape(then)}."
        )
    return EXIT_OK


def run_approve(args: argparse.Namespace) -> int:
    """Approve a prepared release; the daemon's next cycle seals and sends it."""
    from ltcbridge.daemon.releases import approve

    with _daemon(args) as (config, state):
        release = approve(config, state, args.release_id, _who(args))
    out.print(
        f"Approved release {release.release_id} by {release.approved_by} at "
        f"{release.approved_at} (in the audit log). The daemon's next cycle seals and sends it."
    )
    return EXIT_OK


def run_resend(args: argparse.Namespace) -> int:
    """Send again a release whose delivery failed or was never confirmed."""
    from ltcbridge.daemon.releases import resend

    with _daemon(args) as (config, state):
        release = resend(config, state, args.release_id, _who(args))
    out.print(
        f"Release {release.release_id} will be sent again by the daemon's next cycle (same "
        "release id and sequence: the hub stores it once)."
    )
    return EXIT_OK


def _who(args: argparse.Namespace) -> str:
    import getpass

    return args.by or getpass.getuser()


@contextmanager
def _daemon(args: argparse.Namespace) -> Iterator[tuple[Config, StateStore]]:
    from ltcbridge.daemon.config import load_config
    from ltcbridge.daemon.state import StateStore

    config = load_config(args.config)
    state = StateStore(config.state_path)
    try:
        yield config, state
    finally:
        state.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``release`` command group."""
    commands = add_group(subparsers, "release", "the practice daemon's monthly releases")
    listing = _command(
        commands,
        "list",
        "Show each release and its state (prepared, approved, "
        "sent, acknowledged, failed, superseded).",
        run_list,
    )
    listing.add_argument(
        "--json", action="store_true", help="print one JSON array of releases (docs/cli.md)"
    )
    prepare = _command(
        commands,
        "prepare",
        "Prepare a month's release from the daemon's state "
        "(each agreement, or --agreement ID); nothing is sent.",
        run_prepare,
    )
    prepare.add_argument("--period", required=True, help="the month, YYYY-MM")
    prepare.add_argument("--agreement", help="only this agreement's id")
    approve = _command(
        commands,
        "approve",
        "Approve a prepared release after reading its "
        "manifest; the daemon's next cycle seals and sends it.",
        run_approve,
    )
    resend = _command(
        commands,
        "resend",
        "Send again a release whose delivery failed or was never confirmed (audited).",
        run_resend,
    )
    for command in (approve, resend):
        command.add_argument("release_id", metavar="RELEASE_ID")
    for command in (listing, prepare, approve, resend):
        command.add_argument("--config", required=True, metavar="FILE", help="the ltcbridge.toml")
    for command in (prepare, approve, resend):
        command.add_argument("--by", help="who does this, for the audit log (default: your login)")

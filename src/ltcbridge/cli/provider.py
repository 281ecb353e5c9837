"""``ltcbridge provider ...``: the small provider's spreadsheet path and the directory.

Wired into ``cli.app`` with ``register(subparsers)``. Each ``run`` imports what it uses when it runs
(so that the ``ltcbridge`` command starts fast) and returns an exit status (docs/cli.md): 0 done;
1 error (LtcbridgeError, the message says what to do); 2 an endpoint that is not an http(s) URL;
3 imported, but some rows were explained and left out for a person to fix.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rich.markup import escape

from ltcbridge.cli.support import (
    EXIT_OK,
    EXIT_SET_ASIDE,
    add_force_option,
    add_group,
    http_url,
    out,
    set_aside,
    staged_file,
)
from ltcbridge.cli.support import add_command as _command
from ltcbridge.errors import LtcbridgeError

if TYPE_CHECKING:
    from ltcbridge.fhirclient.resilience import RetryPolicy
    from ltcbridge.mapping import Mappings
    from ltcbridge.provider.csv_import import ImportReport
    from ltcbridge.provider.directory import Directory

T = TypeVar("T")

EXIT_ROWS_LEFT_OUT = EXIT_SET_ASIDE
CLI_ATTEMPTS = 3  # a person is waiting: an unreachable endpoint is reported after a few seconds


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``provider`` command group to the ``ltcbridge`` parser."""
    sub = add_group(subparsers, "provider", "take referrals and report outcomes")
    _add_template(sub)
    _add_import(sub)
    _add_register(sub)
    _add_find(sub)


# -- template and import ---------------------------------------------------------------------
def _add_template(sub: argparse._SubParsersAction) -> None:
    command = _command(
        sub, "template", "Write the empty spreadsheet (CSV that Excel opens cleanly).", run_template
    )
    command.add_argument("out", metavar="OUT.csv", help="where to write the template")
    command.add_argument("--example", action="store_true", help="include example rows")
    add_force_option(command, "OUT.csv")
    _mappings_option(command)


def run_template(args: argparse.Namespace) -> int:
    from ltcbridge.mapping import load_mappings
    from ltcbridge.provider.csv_template import template_for, write_template

    template = template_for(load_mappings(args.mappings))
    with staged_file(args.out, option="OUT.csv", force=args.force) as partial:
        write_template(partial, template, example=args.example)
    out.print(
        f"Wrote {escape(str(args.out))}: fill one row per referral, session, Star reading or "
        "discharge, then run `ltcbridge provider import`."
    )
    return EXIT_OK


def _add_import(sub: argparse._SubParsersAction) -> None:
    command = _command(
        sub,
        "import",
        "Import a filled-in spreadsheet to the provider's FHIR endpoint: good rows are written, "
        "every bad row is explained; importing the same file again changes nothing.",
        run_import,
    )
    command.add_argument("file", metavar="FILE", help="the CSV file")
    _endpoint_option(command)
    _mappings_option(command)
    command.add_argument(
        "--provider",
        metavar="ODS",
        help="your ODS code (required: it keys every outcome you report)",
    )


def run_import(args: argparse.Namespace) -> int:
    if not args.provider:
        raise LtcbridgeError(
            "give --provider with your ODS code (or the code your lead provider "
            "gave you): every outcome is recorded under it"
        )
    import asyncio

    from ltcbridge.mapping import load_mappings

    if not Path(args.file).is_file():
        raise LtcbridgeError(
            f"FILE {args.file}: no such file (or it is a folder): give the filled-in CSV"
        )
    mappings = load_mappings(args.mappings)
    with _reaching(args.endpoint):
        report = asyncio.run(_import(args.file, args.endpoint, args.provider.upper(), mappings))
    _print_report(report)
    return set_aside(report.problems)


async def _import(file: str, endpoint: str, provider: str, mappings: Mappings) -> ImportReport:
    from ltcbridge.fhirclient import FhirClient
    from ltcbridge.provider.csv_import import import_csv

    async with FhirClient(endpoint, retry=_cli_retry()) as fhir:
        return await import_csv(file, fhir, provider, mappings)


def _print_report(report: ImportReport) -> None:
    left_out = len({p.row for p in report.problems if p.row})
    out.print(
        f"Read {report.rows_read} row(s): imported {len(report.imported_rows)}, "
        f"left out {left_out}."
    )
    for problem in report.problems:
        out.print(f"  - {escape(str(problem))}")
    if report.problems:
        out.print(
            "Fix the rows above and import the whole file again: rows already imported "
            "are recognised and not written twice."
        )


# -- directory -------------------------------------------------------------------------------
def _add_register(sub: argparse._SubParsersAction) -> None:
    command = _command(
        sub,
        "register",
        "Put a provider in the directory: a name, a contact and the domains are all it takes.",
        run_register,
    )
    _endpoint_option(command)
    command.add_argument("--name", required=True, help="the provider's name as people know it")
    command.add_argument("--contact", required=True, help="a phone number or email address")
    command.add_argument("--domains", required=True, help="e.g. 'physical activity; befriending'")
    command.add_argument("--locality", default="", help="town or area served (optional)")
    command.add_argument("--ods", default="", help="ODS code, if you have one (optional)")


def run_register(args: argparse.Namespace) -> int:
    import asyncio

    from ltcbridge.provider.directory import make_listing
    from ltcbridge.provider.domains import plain_words

    listing = make_listing(args.name, args.contact, args.domains, args.locality, args.ods)
    with _reaching(args.endpoint):
        entry = asyncio.run(_with_directory(args.endpoint, lambda d: d.register(listing)))
    domains = ", ".join(plain_words(d) for d in listing.domains)
    out.print(
        f"Registered {escape(listing.name)} ({escape(domains)}) as "
        f"HealthcareService/{entry.service_id}."
    )
    return EXIT_OK


def _add_find(sub: argparse._SubParsersAction) -> None:
    command = _command(sub, "find", "Find providers by domain and locality.", run_find)
    _endpoint_option(command)
    command.add_argument("--domain", required=True, help="e.g. 'befriending'")
    command.add_argument("--locality", help="town or area (default: anywhere)")


def run_find(args: argparse.Namespace) -> int:
    import asyncio

    from ltcbridge.provider.domains import parse_domain, plain_words

    domain = parse_domain(args.domain)
    if domain is None:
        raise LtcbridgeError(
            f"{args.domain!r} is not a need domain: try 'physical activity', "
            "'befriending', 'welfare benefits'..."
        )
    with _reaching(args.endpoint):
        found = asyncio.run(_with_directory(args.endpoint, lambda d: d.find(domain, args.locality)))
    for entry in found:
        listing = entry.listing
        out.print(
            f"{escape(listing.name)}: {escape(listing.contact)}; "
            f"{escape(listing.locality or 'anywhere')}"
        )
    out.print(
        f"{len(found)} provider(s) offer {plain_words(domain)}"
        f"{' in ' + escape(args.locality) if args.locality else ''}."
    )
    return EXIT_OK


async def _with_directory(endpoint: str, action: Callable[[Directory], Awaitable[T]]) -> T:
    from ltcbridge.fhirclient import FhirClient
    from ltcbridge.provider.directory import Directory

    async with FhirClient(endpoint, retry=_cli_retry()) as fhir:
        return await action(Directory(fhir))


@contextmanager
def _reaching(endpoint: str) -> Iterator[None]:
    """A FHIR server that cannot be reached is named, with what to check."""
    from ltcbridge.fhirclient.errors import FhirTransportError

    try:
        yield
    except FhirTransportError as exc:
        raise LtcbridgeError(
            f"--endpoint {endpoint} cannot be reached ({exc}): check the URL and that the "
            "FHIR server is running, then run again"
        ) from None


def _cli_retry() -> RetryPolicy:
    """Fewer attempts than a service's: someone is waiting at the prompt."""
    from ltcbridge.fhirclient.resilience import RetryPolicy

    return RetryPolicy(max_attempts=CLI_ATTEMPTS)


def _endpoint_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--endpoint",
        required=True,
        metavar="URL",
        type=http_url,
        help="FHIR R4 base URL, e.g. https://fhir.example.org/R4",
    )


def _mappings_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--mappings",
        action="append",
        default=[],
        metavar="DIR",
        help="a mappings directory added to the bundled ones",
    )

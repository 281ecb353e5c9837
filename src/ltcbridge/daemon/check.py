"""``ltcbridge check``: is everything ready? One row per thing, with what to do if not.

Written for practice IT: each failing row says the next step in plain words, never a traceback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ltcbridge.daemon.clients import make_client
from ltcbridge.daemon.config import Config, EndpointConfig
from ltcbridge.daemon.feed_check import feed_checks
from ltcbridge.daemon.pull import HISTORY, RECONCILE_PAGE, deletion_method
from ltcbridge.daemon.pull_plan import GP_READ_TYPES, plan_pull
from ltcbridge.daemon.state import SCHEMA_VERSION, StateError, StateStore
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.transport.mesh import MeshSettings
from ltcbridge.fhirclient import (
    AuthenticationError,
    Capabilities,
    FhirClient,
    FhirError,
    FhirTransportError,
    RetryPolicy,
    TokenError,
)
from ltcbridge.mapping import load_mappings

PROVIDER_TYPES = ("Patient", "ServiceRequest", "Task", "Goal")
READY, PROBLEM, NOTE = "ready", "problem", "note"


@dataclass(frozen=True)
class CheckRow:
    thing: str
    status: str  # ready | problem | note
    detail: str
    action: str = ""


def run_checks(
    config: Config, client_factory: Callable[..., FhirClient] = make_client
) -> list[CheckRow]:
    rows = [_mappings(config), _state(config)]
    rows.append(
        CheckRow(
            "agreements",
            READY,
            f"{len(config.agreements)} loaded: " + (", ".join(sorted(config.agreements)) or "none"),
        )
    )
    rows += asyncio.run(_endpoints(config, client_factory))
    rows += feed_checks(config)  # [feed] and the agreements' releases: daemon/feed_check.py
    return rows


def _feed(feed: dict[str, Any]) -> CheckRow:
    """The commissioner feed's transport: for MESH, a real handshake with the mailbox."""
    transport = feed.get("transport", "not set")
    if transport != "mesh":
        return CheckRow("commissioner feed", NOTE, f"transport {transport!r}: nothing to test")
    password, shared_key = os.environ.get("MESH_PASSWORD"), os.environ.get("MESH_SHARED_KEY")
    if not (feed.get("mesh_url") and feed.get("mailbox") and password and shared_key):
        return CheckRow(
            "commissioner feed (MESH)",
            PROBLEM,
            "MESH settings incomplete",
            "set [feed] mesh_url and mailbox, and the MESH_PASSWORD and MESH_SHARED_KEY "
            "environment variables of the service",
        )
    settings = MeshSettings(
        url=feed["mesh_url"], mailbox=feed["mailbox"], password=password, shared_key=shared_key
    )
    try:
        with settings.client() as client:
            client.handshake()
    except Exception as exc:  # mesh-client raises requests' and its own errors alike
        return CheckRow(
            "commissioner feed (MESH)",
            PROBLEM,
            f"handshake with {feed['mailbox']} at {feed['mesh_url']} failed ({type(exc).__name__})",
            "check the mailbox id, password and shared key with your MESH administrator, and "
            "that this machine can reach the MESH server",
        )
    return CheckRow(
        "commissioner feed (MESH)", READY, f"handshake with {feed['mailbox']} succeeded"
    )


def _mappings(config: Config) -> CheckRow:
    try:
        mappings = load_mappings(config.mappings_dirs)
    except LtcbridgeError as exc:
        first = str(exc).splitlines()[0]
        return CheckRow(
            "mappings",
            PROBLEM,
            first,
            "run `ltcbridge mappings check DIR` and fix the files it names",
        )
    templates = len({q.origin for q in mappings.questionnaires.values()})
    return CheckRow("mappings", READY, f"{len(mappings.files)} files, {templates} template(s)")


def _state(config: Config) -> CheckRow:
    try:
        store = StateStore(config.state_path)
        store.close()
    except (StateError, OSError) as exc:
        damaged = "damaged" in str(exc)
        return CheckRow(
            "state file",
            PROBLEM,
            str(exc),
            "follow the detail: move the file aside, then restore a backup or start empty"
            if damaged
            else "check [state] path and that the service account can write to its folder",
        )
    return CheckRow("state file", READY, f"{config.state_path} (schema {SCHEMA_VERSION})")


async def _endpoints(config: Config, factory: Callable[..., FhirClient]) -> list[CheckRow]:
    gp, capabilities = await _endpoint(config.gp, "GP record", GP_READ_TYPES, factory)
    rows = [gp]
    if capabilities is not None:
        rows.append(filtering_row(config, capabilities))
    if capabilities is not None and config.gp_mode != "bulk":
        rows.append(_deletions(capabilities))
    for provider in config.providers:
        label = f"provider {provider.name}"
        rows.append((await _endpoint(provider, label, PROVIDER_TYPES, factory))[0])
    return rows


def filtering_row(config: Config, capabilities: Capabilities) -> CheckRow:
    """Whether the daemon can ask the GP server for only what the mappings need, or must read
    some types in full (correct, but it transfers far more), or cannot be sure its filters reach
    everything the reader counts (``PullPlan.uncertain``)."""
    try:
        plan = plan_pull(load_mappings(config.mappings_dirs), capabilities)
    except LtcbridgeError:
        return CheckRow("GP pull filtering", NOTE, "not known until the mappings load")
    if plan.unfiltered or plan.uncertain:
        return CheckRow(
            "GP pull filtering",
            NOTE,
            "; ".join((*plan.unfiltered, *plan.uncertain)),
            "ask the GP system's supplier to support these search parameters"
            + ("; meanwhile add every template version in use to the mappings"
               if plan.uncertain else ""),
        )  # fmt: skip
    searches = sum(1 for search in plan.searches if search.params)
    return CheckRow(
        "GP pull filtering",
        READY,
        f"entries asked for by the mappings' codes and templates ({searches} filtered searches, "
        f"and the templates' other versions the GP server holds); NHS use only for the referral "
        f"cohort, by Patient id and by NHS number; a bulk export that refuses _typeFilter is "
        f"read in full",
    )


def _deletions(capabilities: Capabilities) -> CheckRow:
    """How the daemon will find entries deleted at the GP, as the CapabilityStatement decides."""
    if deletion_method(capabilities) == HISTORY:
        return CheckRow("GP deletions", READY, "followed through type-level _history")
    return CheckRow(
        "GP deletions",
        NOTE,
        "the server has no type-level _history (optional in FHIR R4): each cycle asks it which "
        f"of the entries held still exist, {RECONCILE_PAGE} ids per search",
    )


async def _endpoint(
    endpoint: EndpointConfig,
    label: str,
    types: tuple[str, ...],
    factory: Callable[..., FhirClient],
) -> tuple[CheckRow, Capabilities | None]:
    """One row for the endpoint, and its capabilities when it could be asked."""
    quick = RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1, budget=10)
    try:
        async with factory(endpoint, retry=quick) as client:
            capabilities = await client.capabilities()
            missing = [t for t in types if not capabilities.supports(t, "search-type")]
            async for _ in client.search(types[0], {"_count": 1}):  # exercises auth
                break
    except (AuthenticationError, TokenError):
        return CheckRow(
            label,
            PROBLEM,
            f"{endpoint.base_url}: credentials refused",
            f"check the {endpoint.auth.kind} settings and that the key or token is the "
            "one registered with this server",
        ), None
    except FhirTransportError:
        return CheckRow(
            label,
            PROBLEM,
            f"{endpoint.base_url}: cannot connect",
            "check the address, the network/firewall and the proxy",
        ), None
    except FhirError as exc:
        return CheckRow(
            label,
            PROBLEM,
            f"{endpoint.base_url}: {type(exc).__name__}",
            f"the server answered with an error ({exc}); ask its supplier",
        ), None
    detail = f"FHIR {capabilities.fhir_version}, {capabilities.software or 'software not stated'}"
    if missing:
        return CheckRow(
            label,
            PROBLEM,
            detail + f"; cannot search {', '.join(missing)}",
            "ask the supplier to enable these resource types for this client",
        ), capabilities
    return CheckRow(label, READY, detail + f"; auth {endpoint.auth.kind} accepted"), capabilities

"""Choosing the provider for a referral: through the provider directory when one is configured.

The directory (issue 5, `ltcbridge.provider.directory`) says who offers which need domains where;
the daemon can only send to providers it has an endpoint for, so the choice is made among the
directory's entries whose ODS code is a configured `[[provider]]`, by the directory's own rule
(`choose_provider`: most needs covered, then local, then by name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ltcbridge.daemon.config import Config, EndpointConfig
from ltcbridge.provider.directory import Directory, ProviderEntry, choose_provider


@dataclass(frozen=True)
class Router:
    """Maps a referral's needs to the configured provider that should receive it."""

    providers: tuple[EndpointConfig, ...]
    listings: tuple[ProviderEntry, ...] | None = None  # None: no directory, the lead provider
    locality: str | None = None

    def provider_for(self, needs: Sequence[str]) -> EndpointConfig | None:
        """The provider to send to; None when the directory has nobody offering these needs."""
        if self.listings is None or not needs:
            return self.providers[0]
        by_ods = {p.ods: p for p in self.providers if p.ods}
        reachable = [e for e in self.listings if e.listing.ods in by_ods]
        chosen = choose_provider(reachable, needs, self.locality)
        if chosen is None or chosen.listing.ods is None:  # reachable ones all have an ODS code
            return None
        return by_ods[chosen.listing.ods]


async def load_router(config: Config, client_factory: Callable[..., Any]) -> Router:
    """Read the directory once per cycle (it changes rarely; a cycle is short)."""
    if config.directory is None:
        return Router(config.providers)
    async with client_factory(config.directory) as fhir:
        listings = tuple(await Directory(fhir).find())
    return Router(config.providers, listings, config.practice_locality)

"""Reading: paged search, incremental ``_lastUpdated`` windows, ``_history`` since a watermark.

Paging follows ``Bundle.link`` next exactly as the server wrote it (absolute or relative to the
base URL); the client never builds page URLs itself, because servers page in their own ways.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

Resource = dict[str, Any]
Params = Mapping[str, str | int | list[str]] | list[tuple[str, str]] | None
#: Fetches one page: a URL (absolute, or relative to the base) and params -> the Bundle.
FetchPage = Callable[[str, Params], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """One search result with its ``search.mode``: ``match``, ``include`` or ``outcome``."""

    resource: Resource
    mode: str

    @property
    def included(self) -> bool:
        return self.mode == "include"


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


async def pages(fetch: FetchPage, path: str, params: Params) -> AsyncIterator[dict[str, Any]]:
    """Every page of a search or history, following next links until there are none."""
    bundle = await fetch(path, params)
    yield bundle
    seen_links: set[str] = set()
    while (link := next_link(bundle)) is not None:
        if link in seen_links:  # a server bug that would otherwise loop forever
            break
        seen_links.add(link)
        bundle = await fetch(link, None)
        yield bundle


async def search_entries(
    fetch: FetchPage, resource_type: str, params: Params
) -> AsyncIterator[SearchEntry]:
    """Matches and ``_include``-d resources, told apart by mode (servers may omit it: match)."""
    async for bundle in pages(fetch, resource_type, params):
        for entry in bundle.get("entry") or ():
            resource = entry.get("resource")
            if resource is None:
                continue
            mode = (entry.get("search") or {}).get("mode") or "match"
            yield SearchEntry(resource, mode)


# ---- incremental windows ----


def parse_instant(value: str) -> datetime:
    """A FHIR instant as an aware datetime (``Z`` accepted)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_instant(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class IncrementalState:
    """Where the last window ended, and which versions it already delivered.

    ``seen`` maps ``Type/id`` to ``(versionId, lastUpdated)`` for versions inside the overlap, so
    the overlap's re-delivered resources are recognised and dropped. Persist it between runs
    (:meth:`to_json` / :meth:`from_json`).
    """

    since: datetime | None = None
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": format_instant(self.since) if self.since else None,
            "seen": {key: list(value) for key, value in self.seen.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IncrementalState:
        since = parse_instant(data["since"]) if data.get("since") else None
        seen = {key: (str(v[0]), str(v[1])) for key, v in (data.get("seen") or {}).items()}
        return cls(since, seen)


class IncrementalWindow:
    """One pass over resources changed since ``state.since`` minus ``overlap``.

    Why it cannot miss a change:
    - the query starts ``overlap`` before the watermark, covering servers whose nodes stamp
      ``lastUpdated`` with clocks that differ (a later commit may carry an earlier time);
    - results are sorted newest first, so a resource updated *during* paging moves to pages
      already read (it shifts others to later pages: duplicates, never gaps) and its new version
      is picked up by the next window;
    - the next watermark is the newest ``lastUpdated`` on the first page, i.e. as the server saw
      it when the pass began, never this machine's clock.
    Why nothing arrives twice: every version delivered is remembered by id and versionId until
    it falls out of the overlap. (versionId is opaque; only equality is used.)
    """

    def __init__(
        self,
        fetch: FetchPage,
        resource_type: str,
        state: IncrementalState,
        *,
        params: Params = None,
        overlap: timedelta = timedelta(minutes=5),
        count: int = 100,
    ) -> None:
        self._fetch = fetch
        self.resource_type = resource_type
        self.state = state
        self.overlap = overlap
        self._query = self._build_query(params, count)
        self.delivered = 0
        self.duplicates = 0

    def _build_query(self, params: Params, count: int) -> list[tuple[str, str]]:
        query = _as_pairs(params)
        query += [("_sort", "-_lastUpdated"), ("_count", str(count))]
        if self.state.since is not None:
            start = self.state.since - self.overlap
            query.append(("_lastUpdated", f"ge{format_instant(start)}"))
        return query

    async def __aiter__(self) -> AsyncIterator[Resource]:
        newest: datetime | None = None
        first_page = True
        async for bundle in pages(self._fetch, self.resource_type, self._query):
            for entry in bundle.get("entry") or ():
                resource = entry.get("resource")
                if not resource or (entry.get("search") or {}).get("mode") == "include":
                    continue
                updated = (resource.get("meta") or {}).get("lastUpdated")
                if first_page and updated:
                    stamp = parse_instant(updated)
                    newest = stamp if newest is None else max(newest, stamp)
                if self._remember(resource):
                    self.delivered += 1
                    yield resource
                else:
                    self.duplicates += 1
            first_page = False
        self._advance(newest)

    def _remember(self, resource: Resource) -> bool:
        """True if this version is new; records it either way."""
        meta = resource.get("meta") or {}
        key = f"{resource.get('resourceType')}/{resource.get('id')}"
        version = (str(meta.get("versionId", "")), str(meta.get("lastUpdated", "")))
        if self.state.seen.get(key) == version:
            return False
        self.state.seen[key] = version
        return True

    def _advance(self, newest: datetime | None) -> None:
        if newest is None:
            return
        if self.state.since is None or newest > self.state.since:
            self.state.since = newest
        horizon = self.state.since - self.overlap
        self.state.seen = {
            key: value
            for key, value in self.state.seen.items()
            if not value[1] or parse_instant(value[1]) >= horizon
        }


# ---- history ----


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One version from ``_history``: a create, an update or a deletion (``resource`` is None)."""

    method: str
    resource_type: str
    id: str
    resource: Resource | None
    last_updated: str

    @property
    def deleted(self) -> bool:
        return self.method == "DELETE" or self.resource is None

    @property
    def entered_in_error(self) -> bool:
        """Marked entered-in-error: the record was wrong and must be withdrawn downstream."""
        if self.resource is None:
            return False
        if self.resource.get("status") == "entered-in-error":
            return True
        verification = self.resource.get("verificationStatus") or {}
        return any(c.get("code") == "entered-in-error" for c in verification.get("coding") or ())


def history_entry(entry: Mapping[str, Any]) -> HistoryEntry:
    resource = entry.get("resource")
    request = entry.get("request") or {}
    method = str(request.get("method") or ("PUT" if resource else "DELETE"))
    if resource:
        resource_type, resource_id = resource["resourceType"], resource.get("id", "")
        updated = (resource.get("meta") or {}).get("lastUpdated", "")
    else:
        resource_type, _, resource_id = str(request.get("url", "")).partition("/")
        updated = (entry.get("response") or {}).get("lastModified", "")
    return HistoryEntry(method, resource_type, resource_id.split("/")[0], resource, updated)


async def history(
    fetch: FetchPage, resource_type: str | None, since: datetime | None, count: int
) -> AsyncIterator[HistoryEntry]:
    path = f"{resource_type}/_history" if resource_type else "_history"
    query: list[tuple[str, str]] = [("_count", str(count))]
    if since is not None:
        query.append(("_since", format_instant(since)))
    async for bundle in pages(fetch, path, query):
        for entry in bundle.get("entry") or ():
            yield history_entry(entry)


def _as_pairs(params: Params) -> list[tuple[str, str]]:
    """Search params as (name, value) pairs; list values repeat the name (AND semantics)."""
    if params is None:
        return []
    if isinstance(params, list):
        return [(str(k), str(v)) for k, v in params]
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(name, str(v)) for v in values]
    return pairs

"""One sync cycle: GP changes in, referrals out (with consent), provider outcomes back.

Order matters for crash-safety: each step commits before the next begins, and effects are
performed only from the outbox, after the commit that decided them. A cycle stopped or broken
anywhere leaves the state at its last commit; the next cycle resumes from there.
"""

from __future__ import annotations

import sqlite3
import time
import traceback
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ltcbridge.daemon.clients import make_client
from ltcbridge.daemon.config import Config
from ltcbridge.daemon.effects import Pacing, send_referrals, write_back
from ltcbridge.daemon.health import write_health
from ltcbridge.daemon.logs import event
from ltcbridge.daemon.outcomes import OutcomePuller
from ltcbridge.daemon.pull import Progress, PullCounts, Stopping, pull_gp
from ltcbridge.daemon.pull_bulk import pull_gp_bulk
from ltcbridge.daemon.referral import (
    REFERRAL_GUARD,
    plan_referrals,
    plan_reinstatements,
    plan_withdrawals,
)
from ltcbridge.daemon.releases import release_health, run_releases
from ltcbridge.daemon.routing import load_router
from ltcbridge.daemon.state import StateStore, is_disk_full, now_iso
from ltcbridge.fhirclient import FhirClient, FhirError
from ltcbridge.identifiable.read import Reader
from ltcbridge.mapping import Mappings, load_mappings

ClientFactory = Callable[..., FhirClient]


class PartialFailure(Exception):
    """Some endpoint could not be reached: everything else in the cycle was done."""


OK, FAILED, STOPPED = "ok", "failed", "stopped"


@dataclass
class CycleResult:
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Syncer:
    """Runs cycles for one configuration against one state store."""

    def __init__(
        self,
        config: Config,
        state: StateStore,
        *,
        mappings: Mappings | None = None,
        client_factory: ClientFactory = make_client,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Progress | None = None,
        poll_seconds: float = 5.0,
        pacing: Pacing | None = None,
    ) -> None:
        self.config = config
        self.poll_seconds = poll_seconds
        self.pacing = pacing or Pacing()
        self.state = state
        self.mappings = mappings or load_mappings(config.mappings_dirs)
        self.client_factory = client_factory
        self.should_stop = should_stop
        self.progress = progress

    async def run_once(self) -> CycleResult:
        """One cycle; never raises for an endpoint failure, nor for a state file it cannot
        write (a full disk): the result says what happened, and the daemon goes on."""
        summary: dict[str, Any] = {}
        try:
            run_id = self.state.start_run()
        except (sqlite3.Error, OSError) as exc:
            return self._finish(None, CycleResult(FAILED, summary, self._state_error(exc)))
        try:
            await self._cycle(summary)
            result = CycleResult(OK, summary)
        except Stopping:
            result = CycleResult(STOPPED, summary)
        except FhirError as exc:
            result = CycleResult(FAILED, summary, _error_text(exc))
        except PartialFailure as exc:
            result = CycleResult(FAILED, summary, str(exc))
        except (sqlite3.Error, OSError) as exc:
            result = CycleResult(FAILED, summary, self._state_error(exc))
        except Exception as exc:  # a bug, or an answer no rule foresaw: this cycle fails, the
            result = CycleResult(FAILED, summary, _unexpected(exc))  # daemon goes on
        return self._finish(run_id, result)

    def _finish(self, run_id: int | None, result: CycleResult) -> CycleResult:
        """Record the run and the health file, as far as the disk allows, and log the end."""
        try:
            result.summary["backlog"] = self.state.backlog()
            result.summary["quarantine"] = self.state.quarantine_count()
            result.summary["set_aside"] = len(self.state.set_aside_effects())
            if run_id is not None:
                self.state.finish_run(run_id, result.status,
                                      {**result.summary, "error": result.error})  # fmt: skip
            self._write_health(result)
        except (sqlite3.Error, OSError) as exc:
            why = self._state_error(exc)
            error = f"{result.error}; {why}" if result.error and why not in result.error else why
            result = CycleResult(FAILED, result.summary, error)
        event("cycle.finished", status=result.status, **_flat(result.summary))
        if result.error:
            event("cycle.error", level=40, error=result.error)
        return result

    def _state_error(self, exc: BaseException) -> str:
        """What went wrong with the state file or the health file, and what to do."""
        if is_disk_full(exc):
            return (
                f"the disk holding {self.config.state_path.parent} is full (or its quota is "
                "reached): nothing committed was lost; free some space and the next cycle "
                "resumes from the last committed point"
            )
        if isinstance(exc, OSError):
            return (
                f"{exc.filename or 'a working file'} could not be written ({exc.strerror or exc})"
                "; nothing committed was lost; check the folder and its permissions"
            )
        return (
            f"the state file {self.config.state_path} could not be used ({type(exc).__name__}: "
            f"{exc}); nothing committed was lost; run `ltcbridge check` to test it"
        )

    async def _cycle(self, summary: dict[str, Any]) -> None:
        config, state, stop = self.config, self.state, self.should_stop
        async with AsyncExitStack() as stack:
            gp = await stack.enter_async_context(self.client_factory(config.gp))
            providers = {p.name: p for p in config.providers}
            clients = {
                p.name: await stack.enter_async_context(self.client_factory(p))
                for p in config.providers
            }
            clock = _Stopwatch(summary)
            pulled = await self._pull(gp)
            clock.lap("pull_seconds")
            summary["gp_read"] = sum(pulled.read.values())
            summary["gp_quarantined"] = pulled.quarantined
            summary["gp_deleted"] = pulled.deleted
            summary["gp_deletion_method"] = pulled.deletion_method
            router = await load_router(config, self.client_factory)
            summary["referrals_withdrawn"] = plan_withdrawals(state, config.practice_ods)
            summary["referrals_reinstated"] = plan_reinstatements(state, config.practice_ods)
            decisions = plan_referrals(state, config.practice_ods, router)
            summary["referrals_queued"] = decisions.queued
            summary["referrals_without_consent"] = decisions.no_consent
            summary["referrals_without_provider"] = decisions.no_provider
            summary["referrals_without_patient"] = decisions.no_patient
            sent = await send_referrals(
                state, clients, providers, stop, guard=REFERRAL_GUARD, pacing=self.pacing
            )
            summary["referrals_sent"] = sent.done
            clock.lap("referral_seconds")
            problems = [f"{name} unreachable: {why}" for name, why in sent.unreachable.items()]
            summary["outcomes_found"] = 0
            for provider in config.providers:
                if provider.name in sent.unreachable:
                    continue
                puller = OutcomePuller(
                    provider, clients[provider.name], state, self.mappings, config.practice_ods
                )
                try:
                    summary["outcomes_found"] += await puller.pull(stop)
                except FhirError as exc:  # one provider's failure holds back no other work
                    problems.append(f"outcomes of {provider.name}: {_error_text(exc)}")
            written = await write_back(state, gp, providers, stop, pacing=self.pacing)
            summary["written_back"] = written.done
            problems += [f"GP unreachable: {why}" for why in written.unreachable.values()]
            for what in ("refused", "failed", "cancelled", "set_aside"):
                summary[f"effects_{what}"] = getattr(sent, what) + getattr(written, what)
            summary["refused"] = summary["effects_refused"]
            clock.lap("outcome_seconds")
            summary.update(run_releases(config, state))  # monthly releases: daemon/releases.py
            clock.lap("release_seconds")
            if problems:  # after the releases: an unreachable provider holds back no release
                raise PartialFailure("; ".join(problems))

    async def _pull(self, gp: FhirClient) -> PullCounts:
        """The GP's changes since the last committed point, by search or by bulk export."""
        config, reader = self.config, Reader(self.mappings)
        options: dict[str, Any] = {
            "batch_size": config.batch_size,
            "should_stop": self.should_stop,
            "progress": self.progress,
        }
        if config.gp_mode == "bulk":
            work_dir = config.state_path.parent / "export-work"
            return await pull_gp_bulk(
                gp, self.state, reader, work_dir, poll_seconds=self.poll_seconds, **options
            )
        return await pull_gp(gp, self.state, reader, **options)

    def _write_health(self, result: CycleResult) -> None:
        last_ok = self.state.last_run("ok")
        finished = now_iso()
        next_run = datetime.now(UTC) + timedelta(seconds=self.config.every_seconds)
        write_health(
            self.config.health_path,
            {
                "status": result.status,
                "last_run_finished": finished,
                "last_success": last_ok["finished_at"] if last_ok else None,
                "next_run_due": next_run.isoformat(timespec="seconds"),
                "backlog": result.summary.get("backlog", 0),
                "quarantine": result.summary.get("quarantine", 0),
                "set_aside": _set_aside(self.state),
                "errors": ([result.error] if result.error else [])
                + result.summary.get("release_errors", []),
                "last_cycle": result.summary,
                "releases": release_health(self.config),
            },
        )


class _Stopwatch:
    """Seconds per stage into the summary: where a slow cycle spends its time."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.summary[name] = round(now - self.last, 3)
        self.last = now


def _error_text(exc: FhirError) -> str:
    """The error's public class and message (no query strings: the client leaves them out)."""
    public = next(c for c in type(exc).__mro__ if not c.__name__.startswith("_"))
    return f"{public.__name__}: {exc}"


def _unexpected(exc: Exception) -> str:
    """An unexpected error by its type and where it was raised, never its message: that could
    quote the data that caused it, a patient identifier among them."""
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return (
        f"internal error {type(exc).__name__} in {Path(where.filename).name}:{where.lineno} "
        f"({where.name}); nothing committed was lost and the next cycle tries again; please "
        "report this"
    )


def _set_aside(state: StateStore) -> list[dict[str, Any]]:
    """The effects set aside, for monitoring: key, kind, target, tries and the last reason."""
    return [
        {"key": r["key"], "kind": r["kind"], "target": r["target"], "attempts": r["attempts"],
         "reason": r["last_error"]}
        for r in state.set_aside_effects()
    ]  # fmt: skip


def _flat(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if isinstance(v, int | float | str)}

"""Canvases open in Obsidian: leased by the plugin, and changed in its memory instead of on disk.

Obsidian keeps an open canvas in memory and saves it about 2 s after an edit; a file rewritten under it can lose
the learner's newest edits, or be overwritten by the next save. So the plugin leases the canvases it has open
(renewed while they stay open), and a write from canvasd's own side (an agent run, a recolour, the review
canvas) to a leased canvas becomes a **proposal**: the request is applied to a private copy of the file to find
its ops, the ops go to the plugin on the change feed (a `proposal` event), the plugin claims it
(`POST /v1/proposals/{id}` with `applied: true`) and, once the claim is accepted, applies the ops to the live
canvas, and Obsidian saves. If the plugin refuses, or does not claim it within `leases.proposal_timeout_s`
(closed, crashed), the request is written to the file as before, and a late claim is answered 404 (the plugin
must then not apply it: the file has it, and Obsidian reloads a clean view).
Writes clients send (`PUT`, `PATCH`) always go to the file: the client chose to write it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvasd.canvas.commit import CommitResult
from canvasd.canvas.working import WorkingCanvas
from canvasd.errors import CanvasdError, ProposalNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.commit import WriteRequest
    from canvasd.config import LeaseSettings
    from canvasd.metrics import Metrics
    from canvasd.types import JSONObject
    from canvasd.watch.feed import ChangeFeed
    from canvasd.watch.follower import CanvasKey

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Lease:
    """One client's open canvases, until `expires` (monotonic seconds)."""

    client: str
    canvases: frozenset[CanvasKey]
    expires: float


@dataclass(slots=True)
class Proposal:
    """Ops waiting for the plugin's answer."""

    id: str
    key: CanvasKey
    client: str
    ops: list[JSONObject]
    answer: asyncio.Future[tuple[bool, str | None]] = field(repr=False)


class OpenCanvases:
    """Leases on open canvases, and daemon-side writes delivered as proposals; see the module docstring."""

    def __init__(self, settings: LeaseSettings, engine: CanvasEngine, feed: ChangeFeed, metrics: Metrics,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._settings = settings
        self._engine = engine
        self._feed = feed
        self._metrics = metrics
        self._loop = loop
        self._leases: dict[str, Lease] = {}
        self._proposals: dict[str, Proposal] = {}
        self._ids = itertools.count(1)
        self._prefix = f"p{int(time.time()) % 100000}"

    # ------------------------------------------------------------------------------------ leases

    def lease(self, client: str, canvases: Iterable[CanvasKey], ttl_s: float) -> dict[str, Any]:
        """Replace `client`'s leased canvases (an empty set releases them); its lease as the API shows it."""
        ttl = min(ttl_s, self._settings.max_ttl_s)
        keys = frozenset(canvases)
        if keys:
            self._leases[client] = Lease(client, keys, time.monotonic() + ttl)
        else:
            self._leases.pop(client, None)
        return {"client": client, "canvases": [{"vault": v, "path": p} for v, p in sorted(keys)],
                "ttl_s": ttl if keys else 0}

    def release(self, client: str) -> int:
        """Drop `client`'s lease; how many canvases it held."""
        lease = self._leases.pop(client, None)
        return len(lease.canvases) if lease is not None else 0

    def holder(self, key: CanvasKey) -> str | None:
        """The client holding a live lease on the canvas, if any (expired leases are dropped here)."""
        if not self._settings.enabled:
            return None
        now = time.monotonic()
        for client, lease in list(self._leases.items()):
            if lease.expires <= now:
                del self._leases[client]
            elif key in lease.canvases:
                return client
        return None

    def leases(self) -> list[dict[str, Any]]:
        """Every live lease."""
        now = time.monotonic()
        return [{"client": lease.client, "canvases": [{"vault": v, "path": p} for v, p in sorted(lease.canvases)],
                 "expires_in_s": round(lease.expires - now, 1)}
                for lease in self._leases.values() if lease.expires > now]

    # ------------------------------------------------------------------------------------ writes

    def submit(self, key: CanvasKey, real: Path, request: WriteRequest) -> Future[CommitResult]:
        """Like `engine.submit`: the request committed to the file, or (for a leased canvas) proposed to the plugin
        first. Callable from the loop or from a worker thread."""
        holder = self.holder(key)
        if holder is None:
            return self._engine.submit(real, request)
        return asyncio.run_coroutine_threadsafe(self._propose(key, holder, real, request), self._loop)

    async def write(self, key: CanvasKey, real: Path, request: WriteRequest) -> CommitResult:
        """`submit`, awaited (the direct writer commits in a worker thread, never on the loop)."""
        if self.holder(key) is None:
            return await self._to_file(real, request)
        return await asyncio.wrap_future(self.submit(key, real, request))

    async def _propose(self, key: CanvasKey, client: str, real: Path, request: WriteRequest) -> CommitResult:
        try:
            ops, version = await asyncio.to_thread(self._ops_of, real, request)
        except CanvasdError:
            ops, version = [], None  # not on disk, or unreadable: the file path decides (and reports) it
        if not ops:
            return await self._to_file(real, request)
        proposal = Proposal(f"{self._prefix}-{next(self._ids)}", key, client, ops, self._loop.create_future())
        self._proposals[proposal.id] = proposal
        self._feed.publish("proposal", key[0], key[1], version,
                           detail={"id": proposal.id, "client": client, "ops": ops})
        try:
            applied, reason = await asyncio.wait_for(proposal.answer, self._settings.proposal_timeout_s)
        except TimeoutError:
            applied, reason = False, f"no answer within {self._settings.proposal_timeout_s:g} s"
        finally:
            self._proposals.pop(proposal.id, None)
        self._metrics.proposals.labels("applied" if applied else "written").inc()
        if applied:
            return CommitResult(real, None, written=False)
        log.info("proposal %s to %s for %s/%s not applied (%s): writing the file", proposal.id, client, *key,
                 reason or "refused")
        return await self._to_file(real, request)

    def _ops_of(self, real: Path, request: WriteRequest) -> tuple[list[JSONObject], str]:
        """The ops `request` makes on the canvas as it is on disk now (applied to a private copy)."""
        snapshot = self._engine.read(real)
        request.apply(WorkingCanvas(self._engine.private_document(snapshot)))
        applied = getattr(request, "applied", None)
        return (list(applied) if isinstance(applied, list) else []), snapshot.version

    async def _to_file(self, real: Path, request: WriteRequest) -> CommitResult:
        if self._engine.queues_writes:
            return await asyncio.wrap_future(self._engine.submit(real, request))
        return await asyncio.to_thread(self._engine.apply, real, request)

    def answer(self, proposal_id: str, applied: bool, reason: str | None = None) -> None:
        """The plugin's answer to a proposal (applied to the live canvas, or refused)."""
        proposal = self._proposals.get(proposal_id)
        if proposal is None or proposal.answer.done():
            raise ProposalNotFoundError(proposal_id)
        proposal.answer.set_result((applied, reason))

    def status(self) -> dict[str, Any]:
        """Leases and proposals waiting."""
        return {"enabled": self._settings.enabled, "leases": len(self.leases()), "proposals_waiting":
                len(self._proposals)}

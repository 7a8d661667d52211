"""Spaced repetition as a daemon subsystem: a follower of the change feed that keeps one FSRS card per concept.

Syncing a canvas compares its coloured concept nodes (text, file and link nodes coloured red, purple or green;
not yellow answers, not what agents added) with the cards kept for it:
- a node coloured for the first time gets a card, due at once, with no review;
- a node whose colour changed is reviewed (red again, purple hard, green good) at the time the file changed;
  only a card's first review of a local day counts for the schedule, later ones are logged (`scheduled: false`);
- a node that lost its colour or is gone suspends its card (history kept; a colour given again resumes it);
- a colour canvasd wrote itself (a client's rating, an answer's score) is recognised and not counted again;
- a canvas with no cards that holds at least half of the nodes of a vanished canvas's cards is that canvas,
  renamed (the watcher reports a rename as a deletion and a creation, in either order): the cards follow it.
On a review canvas, an answer the learner wrote is scored (`review.auto_score`) and the review recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time as _time
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import xxhash

from canvasd.agents.base import PROVENANCE_KEY
from canvasd.canvas.model import node_text
from canvasd.errors import BodyFieldError, CanvasdError, CardNotFoundError
from canvasd.jobs.periodic import PeriodicJob
from canvasd.jobs.scheduler import Priority
from canvasd.review.clock import Clock, SystemClock, day_end, day_start, local_day, local_zone, today_at
from canvasd.review.rating import STATE_RATINGS, Rating, rating_of_score
from canvasd.review.review_canvas import ReviewCanvasEdit, ReviewItem, answers_on, cards_on
from canvasd.review.schedule import Schedule, Spacing
from canvasd.review.store import CanvasChanges, CardRow, LogEntry, ReviewStore
from canvasd.review.tutoring import concept_title, question_for, score_answer, template_question
from canvasd.subsystem import Phase
from canvasd.watch.follower import Absent, CanvasKey, FeedFollower, FileStamp

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from canvasd.canvas import CanvasEngine, CanvasSnapshot
    from canvasd.canvas.commit import WriteRequest
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.config import Settings
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.memory.subsystem import MemorySubsystem
    from canvasd.metrics import Metrics
    from canvasd.types import JSONObject
    from canvasd.watch.feed import ChangeFeed
    from canvasd.watch.open_canvases import OpenCanvases

log = logging.getLogger(__name__)

CARD_TYPES = frozenset({"text", "file", "link"})
_Review = tuple[CardRow, LogEntry]
REVIEW_PHRASES = {
    Rating.AGAIN: "not recalled (struggled)",
    Rating.HARD: "recalled with difficulty (struggled)",
    Rating.GOOD: "recalled",
    Rating.EASY: "recalled easily",
}
"""How a review reads as a fact in the learning memory."""
_OPEN_WAIT_S = 5.0  # a request during the start waits this long for the store to open
_OWN_COLOURS_KEPT = 8  # recolours of one node remembered until they land (more would mean they never do)
_DAY = 86400.0


class ReviewSubsystem(FeedFollower):
    """FSRS cards from the learning colours and the daily review canvas; see the module docstring."""

    name = "review"
    title = "spaced repetition"
    parallel = 1  # one writer: syncs are milliseconds of SQLite each

    def __init__(self, settings: Settings, metrics: Metrics, engine: CanvasEngine, vaults: VaultRegistry,
                 scheduler: JobScheduler, feed: ChangeFeed, *, clock: Clock | None = None,
                 memory: MemorySubsystem | None = None, open_canvases: OpenCanvases | None = None) -> None:
        super().__init__(engine, vaults, scheduler, feed, enabled=settings.review.enabled)
        self._settings = settings.review
        self._metrics = metrics
        self._states = engine.learning_states
        self._clock = clock or SystemClock()
        self._memory = memory
        self._open_canvases = open_canvases
        self.zone = local_zone(self._settings.timezone)
        self._store = ReviewStore(settings.daemon.data_dir / "review" / "review.sqlite3")
        self._spacing: Spacing | None = None
        self._stamps: dict[CanvasKey, FileStamp | None] = {}
        self._own_colours: dict[tuple[str, str, str], list[str]] = {}  # recolours canvasd wrote, oldest first
        self._colour_of = {rating: colour for colour, state in settings.learning_states.items()
                           if (rating := STATE_RATINGS.get(state)) is not None}
        self._colour_of.setdefault(Rating.EASY, self._colour_of.get(Rating.GOOD, "4"))
        self._writing = asyncio.Lock()  # a sync and a rating never change one card at once
        self._pending: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the card store and the FSRS scheduler."""
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self._store.open()
        self._spacing = Spacing(self._settings)
        self._stamps = self._store.stamps()

    async def release(self) -> None:
        """Wait briefly for recolours in flight, then close the store."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=2.0)
        self._store.close()

    async def after_ready(self) -> None:
        """Build (or complete) today's review canvas when the daily time has passed: a laptop that was off at
        06:00 still gets it, and one restarted later in the day gets what became due since."""
        if not self._settings.daily_canvas:
            return
        now = self._clock.now()
        if now >= today_at(now, self._daily_time(), self.zone):
            self._scheduler.submit("review_canvas", self.build_daily_canvases, name="review canvas (catch-up)",
                                   priority=Priority.MAINTENANCE)

    def periodic_jobs(self) -> list[PeriodicJob]:
        """The day's review canvas at `review.daily_at`, local time."""
        if not self._settings.daily_canvas or self.phase is Phase.OFF:
            return []
        return [PeriodicJob("review_canvas", 3600.0, self.build_daily_canvases, daily_at=self._daily_time(),
                            zone=self.zone)]

    def _daily_time(self) -> time:
        hour, minute = self._settings.daily_at.split(":")
        return time(int(hour), int(minute))

    def known_canvases(self) -> Mapping[CanvasKey, FileStamp | None]:
        """Canvases synced, with the stamp they were read at."""
        return dict(self._stamps)

    def status(self) -> dict[str, Any]:
        """Phase, progress and the canvases followed."""
        return {**super().status(), "canvases": len(self._stamps), "timezone": str(self.zone)}

    # ------------------------------------------------------------------------------------ following canvases

    async def sync(self, vault: str, path: str, priority: Priority) -> str:
        """Bring the cards of one canvas in line with its colours (or score the answers of a review canvas)."""
        snapshot = await asyncio.to_thread(self.read_canvas, vault, path)
        if snapshot is Absent.AWAY:
            return "skipped"
        async with self._writing:  # the recolours' bookkeeping too: no worker thread reads it meanwhile
            if snapshot is Absent.GONE:
                return await asyncio.to_thread(self._gone, vault, path)
            sync = self._sync_answers if self._is_review_canvas(path) else self._sync_cards
            outcome, reviews = await asyncio.to_thread(sync, vault, path, snapshot)
            for card, entry in reviews:
                self._reviewed(card, entry)
                if entry.source == "answer":
                    self._recolour(card, entry.rating)
        return outcome

    def _is_review_canvas(self, path: str) -> bool:
        return path.startswith(self._settings.folder + "/")

    def _gone(self, vault: str, path: str) -> str:
        suspended = self._store.forget_canvas(vault, path, suspend=True)
        self._stamps.pop((vault, path), None)
        return "suspended" if suspended else "removed"

    def _sync_cards(self, vault: str, path: str, snapshot: CanvasSnapshot) -> tuple[str, list[_Review]]:
        concepts = self._concepts(snapshot.document)
        cards = self._store.cards_of(vault, path)
        if not cards and concepts and self._adopt(vault, path, concepts):
            cards = self._store.cards_of(vault, path)
        at = self._change_time(snapshot)
        signature = snapshot.signature
        changes = CanvasChanges(stamp=(signature[0], signature[1]) if signature else None)
        created = 0
        for node_id, (colour, title) in concepts.items():
            card = cards.get(node_id)
            if card is None:
                changes.cards.append(CardRow(vault, path, node_id, title, colour, at, Schedule.new(at)))
                created += 1
                continue
            entry = self._colour_change(card, colour, at)
            if entry is not None:
                changes.reviews.append((card, entry))
            if entry is not None or card.title != title or card.colour != colour or card.suspended:
                card.title, card.colour, card.suspended = title, colour, False
                changes.cards.append(card)
        for node_id, card in cards.items():
            if node_id not in concepts and not card.suspended:
                card.suspended = True
                changes.cards.append(card)
        key = (vault, path)
        if changes or self._stamps.get(key) != changes.stamp or key not in self._stamps:
            self._store.commit(vault, path, changes)
            self._stamps[key] = changes.stamp
        outcome = "reviewed" if changes.reviews else "created" if created else "changed" if changes else "unchanged"
        return outcome, changes.reviews

    def _concepts(self, document: JSONObject) -> dict[str, tuple[str, str]]:
        """node id -> (colour, title) of every concept node: a text, file or link node in a card state."""
        found: dict[str, tuple[str, str]] = {}
        nodes = document.get("nodes")
        for node in nodes if isinstance(nodes, list) else []:
            if not isinstance(node, dict) or node.get("type") not in CARD_TYPES or PROVENANCE_KEY in node:
                continue
            node_id, colour = node.get("id"), node.get("color")
            if isinstance(node_id, str) and isinstance(colour, str) \
                    and self._states.state_of(node) in STATE_RATINGS and node_id not in found:
                found[node_id] = (colour.lower(), concept_title(node))
        return found

    def _colour_change(self, card: CardRow, colour: str, at: float) -> LogEntry | None:
        """The review a node's new colour means, if any (a colour canvasd wrote itself means none)."""
        if card.colour == colour:
            return None
        key = (card.vault, card.path, card.node)
        pending = self._own_colours.get(key)
        if pending and colour in pending:  # canvasd's recolour (and any it wrote before it) has landed
            del pending[: pending.index(colour) + 1]
            if not pending:
                del self._own_colours[key]
            return None
        rating = STATE_RATINGS.get(self._states.state_of({"color": colour}))
        return None if rating is None else self._review(card, rating, max(at, card.schedule.last_review or 0), "colour")

    def _change_time(self, snapshot: CanvasSnapshot) -> float:
        """When the learner changed the canvas: the file's mtime (a review found after a restart keeps its time),
        never later than now."""
        now = self._clock.now().timestamp()
        signature = snapshot.signature
        return min(now, signature[0] / 1e9) if signature else now

    def _adopt(self, vault: str, path: str, concepts: Mapping[str, Any]) -> bool:
        """Take over the cards of a vanished canvas this one was renamed from; whether it did."""
        best, overlap = None, 0
        vault_obj = self._vaults.get(vault)
        for other, nodes in self._store.canvases_with_cards(vault).items():
            shared = len(nodes & concepts.keys())
            if other == path or shared * 2 < len(nodes) or shared <= overlap:
                continue
            try:
                if os.path.exists(vault_obj.resolve(other)):
                    continue
            except CanvasdError:
                pass
            best, overlap = other, shared
        if best is None:
            return False
        moved = self._store.move_canvas(vault, best, path)
        self._stamps.pop((vault, best), None)
        log.info("review: %d cards of %s/%s follow it to %s", moved, vault, best, path)
        return True

    # ------------------------------------------------------------------------------------ reviews

    def _review(self, card: CardRow, rating: Rating, at: float, source: str) -> LogEntry:
        """Review `card` in place: the schedule changes on the card's first review of the learner's day only."""
        assert self._spacing is not None
        day = local_day(datetime.fromtimestamp(at, UTC), self.zone).isoformat()
        scheduled = card.scheduled_day != day
        if scheduled:
            card.schedule = self._spacing.review(card.id or 0, card.schedule, rating, at)
            card.scheduled_day = day
        return LogEntry(at, rating, source, scheduled)

    def _reviewed(self, card: CardRow, entry: LogEntry) -> None:
        """A review was recorded: count it, tell the feed, and put it in the learning memory (a background job)."""
        self._metrics.review_reviews.labels(entry.rating.word, entry.source).inc()
        self._feed.publish("review", card.vault, card.path, detail={
            "node": card.node, "rating": entry.rating.word, "source": entry.source, "scheduled": entry.scheduled,
            "due": _iso(card.schedule.due)})
        memory = self._memory
        if memory is None or memory.phase is not Phase.READY:
            return
        fact = f"{card.title} reviewed: {REVIEW_PHRASES[entry.rating]}"
        key = f"review:{card.node}:{entry.at:.3f}"

        def remember() -> bool:
            return memory.memory.record_event(card.vault, card.path, card.node, key=key, name="REVIEWED", fact=fact,
                                              at=entry.at)

        self._scheduler.submit_blocking("review_memory", remember, name=f"review fact {card.key}",
                                        priority=Priority.BULK)

    async def rate(self, vault: str, path: str, node: str, rating: Rating, *, source: str,
                   at: datetime | None = None) -> tuple[CardRow, LogEntry]:
        """A review a client sends (a rating, or a score already turned into one); recorded before it returns."""
        await self._ready()
        self._vaults.get(vault)
        now = self._clock.now()
        if at is not None and at > now + timedelta(minutes=5):
            raise BodyFieldError(f"'at' lies in the future ({at.isoformat()}); a queued rating has a past time")
        when = (at or now).timestamp()
        async with self._writing:
            card = await asyncio.to_thread(self._store.card, vault, path, node)
            if card is None:
                raise CardNotFoundError(vault, path, node)
            entry = self._review(card, rating, max(when, card.schedule.last_review or 0), source)
            await asyncio.to_thread(self._store.record, card, entry)
            self._reviewed(card, entry)
            self._recolour(card, rating)
        return card, entry

    def _recolour(self, card: CardRow, rating: Rating) -> None:
        """Give the node its rating's colour through the engine (`review.recolour`), remembered as canvasd's own."""
        colour = self._colour_of.get(rating)
        key = (card.vault, card.path, card.node)
        pending = self._own_colours.get(key)
        current = pending[-1] if pending else card.colour  # a recolour still on its way counts as done
        if not self._settings.recolour or colour is None or colour == current:
            return
        from canvasd.agents.edit import AgentEdit
        from canvasd.agents.rules import CheckedOps

        try:
            real = self._vaults.get(card.vault).resolve(card.path)
        except CanvasdError:
            return
        pending = self._own_colours.setdefault(key, [])
        pending.append(colour)
        del pending[:-_OWN_COLOURS_KEPT]
        edit = AgentEdit(CheckedOps(colours={card.node: colour}), {"agent": "review", "run": "rating"})
        task = asyncio.ensure_future(self._write(real, edit, key, colour))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, real: Path, edit: WriteRequest, key: tuple[str, str, str], colour: str) -> None:
        try:
            await self._commit((key[0], key[1]), real, edit)
        except CanvasdError as exc:
            log.warning("review: recolouring a node of %s failed: %s", real, exc)
            async with self._writing:
                pending = self._own_colours.get(key)
                if pending and colour in pending:  # never written: a later change to this colour is the learner's
                    pending.remove(colour)

    # ------------------------------------------------------------------------------------ answers

    def _sync_answers(self, vault: str, path: str, snapshot: CanvasSnapshot) -> tuple[str, list[_Review]]:
        """Score the answers written on a review canvas since they were last scored; record their reviews."""
        signature = snapshot.signature
        stamp = (signature[0], signature[1]) if signature else None
        reviews: list[_Review] = []
        if self._settings.auto_score:
            for card_ref, answer in answers_on(snapshot.document):
                text = node_text(answer).strip()
                if text and (review := self._score(vault, path, card_ref, answer, text, stamp)) is not None:
                    reviews.append(review)
        self._stamps[(vault, path)] = stamp
        self._store.commit(vault, path, CanvasChanges(stamp=stamp))
        return ("scored" if reviews else "unchanged"), reviews

    def _score(self, vault: str, path: str, card_ref: str, answer: JSONObject, text: str,
               stamp: FileStamp | None) -> _Review | None:
        node_id = answer.get("id")
        digest = xxhash.xxh64_hexdigest(text.encode())
        if not isinstance(node_id, str) or self._store.answer_digest(vault, path, node_id) == digest:
            return None
        source_path, _, source_node = card_ref.rpartition("#")
        card = self._store.card(vault, source_path, source_node)
        document = self._source_document(vault, source_path)
        concept = _node(document, source_node) if document is not None else None
        if card is None or document is None or concept is None:
            self._store.record_answer(vault, path, node_id, digest, None)
            return None
        score = score_answer(document, concept, text, self._states)
        rating = rating_of_score(score, self._settings.easy_score)
        at = min(self._clock.now().timestamp(), stamp[0] / 1e9) if stamp else self._clock.now().timestamp()
        entry = self._review(card, rating, max(at, card.schedule.last_review or 0), "answer")
        self._store.record_answer(vault, path, node_id, digest, (card, entry))
        return card, entry

    def _source_document(self, vault: str, path: str) -> JSONObject | None:
        snapshot = self.read_canvas(vault, path)
        return None if isinstance(snapshot, Absent) else snapshot.document

    # ------------------------------------------------------------------------------------ queries

    async def _ready(self) -> Spacing:
        """The FSRS scheduler once the store is open (a request at the start waits a little for it)."""
        self.require_answering()
        await self.wait_opened(_OPEN_WAIT_S)
        if self._spacing is None:
            raise self.unavailable(f"{self.title} is still starting; try again shortly")
        return self._spacing

    def today(self) -> date:
        """The learner's day now."""
        return local_day(self._clock.now(), self.zone)

    async def due(self, vault: str | None = None, on: date | None = None, limit: int = 50) -> dict[str, Any]:
        """Cards due by the end of day `on` (today by default), lowest retrievability first."""
        spacing = await self._ready()
        if vault is not None:
            self._vaults.get(vault)
        day = on or self.today()
        at = max(self._clock.now().timestamp(), day_start(day, self.zone).timestamp())
        until = day_end(day, self.zone).timestamp()
        cards, total = await asyncio.to_thread(self._store.due, until, at, vault, limit)
        return {"on": day.isoformat(), "total": total,
                "cards": [self._card_json(card, spacing, at) for card in cards]}

    async def card(self, vault: str, path: str, node: str) -> dict[str, Any]:
        """One card and its review log."""
        spacing = await self._ready()
        self._vaults.get(vault)
        card = await asyncio.to_thread(self._store.card, vault, path, node)
        if card is None:
            raise CardNotFoundError(vault, path, node)
        assert card.id is not None
        entries = await asyncio.to_thread(self._store.log_of, card.id)
        return {"card": self._card_json(card, spacing, self._clock.now().timestamp()),
                "log": [{"at": _iso(e.at), "rating": e.rating.word, "source": e.source, "scheduled": e.scheduled}
                        for e in entries]}

    def _card_json(self, card: CardRow, spacing: Spacing, at: float) -> dict[str, Any]:
        s = card.schedule
        return {"key": card.key, "vault": card.vault, "path": card.path, "node": card.node, "title": card.title,
                "due": _iso(s.due), "state": "suspended" if card.suspended else s.state_name,
                "stability": s.stability, "difficulty": s.difficulty,
                "retrievability": round(spacing.retrievability(s, at), 4)}

    async def stats(self, vault: str | None = None) -> dict[str, Any]:
        """Due today, overdue, reviewed today, the 7- and 30-day forecast, a retention estimate and the streak."""
        await self._ready()
        if vault is not None:
            self._vaults.get(vault)
        return await asyncio.to_thread(self._stats, vault)

    def _stats(self, vault: str | None) -> dict[str, Any]:
        today = self.today()
        start, end = day_start(today, self.zone).timestamp(), day_end(today, self.zone).timestamp()
        dues = self._store.due_times(vault)
        by_day = Counter(local_day(datetime.fromtimestamp(t, UTC), self.zone) for t in dues if t >= end)
        forecast = [{"on": (today + timedelta(days=i)).isoformat(), "due": by_day.get(today + timedelta(days=i), 0)}
                    for i in range(1, 31)]
        reviews_today = self._store.reviews_between(start, end, vault)
        month = self._store.reviews_between(start - 30 * _DAY, end, vault)
        scheduled = [rating for _, rating, counted in month if counted]
        recalled = sum(1 for rating in scheduled if rating != Rating.AGAIN)
        return {
            "on": today.isoformat(), "cards": len(dues), "due_today": sum(1 for t in dues if t < end),
            "overdue": sum(1 for t in dues if t < start), "reviewed_today": len(reviews_today),
            "next_7_days": sum(f["due"] for f in forecast[:7]), "next_30_days": sum(f["due"] for f in forecast),
            "forecast": forecast,
            "retention": round(recalled / len(scheduled), 3) if scheduled else None,
            "reviews_30_days": len(scheduled), "streak_days": self._streak(vault, today),
        }

    def _streak(self, vault: str | None, today: date) -> int:
        """Days in a row, up to today (or yesterday, before today's first review), with at least one review."""
        days = {local_day(datetime.fromtimestamp(t, UTC), self.zone) for t in self._store.review_times(vault)}
        day = today if today in days else today - timedelta(days=1)
        streak = 0
        while day in days:
            streak += 1
            day -= timedelta(days=1)
        return streak

    # ------------------------------------------------------------------------------------ the review canvas

    async def build_daily_canvases(self) -> list[dict[str, Any]]:
        """Today's review canvas in every vault that has cards due (the daily job)."""
        built = []
        for vault in self._vaults:
            if vault.exists():
                result = await self.build_canvas(vault.name)
                if result["cards"]:
                    built.append(result)
        return built

    async def build_canvas(self, vault: str, on: date | None = None) -> dict[str, Any]:
        """Write (or complete) the review canvas of day `on` in `vault` through the engine; what it holds."""
        await self._ready()
        vault_obj = self._vaults.get(vault)
        day = on or self.today()
        relative = f"{self._settings.folder}/{day.isoformat()}.canvas"
        started = _time.perf_counter()
        listing = await self.due(vault, day, self._settings.daily_limit)
        items = await asyncio.to_thread(self._items, vault, listing["cards"])
        await asyncio.to_thread(os.makedirs, vault_obj.root / self._settings.folder, exist_ok=True)
        real = vault_obj.resolve(relative)
        edit = ReviewCanvasEdit(day.isoformat(), items, self._settings.daily_limit)
        if items:
            await self._commit((vault, relative), real, edit)
        else:
            edit.cards = list(await asyncio.to_thread(self._cards_on, real))
        self._metrics.review_canvas_seconds.observe(_time.perf_counter() - started)
        return {"vault": vault, "path": relative, "on": day.isoformat(), "cards": edit.cards, "added": edit.added}

    def _cards_on(self, real: Path) -> list[str]:
        try:
            return list(cards_on(self._engine.read(real).document))
        except CanvasdError:
            return []

    async def build_canvas_job(self, vault: str, on: date | None = None) -> dict[str, Any]:
        """`build_canvas` as an interactive job on the scheduler (what `POST /v1/review/canvas` waits for)."""
        await self._ready()
        self._vaults.get(vault)
        job = self._scheduler.submit("review_canvas", lambda: self.build_canvas(vault, on),
                                     name=f"review canvas {vault}", priority=Priority.INTERACTIVE)
        result: dict[str, Any] = await job.wait()
        return result

    async def _commit(self, key: CanvasKey, real: Path, edit: WriteRequest) -> None:
        """Write through the engine (a canvas open in Obsidian gets it as a proposal to the plugin)."""
        if self._open_canvases is not None:
            await self._open_canvases.write(key, real, edit)
        elif self._engine.queues_writes:
            await asyncio.wrap_future(self._engine.submit(real, edit))
        else:
            await asyncio.to_thread(self._engine.apply, real, edit)

    def _items(self, vault: str, cards: list[dict[str, Any]]) -> list[ReviewItem]:
        """A review item (with the verify agent's question) per due card, its canvas read once for all."""
        documents: dict[str, JSONObject | None] = {}
        items = []
        for card in cards:
            path, node_id, title = card["path"], card["node"], card["title"]
            if path not in documents:
                documents[path] = self._source_document(vault, path)
            document = documents[path]
            node = _node(document, node_id) if document is not None else None
            question = (question_for(vault, path, document, node, title, self._states)
                        if document is not None and node is not None else template_question(title))
            items.append(ReviewItem(path, node_id, title, question))
        return items


def _node(document: JSONObject, node_id: str) -> JSONObject | None:
    nodes = document.get("nodes")
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and node.get("id") == node_id:
            return node
    return None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

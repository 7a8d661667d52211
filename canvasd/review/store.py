"""Cards and the review log in SQLite under the data dir: WAL, synchronous FULL, one writer.

A canvas's changes (new cards, reviews, suspensions, the file stamp they were read from) are one transaction,
so a daemon killed between a colour change and its review finds the canvas's old stamp at the next start, reads
it again and records the review then; an acknowledged review is on disk before the answer leaves.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvasd.review.rating import Rating
from canvasd.review.schedule import Schedule

if TYPE_CHECKING:
    from pathlib import Path

    from canvasd.watch.follower import CanvasKey, FileStamp

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    id INTEGER PRIMARY KEY,
    vault TEXT NOT NULL, path TEXT NOT NULL, node TEXT NOT NULL,
    title TEXT NOT NULL, colour TEXT, suspended INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    state INTEGER NOT NULL, step INTEGER, stability REAL, difficulty REAL, due REAL NOT NULL, last_review REAL,
    scheduled_day TEXT,
    UNIQUE (vault, path, node));
CREATE INDEX IF NOT EXISTS cards_due ON cards (suspended, due);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY, card INTEGER NOT NULL REFERENCES cards (id), at REAL NOT NULL,
    rating INTEGER NOT NULL, source TEXT NOT NULL, scheduled INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS log_card ON log (card, at);
CREATE INDEX IF NOT EXISTS log_at ON log (at);
CREATE TABLE IF NOT EXISTS canvases (
    vault TEXT NOT NULL, path TEXT NOT NULL, mtime_ns INTEGER, size INTEGER, PRIMARY KEY (vault, path));
CREATE TABLE IF NOT EXISTS answers (
    vault TEXT NOT NULL, path TEXT NOT NULL, node TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (vault, path, node));
"""
_CARD_COLUMNS = ("id, vault, path, node, title, colour, suspended, created, state, step, stability, difficulty, "
                 "due, last_review, scheduled_day")


@dataclass(slots=True)
class CardRow:
    """One card: its node, what it shows, whether it is suspended, and its FSRS schedule."""

    vault: str
    path: str
    node: str
    title: str
    colour: str | None
    created: float
    schedule: Schedule
    suspended: bool = False
    scheduled_day: str | None = None
    """The learner's day (YYYY-MM-DD) of the last review that counted for the schedule."""
    id: int | None = None

    @property
    def key(self) -> str:
        """vault/path#node: how the API names a card."""
        return f"{self.vault}/{self.path}#{self.node}"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One review: when, the rating, what it came from (colour, rating, score, answer), whether it counted."""

    at: float
    rating: Rating
    source: str
    scheduled: bool


@dataclass(slots=True)
class CanvasChanges:
    """What one sync of a canvas changes, written in one transaction."""

    cards: list[CardRow] = field(default_factory=list)
    """New or changed cards (a row without an id is inserted)."""
    reviews: list[tuple[CardRow, LogEntry]] = field(default_factory=list)
    stamp: FileStamp | None = None

    def __bool__(self) -> bool:
        return bool(self.cards or self.reviews)


def _row(values: tuple[Any, ...]) -> CardRow:
    (cid, vault, path, node, title, colour, suspended, created, state, step, stability, difficulty, due,
     last_review, scheduled_day) = values
    schedule = Schedule(int(state), float(due), stability, difficulty, last_review, step)
    return CardRow(str(vault), str(path), str(node), str(title), colour, float(created),
                   schedule, bool(suspended), scheduled_day, int(cid))


class ReviewStore:
    """The cards and the review log; every method is blocking (call it in a job or a worker thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        """Open (or create) the database."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db = db

    def close(self) -> None:
        """Close the database (everything written is already durable)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the review store is not open")
        return self._db

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection().execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------------------------------ canvases

    def stamps(self) -> dict[CanvasKey, FileStamp | None]:
        """Every canvas synced, with the file stamp it was read at."""
        return {(str(v), str(p)): (int(m), int(s)) if m is not None and s is not None else None
                for v, p, m, s in self._query("SELECT vault, path, mtime_ns, size FROM canvases")}

    def cards_of(self, vault: str, path: str) -> dict[str, CardRow]:
        """The cards of one canvas (suspended ones too), by node id."""
        rows = self._query(f"SELECT {_CARD_COLUMNS} FROM cards WHERE vault = ? AND path = ?", (vault, path))
        return {card.node: card for card in map(_row, rows)}

    def canvases_with_cards(self, vault: str) -> dict[str, set[str]]:
        """Canvas path -> node ids of its cards, for one vault (to find where a renamed canvas came from)."""
        found: dict[str, set[str]] = {}
        for path, node in self._query("SELECT path, node FROM cards WHERE vault = ?", (vault,)):
            found.setdefault(str(path), set()).add(str(node))
        return found

    def commit(self, vault: str, path: str, changes: CanvasChanges) -> None:
        """Write a sync's changes and the canvas's stamp in one transaction."""
        with self._transaction() as db:
            for card in changes.cards:
                self._save(db, card)
            for card, entry in changes.reviews:
                self._log(db, card, entry)
            stamp = changes.stamp
            db.execute("INSERT OR REPLACE INTO canvases (vault, path, mtime_ns, size) VALUES (?, ?, ?, ?)",
                       (vault, path, stamp[0] if stamp else None, stamp[1] if stamp else None))

    def forget_canvas(self, vault: str, path: str, suspend: bool) -> int:
        """The canvas is gone: drop its stamp and (`suspend`) suspend its cards, keeping them; how many."""
        with self._transaction() as db:
            db.execute("DELETE FROM canvases WHERE vault = ? AND path = ?", (vault, path))
            db.execute("DELETE FROM answers WHERE vault = ? AND path = ?", (vault, path))
            if not suspend:
                return 0
            return db.execute("UPDATE cards SET suspended = 1 WHERE vault = ? AND path = ? AND suspended = 0",
                              (vault, path)).rowcount

    def move_canvas(self, vault: str, old: str, new: str) -> int:
        """A canvas renamed on disk: its cards (and their history) follow it; how many moved."""
        with self._transaction() as db:
            return db.execute("UPDATE OR IGNORE cards SET path = ? WHERE vault = ? AND path = ?",
                              (new, vault, old)).rowcount

    @staticmethod
    def _save(db: sqlite3.Connection, card: CardRow) -> None:
        s = card.schedule
        values = (card.vault, card.path, card.node, card.title, card.colour, int(card.suspended), card.created,
                  s.state, s.step, s.stability, s.difficulty, s.due, s.last_review, card.scheduled_day)
        if card.id is None:
            cursor = db.execute(
                "INSERT INTO cards (vault, path, node, title, colour, suspended, created, state, step, stability, "
                "difficulty, due, last_review, scheduled_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values)
            card.id = cursor.lastrowid
        else:
            db.execute(
                "UPDATE cards SET vault = ?, path = ?, node = ?, title = ?, colour = ?, suspended = ?, created = ?, "
                "state = ?, step = ?, stability = ?, difficulty = ?, due = ?, last_review = ?, scheduled_day = ? "
                "WHERE id = ?", (*values, card.id))

    @staticmethod
    def _log(db: sqlite3.Connection, card: CardRow, entry: LogEntry) -> None:
        db.execute("INSERT INTO log (card, at, rating, source, scheduled) VALUES (?, ?, ?, ?, ?)",
                   (card.id, entry.at, int(entry.rating), entry.source, int(entry.scheduled)))

    # ------------------------------------------------------------------------------------ cards

    def card(self, vault: str, path: str, node: str) -> CardRow | None:
        """One card, suspended or not."""
        rows = self._query(f"SELECT {_CARD_COLUMNS} FROM cards WHERE vault = ? AND path = ? AND node = ?",
                           (vault, path, node))
        return _row(rows[0]) if rows else None

    def record(self, card: CardRow, entry: LogEntry) -> None:
        """One review outside a canvas sync (a client's rating, a scored answer), with the card it changed."""
        with self._transaction() as db:
            self._save(db, card)
            self._log(db, card, entry)

    def log_of(self, card_id: int) -> list[LogEntry]:
        """A card's reviews, oldest first."""
        return [LogEntry(float(at), Rating(int(rating)), str(source), bool(scheduled))
                for at, rating, source, scheduled in self._query(
                    "SELECT at, rating, source, scheduled FROM log WHERE card = ? ORDER BY at, id", (card_id,))]

    def due(self, until: float, at: float, vault: str | None = None,
            limit: int = 50) -> tuple[list[CardRow], int]:
        """Active cards due before `until`, lowest retrievability at `at` first (never reviewed ones, then those
        with the most elapsed days per day of stability: the order of FSRS's forgetting curve, computed in SQL),
        at most `limit`; and how many are due in all."""
        where = "WHERE suspended = 0 AND due < ?" + (" AND vault = ?" if vault is not None else "")
        params: list[object] = [until] if vault is None else [until, vault]
        rows = self._query(
            f"SELECT {_CARD_COLUMNS} FROM cards {where} ORDER BY last_review IS NOT NULL, "
            "MAX(0, CAST((? - COALESCE(last_review, 0)) / 86400 AS INTEGER)) / COALESCE(stability, 1) DESC, due, id "
            "LIMIT ?", [*params, at, limit])
        total = self._query(f"SELECT COUNT(*) FROM cards {where}", params)[0][0]
        return [_row(r) for r in rows], int(total)

    def due_times(self, vault: str | None = None) -> list[float]:
        """When every active card is due."""
        sql = "SELECT due FROM cards WHERE suspended = 0"
        rows = self._query(*((sql + " AND vault = ?", (vault,)) if vault else (sql,)))
        return [float(due) for (due,) in rows]

    def reviews_between(self, start: float, end: float, vault: str | None = None) -> list[tuple[float, int, bool]]:
        """(time, rating, scheduled) of every review in [start, end)."""
        sql = "SELECT log.at, log.rating, log.scheduled FROM log"
        params: list[object] = []
        if vault is not None:
            sql += " JOIN cards ON cards.id = log.card WHERE cards.vault = ? AND"
            params.append(vault)
        else:
            sql += " WHERE"
        sql += " log.at >= ? AND log.at < ?"
        return [(float(at), int(r), bool(s)) for at, r, s in self._query(sql, [*params, start, end])]

    def review_times(self, vault: str | None = None) -> list[float]:
        """Times of every review (for the streak), newest first."""
        sql = "SELECT log.at FROM log"
        params: tuple[object, ...] = ()
        if vault is not None:
            sql += " JOIN cards ON cards.id = log.card WHERE cards.vault = ?"
            params = (vault,)
        return [float(at) for (at,) in self._query(sql + " ORDER BY log.at DESC", params)]

    # ------------------------------------------------------------------------------------ answers

    def answer_digest(self, vault: str, path: str, node: str) -> str | None:
        """The digest of the answer text last scored on a review canvas, if any."""
        rows = self._query("SELECT digest FROM answers WHERE vault = ? AND path = ? AND node = ?", (vault, path, node))
        return str(rows[0][0]) if rows else None

    def record_answer(self, vault: str, path: str, node: str, digest: str, review: tuple[CardRow, LogEntry] | None,
                      stamp: FileStamp | None = None) -> None:
        """An answer was scored (and its review recorded), in one transaction."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO answers (vault, path, node, digest) VALUES (?, ?, ?, ?)",
                       (vault, path, node, digest))
            if review is not None:
                card, entry = review
                self._save(db, card)
                self._log(db, card, entry)

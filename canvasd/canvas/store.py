"""Canvas reads: snapshots of files on disk, cached in memory and never served stale.

A cache entry is valid while the file's (st_mtime_ns, st_size, st_ino) are unchanged, so an edit by any
program is seen on the next read even without a watcher event. An entry whose mtime is within the file
system's timestamp granularity of the moment it was read could hide a same-size edit in the same clock
tick, so it is confirmed byte for byte before it is served (the "racy" check git uses for its index).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Protocol

import xxhash
from cachetools import TTLCache

from canvasd.canvas.codec import CanvasCodec, parse_canvas_text
from canvasd.canvas.layout import CanvasText
from canvasd.canvas.model import document_problems
from canvasd.canvas.vaults import path_refusal
from canvasd.config import ReadCacheSettings
from canvasd.errors import CanvasdError, CanvasPathError, Problem
from canvasd.metrics import Metrics
from canvasd.types import JSONObject, Signature

log = logging.getLogger(__name__)

# Measured with tracemalloc on the corpus and generated canvases: a parsed document takes 2-4x its file
# size in Python objects; the lossless structure used for writing (its own document, the text in pieces
# and their UTF-8 encodings) 7-8x.
_DOCUMENT_WEIGHT = 4
_STRUCTURE_WEIGHT = 8
_READ_ATTEMPTS = 3


def signature_of(st: os.stat_result) -> Signature:
    """What identifies one state of a file: (mtime_ns, size, inode)."""
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def content_version(raw: bytes) -> str:
    """The version (ETag) of a canvas: a 128-bit hash of its bytes (XXH3, ~30 GB/s), equal for equal content."""
    return xxhash.xxh3_128_hexdigest(raw)


class CanvasSnapshot:
    """One state of a canvas file: bytes and version now; document and structure parsed on first use.

    Snapshots are shared between readers: treat `document` and `canvas_text` as read-only.
    """

    def __init__(self, path: Path, raw: bytes, signature: Signature | None, codec: CanvasCodec | None,
                 verified_ns: int, *, canvas_text: CanvasText | None = None, version: str | None = None) -> None:
        self.path = path
        self.raw = raw
        self.signature = signature
        self.verified_ns = verified_ns  # wall-clock time at which `raw` was known to be the file's content
        self._codec = codec
        if canvas_text is not None:
            self.__dict__["canvas_text"] = canvas_text
            self.__dict__["document"] = canvas_text.document
        if version is not None:
            self.__dict__["version"] = version

    @cached_property
    def version(self) -> str:
        return content_version(self.raw)

    @cached_property
    def document(self) -> JSONObject:
        if "canvas_text" in self.__dict__ or self._codec is None:
            return self.canvas_text.document
        return self._codec.load(self.raw, self.path)

    @cached_property
    def canvas_text(self) -> CanvasText:
        text = parse_canvas_text(self.raw, self.path)
        # One parsed document per snapshot: the structure's replaces the one a read parsed (equal values).
        self.__dict__["document"] = text.document
        return text

    @cached_property
    def problems(self) -> list[Problem]:
        return document_problems(self.document)

    @property
    def weight(self) -> int:
        """Approximate memory held, in bytes: what the read cache accounts for this entry."""
        factor = 1
        if "canvas_text" in self.__dict__:
            factor += _STRUCTURE_WEIGHT
        elif "document" in self.__dict__:
            factor += _DOCUMENT_WEIGHT
        return len(self.raw) * factor + 512


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _refuse_irregular(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise CanvasPathError(path, "it is a directory" if stat.S_ISDIR(st.st_mode) else
                              "not a regular file (a FIFO, socket or device is never opened)")


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file; anything else is refused before it is opened.

    A FIFO would block the open until some writer came (O_NONBLOCK too, in case it is swapped in between the
    stat and the open; it changes nothing for a regular file). OSErrors the path causes become their
    canvasd errors; the system's own failures (EMFILE, EIO) are raised as they are.
    """
    try:
        _refuse_irregular(path, os.stat(path))
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        refusal = path_refusal(path, exc)
        if refusal is None:
            raise
        raise refusal from None
    try:
        _refuse_irregular(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_snapshot(path: Path, codec: CanvasCodec, metrics: Metrics) -> tuple[CanvasSnapshot, bool]:
    """Read a canvas from disk; also says whether the file stayed unchanged while it was read."""
    for _ in range(_READ_ATTEMPTS):
        started = time.time_ns()
        with open_regular(path) as f:
            before = os.fstat(f.fileno())
            raw = f.read()
            after = os.fstat(f.fileno())
        metrics.disk_reads.inc()
        sig = signature_of(after)
        if sig == signature_of(before) and len(raw) == after.st_size:
            return CanvasSnapshot(path, raw, sig, codec, started), True
    # Another program keeps rewriting the file in place; serve what was read, do not cache it.
    return CanvasSnapshot(path, raw, None, codec, started), False


class CanvasStore(Protocol):
    """Where canvas snapshots come from."""

    def read(self, path: Path, *, parse: bool = True) -> CanvasSnapshot: ...
    def read_cached(self, path: Path, st: os.stat_result | None = None) -> CanvasSnapshot | None: ...
    def prime(self, snapshot: CanvasSnapshot) -> None: ...
    def invalidate(self, path: Path) -> None: ...
    def expire(self) -> None: ...


class DirectCanvasStore:
    """The plain path: every read opens, reads and parses the file."""

    def __init__(self, codec: CanvasCodec, metrics: Metrics) -> None:
        self.codec = codec
        self.metrics = metrics

    def read(self, path: Path, *, parse: bool = True) -> CanvasSnapshot:
        """A fresh snapshot of the file (parsed unless `parse` is false)."""
        snapshot, _ = read_snapshot(path, self.codec, self.metrics)
        if parse:
            snapshot.document  # noqa: B018 - parse now so errors surface here
        return snapshot

    def read_cached(self, path: Path, st: os.stat_result | None = None) -> CanvasSnapshot | None:
        """Nothing is kept on the plain path: every read goes to disk."""
        return None

    def prime(self, snapshot: CanvasSnapshot) -> None:
        """Nothing to remember on the plain path."""

    def invalidate(self, path: Path) -> None:
        """Nothing to forget on the plain path."""

    def expire(self) -> None:
        """Nothing to drop on the plain path."""


class _BoundedTTLCache(TTLCache[str, CanvasSnapshot]):
    """LRU + TTL cache bounded by entry count and by bytes; counts evictions."""

    def __init__(self, settings: ReadCacheSettings, metrics: Metrics) -> None:
        super().__init__(maxsize=settings.max_bytes, ttl=settings.ttl_seconds, getsizeof=lambda s: s.weight)
        self.max_entries = settings.max_entries
        self._metrics = metrics

    def __setitem__(self, key: str, value: CanvasSnapshot) -> None:
        if key not in self:
            self.expire()
            while len(self) >= self.max_entries:
                self.popitem()
        super().__setitem__(key, value)

    def popitem(self) -> tuple[str, CanvasSnapshot]:
        """Evict the least recently used entry."""
        item = super().popitem()
        self._metrics.read_cache_evictions.inc()
        return item


class CachedCanvasStore:
    """Reads served from a bounded cache, validated against the file's stat signature on every read."""

    def __init__(self, codec: CanvasCodec, settings: ReadCacheSettings, metrics: Metrics) -> None:
        self.codec = codec
        self.metrics = metrics
        self._granularity_ns = int(settings.mtime_granularity_ms * 1_000_000)
        self._cache = _BoundedTTLCache(settings, metrics)
        self._seen: set[str] = set()  # every path read or primed since the start: a miss on another one is cold
        self._lock = threading.Lock()
        self._direct = DirectCanvasStore(codec, metrics)

    def read(self, path: Path, *, parse: bool = True) -> CanvasSnapshot:
        """The file's current snapshot: from memory when its signature is unchanged."""
        try:
            return self._read(path, parse)
        except CanvasdError:
            raise
        except Exception:
            log.exception("read cache failed for %s; serving the plain read", path)
            self.metrics.fallback("read_cache")
            self.invalidate(path)
            return self._direct.read(path, parse=parse)

    def _read(self, path: Path, parse: bool) -> CanvasSnapshot:
        key = os.fspath(path)
        try:
            st = os.stat(key)
        except OSError as exc:
            self.invalidate(path)
            refusal = path_refusal(path, exc)
            if refusal is None:
                raise
            raise refusal from None
        _refuse_irregular(path, st)
        sig = signature_of(st)
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None and entry.signature == sig and self._still_valid(entry):
            self.metrics.read_cache_hits.inc()
            if parse and "document" not in entry.__dict__:
                entry.document  # noqa: B018
                self._store(key, entry)
            return entry
        with self._lock:
            cold = key not in self._seen
            self._seen.add(key)
        if cold:  # the first read of this canvas since the start: no cache could have served it
            self.metrics.read_cache_cold_misses.inc()
        self.metrics.read_cache_misses.inc()
        snapshot, stable = read_snapshot(path, self.codec, self.metrics)
        if parse:
            snapshot.document  # noqa: B018
        if stable:
            self._store(key, snapshot)
        return snapshot

    def read_cached(self, path: Path, st: os.stat_result | None = None) -> CanvasSnapshot | None:
        """The parsed snapshot if the cache holds the file's current state, else None (costs one stat, none
        when the caller passes the file's fresh `st`).

        Lets an event loop answer hits inline and send only misses (disk reads, parses) to a thread.
        """
        key = os.fspath(path)
        try:
            sig = signature_of(st if st is not None else os.stat(key))
        except OSError:
            return None
        with self._lock:
            entry = self._cache.get(key)
        if (entry is None or entry.signature != sig or "document" not in entry.__dict__
                or entry.verified_ns <= sig[0] + self._granularity_ns):
            return None  # young entries need a byte-for-byte check: that is disk work, not for the loop
        self.metrics.read_cache_hits.inc()
        return entry

    def _still_valid(self, entry: CanvasSnapshot) -> bool:
        """Entries read within the timestamp granularity of their mtime are confirmed byte for byte."""
        assert entry.signature is not None
        if entry.verified_ns > entry.signature[0] + self._granularity_ns:
            return True
        started = time.time_ns()
        try:
            with open_regular(entry.path) as f:
                same = f.read() == entry.raw and signature_of(os.fstat(f.fileno())) == entry.signature
        except (OSError, CanvasdError):
            return False
        self.metrics.disk_reads.inc()
        if same:
            entry.verified_ns = started
            self.metrics.read_cache_revalidations.inc()
        return same

    def _store(self, key: str, snapshot: CanvasSnapshot) -> None:
        with self._lock:
            self._seen.add(key)
            if snapshot.weight <= self._cache.maxsize:
                self._cache[key] = snapshot
            else:
                self._cache.pop(key, None)
            self.metrics.read_cache_entries.set(len(self._cache))
            self.metrics.read_cache_bytes.set(self._cache.currsize)

    def prime(self, snapshot: CanvasSnapshot) -> None:
        """Remember a snapshot the writer committed or parsed, so the next read costs a stat (and the cache
        accounts for what the snapshot holds now)."""
        if snapshot.signature is not None:
            key = os.fspath(snapshot.path)
            with self._lock:
                current = self._cache.get(key)
            if current is None or current is snapshot or current.signature != snapshot.signature:
                self._store(key, snapshot)

    def invalidate(self, path: Path) -> None:
        """Forget a file (it changed or was deleted)."""
        with self._lock:
            self._cache.pop(os.fspath(path), None)
            self.metrics.read_cache_entries.set(len(self._cache))
            self.metrics.read_cache_bytes.set(self._cache.currsize)

    def expire(self) -> None:
        """Drop entries past their TTL now (a periodic job calls this so an idle daemon shrinks)."""
        with self._lock:
            self._cache.expire()
            self.metrics.read_cache_entries.set(len(self._cache))
            self.metrics.read_cache_bytes.set(self._cache.currsize)

"""One commit: apply a batch of write requests to the newest content on disk and write the result once.

The canvas is read at commit time, not when the requests arrived, so an edit another program (Obsidian)
made in between is kept. If the file changes again while the new content is being written, the commit
starts over from the newer file instead of overwriting it.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canvasd.canvas.atomic import TargetChangedError, delete_file, replace_file
from canvasd.canvas.layout import MAX_DEPTH, CanvasText, exceeds_depth
from canvasd.canvas.model import edge_problems, node_problems
from canvasd.canvas.ops import AddOp, Op, parse_ops
from canvasd.canvas.store import CanvasSnapshot, CanvasStore, content_version, signature_of
from canvasd.canvas.vaults import path_refusal
from canvasd.canvas.working import WorkingCanvas
from canvasd.errors import (
    BodyTooDeepError,
    CanvasBusyError,
    CanvasConflictError,
    CanvasdError,
    CanvasNotFoundError,
    CanvasParseError,
    CanvasPathError,
    CanvasValidationError,
    CanvasWriteError,
    OpFormatError,
    Problem,
)
from canvasd.metrics import Metrics
from canvasd.types import JSONObject, WriteObserver

_ATTEMPTS = 5
# Obsidian saves by truncating and rewriting in place: a file modified this recently that does not parse
# may be half-written, so it is read again after a pause before the parse error is believed.
SETTLING_NS = 2_000_000_000
SETTLE_PAUSES = (0.05, 0.15)
_PENDING = "(uncommitted)"  # the version of a canvas an earlier request in the same batch changed


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What a write request became once its batch was durable."""

    path: Path
    version: str | None  # the canvas's version after the commit; None once deleted
    written: bool  # the batch changed the file (False: every request in it was a no-op)
    created: bool = False  # this request created the file


class WriteRequest:
    """A change to one canvas; `if_version` makes it conditional on the version the caller saw."""

    op_count = 1

    def __init__(self, *, if_version: str | None = None) -> None:
        self.if_version = if_version
        self.future: Future[CommitResult] = Future()

    def apply(self, canvas: WorkingCanvas) -> None:
        """Change the working canvas; raise a CanvasdError to refuse."""
        raise NotImplementedError


class Patch(WriteRequest):
    """Apply ops (the public op format) in order, all or nothing."""

    def __init__(self, ops: list[Any], *, if_version: str | None = None) -> None:
        super().__init__(if_version=if_version)
        if exceeds_depth(ops, MAX_DEPTH - 1):  # as in an HTTP body, where the list sits inside {"ops": ...}
            raise _ops_too_deep()
        try:  # a private copy: the caller may reuse its dicts; and anything that is not JSON is refused here
            ops = json.loads(json.dumps(ops, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise OpFormatError([Problem("not_json", f"ops must be JSON values: {exc}", kind="op")]) from None
        except RecursionError:  # nested tuples, which the depth check does not count
            raise _ops_too_deep() from None
        self.ops: list[Op] = parse_ops(ops)
        problems: list[Problem] = []
        for op in self.ops:  # what an add introduces is checked before anything is queued
            if isinstance(op, AddOp):
                problems += node_problems(op.obj) if op.kind == "node" else edge_problems(op.obj)
        if problems:
            raise CanvasValidationError(problems)
        self.op_count = len(self.ops)

    def apply(self, canvas: WorkingCanvas) -> None:
        if not canvas.exists:
            raise _Missing
        canvas.apply(self.ops)


def _ops_too_deep() -> OpFormatError:
    return OpFormatError([Problem("too_deep", f"ops nest arrays and objects more than {MAX_DEPTH} levels deep",
                                  kind="op")])


class Replace(WriteRequest):
    """Replace the whole canvas (creating it if needed); untouched objects keep their bytes.

    The engine takes `document` over (it is not copied, canvases can be large): do not change it afterwards.
    """

    def __init__(self, document: JSONObject, *, if_version: str | None = None) -> None:
        super().__init__(if_version=if_version)
        self.document = document

    def apply(self, canvas: WorkingCanvas) -> None:
        canvas.replace(self.document)


class Delete(WriteRequest):
    """Remove the canvas file."""

    def apply(self, canvas: WorkingCanvas) -> None:
        if not canvas.exists:
            raise _Missing
        canvas.delete()


class _Missing(Exception):
    """The request needs an existing canvas."""


def commit_requests(path: Path, requests: list[WriteRequest], store: CanvasStore, *, fsync: bool,
                    metrics: Metrics, on_write: WriteObserver | None = None) -> None:
    """Commit `requests` to `path` with at most one physical write; resolves every request's future.

    What a request itself gets wrong (validation, stale if-version) goes to its own future; a file-system
    failure goes to every request that would have been written. Unexpected exceptions propagate, with
    the futures left unresolved for the caller's fallback. `on_write(path, version)` is told what is about
    to land on disk (version None: a delete) just before the rename, so a file watcher can recognise it.
    """
    started = time.perf_counter()
    for _ in range(_ATTEMPTS):
        try:
            _attempt(path, requests, store, fsync=fsync, metrics=metrics, on_write=on_write)
        except TargetChangedError:
            metrics.external_edit_retries.inc()
            store.invalidate(path)
            continue
        except CanvasWriteError:  # the file system refused the commit (disk full, permissions, read-only)
            metrics.write_failures.inc()
            raise
        except RecursionError:
            # Content nested too deeply to compare or render (files the parsers cannot follow are refused as
            # CanvasTooDeepError before this; HTTP bodies beyond MAX_DEPTH never get here): only a request's
            # own content can do it, so each request is tried alone and the deep one refused by itself.
            if len(requests) == 1:
                fail_requests(requests, BodyTooDeepError(MAX_DEPTH))
                return
            for request in requests:
                if not request.future.done():
                    commit_requests(path, [request], store, fsync=fsync, metrics=metrics, on_write=on_write)
            return
        metrics.commit_seconds.observe(time.perf_counter() - started)
        return
    fail_requests(requests, CanvasBusyError(path, _ATTEMPTS))


def check_canvas_path(path: Path) -> None:
    """Refuse to write anything but a `.canvas` file (a symlink must point at one too)."""
    if path.suffix != ".canvas":
        raise CanvasPathError(path, "only .canvas files are written")
    try:
        link = path.is_symlink()
    except OSError as exc:  # too long, a folder that cannot be entered: the path itself is the problem
        refusal = path_refusal(path, exc)
        if refusal is None:
            raise
        raise refusal from None
    if link and Path(os.path.realpath(path)).suffix != ".canvas":
        raise CanvasPathError(path, "it is a symlink to a file that is not a .canvas file")


def fail_requests(requests: list[WriteRequest], error: BaseException) -> None:
    """Give `error` to every request not resolved yet."""
    for request in requests:
        if not request.future.done():
            request.future.set_exception(error)


def settling(snapshot: CanvasSnapshot) -> bool:
    """Whether the file was modified so recently that an empty or unparsable file may be a save in progress."""
    return snapshot.signature is not None and time.time_ns() - snapshot.signature[0] < SETTLING_NS


def _read(path: Path, store: CanvasStore,
          metrics: Metrics) -> tuple[CanvasSnapshot | None, CanvasText | None, CanvasParseError | None]:
    """The canvas as it is now, parsed for writing (or why it does not parse). A recently modified file that is
    empty or does not parse may be a save in progress (truncated, then written): it is read again first."""
    for pause in (*SETTLE_PAUSES, None):
        try:
            snapshot = store.read(path, parse=False)
        except CanvasNotFoundError:
            return None, None, None
        try:
            text = snapshot.canvas_text
            if snapshot.raw.strip() or pause is None or not settling(snapshot):
                return snapshot, text, None
            error = None
        except CanvasParseError as exc:
            error = exc
            if pause is None or not settling(snapshot):
                break
        metrics.parse_retries.inc()
        time.sleep(pause)
    return snapshot, None, error


def _attempt(path: Path, requests: list[WriteRequest], store: CanvasStore, *, fsync: bool,
             metrics: Metrics, on_write: WriteObserver | None) -> None:
    snapshot, text, parse_error = _read(path, store, metrics)
    version = snapshot.version if snapshot is not None else None
    working = WorkingCanvas(text.document if text is not None else None)
    outcomes: list[tuple[WriteRequest, CanvasdError | None, bool]] = []
    for request in requests:
        existed = working.exists
        error = _refusal(path, request, working, version, parse_error, metrics)
        if error is None:
            try:
                request.apply(working)
                parse_error = None  # the malformed file was replaced or deleted
            except _Missing:
                error = CanvasNotFoundError(path)
            except CanvasValidationError as exc:
                exc.path = str(path)
                error = exc
        outcomes.append((request, error, existed))

    written = False
    new_version = version
    if any(error is None for _, error, _ in outcomes):
        written, new_version = _write(path, snapshot, text, working, store, fsync=fsync, metrics=metrics,
                                      on_write=on_write)
    if not written and snapshot is not None:
        store.prime(snapshot)  # it now holds its parsed structure: let the cache account for it
    for request, error, existed in outcomes:
        if error is not None:
            request.future.set_exception(error)
        else:
            result = CommitResult(path, new_version, written, created=not existed and working.exists)
            request.future.set_result(result)


def _refusal(path: Path, request: WriteRequest, working: WorkingCanvas, version: str | None,
             parse_error: CanvasParseError | None, metrics: Metrics) -> CanvasdError | None:
    """Why `request` cannot be applied before it is even tried, if it cannot."""
    current = _PENDING if working.touched else version
    if request.if_version is not None and request.if_version != current:
        metrics.write_conflicts.inc()
        return CanvasConflictError(path, request.if_version, current if working.exists else None)
    if parse_error is not None and not (isinstance(request, Replace | Delete) and request.if_version == version):
        return parse_error  # a malformed file is only replaced or removed by a caller who saw its version
    return None


def _write(path: Path, snapshot: CanvasSnapshot | None, text: CanvasText | None, working: WorkingCanvas,
           store: CanvasStore, *, fsync: bool, metrics: Metrics,
           on_write: WriteObserver | None) -> tuple[bool, str | None]:
    """Write the working canvas if it differs from the file: (whether it wrote, the version now)."""
    check_canvas_path(path)
    old_version = snapshot.version if snapshot is not None else None

    def unchanged() -> bool:
        try:
            now = signature_of(path.stat())
        except FileNotFoundError:
            return snapshot is None
        return snapshot is not None and snapshot.signature == now

    document = working.document()
    if document is None:
        if snapshot is None:
            return False, None
        if not unchanged():
            raise TargetChangedError(str(path))
        if on_write is not None:
            on_write(path, None)
        delete_file(path, fsync=fsync)
        store.invalidate(path)
        metrics.physical_writes.inc()
        return True, None
    if text is not None and document is text.document:
        return False, old_version
    new_text = (text if text is not None else CanvasText.new()).render(document)
    data = new_text.data
    if snapshot is not None and data == snapshot.raw:
        return False, old_version
    version = content_version(data)
    if on_write is not None:
        on_write(path, version)
    st = replace_file(path, data, fsync=fsync, unchanged=unchanged,
                      kept=lambda replaced: snapshot is not None and signature_of(replaced) == snapshot.signature)
    metrics.physical_writes.inc()
    metrics.written_bytes.inc(len(data))
    store.prime(CanvasSnapshot(path, data, signature_of(st), None, time.time_ns(), canvas_text=new_text,
                               version=version))
    return True, version

"""The one exception hierarchy of canvasd: every error a caller can meet is a `CanvasdError`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CanvasdError(Exception):
    """Base of every canvasd error; `status` is the HTTP status it maps to, `code` a stable name."""

    status: int = 500
    code: str = "internal"

    def details(self) -> dict[str, Any]:
        """Structured data for API clients (JSON-serialisable)."""
        return {}


class ConfigError(CanvasdError):
    """A setting or a configuration file is invalid."""

    status = 400
    code = "config_invalid"

    def __init__(self, message: str, *, source: str | None = None, problems: list[str] | None = None) -> None:
        self.source = source
        self.problems = problems or []
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"source": self.source, "problems": self.problems}


class CanvasNotFoundError(CanvasdError):
    """The canvas file does not exist."""

    status = 404
    code = "canvas_not_found"

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        super().__init__(f"canvas '{self.path}' does not exist")

    def details(self) -> dict[str, Any]:
        return {"path": self.path}


class CanvasPathError(CanvasdError):
    """A path that canvasd refuses to write (not a `.canvas` file, a directory, ...)."""

    status = 403
    code = "path_refused"

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"refusing to write '{self.path}': {reason}")

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason}


class CanvasParseError(CanvasdError):
    """A canvas on disk is not valid JSON or not a JSON object; it is never rewritten."""

    status = 422
    code = "canvas_invalid_json"

    def __init__(self, path: Path | str, line: int, column: int, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.reason = reason
        super().__init__(
            f"canvas '{self.path}' is not valid JSON (line {line}, column {column}): {reason}; "
            "the file was left untouched"
        )

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a canvas or a request, located by node/edge id and field."""

    code: str
    message: str
    kind: str | None = None  # "node", "edge", "op" or None for the document
    id: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("code", self.code), ("message", self.message), ("kind", self.kind),
            ("id", self.id), ("field", self.field),
        ) if v is not None}


class CanvasValidationError(CanvasdError):
    """A request would introduce invalid content; nothing was written. Lists every problem."""

    status = 422
    code = "validation_failed"

    def __init__(self, problems: list[Problem], path: Path | str | None = None) -> None:
        self.problems = problems
        self.path = None if path is None else str(path)
        where = f" for '{self.path}'" if self.path else ""
        listed = "; ".join(p.message for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"request rejected{where}: {listed}{more}; nothing was written")

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "problems": [p.as_dict() for p in self.problems]}


class OpFormatError(CanvasValidationError):
    """An op list is malformed (unknown op, missing or mistyped field)."""

    code = "op_invalid"


class CanvasConflictError(CanvasdError):
    """An if-version precondition failed: the canvas changed since the version the caller saw."""

    status = 412
    code = "version_conflict"

    def __init__(self, path: Path | str, expected: str, actual: str | None) -> None:
        self.path = str(path)
        self.expected = expected
        self.actual = actual
        now = f"is now at version {actual}" if actual else "no longer exists"
        super().__init__(
            f"canvas '{self.path}' changed since version {expected} (it {now}); "
            "re-read it and retry; nothing was written"
        )

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "expected": self.expected, "actual": self.actual}


class CanvasBusyError(CanvasdError):
    """Another program kept changing the canvas while canvasd tried to commit; nothing was written."""

    status = 409
    code = "canvas_busy"

    def __init__(self, path: Path | str, attempts: int) -> None:
        self.path = str(path)
        self.attempts = attempts
        super().__init__(f"canvas '{self.path}' changed {attempts} times while canvasd was writing it; "
                         "nothing was written, retry")

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "attempts": self.attempts}


class CanvasWriteError(CanvasdError):
    """The file system refused a write (disk full, permission denied, read-only); the old file is intact."""

    status = 500
    code = "write_failed"

    def __init__(self, path: Path | str, reason: str, errno: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.errno = errno
        super().__init__(f"could not write canvas '{self.path}': {reason}; nothing on disk was changed")

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "errno": self.errno}


class DiskFullError(CanvasWriteError):
    """No space left on the vault's device."""

    status = 507
    code = "disk_full"


class WritePermissionError(CanvasWriteError):
    """The vault or canvas is not writable (permissions, read-only file system)."""

    status = 403
    code = "write_forbidden"


class WriterClosedError(CanvasdError):
    """The writer was closed; no new operations are accepted."""

    status = 503
    code = "writer_closed"

    def __init__(self) -> None:
        super().__init__("the canvas writer is shut down; no new writes are accepted")


class WriteTimeoutError(CanvasdError):
    """Waiting for a commit took longer than the caller allowed; the write may still land."""

    status = 504
    code = "write_timeout"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"the write was not committed within {timeout:g} s; it is still queued")

    def details(self) -> dict[str, Any]:
        return {"timeout": self.timeout}


class InvalidPathError(CanvasdError):
    """A path from a client that cannot name a file in a vault (empty, absolute, NUL byte, backslash)."""

    status = 400
    code = "path_invalid"

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"path {path!r} is not a vault-relative canvas path: {reason}")

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason}


class VaultNotFoundError(CanvasdError):
    """No vault of that name is configured."""

    status = 404
    code = "vault_not_found"

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listed = ", ".join(known) if known else "none; start the daemon with --vault NAME=DIR"
        super().__init__(f"no vault named '{name}' (configured: {listed})")

    def details(self) -> dict[str, Any]:
        return {"vault": self.name, "known": self.known}


class VaultMissingError(CanvasdError):
    """The vault's folder is not there now (removed, renamed or on an unmounted drive)."""

    status = 404
    code = "vault_missing"

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = str(root)
        super().__init__(f"the folder of vault '{name}' ({self.root}) does not exist now; canvasd serves it "
                         "again as soon as it is back")

    def details(self) -> dict[str, Any]:
        return {"vault": self.name, "root": self.root}


class RequestError(CanvasdError):
    """An HTTP request that canvasd cannot act on (bad body, bad parameter, wrong method)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self._details = details or {}
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return self._details


class BodyTooLargeError(RequestError):
    """The request body is larger than `http.max_body_bytes`."""

    status = 413
    code = "body_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than the limit of {limit} bytes (http.max_body_bytes)",
                         details={"limit": limit})


class UnsupportedMediaTypeError(RequestError):
    """The request body is not JSON."""

    status = 415
    code = "unsupported_media_type"

    def __init__(self, content_type: str) -> None:
        super().__init__(f"the request body must be application/json, not {content_type!r}",
                         details={"content_type": content_type})


class UnauthorizedError(RequestError):
    """A TCP request without the right bearer token."""

    status = 401
    code = "unauthorized"

    def __init__(self) -> None:
        super().__init__("the TCP listener needs 'Authorization: Bearer <token>' (the token is in http.token_file)")


class DaemonRunningError(CanvasdError):
    """Another live daemon already serves this socket."""

    code = "daemon_running"

    def __init__(self, socket: Path, pid: int | None) -> None:
        self.socket = str(socket)
        self.pid = pid
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"another canvasd{who} is already serving {self.socket}; stop it first "
                         "(canvasd status shows it) or pass --socket PATH")

    def details(self) -> dict[str, Any]:
        return {"socket": self.socket, "pid": self.pid}


class JobTimeoutError(CanvasdError):
    """A background job ran longer than its timeout and was cancelled."""

    status = 504
    code = "job_timeout"

    def __init__(self, job_id: int, kind: str, name: str, timeout: float) -> None:
        self.job_id = job_id
        self.kind = kind
        self.name = name
        self.timeout = timeout
        super().__init__(f"job {job_id} '{name}' (kind {kind}) ran longer than its timeout of {timeout:g} s and "
                         "was cancelled; raise jobs.default_timeout_s (or the job's timeout) if it needs longer")

    def details(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "kind": self.kind, "name": self.name, "timeout": self.timeout}


class EmbedderError(CanvasdError):
    """The embedding model failed: a remote server unreachable or answering nonsense, a model not loadable."""

    status = 502
    code = "embedder_failed"

    def __init__(self, message: str, *, provider: str) -> None:
        self.provider = provider
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"provider": self.provider}


class IndexUnavailableError(CanvasdError):
    """The semantic index is switched off, failed to start, or cannot answer this kind of query."""

    status = 503
    code = "index_unavailable"

    def __init__(self, message: str, *, state: str) -> None:
        self.state = state
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"state": self.state}


class MemoryUnavailableError(CanvasdError):
    """The memory graph is switched off, failed to start, or its graph database is unreachable."""

    status = 503
    code = "memory_unavailable"

    def __init__(self, message: str, *, state: str) -> None:
        self.state = state
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"state": self.state}


class InvalidQueryError(RequestError):
    """A search parameter that cannot be understood (mode, limit, time range, node type)."""

    status = 400
    code = "query_invalid"


class IndexBusyError(CanvasdError):
    """A rebuild was asked for while the index is still starting or rebuilding."""

    status = 409
    code = "index_busy"

    def __init__(self, phase: str) -> None:
        self.phase = phase
        super().__init__(f"the semantic index is {phase}; ask for a rebuild once it is ready (GET /v1/index/status)")

    def details(self) -> dict[str, Any]:
        return {"phase": self.phase}


class NodeNotIndexedError(CanvasdError):
    """The node named in a related-nodes request is not in the index."""

    status = 404
    code = "node_not_indexed"

    def __init__(self, vault: str, path: str, node: str) -> None:
        self.where = {"vault": vault, "path": path, "node": node}
        super().__init__(f"node '{node}' of '{path}' in vault '{vault}' is not in the index (no such node, no "
                         "text to index, or not indexed yet)")

    def details(self) -> dict[str, Any]:
        return self.where


class VectorSearchUnavailableError(RequestError):
    """Vector or related-node search asked of an index without vectors (embedding.provider: none)."""

    status = 400
    code = "vector_search_unavailable"

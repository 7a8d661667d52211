"""The one exception hierarchy of canvasd: every error a caller can meet is a `CanvasdError`.

An error class declares its data once, as annotated fields, and its message once, as a `template` formatted
with those fields (and with any property of the error): the constructor, `details()` and `str()` all come from
that. Every `code` a client can see belongs to exactly one class here; `error_classes()` lists them for the
OpenAPI document.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from os import PathLike
from typing import Any, ClassVar, Self, dataclass_transform

PathText = str | PathLike[str]
"""A path field: given as a `Path` or text, kept as text (errors show paths as the user wrote them)."""

HIDDEN: Mapping[str, Any] = {"detail": False}
"""Field metadata for data a message needs but `details()` must not show: `field(metadata=HIDDEN)`."""


@dataclass_transform(eq_default=False, field_specifiers=(dataclasses.field,))
class CanvasdError(Exception):
    """Base of every canvasd error; `status` is the HTTP status it maps to, `code` a stable name."""

    status = 500
    code = "internal"
    template: ClassVar[str] = "canvasd failed"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(eq=False, repr=False)(cls)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, PathLike):
                setattr(self, field.name, str(value))  # errors name paths as text, in messages and details
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The template filled in with the fields (and properties) of this error."""
        return self.template.format_map(_Attributes(self))

    def details(self) -> dict[str, Any]:
        """Structured data for API clients (JSON-serialisable): every field not marked `HIDDEN`."""
        return {field.name: _plain(getattr(self, field.name))
                for field in dataclasses.fields(self)  # type: ignore[arg-type]
                if field.metadata.get("detail", True)}

    def naming(self, path: PathText, shown: str) -> Self:
        """This error with `shown` (the vault-relative path a client knows) in every path field that holds
        `path` (where the file lives on disk): what leaves the daemon never says where a vault lives."""
        real = os.fspath(path)
        changes = {field.name: shown for field in dataclasses.fields(self)  # type: ignore[arg-type]
                   if getattr(self, field.name) == real}
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[type-var]


class _Attributes(Mapping[str, Any]):
    """An error's attributes as the mapping `str.format_map` reads."""

    def __init__(self, error: CanvasdError) -> None:
        self._error = error

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self._error, key)
        except AttributeError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _plain(value: Any) -> Any:
    as_dict = getattr(value, "as_dict", None)
    if as_dict is not None:
        return as_dict()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def error_classes() -> list[type[CanvasdError]]:
    """Every error class defined so far (this module's and the ones other modules declare), base first."""
    found: list[type[CanvasdError]] = [CanvasdError]
    for cls in found:
        found.extend(sorted(cls.__subclasses__(), key=lambda c: c.__name__))
    return found


# ------------------------------------------------------------------------------------ configuration


class ConfigError(CanvasdError):
    """A setting or a configuration file is invalid."""

    status = 400
    code = "config_invalid"
    template = "{reason}"
    reason: str = dataclasses.field(metadata=HIDDEN)
    source: str | None = None
    problems: list[str] = dataclasses.field(default_factory=list)


class DaemonRunningError(CanvasdError):
    """Another live daemon already serves this socket."""

    code = "daemon_running"
    template = ("another canvasd{who} is already serving {socket}; stop it first (canvasd status shows it) or pass "
                "--socket PATH")
    socket: PathText
    pid: int | None

    @property
    def who(self) -> str:
        return f" (pid {self.pid})" if self.pid else ""


# ------------------------------------------------------------------------------------ canvases on disk


class CanvasNotFoundError(CanvasdError):
    """The canvas file does not exist."""

    status = 404
    code = "canvas_not_found"
    template = "canvas '{path}' does not exist"
    path: PathText


class CanvasPathError(CanvasdError):
    """A path that canvasd refuses to read or write (not a `.canvas` file, a directory, a FIFO, ...)."""

    status = 403
    code = "path_refused"
    template = "refusing to read or write '{path}': {reason}"
    path: PathText
    reason: str


class CanvasParseError(CanvasdError):
    """A canvas on disk is not valid JSON or not a JSON object; it is never rewritten."""

    status = 422
    code = "canvas_invalid_json"
    template = ("canvas '{path}' is not valid JSON (line {line}, column {column}): {reason}; the file was left "
                "untouched")
    path: PathText
    line: int
    column: int
    reason: str


class CanvasTooDeepError(CanvasParseError):
    """A canvas on disk nests arrays and objects deeper than canvasd can parse; it is never rewritten."""

    code = "canvas_too_deep"
    template = ("canvas '{path}' nests JSON arrays and objects deeper than canvasd reads (more than {limit} levels, "
                "line {line}, column {column}); the file was left untouched")
    limit: int


@dataclasses.dataclass(frozen=True, slots=True)
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
    template = "request rejected{where}: {listed}; nothing was written"
    problems: list[Problem]
    path: PathText | None = None

    @property
    def where(self) -> str:
        return f" for '{self.path}'" if self.path else ""

    @property
    def listed(self) -> str:
        more = f" (and {len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        return "; ".join(p.message for p in self.problems[:10]) + more


class OpFormatError(CanvasValidationError):
    """An op list is malformed (unknown op, missing or mistyped field)."""

    code = "op_invalid"


class CanvasConflictError(CanvasdError):
    """An if-version precondition failed: the canvas changed since the version the caller saw."""

    status = 412
    code = "version_conflict"
    template = "canvas '{path}' changed since version {expected} (it {now}); re-read it and retry; nothing was written"
    path: PathText
    expected: str
    actual: str | None

    @property
    def now(self) -> str:
        return f"is now at version {self.actual}" if self.actual else "no longer exists"


class CanvasBusyError(CanvasdError):
    """Another program kept changing the canvas while canvasd tried to commit; nothing was written."""

    status = 409
    code = "canvas_busy"
    template = "canvas '{path}' changed {attempts} times while canvasd was writing it; nothing was written, retry"
    path: PathText
    attempts: int


class CanvasWriteError(CanvasdError):
    """The file system refused a write (disk full, permission denied, read-only); the old file is intact."""

    status = 500
    code = "write_failed"
    template = "could not write canvas '{path}': {reason}; nothing on disk was changed"
    path: PathText
    reason: str
    errno: int | None = None


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
    template = "the canvas writer is shut down; no new writes are accepted"


class WriteTimeoutError(CanvasdError):
    """Waiting for a commit took longer than the caller allowed; the write may still land."""

    status = 504
    code = "write_timeout"
    template = "the write was not committed within {timeout:g} s; it is still queued"
    timeout: float


# ------------------------------------------------------------------------------------ vaults and paths


class InvalidPathError(CanvasdError):
    """A path from a client that cannot name a file in a vault (empty, absolute, NUL byte, backslash, too long)."""

    status = 400
    code = "path_invalid"
    template = "path {path!r} is not a vault-relative canvas path: {reason}"
    path: PathText
    reason: str


class VaultNotFoundError(CanvasdError):
    """No vault of that name is configured."""

    status = 404
    code = "vault_not_found"
    template = "no vault named '{vault}' (configured: {listed})"
    vault: str
    known: list[str]

    @property
    def listed(self) -> str:
        return ", ".join(self.known) if self.known else "none; start the daemon with --vault NAME=DIR"


class VaultMissingError(CanvasdError):
    """The vault's folder is not there now (removed, renamed or on an unmounted drive)."""

    status = 404
    code = "vault_missing"
    template = ("the folder of vault '{vault}' ({root}) does not exist now; canvasd serves it again as soon as it "
                "is back")
    vault: str
    root: PathText


# ------------------------------------------------------------------------------------ requests


class RequestError(CanvasdError):
    """An HTTP request that canvasd cannot act on (bad body, bad parameter, wrong method)."""

    status = 400
    code = "bad_request"
    template = "{reason}"
    reason: str = dataclasses.field(metadata=HIDDEN)


class BodyMissingError(CanvasdError):
    """A request that needs a JSON body came without one."""

    status = 400
    code = "body_missing"
    template = "the request needs a JSON body"


class BodyInvalidJsonError(CanvasdError):
    """The request body does not parse as JSON."""

    status = 400
    code = "body_invalid_json"
    template = "the request body is not valid JSON: {reason}"
    reason: str


class BodyNotCanvasError(CanvasdError):
    """A PUT body that is JSON but not an object."""

    status = 400
    code = "body_not_canvas"
    template = "a canvas must be a JSON object, not {found}"
    found: str


class BodyNotPatchError(CanvasdError):
    """A PATCH body that is not `{"ops": [...]}`."""

    status = 400
    code = "body_not_patch"
    template = 'a patch body is {{"ops": [...]}}{extra}'
    unknown: list[str] = dataclasses.field(default_factory=list)

    @property
    def extra(self) -> str:
        return f"; unknown keys: {', '.join(self.unknown)}" if self.unknown else ""


class BodyTooLargeError(CanvasdError):
    """The request body is larger than `http.max_body_bytes`."""

    status = 413
    code = "body_too_large"
    template = "the request body is larger than the limit of {limit} bytes (http.max_body_bytes)"
    limit: int


class BodyTooDeepError(CanvasdError):
    """The request body nests JSON arrays and objects deeper than canvasd accepts."""

    status = 400
    code = "body_too_deep"
    template = "the request body nests JSON deeper than {limit} levels; nothing was written"
    limit: int


class UnsupportedMediaTypeError(CanvasdError):
    """The request body is not JSON."""

    status = 415
    code = "unsupported_media_type"
    template = "the request body must be application/json, not {content_type!r}"
    content_type: str


class BadParameterError(CanvasdError):
    """A query parameter or header value of the wrong form."""

    status = 400
    code = "bad_parameter"
    template = "{parameter} must be {expected}, not {value!r}"
    parameter: str
    value: str
    expected: str


class BadPreconditionError(CanvasdError):
    """An If-Match header that does not name exactly one version."""

    status = 400
    code = "bad_precondition"
    template = "If-Match must name exactly one version (the ETag you read) or '*', not {if_match!r}"
    if_match: str


class InvalidQueryError(RequestError):
    """A search parameter that cannot be understood (mode, limit, time range, node type)."""

    code = "query_invalid"


class BodyFieldError(RequestError):
    """A JSON body whose fields are missing, unknown or of the wrong kind (an agent run's body, ...)."""

    code = "body_field_invalid"


class RouteNotFoundError(CanvasdError):
    """No endpoint has this path."""

    status = 404
    code = "not_found"
    template = "no such endpoint: {method} {path}"
    method: str
    path: str


class MethodNotAllowedError(CanvasdError):
    """The endpoint exists but does not take this method."""

    status = 405
    code = "method_not_allowed"
    template = "{method} is not allowed on {path}"
    method: str
    path: str


class UnexpectedError(CanvasdError):
    """A bug in canvasd: logged with its traceback, answered without internals."""

    code = "internal"
    template = "canvasd hit an unexpected {kind}; see the daemon log"
    kind: str


class TooManyConnectionsError(CanvasdError):
    """Every connection the daemon's open-file limit allows is in use; this one is answered and closed."""

    status = 503
    code = "too_many_connections"
    template = ("canvasd already has {limit} connections open, as many as its open-file limit allows; close idle "
                "connections and retry (or raise the limit: ulimit -n)")
    limit: int


class UnauthorizedError(CanvasdError):
    """A TCP request without the right bearer token."""

    status = 401
    code = "unauthorized"
    template = "the TCP listener needs 'Authorization: Bearer <token>' (the token is in http.token_file)"


# ------------------------------------------------------------------------------------ subsystems


class SubsystemUnavailableError(CanvasdError):
    """A subsystem that is switched off, still starting, failed, or closed cannot answer."""

    status = 503
    code = "subsystem_unavailable"
    template = "{reason}"
    subsystem: str
    state: str
    reason: str = dataclasses.field(metadata=HIDDEN)


class JobTimeoutError(CanvasdError):
    """A background job ran longer than its timeout and was cancelled."""

    status = 504
    code = "job_timeout"
    template = ("job {job_id} '{name}' (kind {kind}) ran longer than its timeout of {timeout:g} s and was cancelled; "
                "raise jobs.default_timeout_s (or the job's timeout) if it needs longer")
    job_id: int
    kind: str
    name: str
    timeout: float


class EmbedderError(CanvasdError):
    """The embedding model failed: a remote server unreachable or answering nonsense, a model not loadable."""

    status = 502
    code = "embedder_failed"
    template = "{reason}"
    reason: str = dataclasses.field(metadata=HIDDEN)
    provider: str


class IndexBusyError(CanvasdError):
    """A rebuild was asked for while the index is still starting or rebuilding."""

    status = 409
    code = "index_busy"
    template = "the semantic index is {phase}; ask for a rebuild once it is ready (GET /v1/index/status)"
    phase: str


class NodeNotIndexedError(CanvasdError):
    """The node named in a related-nodes request is not in the index."""

    status = 404
    code = "node_not_indexed"
    template = ("node '{node}' of '{path}' in vault '{vault}' is not in the index (no such node, no text to index, "
                "or not indexed yet)")
    vault: str
    path: PathText
    node: str


class VectorSearchUnavailableError(RequestError):
    """Vector or related-node search asked of an index without vectors (embedding.provider: none)."""

    code = "vector_search_unavailable"


class MemoryNodeNotFoundError(CanvasdError):
    """The node named in a timeline request is not in the memory graph."""

    status = 404
    code = "memory_node_not_found"
    template = "node '{node}' of '{path}' in vault '{vault}' is not in the memory graph"
    vault: str
    path: PathText
    node: str


# ------------------------------------------------------------------------------------ agents


class AgentNotFoundError(CanvasdError):
    """No agent of that name is registered (or it is switched off in `agents.disabled`)."""

    status = 404
    code = "agent_not_found"
    template = "no agent named '{agent}'{why} (GET /v1/agents lists them)"
    agent: str
    disabled: bool = False

    @property
    def why(self) -> str:
        return " is enabled: it is switched off in agents.disabled" if self.disabled else ""


class AgentRunNotFoundError(CanvasdError):
    """No run with that id is queued, running or kept in the history."""

    status = 404
    code = "agent_run_not_found"
    template = "no agent run '{run}' (finished runs are kept for a while: GET /v1/agents/runs lists them)"
    run: str


class ProposalNotFoundError(CanvasdError):
    """An answer names a proposal that is not waiting (answered already, timed out and written, or never made)."""

    status = 404
    code = "proposal_not_found"
    template = ("no proposal '{proposal}' is waiting for an answer (after proposal_timeout_s the daemon writes the "
                "file itself)")
    proposal: str


class NodeNotFoundError(CanvasdError):
    """A request names a node the canvas does not have."""

    status = 422
    code = "node_not_found"
    template = "node '{node}' is not in canvas '{path}' of vault '{vault}'"
    vault: str
    path: PathText
    node: str


class CardNotFoundError(CanvasdError):
    """A review request names a node that has no card (it never had a learning colour)."""

    status = 404
    code = "card_not_found"
    template = ("node '{node}' of canvas '{path}' in vault '{vault}' has no review card (cards are made for text, "
                "file and link nodes coloured red, purple or green)")
    vault: str
    path: PathText
    node: str


class AgentTargetError(CanvasdError):
    """The nodes a run asks for do not suit the agent (too few, too many, none in the state asked for)."""

    status = 422
    code = "agent_target_invalid"
    template = "agent '{agent}': {reason}"
    agent: str
    reason: str = dataclasses.field(metadata=HIDDEN)


class AgentRuleError(CanvasdError):
    """An agent returned ops its kind may not apply (remove, move or rewrite a node, colour one it may not)."""

    status = 500
    code = "agent_rule_broken"
    template = "agent '{agent}' broke a rule: {reason}; nothing it returned was applied"
    agent: str
    reason: str = dataclasses.field(metadata=HIDDEN)


class LlmError(CanvasdError):
    """The LLM server was unreachable, refused, or answered something that is not a usable answer."""

    status = 502
    code = "llm_failed"
    template = "the LLM at {url} {reason}"
    url: str
    reason: str = dataclasses.field(metadata=HIDDEN)

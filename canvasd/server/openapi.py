"""The OpenAPI 3.1 document of the HTTP API, served at /openapi.json and kept true by tests."""

from __future__ import annotations

from typing import Any

from canvasd import __version__
from canvasd.errors import error_classes
from canvasd.subsystem import Phase

_JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    meanings = {
        400: "Bad request: malformed path, parameter or body.",
        403: "Refused: the path is outside the vault, not a .canvas file, under .obsidian/, or not writable.",
        404: "No such vault, canvas or endpoint (or the vault's folder is missing).",
        409: "Another program kept changing the canvas while canvasd wrote it (nothing was written), or the "
             "index is still starting or rebuilding.",
        412: "If-Match named a version that is no longer current; nothing was written.",
        413: "The body is larger than http.max_body_bytes.",
        415: "The body is not application/json.",
        502: "The embedding model (a remote embedding server) or the LLM failed.",
        422: "The canvas on disk is not valid JSON, the request would make it invalid (nothing was written), or "
             "an agent run names a node the canvas lacks or nodes that do not suit the agent.",
        503: "The daemon is shutting down, or the subsystem asked for (index, memory, agents) is off, starting or "
             "failed.",
        504: "The write was not committed within http.write_timeout_s (it is still queued).",
        507: "The vault's disk is full; nothing on disk was changed.",
    }
    return {str(s): _json(_ref("Error"), meanings[s]) for s in statuses}


_VAULT = {"name": "vault", "in": "path", "required": True, "description": "A configured vault name.",
          "schema": {"type": "string"}, "example": "v"}
_PATH = {"name": "path", "in": "path", "required": True,
         "description": "Vault-relative POSIX path of a .canvas file, segments percent-encoded.",
         "schema": {"type": "string"}, "example": "a.canvas"}
_WAIT = {"name": "wait", "in": "query", "required": False,
         "description": "false: answer 202 as soon as the write is queued, before it is committed.",
         "schema": {"type": "string", "enum": ["true", "false"]}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
             "description": "Only write if the canvas is still at this version (its ETag) or, with *, exists.",
             "schema": {"type": "string"}}

_NODE = {"name": "node", "in": "path", "required": True, "description": "A node id.", "schema": {"type": "string"}}
_LIMIT = {"name": "limit", "in": "query", "required": False, "description": "Results to return (1-200).",
          "schema": {"type": "integer", "minimum": 1, "maximum": 200}}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", **schema}}


_SEARCH_PARAMETERS = [
    {**_query("q", "What to look for, in any language."), "required": True},
    _query("mode", "hybrid (default): meaning and words; vector: meaning; fts: words.",
           enum=["hybrid", "vector", "fts"]),
    _query("vault", "Only this vault."),
    _query("path", "Only canvases whose vault path starts with this."),
    _query("type", "Node types, comma-separated: text, file, link, group."),
    _query("state", "Learning states, comma-separated (e.g. not_understood,partly_understood)."),
    _query("color", "Node colours, comma-separated ('1'-'6' or #rrggbb)."),
    _query("since", "Changed since: a span (7d, 24h, 2w, 30min), an ISO date or datetime, or unix seconds."),
    _query("until", "Changed before: same forms as since."),
    _LIMIT,
]

_MEMORY_SEARCH_PARAMETERS = [
    {**_query("q", "What to look for."), "required": True},
    _query("vault", "Only this vault."),
    _query("path", "Only this canvas (needs vault)."),
    _query("since", "Facts true at some time since: a span (7d, 2w), an ISO date or datetime, or unix seconds."),
    _query("until", "Facts true at some time before: same forms as since."),
    _query("current_only", "false: include facts that are no longer true.", enum=["true", "false"]),
    _LIMIT,
]

def server_error_codes() -> list[str]:
    """Every error code the daemon can answer with: one per class in `canvasd.errors`."""
    return sorted({cls.code for cls in error_classes() if cls.__module__ == "canvasd.errors"})


_PHASE = {"type": "string", "enum": [phase.value for phase in Phase],
          "description": "A subsystem's phase (the same words for every subsystem)."}

_WRITE_ERRORS = _errors(400, 403, 404, 409, 412, 413, 415, 422, 503, 504, 507)

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
            "code": {"type": "string", "enum": server_error_codes()}, "message": {"type": "string"},
            "details": {"type": "object"}}}},
    },
    "Health": {
        "type": "object", "required": ["status", "version", "pid", "uptime_s", "socket", "vaults", "subsystems"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "stopping"]}, "version": {"type": "string"},
            "pid": {"type": "integer"}, "uptime_s": {"type": "number"}, "socket": {"type": "string"},
            "vaults": {"type": "integer"},
            "subsystems": {"type": "object", "additionalProperties": _PHASE},
        },
    },
    "Vaults": {
        "type": "object", "required": ["vaults"],
        "properties": {"vaults": {"type": "array", "items": {
            "type": "object", "required": ["name", "root", "exists"],
            "properties": {"name": {"type": "string"}, "root": {"type": "string"}, "exists": {"type": "boolean"}}}}},
    },
    "CanvasList": {
        "type": "object", "required": ["vault", "canvases"],
        "properties": {"vault": {"type": "string"}, "canvases": {"type": "array", "items": {
            "type": "object", "required": ["path", "size", "mtime", "nodes", "edges", "version", "error"],
            "properties": {
                "path": {"type": "string"}, "size": {"type": "integer"}, "mtime": {"type": "number"},
                "nodes": {"type": ["integer", "null"]}, "edges": {"type": ["integer", "null"]},
                "version": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]}}}}},
    },
    "Canvas": {
        "type": "object", "description": "A JSON Canvas 1.0 document; unknown keys are kept.",
        "properties": {"nodes": {"type": "array", "items": {"type": "object"}},
                       "edges": {"type": "array", "items": {"type": "object"}}},
    },
    "Patch": {
        "type": "object", "required": ["ops"], "additionalProperties": False,
        "properties": {"ops": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["op"],
            "properties": {
                "op": {"type": "string", "enum": ["add_node", "update_node", "remove_node",
                                                  "add_edge", "update_edge", "remove_edge"]},
                "id": {"type": "string"}, "node": {"type": "object"}, "edge": {"type": "object"},
                "set": {"type": "object"}, "unset": {"type": "array", "items": {"type": "string"}}}}}},
    },
    "WriteResult": {
        "type": "object", "required": ["vault", "path", "version", "written", "created"],
        "properties": {"vault": {"type": "string"}, "path": {"type": "string"},
                       "version": {"type": ["string", "null"]}, "written": {"type": "boolean"},
                       "created": {"type": "boolean"}},
    },
    "Accepted": {
        "type": "object", "required": ["vault", "path", "status"],
        "properties": {"vault": {"type": "string"}, "path": {"type": "string"},
                       "status": {"type": "string", "enum": ["accepted"]}},
    },
    "Deleted": {
        "type": "object", "required": ["vault", "path", "deleted"],
        "properties": {"vault": {"type": "string"}, "path": {"type": "string"}, "deleted": {"type": "boolean"}},
    },
    "Flushed": {"type": "object", "required": ["flushed"], "properties": {"flushed": {"type": "boolean"}}},
    "Jobs": {
        "type": "object", "required": ["limit", "max", "min", "adaptive", "pressure", "running", "queued", "recent"],
        "properties": {
            "limit": {"type": "integer"}, "max": {"type": "integer"}, "min": {"type": "integer"},
            "adaptive": {"type": "boolean"}, "pressure": {"type": ["object", "null"]},
            "running": {"type": "array", "items": {"type": "object"}},
            "queued": {"type": "array", "items": {"type": "object"}},
            "recent": {"type": "array", "items": {"type": "object"}}},
    },
    "Summary": {
        "type": "object",
        "required": ["uptime_s", "requests", "cache", "writes", "jobs", "events", "optimizations"],
        "properties": {
            "uptime_s": {"type": "number"},
            "requests": {"type": "object", "required": ["total", "per_second", "errors", "error_rate", "in_flight",
                                                        "latency_ms"]},
            "cache": {"type": "object", "required": ["hits", "misses", "cold_misses", "hit_rate", "warm_hit_rate",
                                                     "entries", "bytes"]},
            "writes": {"type": "object", "required": ["requests", "logical_ops", "physical_writes"]},
            "jobs": {"type": "object"}, "events": {"type": "object"},
            "optimizations": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}}},
        },
    },
    "SearchHit": {
        "type": "object",
        "required": ["vault", "path", "node_id", "type", "snippet", "score", "color", "state", "first_seen",
                     "last_changed"],
        "properties": {
            "vault": {"type": "string"}, "path": {"type": "string"}, "node_id": {"type": "string"},
            "type": {"type": "string"}, "snippet": {"type": "string"}, "score": {"type": "number"},
            "color": {"type": ["string", "null"]}, "state": {"type": "string"},
            "first_seen": {"type": "number"}, "last_changed": {"type": "number"}},
    },
    "SearchAnswer": {
        "type": "object", "required": ["results", "mode", "route", "partial", "index", "took_ms"],
        "properties": {
            "results": {"type": "array", "items": _ref("SearchHit")},
            "mode": {"type": "string", "enum": ["hybrid", "vector", "fts"]},
            "route": {"type": "string", "enum": ["none", "prefilter", "postfilter"]},
            "partial": {"type": "boolean", "description": "The index is still starting: answers come from "
                        "what is indexed so far."},
            "index": _ref("IndexProgress"), "took_ms": {"type": "number"}},
    },
    "IndexProgress": {
        "type": "object", "required": ["phase", "step", "done", "total", "eta_s"],
        "properties": {
            "phase": _PHASE,
            "step": {"type": "string", "description": "The step within the phase: opening, prewarming, "
                     "reconciling, syncing, resetting, ready, failed, off."},
            "done": {"type": "integer"}, "total": {"type": "integer"}, "unit": {"type": "string"},
            "eta_s": {"type": ["number", "null"]}, "elapsed_s": {"type": "number"},
            "error": {"type": ["string", "null"]}},
    },
    "IndexStatus": {
        "type": "object", "required": ["state", "progress", "rows"],
        "properties": {"state": _PHASE, "progress": _ref("IndexProgress"), "rows": {"type": "integer"},
                       "pending_canvases": {"type": "integer"}, "table": {"type": ["string", "null"]},
                       "vector_index": {"type": "boolean"}, "embedding": {"type": "object"},
                       "prewarm_s": {"type": ["number", "null"]}, "switches": {"type": "object"}},
    },
    "MemorySearch": {
        "type": "object", "required": ["query", "facts", "entities", "partial"],
        "properties": {
            "query": {"type": "string"}, "partial": {"type": "boolean"},
            "facts": {"type": "array", "items": {"type": "object", "required": ["fact", "current"], "properties": {
                "fact": {"type": "string"}, "current": {"type": "boolean"},
                "valid_at": {"type": ["string", "null"]}, "invalid_at": {"type": ["string", "null"]}}}},
            "entities": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                    "properties": {"name": {"type": "string"}}}}},
    },
    "MemoryTimeline": {
        "type": "object", "required": ["vault", "path", "node_id", "entries"],
        "properties": {
            "vault": {"type": "string"}, "path": {"type": "string"}, "node_id": {"type": "string"},
            "name": {"type": ["string", "null"]}, "state": {"type": ["string", "null"]},
            "removed_at": {"type": ["string", "null"]},
            "entries": {"type": "array", "items": {
                "type": "object", "required": ["state", "fact", "valid_at", "invalid_at", "current"],
                "properties": {"state": {"type": "string"}, "fact": {"type": "string"},
                               "valid_at": {"type": ["string", "null"]}, "invalid_at": {"type": ["string", "null"]},
                               "current": {"type": "boolean"}}}}},
    },
    "MemoryStats": {
        "type": "object", "required": ["state", "graph", "phase", "cache"],
        "properties": {"state": _PHASE, "phase": _PHASE, "graph": {"type": "object"},
                       "cache": {"type": "object"}, "server": {"type": ["object", "null"]}},
    },
    "Agents": {
        "type": "object", "required": ["agents"],
        "properties": {"agents": {"type": "array", "items": {
            "type": "object", "required": ["name", "description", "needs_llm", "targets"],
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                           "needs_llm": {"type": "boolean"},
                           "targets": {"type": "array", "items": {"type": "string"},
                                       "description": "Learning states it works on (empty: any node)."},
                           "per_node": {"type": "boolean"}, "min_nodes": {"type": "integer"},
                           "max_nodes": {"type": ["integer", "null"]}, "recolours": {"type": "boolean"}}}}},
    },
    "RunRequest": {
        "type": "object", "required": ["vault", "path"], "additionalProperties": False,
        "properties": {
            "vault": {"type": "string", "minLength": 1}, "path": {"type": "string", "minLength": 1},
            "nodes": {"type": "array", "items": {"type": "string", "minLength": 1},
                      "description": "The nodes to work on (a run a person asked for: interactive priority)."},
            "state": {"type": "string", "description": "Every node in this learning state (a batch: bulk priority)."},
            "options": {"type": "object", "description": "Agent options (e.g. score: confirm; explain: style)."},
            "wait": {"type": "boolean", "description": "true (default): answer once the run has ended."}},
    },
    "Run": {
        "type": "object",
        "required": ["id", "agent", "state", "vault", "path", "nodes_added", "edges_added", "ops", "result", "error",
                     "queued_s", "run_s"],
        "properties": {
            "id": {"type": "string"}, "agent": {"type": "string"},
            "state": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
            "vault": {"type": "string"}, "path": {"type": "string"},
            "nodes": {"type": "array", "items": {"type": "string"}},
            "nodes_added": {"type": "integer"}, "edges_added": {"type": "integer"},
            "ops": {"type": "array", "items": {"type": "object"}, "description": "The ops applied, as written."},
            "result": {"type": "object"}, "error": {"type": ["string", "null"]}, "created": {"type": "number"},
            "queued_s": {"type": "number"}, "run_s": {"type": ["number", "null"]}},
    },
    "RunAnswer": {"type": "object", "required": ["run"], "properties": {"run": _ref("Run")}},
    "RunQueued": {
        "type": "object", "required": ["run"],
        "properties": {"run": {"type": "object", "required": ["id", "state"], "properties": {
            "id": {"type": "string"}, "state": {"type": "string"}}}},
    },
    "Runs": {"type": "object", "required": ["runs"], "properties": {"runs": {"type": "array", "items": _ref("Run")}}},
    "LeaseRequest": {
        "type": "object", "required": ["canvases"], "additionalProperties": False,
        "properties": {
            "canvases": {"type": "array", "maxItems": 256, "items": {
                "type": "object", "required": ["vault", "path"], "additionalProperties": False,
                "properties": {"vault": {"type": "string", "minLength": 1},
                               "path": {"type": "string", "minLength": 1}}}},
            "ttl_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600,
                      "description": "Seconds the lease lasts unless renewed (capped by leases.max_ttl_s)."}},
    },
    "Lease": {
        "type": "object", "required": ["client", "canvases", "ttl_s"],
        "properties": {"client": {"type": "string"}, "canvases": {"type": "array", "items": {"type": "object"}},
                       "ttl_s": {"type": "number"}},
    },
    "Leases": {
        "type": "object", "required": ["leases"],
        "properties": {"leases": {"type": "array", "items": {"type": "object", "required": ["client", "canvases"]}}},
    },
    "LeaseReleased": {
        "type": "object", "required": ["client", "released"],
        "properties": {"client": {"type": "string"}, "released": {"type": "integer"}},
    },
    "ProposalAnswer": {
        "type": "object", "required": ["applied"], "additionalProperties": False,
        "properties": {"applied": {"type": "boolean", "description": "The ops are in the live canvas (Obsidian "
                                   "saves it); false: the daemon writes the file itself."},
                       "reason": {"type": "string"}},
    },
    "ProposalAnswered": {
        "type": "object", "required": ["id", "applied"],
        "properties": {"id": {"type": "string"}, "applied": {"type": "boolean"}},
    },
    "ReviewCard": {
        "type": "object",
        "required": ["key", "vault", "path", "node", "title", "due", "state", "stability", "difficulty",
                     "retrievability"],
        "properties": {
            "key": {"type": "string", "description": "vault/path#node"}, "vault": {"type": "string"},
            "path": {"type": "string"}, "node": {"type": "string"}, "title": {"type": "string"},
            "due": {"type": "string", "description": "When the card is due (ISO 8601, UTC)."},
            "state": {"type": "string", "enum": ["new", "learning", "review", "relearning", "suspended"]},
            "stability": {"type": ["number", "null"]}, "difficulty": {"type": ["number", "null"]},
            "retrievability": {"type": "number", "description": "Predicted recall probability now (0: never "
                               "reviewed)."}},
    },
    "ReviewDue": {
        "type": "object", "required": ["on", "total", "cards"],
        "properties": {"on": {"type": "string"}, "total": {"type": "integer", "description": "Cards due in all."},
                       "cards": {"type": "array", "items": _ref("ReviewCard")}},
    },
    "ReviewCardAnswer": {
        "type": "object", "required": ["card", "log"],
        "properties": {
            "card": _ref("ReviewCard"),
            "log": {"type": "array", "items": {
                "type": "object", "required": ["at", "rating", "source", "scheduled"],
                "properties": {"at": {"type": "string"},
                               "rating": {"type": "string", "enum": ["again", "hard", "good", "easy"]},
                               "source": {"type": "string", "enum": ["colour", "rating", "score", "answer"]},
                               "scheduled": {"type": "boolean", "description": "Whether it counted for the "
                                             "schedule (only a card's first review of a day does)."}}}},
            "review": {"type": "object", "description": "The review just recorded (after a rating)."}},
    },
    "ReviewRating": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "rating": {"type": "string", "enum": ["again", "hard", "good", "easy"]},
            "score": {"type": "number", "minimum": 0, "maximum": 100,
                      "description": "An answer's score: below 60 again, 60-79 hard, 80+ good."},
            "at": {"type": "string", "format": "date-time", "description": "When it was reviewed (a client's "
                   "queued rating); default now."}},
    },
    "ReviewCanvasRequest": {
        "type": "object", "required": ["vault"], "additionalProperties": False,
        "properties": {"vault": {"type": "string", "minLength": 1},
                       "on": {"type": "string", "format": "date", "description": "The day (default today)."}},
    },
    "ReviewCanvas": {
        "type": "object", "required": ["vault", "path", "on", "cards", "added"],
        "properties": {"vault": {"type": "string"}, "path": {"type": "string"}, "on": {"type": "string"},
                       "cards": {"type": "array", "items": {"type": "string"}, "description": "path#node of "
                                 "every card on the canvas."},
                       "added": {"type": "array", "items": {"type": "string"}}},
    },
    "ReviewStats": {
        "type": "object",
        "required": ["on", "cards", "due_today", "overdue", "reviewed_today", "next_7_days", "next_30_days",
                     "forecast", "retention", "streak_days"],
        "properties": {
            "on": {"type": "string"}, "cards": {"type": "integer"}, "due_today": {"type": "integer"},
            "overdue": {"type": "integer"}, "reviewed_today": {"type": "integer"},
            "next_7_days": {"type": "integer"}, "next_30_days": {"type": "integer"},
            "forecast": {"type": "array", "items": {"type": "object", "required": ["on", "due"]}},
            "retention": {"type": ["number", "null"], "description": "Share of the last 30 days' scheduled "
                          "reviews that were recalled (not again)."},
            "reviews_30_days": {"type": "integer"}, "streak_days": {"type": "integer"}},
    },
    "Alerts": {
        "type": "object", "required": ["alerts", "thresholds"],
        "properties": {"alerts": {"type": "array", "items": {
            "type": "object", "required": ["name", "message", "value", "threshold"],
            "properties": {"name": {"type": "string"}, "message": {"type": "string"},
                           "value": {"type": "number"}, "threshold": {"type": "number"}}}},
            "thresholds": {"type": "object"}},
    },
}


def _canvas_path_item() -> dict[str, Any]:
    write_ok = {
        "200": _json(_ref("WriteResult"), "Committed (durable); the ETag header is the new version."),
        "202": _json(_ref("Accepted"), "Queued (with wait=false); it commits within the write window."),
    }
    return {
        "parameters": [_VAULT, _PATH],
        "get": {
            "operationId": "getCanvas", "summary": "The canvas file's bytes; ETag is its version.",
            "parameters": [{"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("Canvas"), "The file exactly as it is on disk."),
                          "304": {"description": "Not modified since the version given in If-None-Match."},
                          **_errors(400, 403, 404, 422)},
        },
        "put": {
            "operationId": "putCanvas", "summary": "Replace (or create) the whole canvas.",
            "parameters": [_WAIT, _IF_MATCH],
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("Canvas")}}},
            "responses": {**write_ok, "201": _json(_ref("WriteResult"), "Created (durable)."), **_WRITE_ERRORS},
        },
        "patch": {
            "operationId": "patchCanvas", "summary": "Apply ops to the canvas, all or nothing.",
            "parameters": [_WAIT, _IF_MATCH],
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("Patch")}}},
            "responses": {**write_ok, **_WRITE_ERRORS},
        },
        "delete": {
            "operationId": "deleteCanvas", "summary": "Remove the canvas file.",
            "parameters": [_WAIT, _IF_MATCH],
            "responses": {"200": _json(_ref("Deleted"), "Removed."),
                          "202": _json(_ref("Accepted"), "Queued (with wait=false)."), **_WRITE_ERRORS},
        },
    }


def _get(operation_id: str, summary: str, schema: str, *errors: int, **extra: Any) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary,
                    "responses": {"200": _json(_ref(schema), summary), **_errors(*errors)}, **extra}}


def openapi_document() -> dict[str, Any]:
    """The document; every route of the app appears here and nothing else (a test checks both ways)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "canvasd", "version": __version__,
                 "description": "HTTP/1.1 over a Unix socket: read and change Obsidian canvases safely."},
        "paths": {
            "/v1/health": _get("health", "Daemon status.", "Health"),
            "/v1/vaults": _get("listVaults", "Configured vaults.", "Vaults"),
            "/v1/vaults/{vault}/canvases": {
                "parameters": [_VAULT],
                **_get("listCanvases", "Canvases of a vault with size, mtime, node and edge counts.", "CanvasList",
                       404),
            },
            "/v1/vaults/{vault}/canvases/{path}": _canvas_path_item(),
            "/v1/flush": {"post": {"operationId": "flush", "summary": "Commit every pending write now.",
                                   "responses": {"200": _json(_ref("Flushed"), "Everything pending is durable."),
                                                 **_errors(503, 504)}}},
            "/v1/events": {"get": {
                "operationId": "events", "summary": "Change feed (Server-Sent Events), resumable with since.",
                "parameters": [{"name": "since", "in": "query", "required": False,
                                "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
                               {"name": "Last-Event-ID", "in": "header", "required": False,
                                "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}],
                "responses": {"200": {"description": "An endless event stream.",
                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              **_errors(400)}}},
            "/v1/search": _get("search", "Search every canvas node by meaning and words.", "SearchAnswer",
                               400, 404, 502, 503, parameters=_SEARCH_PARAMETERS),
            "/v1/vaults/{vault}/canvases/{path}/nodes/{node}/related": {
                "parameters": [_VAULT, _PATH, {"name": "node", "in": "path", "required": True,
                                               "schema": {"type": "string"}}],
                **_get("relatedNodes", "The nodes in other canvases nearest in meaning to this node.",
                       "SearchAnswer", 400, 403, 404, 503, parameters=[_LIMIT]),
            },
            "/v1/index/status": _get("indexStatus", "The semantic index: phase, progress, rows, model.",
                                     "IndexStatus"),
            "/v1/index/rebuild": {"post": {
                "operationId": "indexRebuild", "summary": "Drop the index and build it again, in the background.",
                "responses": {"202": _json(_ref("IndexStatus"), "The rebuild started; follow /v1/index/status."),
                              **_errors(409, 503)}}},
            "/v1/memory/search": _get("memorySearch", "Facts and concepts from the learning history.",
                                      "MemorySearch", 400, 403, 404, 503, parameters=_MEMORY_SEARCH_PARAMETERS),
            "/v1/memory/timeline": _get("memoryTimeline", "The learning-state history of one node.",
                                        "MemoryTimeline", 400, 403, 404, 503, parameters=[
                                            {**_query("vault", "Vault name."), "required": True},
                                            {**_query("path", "Canvas path inside the vault."), "required": True},
                                            {**_query("node", "Node id."), "required": True}]),
            "/v1/memory/stats": _get("memoryStats", "Graph size, learning states, server and cache.",
                                     "MemoryStats", 503),
            "/v1/agents": _get("listAgents", "The learning agents and what they work on.", "Agents", 503),
            "/v1/agents/{name}/runs": {
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
                                "example": "decompose"}],
                "post": {
                    "operationId": "startRun", "summary": "Run an agent on nodes of a canvas (a job).",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("RunRequest")}}},
                    "responses": {"200": _json(_ref("RunAnswer"), "The run has ended (wait: true)."),
                                  "202": _json(_ref("RunQueued"), "The run is queued (wait: false)."),
                                  **_errors(400, 403, 404, 413, 415, 422, 503)}}},
            "/v1/agents/runs": _get("listRuns", "Queued, running and recent agent runs, newest first.", "Runs", 503),
            "/v1/agents/runs/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                **_get("getRun", "One agent run.", "RunAnswer", 404, 503),
                "delete": {"operationId": "cancelRun", "summary": "Cancel a queued or running run.",
                           "responses": {"200": _json(_ref("RunAnswer"), "The run as it is now."),
                                         **_errors(404, 503)}}},
            "/v1/leases": _get("listLeases", "Canvases clients (the Obsidian plugin) have open.", "Leases", 503),
            "/v1/leases/{client}": {
                "parameters": [{"name": "client", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "The client's id (one per Obsidian window)."}],
                "put": {
                    "operationId": "putLease", "summary": "Lease (or renew) the canvases open in the client.",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("LeaseRequest")}}},
                    "responses": {"200": _json(_ref("Lease"), "The client's lease now."),
                                  **_errors(400, 403, 404, 413, 415, 503)}},
                "delete": {"operationId": "deleteLease", "summary": "Release every canvas the client leased.",
                           "responses": {"200": _json(_ref("LeaseReleased"), "Released."), **_errors(503)}}},
            "/v1/proposals/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "post": {
                    "operationId": "answerProposal", "summary": "The plugin's answer to a proposal on the feed.",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("ProposalAnswer")}}},
                    "responses": {"200": _json(_ref("ProposalAnswered"), "Answered."),
                                  **_errors(400, 404, 413, 415, 503)}}},
            "/v1/review/due": _get("reviewDue", "Cards due by the end of a day, lowest retrievability first.",
                                   "ReviewDue", 400, 404, 503, parameters=[
                                       _query("vault", "Only this vault."),
                                       _query("on", "The day, YYYY-MM-DD (default today; a later day: what will "
                                                    "be due then).", format="date"),
                                       {**_LIMIT, "description": "Cards to return (1-500).",
                                        "schema": {"type": "integer", "minimum": 1, "maximum": 500}}]),
            "/v1/review/cards/{vault}/{path}/nodes/{node}": {
                "parameters": [_VAULT, _PATH, _NODE],
                **_get("reviewCard", "One card and its review log.", "ReviewCardAnswer", 400, 403, 404, 503)},
            "/v1/review/cards/{vault}/{path}/nodes/{node}/ratings": {
                "parameters": [_VAULT, _PATH, _NODE],
                "post": {
                    "operationId": "rateCard", "summary": "Record a review: a rating or an answer's score.",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("ReviewRating")}}},
                    "responses": {"200": _json(_ref("ReviewCardAnswer"), "Recorded (durable)."),
                                  **_errors(400, 403, 404, 413, 415, 503)}}},
            "/v1/review/canvas": {"post": {
                "operationId": "reviewCanvas", "summary": "Build (or complete) a day's review canvas.",
                "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("ReviewCanvasRequest")}}},
                "responses": {"200": _json(_ref("ReviewCanvas"), "The canvas is written (durable)."),
                              **_errors(400, 403, 404, 409, 413, 415, 422, 503, 507)}}},
            "/v1/review/stats": _get("reviewStats", "Due, overdue, reviewed today, forecast, retention, streak.",
                                     "ReviewStats", 404, 503, parameters=[_query("vault", "Only this vault.")]),
            "/v1/jobs": _get("jobs", "Background jobs: limit, running, queued, recent.", "Jobs"),
            "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics (text format).",
                                 "responses": {"200": {"description": "Prometheus text exposition format.",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/v1/metrics/summary": _get("metricsSummary", "Requests, latency, cache, writes, optimisations.",
                                        "Summary"),
            "/v1/metrics/alerts": _get("metricsAlerts", "Active alerts and their thresholds.", "Alerts"),
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.",
                                      "responses": {"200": {"description": "OpenAPI 3.1.",
                                                            "content": {_JSON: {"schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": _SCHEMAS},
    }

"""Small HTTP helpers shared by the handlers: JSON answers, entity tags, bodies with a size limit."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from canvasd.canvas.layout import MAX_DEPTH, exceeds_depth
from canvasd.errors import (
    BadParameterError,
    BadPreconditionError,
    BodyInvalidJsonError,
    BodyMissingError,
    BodyTooDeepError,
    BodyTooLargeError,
    UnsupportedMediaTypeError,
)

JSON_TYPE = "application/json"
_UTF8_BOM = b"\xef\xbb\xbf"  # RFC 8259 lets a parser ignore it; canvases saved by some editors start with one


class JSONResponse(Response):
    """A JSON answer encoded with orjson (non-ASCII text stays UTF-8)."""

    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def etag(version: str) -> str:
    """The strong entity tag of a canvas version."""
    return f'"{version}"'


def tag_values(header: str) -> list[str]:
    """The versions listed in an If-Match / If-None-Match header ('*' kept as is)."""
    values = []
    for item in header.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        if len(item) >= 2 and item[0] == item[-1] == '"':
            item = item[1:-1]
        if item:
            values.append(item)
    return values


def if_match_version(request: Request) -> str | None:
    """The version an If-Match header requires (None: no precondition; '*': any existing version)."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    values = tag_values(header)
    if len(values) != 1:
        raise BadPreconditionError(header)
    return values[0]


def wants_wait(request: Request) -> bool:
    """False when the client asked `?wait=false` (answer 202 before the commit)."""
    raw = request.query_params.get("wait")
    if raw is None or raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadParameterError("wait", raw, "true or false")


def object_body(body: Any, name: str, shape: str, allowed: frozenset[str]) -> dict[str, Any]:
    """`body` as a JSON object with no keys beyond `allowed`; BodyFieldError naming `name` ("a rating") and its
    `shape` otherwise."""
    from canvasd.errors import BodyFieldError

    if not isinstance(body, dict):
        raise BodyFieldError(f"{name} is a JSON object {shape}, not {type(body).__name__}")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BodyFieldError(f"{name} does not take {', '.join(repr(k) for k in unknown)}")
    return body


async def read_json_body(request: Request, limit: int) -> Any:
    """The request body parsed as JSON; 413 over `limit`, 415 for other media types, 400 when malformed or
    nested deeper than MAX_DEPTH (what the engine compares and renders recursively is refused before it is
    queued). A client that disconnects mid-body raises starlette's ClientDisconnect (app.py answers it quietly).
    """
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != JSON_TYPE and not media.endswith("+json"):
            raise UnsupportedMediaTypeError(content_type)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    body = b"".join(chunks).removeprefix(_UTF8_BOM)  # a canvas GET served with its BOM is taken back as served
    if not body:
        raise BodyMissingError()
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion limit" in str(exc):  # orjson stops at 1024 levels
            raise BodyTooDeepError(MAX_DEPTH) from None
        raise BodyInvalidJsonError(str(exc)) from None
    # Fewer brackets than levels allowed (counted at C speed, strings included) cannot nest too deep: most
    # bodies skip the walk.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and exceeds_depth(value, MAX_DEPTH):
        raise BodyTooDeepError(MAX_DEPTH)
    return value

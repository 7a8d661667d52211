"""A small client of the daemon's HTTP API over its Unix socket, built on the standard library only.

The CLI imports this on every command, so it must stay light: `http.client` instead of httpx keeps
`canvasd status` as quick to start as `canvasd --help`.
"""

from __future__ import annotations

import errno
import http.client
import json as _json
import socket
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from canvasd.errors import CanvasdError, PathText

# Connecting fails this way when the socket file is there but nobody listens (a stale socket).
_NOT_LISTENING = {errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK, errno.ECONNRESET}


class ClientError(CanvasdError):
    """Base of the errors a client of the daemon meets."""

    code = "client_error"


class DaemonUnavailableError(ClientError):
    """No daemon answers on the socket: the file is missing, or nobody listens on it."""

    status = 503
    code = "daemon_unavailable"
    template = "no daemon is listening on {socket}{why}; start one with 'canvasd serve' (or 'canvasd service install')"
    socket: PathText
    reason: str | None = None

    @property
    def why(self) -> str:
        return f" ({self.reason})" if self.reason else ""


class DaemonTimeoutError(ClientError):
    """The daemon accepted the connection but did not answer in time."""

    status = 504
    code = "daemon_timeout"
    template = "the daemon on {socket} did not answer {within}"
    socket: PathText
    timeout: float | None

    @property
    def within(self) -> str:
        return f"within {self.timeout:g} s" if self.timeout else "in time"


class ApiError(ClientError):
    """The daemon answered with an error: its status, code, message and details, as the daemon sent them."""

    template = "{reason}"
    answered: int
    answered_code: str
    reason: str
    sent: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status, self.code = self.answered, self.answered_code
        super().__post_init__()

    def details(self) -> dict[str, Any]:
        return self.sent


def quote_segment(value: str) -> str:
    """Percent-encode one URL path segment (a vault name): '/' is encoded too."""
    return quote(value, safe="")


def quote_path(path: str) -> str:
    """Percent-encode a vault-relative canvas path, keeping its '/' separators."""
    return quote(path, safe="/")


def canvas_url(vault: str, path: str) -> str:
    """The API URL of canvas `path` in `vault`."""
    return f"/v1/vaults/{quote_segment(vault)}/canvases/{quote_path(path)}"


@dataclass(frozen=True, slots=True)
class ClientResponse:
    """One complete answer of the daemon; header names are lower case."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON; ApiError when it is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError as exc:
            raise ApiError(self.status, "bad_response", f"the daemon answered {self.status} with a body that "
                           f"is not JSON: {self.body[:200]!r}") from exc

    def raise_for_error(self) -> ClientResponse:
        """Raise ApiError for a 4xx/5xx answer, else return self."""
        if self.status >= 400:
            raise api_error(self.status, self.body)
        return self

    def version(self) -> str | None:
        """The canvas version named by the ETag header, without its quotes."""
        etag = self.headers.get("etag")
        return etag.removeprefix("W/").strip('"') if etag else None


def api_error(status: int, body: bytes) -> ApiError:
    """Build the ApiError of an error answer, from the `{"error": {...}}` envelope when there is one."""
    try:
        envelope = _json.loads(body)["error"]
        return ApiError(status, str(envelope["code"]), str(envelope["message"]), envelope.get("details") or {})
    except (ValueError, KeyError, TypeError):
        reason = http.client.responses.get(status, "error")
        text = body.decode("utf-8", "replace").strip()[:200]
        return ApiError(status, f"http_{status}", f"the daemon answered {status} {reason}" + (f": {text}" if text
                                                                                             else ""))


class _UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection whose transport is a Unix domain socket."""

    def __init__(self, socket_path: Path, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.socket_path))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class DaemonClient:
    """Requests to the daemon listening on `socket_path`; every call opens its own connection.

    `timeout` bounds each socket operation (connect, send, every read) in seconds; writes wait for their
    commit on the server, so it should exceed the daemon's `http.write_timeout_s`.
    """

    def __init__(self, socket_path: Path, timeout: float = 60.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def request(self, method: str, url: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> ClientResponse:
        """Send one request and read the whole answer (any status)."""
        with closing(self._connect(self.timeout)) as conn:
            try:
                conn.request(method, url, body=body, headers=dict(headers or {}))
                response = conn.getresponse()
                data = response.read()
            except TimeoutError as exc:
                raise DaemonTimeoutError(self.socket_path, self.timeout) from exc
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                raise DaemonUnavailableError(self.socket_path, "it closed the connection") from exc
            return ClientResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def json(self, method: str, url: str, payload: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        """Send `payload` as JSON (if given) and return the parsed answer; ApiError for error statuses."""
        all_headers = {"Accept": "application/json", **(headers or {})}
        body = None
        if payload is not None:
            body = _json.dumps(payload, ensure_ascii=False).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        return self.request(method, url, body, all_headers).raise_for_error().json()

    def events(self, since: int | None = None, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Follow the change feed: yield each event's data as it arrives (blocks between events)."""
        url = "/v1/events" + (f"?since={since}" if since is not None else "")
        with closing(self._connect(timeout)) as conn:
            try:
                conn.request("GET", url, headers={"Accept": "text/event-stream"})
                response = conn.getresponse()
                if response.status >= 400:
                    raise api_error(response.status, response.read())
                yield from _parse_sse(response)
            except TimeoutError as exc:
                raise DaemonTimeoutError(self.socket_path, timeout) from exc
            except (http.client.RemoteDisconnected, ConnectionResetError) as exc:
                raise DaemonUnavailableError(self.socket_path, "it closed the connection") from exc

    def _connect(self, timeout: float | None) -> _UnixHTTPConnection:
        """A connected socket, or DaemonUnavailableError when nobody listens."""
        conn = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            conn.connect()
        except FileNotFoundError as exc:
            raise DaemonUnavailableError(self.socket_path) from exc
        except TimeoutError as exc:
            raise DaemonTimeoutError(self.socket_path, timeout) from exc
        except OSError as exc:
            if exc.errno in _NOT_LISTENING:
                raise DaemonUnavailableError(self.socket_path) from exc
            raise DaemonUnavailableError(self.socket_path, exc.strerror or str(exc)) from exc
        return conn


def _parse_sse(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    """Server-sent events, one dict per event; `: ping` comments and events without data are skipped."""
    event: str | None = None
    event_id: str | None = None
    data: list[str] = []
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith(":"):
            continue
        if not line:
            if data:
                yield _event_data(event, event_id, "\n".join(data))
            event, event_id, data = None, None, []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value


def _event_data(event: str | None, event_id: str | None, text: str) -> dict[str, Any]:
    """The event's JSON data, with `kind` and `cursor` filled in from the SSE fields when missing."""
    try:
        parsed = _json.loads(text)
    except ValueError:
        parsed = None
    data: dict[str, Any] = parsed if isinstance(parsed, dict) else {"data": text}
    if event is not None:
        data.setdefault("kind", event)
    if event_id is not None:
        data.setdefault("cursor", int(event_id) if event_id.isdigit() else event_id)
    return data

"""One JSON POST to an embedding server with the standard library, every failure an EmbedderError."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from canvasd.errors import EmbedderError

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_EXCERPT = 200


def post_json(url: str, body: dict[str, Any], *, headers: dict[str, str], timeout: float, provider: str,
              hint: str) -> Any:
    """POST `body` as JSON to `url` and return the decoded answer.

    `hint` ends every connection error message ("is ollama running? set embedding.url").
    """
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              **headers})
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = _error_body(exc)
        raise EmbedderError(f"{provider} server at {url} answered HTTP {exc.code} {exc.reason}: {detail}; "
                            f"{_status_hint(exc.code, hint)}", provider=provider) from exc
    except urllib.error.URLError as exc:
        raise _connection_error(url, exc.reason, timeout, provider, hint) from exc
    except (TimeoutError, OSError) as exc:  # a read timeout or a reset after the connection was made
        raise _connection_error(url, exc, timeout, provider, hint) from exc
    except http.client.HTTPException as exc:  # something that is not HTTP answered
        raise EmbedderError(f"{provider} server at {url} did not answer in HTTP ({type(exc).__name__}: {exc}); "
                            f"{hint}", provider=provider) from exc
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise EmbedderError(f"{provider} server at {url} answered with something that is not JSON "
                            f"({_excerpt(raw)!r}); is embedding.url the {provider} server?",
                            provider=provider) from exc


def _opener(url: str) -> urllib.request.OpenerDirector:
    """A loopback server is reached directly, never through an HTTP proxy from the environment."""
    host = urlsplit(url).hostname or ""
    return _DIRECT if host in _LOOPBACK else urllib.request.build_opener()


def _connection_error(url: str, reason: object, timeout: float, provider: str, hint: str) -> EmbedderError:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return EmbedderError(f"{provider} server at {url} did not answer within {timeout:g} s; it may be loading "
                             f"the model or overloaded: raise embedding.timeout_s, or {hint}", provider=provider)
    refused = isinstance(reason, ConnectionRefusedError)
    what = "connection refused" if refused else (str(reason) or type(reason).__name__)
    return EmbedderError(f"could not reach the {provider} server at {url} ({what}); {hint}", provider=provider)


def _status_hint(status: int, hint: str) -> str:
    if status in (401, 403):
        return "check the API key (the variable named by embedding.api_key_env)"
    if status == 404:
        return "check embedding.model (is the model pulled/served?) and embedding.url"
    return f"check embedding.model and the server's log; {hint}"


def _error_body(exc: urllib.error.HTTPError) -> str:
    try:
        return _excerpt(exc.read())
    except OSError:
        return "(no body)"
    finally:
        exc.close()


def _excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."

"""The one client of an LLM: OpenAI's chat-completions protocol, streamed, with a JSON-schema answer format.

The protocol covers hosted APIs and the local servers (Ollama's `/v1`, llama.cpp's server, LM Studio). One
request per `complete()`: the agent's messages, the answer's JSON schema as a strict `response_format`, and
`stream: true`; the content pieces of the server-sent events are handed to `on_text` as they arrive (the
runner feeds them to an `ArrayItemStream`) and returned joined. A server that ignores `stream` and answers
with one JSON object works too.

Every failure is an `LlmError` naming the URL the user configured and saying what went wrong; the agent runner
then falls back to the agent's offline answer. 429 and 5xx answers are retried (`retries` times, waiting what
`Retry-After` asks, capped); nothing else is, since a refused connection or a timeout would only fail again.
The request carries nothing that changes between calls (no timestamp, no random id), so the server can reuse
its cache of the prompt's prefix. The API key goes only into the `Authorization` header, never into a log line
or an error.

httpx is imported on first use, so loading canvasd costs nothing when no LLM is configured. A client belongs to
one event loop.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from canvasd.config import LlmSettings
from canvasd.errors import LlmError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

MAX_RETRY_WAIT_S = 4.0
"""Longest wait before a retry, whatever `Retry-After` asks (the run has its own deadline)."""
FIRST_RETRY_WAIT_S = 0.25
"""Wait before the first retry when the server names none; doubled for each further retry."""
DETAIL_CHARS = 300
"""Characters of a server's error message kept in an LlmError."""
ERROR_BODY_BYTES = 64 * 1024
"""Most bytes of an error answer read to find its message."""

TextCallback = Callable[[str], None]
"""Told every piece of the answer's content as it arrives."""


class LlmClient:
    """Chat completions against `settings.url`, at most `settings.max_concurrency` requests in flight.

    `settings`: the `agents.llm` section; its `url` is the API's base (the client posts to
    `{url}/chat/completions`), its `timeout_s` bounds both the wait for the first token and the whole answer.
    """

    def __init__(self, settings: LlmSettings) -> None:
        self._settings = settings
        self._endpoint = settings.url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json"}
        if settings.api_key:
            self._headers["Authorization"] = f"Bearer {settings.api_key}"
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._client: httpx.AsyncClient | None = None

    @property
    def settings(self) -> LlmSettings:
        """The settings the client was built with."""
        return self._settings

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (a later `complete()` opens new ones)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], *, name: str,
                       on_text: TextCallback | None = None) -> str:
        """The assistant's whole content text for `messages`, asked to match `schema` (named `name` in the
        request); `on_text` gets each piece as it arrives. Raises LlmError on any failure."""
        if not self._settings.configured:
            raise LlmError(url=self._settings.url or "(no url)",
                           reason="is not configured: set agents.llm.url and agents.llm.model")
        payload = self._payload(messages, schema, name)
        retries = self._settings.retries
        async with self._slots:
            for attempt in range(retries + 1):
                try:
                    return await self._attempt(payload, on_text)
                except _RetryableStatus as answer:
                    if attempt == retries:
                        tries = f" on all {retries + 1} attempts" if retries else ""
                        raise self._error(f"answered HTTP {answer.status}{tries}: {answer.detail}") from None
                    wait = answer.retry_after if answer.retry_after is not None else FIRST_RETRY_WAIT_S * 2**attempt
                    wait = min(wait, MAX_RETRY_WAIT_S)
                    log.warning("the LLM at %s answered HTTP %d; retry %d of %d in %.2g s",
                                self._settings.url, answer.status, attempt + 1, retries, wait)
                    await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _payload(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> bytes:
        """The request body: the same bytes for the same arguments, so the server's prompt cache can hit."""
        body = {
            "model": self._settings.model,
            "messages": messages,
            "stream": True,
            "temperature": self._settings.temperature,
            "max_tokens": self._settings.max_tokens,
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @property
    def _connect_timeout(self) -> float:
        return min(10.0, self._settings.timeout_s / 2)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            # trust_env off: no proxy, netrc or certificate settings from the environment (configuration flows
            # through the settings object only); a local model server must never be reached through a proxy.
            # The connect timeout is shorter than the answer's deadline, so an unreachable host is told apart
            # from a slow model.
            timeout = httpx.Timeout(self._settings.timeout_s, connect=self._connect_timeout)
            self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)
        return self._client

    async def _attempt(self, payload: bytes, on_text: TextCallback | None) -> str:
        """One request; _RetryableStatus for a 429 or 5xx answer, LlmError for any other failure."""
        import httpx

        timeout = self._settings.timeout_s
        reader = _AnswerReader(on_text)
        answered = False
        try:
            async with asyncio.timeout(timeout), self._http().stream(
                    "POST", self._endpoint, content=payload, headers=self._headers) as response:
                answered = True
                status = response.status_code
                if status == 429 or status >= 500:
                    detail = self._detail(await _read_some(response))
                    raise _RetryableStatus(status, detail, _retry_after(response.headers.get("retry-after")))
                if not 200 <= status < 300:
                    detail = self._detail(await _read_some(response))
                    where = response.headers.get("location")
                    hint = f" (redirected to {where}: set agents.llm.url to that address)" if where else ""
                    raise self._error(f"answered HTTP {status}{hint}: {detail}")
                if "text/event-stream" in response.headers.get("content-type", ""):
                    await reader.read_lines(response.aiter_lines())
                else:
                    reader.read_body((await response.aread()).decode("utf-8", "replace"))
            return reader.result()
        except (TimeoutError, httpx.TimeoutException) as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise self._error(f"is unreachable (no connection within {self._connect_timeout:g} s)") from None
            if not reader.pieces:
                raise self._error(f"sent no first token within {timeout:g} s (agents.llm.timeout_s); the model may "
                                  "be loading, or is too slow for this timeout") from None
            raise self._error(f"did not finish its answer within {timeout:g} s (agents.llm.timeout_s; "
                              f"{reader.chars} characters had arrived)") from None
        except httpx.ConnectError as exc:
            raise self._error(f"is unreachable ({_why_unreachable(exc)}); is the server running, and is "
                              "agents.llm.url right?") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if not answered:
                raise self._error(f"closed the connection without answering ({_describe(exc)})") from None
            raise self._error(f"broke off: stream ended before [DONE] (the connection closed after "
                              f"{reader.chars} characters of the answer: {_describe(exc)})") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self._error(f"is not a usable URL ({_describe(exc)}); set agents.llm.url to e.g. "
                              "http://127.0.0.1:11434/v1") from None
        except httpx.HTTPError as exc:
            raise self._error(f"could not be asked ({_describe(exc)})") from None
        except _BadAnswer as exc:
            raise self._error(exc.reason) from None

    def _detail(self, raw: bytes) -> str:
        return _clip(_error_message(raw.decode("utf-8", "replace")) or "(no error message)")

    def _error(self, reason: str) -> LlmError:
        key = self._settings.api_key
        if key:
            reason = reason.replace(key, "***")
        return LlmError(url=self._settings.url, reason=reason)


class _RetryableStatus(Exception):
    """A 429 or 5xx answer: worth asking again after a while."""

    def __init__(self, status: int, detail: str, retry_after: float | None) -> None:
        super().__init__(status)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class _BadAnswer(Exception):
    """The server answered, but not with a usable answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _AnswerReader:
    """The content of one answer, from server-sent events line by line or from one JSON body."""

    on_text: TextCallback | None
    parts: list[str] | None = None
    pieces: int = 0
    chars: int = 0
    finish_reason: str | None = None
    done: bool = False

    async def read_lines(self, lines: AsyncIterator[str]) -> None:
        """Read the event stream up to `data: [DONE]`; _BadAnswer when it ends before."""
        async for line in lines:
            self.line(line)
            if self.done:
                return
        raise _BadAnswer(f"broke off: stream ended before [DONE] (after {self.chars} characters of the answer)")

    def read_body(self, text: str) -> None:
        """A whole body: chat-completions JSON, or an event stream sent without its content type."""
        if text.lstrip().startswith("data:"):
            for line in text.splitlines():
                self.line(line)
                if self.done:
                    return
            raise _BadAnswer(f"broke off: stream ended before [DONE] (after {self.chars} characters of the answer)")
        try:
            answer = json.loads(text)
        except ValueError:
            raise _BadAnswer(f"answered with neither chat-completions JSON nor an event stream: {_clip(text)!r}"
                             ) from None
        choice = _first_choice(answer, "answer")
        message = choice.get("message") if choice is not None else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise _BadAnswer(f"answered JSON without a text in choices[0].message.content: {_clip(text)!r}")
        self.finish_reason = choice.get("finish_reason") if choice is not None else None
        self._add(content)
        self.done = True

    def line(self, line: str) -> None:
        """One line of the event stream (one `data:` line is one event: no server splits a chunk over lines)."""
        if not line.startswith("data:"):
            return  # blank separators, `: keep-alive` comments, `event:` / `id:` fields
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _BadAnswer(f"sent a malformed stream chunk (not JSON): {_clip(data)!r}") from None
        choice = _first_choice(chunk, "stream chunk")
        if choice is None:
            return  # a usage-only chunk
        delta = choice.get("delta")
        if delta is None:
            delta = choice.get("message")  # a few servers repeat the non-streaming shape
        if not isinstance(delta, dict):
            raise _BadAnswer(f"sent a malformed stream chunk (no choices[0].delta): {_clip(data)!r}")
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise _BadAnswer(f"sent a malformed stream chunk (delta.content is not text): {_clip(data)!r}")
        if content:
            self._add(content)
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def result(self) -> str:
        """The whole content; _BadAnswer when it is empty or was cut at the token limit."""
        text = "".join(self.parts or ())
        if self.finish_reason == "length":
            raise _BadAnswer("stopped at the token limit before its answer was complete (finish_reason 'length'); "
                             "raise agents.llm.max_tokens")
        if not text.strip():
            raise _BadAnswer("answered with empty content")
        return text

    def _add(self, piece: str) -> None:
        if self.parts is None:
            self.parts = []
        self.parts.append(piece)
        self.pieces += 1
        self.chars += len(piece)
        if self.on_text is not None:
            self.on_text(piece)


def _first_choice(answer: Any, what: str) -> dict[str, Any] | None:
    """`choices[0]` of an answer or chunk (None when `choices` is empty); _BadAnswer for an error or a bad shape."""
    if not isinstance(answer, dict):
        raise _BadAnswer(f"sent a malformed {what} (not a JSON object): {_clip(json.dumps(answer))!r}")
    if answer.get("error") is not None:
        raise _BadAnswer(f"reported an error: {_clip(_error_message(json.dumps(answer)))}")
    choices = answer.get("choices")
    if not isinstance(choices, list):
        raise _BadAnswer(f"sent a malformed {what} (no choices list): {_clip(json.dumps(answer))!r}")
    if not choices:
        return None
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _BadAnswer(f"sent a malformed {what} (choices[0] is not an object): {_clip(json.dumps(answer))!r}")
    return choice


async def _read_some(response: httpx.Response) -> bytes:
    """The start of an (error) answer's body, at most ERROR_BODY_BYTES."""
    data = bytearray()
    async for block in response.aiter_bytes():
        data += block
        if len(data) >= ERROR_BODY_BYTES:
            break
    return bytes(data[:ERROR_BODY_BYTES])


def _error_message(text: str) -> str:
    """The message in an error body: OpenAI's {"error": {"message"}}, Ollama's {"error": "..."}, else the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return error
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str):
                    return str(error[key])
    return text


def _retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _why_unreachable(exc: BaseException) -> str:
    """"connection refused", "host not found", ... from the OS error under an httpx ConnectError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if type(seen).__name__ == "gaierror":
            return f"host not found: {seen}"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        seen = seen.__cause__ or seen.__context__
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {_clip(text)}" if text else type(exc).__name__


def _clip(text: str, limit: int = DETAIL_CHARS) -> str:
    """`text` on one line, at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"

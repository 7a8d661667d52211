"""A local LLM server speaking OpenAI's chat-completions protocol, on 127.0.0.1 and a free port, scripted per test.

Each request to `POST …/chat/completions` takes the next planned `Answer` (`server.plan(...)`, or the answers
given to `serving(...)`); when none is left, `server.responder(body)` answers if set (a daemon test or a bench
can answer by the request), else a 500 "no answer planned". An answer is built by one of the functions below:

    stream(text, chunk_chars=4, tokens_per_s=20)   server-sent events, then `data: [DONE]`
    stream(text, first_token_delay_s=3)            a slow first token (headers at once, then the wait)
    json_answer(text)                              one chat-completions JSON object (a server ignoring `stream`)
    error(429, "slow down", retry_after="1")       an error status with an OpenAI-style error body
    malformed(before="{")                          a chunk that is not JSON, after the chunks of `before`
    cut(text, after=10)                            the connection closed mid-stream (clean=True: the body ends
                                                   properly, only `data: [DONE]` is missing)
    hang()                                         no answer at all, until the client gives up or the server stops
    raw(200, b"...", "text/plain")                 any status, body and content type

Every request is recorded (`server.requests`: path, headers, parsed body); `server.active` / `server.max_active`
count the requests whose answer is still being sent (the count drops just before the last bytes go out, so a
client that starts its next request only after the previous answer is complete never sees an overlap).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

CHARS_PER_TOKEN = 4  # for `tokens_per_s`: a token is about four characters
MODEL = "test-model"  # what GET /v1/models lists


@dataclass(frozen=True, slots=True)
class Answer:
    """One planned answer; build it with `stream`, `json_answer`, `error`, `malformed`, `cut`, `hang` or `raw`."""

    kind: Literal["stream", "json", "status", "hang"]
    content: str = ""
    chunk_chars: int = 4
    tokens_per_s: float | None = None  # None: as fast as the socket takes it
    first_token_delay_s: float = 0.0
    finish_reason: str = "stop"
    ending: Literal["done", "clean", "abrupt"] = "done"  # stream: [DONE]; body ended without it; connection cut
    junk: str | None = None  # stream: a `data:` line that is not JSON, sent after `content`
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    hold_at: int = 0  # stream with `gate`: stop before the character at this offset until the gate is set
    gate: threading.Event | None = field(default=None, compare=False)


def stream(content: str, *, chunk_chars: int = 4, tokens_per_s: float | None = None,
           first_token_delay_s: float = 0.0, finish_reason: str = "stop", hold_at: int = 0,
           gate: threading.Event | None = None) -> Answer:
    """`content` as server-sent events of `chunk_chars` characters at `tokens_per_s`, then `data: [DONE]`; with
    `gate`, the stream pauses before offset `hold_at` until the test sets the gate (a deterministic "not yet")."""
    if chunk_chars < 1:
        raise ValueError("chunk_chars must be at least 1")
    return Answer("stream", content, chunk_chars, tokens_per_s, first_token_delay_s, finish_reason, hold_at=hold_at,
                  gate=gate)


def json_answer(content: str, *, finish_reason: str = "stop", delay_s: float = 0.0) -> Answer:
    """One `chat.completion` JSON object holding `content` (after `delay_s`), as from a server ignoring `stream`."""
    return Answer("json", content, first_token_delay_s=delay_s, finish_reason=finish_reason)


def error(status: int, message: str = "", *, retry_after: str | None = None) -> Answer:
    """HTTP `status` with an OpenAI-style `{"error": {"message", "type", "code"}}` body and optional Retry-After."""
    text = message or f"planned HTTP {status}"
    body = json.dumps({"error": {"message": text, "type": "server_error" if status >= 500 else "invalid_request_error",
                                 "code": status}}).encode()
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Answer("status", status=status, body=body, headers=headers)


BAD_CHUNK = '{"choices": [{"delta": {"content": "x"'  # a chunk cut off mid-object: not JSON


def malformed(before: str = "", *, junk: str = BAD_CHUNK, chunk_chars: int = 4) -> Answer:
    """The chunks of `before`, then `data: <junk>` (not JSON by default), then `data: [DONE]`."""
    return Answer("stream", before, chunk_chars, junk=junk)


def cut(content: str, *, after: int | None = None, clean: bool = False, chunk_chars: int = 4) -> Answer:
    """The chunks of `content[:after]`, then the connection closes with no `[DONE]`; `clean`: the HTTP body is
    ended properly (only the `[DONE]` event is missing), else the socket closes mid-body."""
    return Answer("stream", content if after is None else content[:after], chunk_chars,
                  ending="clean" if clean else "abrupt")


def hang() -> Answer:
    """No answer at all (not even headers) until the client closes the connection or the server stops."""
    return Answer("hang")


def raw(status: int, body: bytes, content_type: str = "application/json", *,
        headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """Any status, body and content type, sent as is."""
    return Answer("status", status=status, body=body, content_type=content_type, headers=headers)


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: Any  # the parsed JSON body (None when it was not JSON)
    raw: bytes = field(repr=False, default=b"")

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


class LlmServer(ThreadingHTTPServer):
    """The server; `url` is its API base (`http://127.0.0.1:PORT/v1`), to use as `agents.llm.url`."""

    daemon_threads = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), LlmHandler)
        self.planned: deque[Answer] = deque()
        self.responder: Callable[[Any], Answer] | None = None
        self.requests: list[Received] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Condition()
        self.closing = threading.Event()  # set at the end: every wait and hang stops
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def plan(self, *answers: Answer) -> None:
        """Queue answers for the next requests, in order."""
        with self.lock:
            self.planned.extend(answers)

    def wait_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until `count` requests have arrived; whether they did within `timeout`."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.requests) >= count, timeout)

    def stop(self) -> None:
        """End every wait, close every connection (idle keep-alive ones too) and join the handler threads."""
        self.closing.set()
        self.shutdown()
        with self.lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a timeout, a cancelled run) is routine; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def _next_answer(self, body: Any) -> Answer:
        with self.lock:
            if self.planned:
                return self.planned.popleft()
        if self.responder is not None:
            return self.responder(body)
        return error(500, "no answer planned for this request")


class LlmHandler(BaseHTTPRequestHandler):
    server: LlmServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode())
        else:
            self._send(404, b'{"error": {"message": "no such path"}}')

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        server = self.server
        with server.lock:
            server.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, data))
            server.active += 1
            server.max_active = max(server.max_active, server.active)
            server.lock.notify_all()
        self._finished = False
        try:
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._done()
                self._send(404, b'{"error": {"message": "no such path"}}')
            else:
                self._answer(server._next_answer(body), body)
        except OSError:  # the client went away (a timeout, a cancelled run)
            self.close_connection = True
        finally:
            self._done()

    def _done(self) -> None:
        """The answer is about to be complete: it no longer counts as in flight."""
        if not self._finished:
            self._finished = True
            with self.server.lock:
                self.server.active -= 1

    def _answer(self, answer: Answer, body: Any) -> None:
        model = body.get("model", MODEL) if isinstance(body, dict) else MODEL
        if answer.kind == "hang":
            while not self.server.closing.wait(0.02) and not self._client_gone():
                pass
            self.close_connection = True
            return
        if answer.kind == "status":
            self._done()
            self._send(answer.status, answer.body, answer.content_type, answer.headers)
            return
        if answer.kind == "json":
            if self.server.closing.wait(answer.first_token_delay_s):
                return
            payload = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.content},
                                    "finish_reason": answer.finish_reason}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            self._done()
            self._send(200, json.dumps(payload).encode())
            return
        self._stream(answer, model)

    def _stream(self, answer: Answer, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        closing = self.server.closing
        if closing.wait(answer.first_token_delay_s):
            return
        self._event(_chunk(model, {"role": "assistant", "content": ""}))
        text, step = answer.content, answer.chunk_chars
        for start in range(0, len(text), step):
            piece = text[start:start + step]
            if answer.gate is not None and start + step > answer.hold_at:
                while not answer.gate.wait(0.05):
                    if closing.is_set() or self._client_gone():
                        return
            if answer.tokens_per_s and closing.wait(len(piece) / CHARS_PER_TOKEN / answer.tokens_per_s):
                return
            self._event(_chunk(model, {"content": piece}))
        if answer.junk is not None:
            self._event(answer.junk)
        if answer.ending == "abrupt":
            self._done()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._event(_chunk(model, {}, answer.finish_reason))
        self._done()
        if answer.ending == "done":
            self._event("[DONE]")
        self._write_chunk(b"")

    def _client_gone(self) -> bool:
        """Whether the client closed its side of the connection."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _event(self, data: str) -> None:
        self._write_chunk(f"data: {data}\n\n".encode())

    def _write_chunk(self, data: bytes) -> None:
        """One piece of a chunked body (empty: the last one)."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send(self, status: int, payload: bytes, content_type: str = "application/json",
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


def _chunk(model: str, delta: dict[str, str], finish_reason: str | None = None) -> str:
    return json.dumps({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]},
                      ensure_ascii=False)


@contextlib.contextmanager
def serving(*answers: Answer) -> Iterator[LlmServer]:
    """A running server with `answers` planned; at the end every wait ends and every thread is joined."""
    server = LlmServer()
    server.plan(*answers)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="llm-server")
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)

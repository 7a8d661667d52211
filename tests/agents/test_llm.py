"""The LLM client against a real chat-completions stand-in over real sockets, and the streamed-item scanner."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvasd.agents.answer_stream import ArrayItemStream
from canvasd.agents.llm import LlmClient
from canvasd.config import LlmSettings
from canvasd.errors import LlmError
from tests.support.llm_server import cut, error, hang, json_answer, malformed, raw, serving, stream

KEY_VAR = "CANVASD_TEST_LLM_KEY"
MESSAGES = [{"role": "system", "content": "You ask guiding questions."},
            {"role": "user", "content": "Canvas: limits — «ε-δ» definition"}]
SCHEMA: dict[str, Any] = {"type": "object", "properties": {"questions": {"type": "array", "items": {"type": "string"}}},
                          "required": ["questions"], "additionalProperties": False}
ANSWER = json.dumps({"questions": ["What does ε bound?", 'Why "for every"?', "极限是什么？"]}, ensure_ascii=False)


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_VAR, raising=False)


def make_settings(url: str, **overrides: Any) -> LlmSettings:
    return LlmSettings(url=url, model="qwen-test", api_key_env=KEY_VAR, **overrides)


def ask(llm_settings: LlmSettings, *, pieces: list[str] | None = None, name: str = "questions") -> str:
    """One `complete()` with a fresh client, closed afterwards."""

    on_text = pieces.append if pieces is not None else None

    async def main() -> str:
        async with LlmClient(llm_settings) as llm:
            return await llm.complete(MESSAGES, SCHEMA, name=name, on_text=on_text)

    return asyncio.run(main())


def failure(llm_settings: LlmSettings) -> LlmError:
    with pytest.raises(LlmError) as caught:
        ask(llm_settings)
    return caught.value


def refused_url() -> str:
    """A URL on a port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# ------------------------------------------------------------------------------------ answers


def test_streamed_answer_is_reassembled_and_pieces_arrive_in_order():
    pieces: list[str] = []
    with serving(stream(ANSWER, chunk_chars=3)) as server:
        text = ask(make_settings(server.url), pieces=pieces)
    assert text == ANSWER
    assert pieces == [ANSWER[i:i + 3] for i in range(0, len(ANSWER), 3)]


def test_request_carries_model_messages_schema_and_stream_flag_and_no_key():
    with serving(stream(ANSWER)) as server:
        ask(make_settings(server.url, temperature=0.3, max_tokens=123), name="guiding_questions")
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {
        "model": "qwen-test", "messages": MESSAGES, "stream": True, "temperature": 0.3, "max_tokens": 123,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "guiding_questions", "schema": SCHEMA, "strict": True}},
    }
    assert request.authorization is None


def test_key_is_sent_only_when_configured_and_never_shown_in_errors(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(KEY_VAR, "sk-very-secret")
    with serving(stream(ANSWER), error(401, "Incorrect API key provided: sk-very-secret")) as server:
        keyed = make_settings(server.url)
        assert ask(keyed) == ANSWER
        caught = failure(keyed)
    assert [r.authorization for r in server.requests] == ["Bearer sk-very-secret"] * 2
    assert "HTTP 401" in str(caught)
    assert "sk-very-secret" not in str(caught) and "sk-very-secret" not in json.dumps(caught.details())
    assert "***" in str(caught)


def test_same_request_is_byte_identical():
    with serving(stream(ANSWER), stream(ANSWER)) as server:
        llm_settings = make_settings(server.url)
        ask(llm_settings)
        ask(llm_settings)
    first, second = server.requests
    assert first.raw == second.raw


def test_non_streamed_json_answer_is_accepted():
    pieces: list[str] = []
    with serving(json_answer(ANSWER)) as server:
        assert ask(make_settings(server.url), pieces=pieces) == ANSWER
    assert pieces == [ANSWER]


def test_items_are_available_before_the_answer_is_complete():
    items = ArrayItemStream("questions")
    first_item_at: list[int] = []
    pieces: list[str] = []

    def on_text(piece: str) -> None:
        pieces.append(piece)
        if items.feed(piece) and not first_item_at:
            first_item_at.append(len(pieces))

    async def main() -> str:
        async with LlmClient(make_settings(server.url)) as llm:
            return await llm.complete(MESSAGES, SCHEMA, name="questions", on_text=on_text)

    with serving(stream(ANSWER, chunk_chars=2)) as server:
        assert asyncio.run(main()) == ANSWER
    assert items.items_seen == 3 and items.done
    closing_quote = ANSWER.index('?"') + 1  # the end of the first question
    assert first_item_at == [closing_quote // 2 + 1]  # the very piece that completed it
    assert first_item_at[0] < len(pieces)


# ------------------------------------------------------------------------------------ retries


def test_429_then_success_is_retried():
    with serving(error(429, "rate limited", retry_after="0"), stream(ANSWER)) as server:
        assert ask(make_settings(server.url, retries=2)) == ANSWER
    assert len(server.requests) == 2


def test_retry_after_is_honoured():
    with serving(error(503, "loading model", retry_after="1"), stream(ANSWER)) as server:
        started = time.monotonic()
        assert ask(make_settings(server.url, retries=1)) == ANSWER
        assert time.monotonic() - started >= 0.9


def test_500_on_every_attempt_fails_naming_the_url():
    with serving(*[error(500, "model crashed", retry_after="0")] * 3) as server:
        caught = failure(make_settings(server.url, retries=2))
    assert len(server.requests) == 3
    assert caught.url == server.url
    assert str(caught).startswith(f"the LLM at {server.url} answered HTTP 500 on all 3 attempts")
    assert "model crashed" in str(caught)


def test_4xx_is_not_retried_and_names_the_server_message():
    with serving(error(400, "response_format: unknown schema keyword 'foo'")) as server:
        caught = failure(make_settings(server.url, retries=2))
    assert len(server.requests) == 1
    assert "answered HTTP 400" in caught.reason and "unknown schema keyword 'foo'" in caught.reason


def test_long_error_message_is_truncated():
    with serving(error(400, "x" * 5000)) as server:
        caught = failure(make_settings(server.url))
    assert len(caught.reason) < 400


# ------------------------------------------------------------------------------------ failures


def test_refused_port_is_unreachable():
    url = refused_url()
    caught = failure(make_settings(url))
    assert caught.url == url
    assert str(caught).startswith(f"the LLM at {url} is unreachable (connection refused)")


def test_url_without_scheme_is_not_usable():
    caught = failure(make_settings("localhost:11434/v1"))
    assert "is not a usable URL" in caught.reason


def test_unconfigured_llm_fails():
    caught = failure(LlmSettings(api_key_env=KEY_VAR))
    assert "not configured" in caught.reason


@pytest.mark.parametrize("clean", [False, True], ids=["socket-closed", "body-ended"])
def test_stream_cut_before_done_fails(clean: bool):
    pieces: list[str] = []
    with serving(cut(ANSWER, after=20, clean=clean)) as server, pytest.raises(LlmError) as caught:
        ask(make_settings(server.url), pieces=pieces)
    assert "stream ended before [DONE]" in caught.value.reason
    assert "".join(pieces) == ANSWER[:20]


def test_malformed_chunk_fails():
    with serving(malformed(before='{"questions": [')) as server:
        caught = failure(make_settings(server.url))
    assert "malformed stream chunk" in caught.reason


def test_body_that_is_neither_json_nor_events_fails():
    with serving(raw(200, b"<html>proxy login</html>", "text/html")) as server:
        caught = failure(make_settings(server.url))
    assert "neither chat-completions JSON nor an event stream" in caught.reason


def test_error_inside_the_stream_is_reported():
    with serving(malformed(junk=json.dumps({"error": {"message": "out of memory"}}))) as server:
        caught = failure(make_settings(server.url))
    assert caught.reason == "reported an error: out of memory"


def test_empty_answer_fails():
    with serving(stream("")) as server:
        caught = failure(make_settings(server.url))
    assert caught.reason == "answered with empty content"


def test_answer_cut_at_the_token_limit_fails():
    with serving(stream('{"questions": ["a', finish_reason="length")) as server:
        caught = failure(make_settings(server.url))
    assert "token limit" in caught.reason and "max_tokens" in caught.reason


def test_slow_first_token_times_out():
    with serving(stream(ANSWER, first_token_delay_s=60)) as server:
        started = time.monotonic()
        caught = failure(make_settings(server.url, timeout_s=0.5))
        elapsed = time.monotonic() - started
    assert "sent no first token within 0.5 s" in caught.reason
    assert elapsed < 20


def test_no_answer_at_all_times_out():
    with serving(hang()) as server:
        caught = failure(make_settings(server.url, timeout_s=0.5))
    assert "sent no first token within 0.5 s" in caught.reason


def test_answer_not_finished_in_time_fails():
    with serving(stream("q" * 4000, chunk_chars=4, tokens_per_s=20)) as server:  # 50 s of answer
        caught = failure(make_settings(server.url, timeout_s=1.0))
    assert "did not finish its answer within 1 s" in caught.reason


# ------------------------------------------------------------------------------------ concurrency


def run_two(llm_settings: LlmSettings) -> list[str]:
    async def main() -> list[str]:
        async with LlmClient(llm_settings) as llm:
            return list(await asyncio.gather(llm.complete(MESSAGES, SCHEMA, name="a"),
                                             llm.complete(MESSAGES, SCHEMA, name="b")))

    return asyncio.run(main())


def test_max_concurrency_one_serialises_requests():
    with serving() as server:
        # Each answer waits a moment for a second request to show up: without the limit it would overlap.
        server.responder = lambda body: (server.wait_requests(2, timeout=0.5), stream(ANSWER))[1]
        assert run_two(make_settings(server.url, max_concurrency=1)) == [ANSWER, ANSWER]
    assert len(server.requests) == 2
    assert server.max_active == 1


def test_max_concurrency_two_overlaps():
    with serving() as server:
        server.responder = lambda body: (server.wait_requests(2, timeout=10), stream(ANSWER))[1]
        assert run_two(make_settings(server.url, max_concurrency=2)) == [ANSWER, ANSWER]
    assert server.max_active == 2


def test_client_is_usable_after_aclose():
    async def main(url: str) -> list[str]:
        llm = LlmClient(make_settings(url))
        first = await llm.complete(MESSAGES, SCHEMA, name="a")
        await llm.aclose()
        second = await llm.complete(MESSAGES, SCHEMA, name="a")
        await llm.aclose()
        return [first, second]

    with serving(stream(ANSWER), stream(ANSWER)) as server:
        assert asyncio.run(main(server.url)) == [ANSWER, ANSWER]


# ------------------------------------------------------------------------------------ ArrayItemStream


def feed_all(stream_: ArrayItemStream, pieces: list[str]) -> list[Any]:
    found: list[Any] = []
    for piece in pieces:
        found.extend(stream_.feed(piece))
    return found


def test_items_come_out_as_they_complete():
    items = ArrayItemStream("questions")
    assert items.feed('{"questions": ["one", "tw') == ["one"]
    assert items.feed('o", {"q": "three"') == ["two"]
    assert items.feed('}]') == [{"q": "three"}]
    assert items.items_seen == 3 and items.done
    assert items.feed(', "more": ["x"]}') == []


def test_character_by_character_with_escapes_numbers_and_nesting():
    value = ['a "quoted" \\ back', "中文 \u2028 \U0001f600", {"k": [1, {"z": "]}"}], "s": "\\\""}, 12, -3.5e2, True,
             None, [], {}]
    for ensure_ascii in (False, True):
        text = json.dumps({"x": {"questions": ["decoy"]}, "questions": value, "y": "z"}, ensure_ascii=ensure_ascii)
        assert feed_all(ArrayItemStream("questions"), list(text)) == value


def test_only_the_top_level_field_counts():
    text = '{"a": {"questions": [1]}, "b": "\\"questions\\": [2]", "questions": [3], "questions": [4]}'
    assert feed_all(ArrayItemStream("questions"), list(text)) == [3]


def test_field_that_is_not_an_array_yields_nothing():
    items = ArrayItemStream("questions")
    assert feed_all(items, ['{"questions": "none", "other": ["x"]}']) == []
    assert items.items_seen == 0 and items.done


def test_escaped_key_and_code_fence_preamble():
    text = '```json\n{"qu\\u0065stions" :\n [ "a" ,\n"b" ] }\n```'
    assert feed_all(ArrayItemStream("questions"), [text[:13], text[13:]]) == ["a", "b"]


def test_unparseable_item_is_skipped():
    assert feed_all(ArrayItemStream("questions"), ['{"questions": [tru, "ok"]}']) == ["ok"]


def test_long_answer_is_scanned_incrementally():
    value = [f"question {i} " + "x" * 50 for i in range(2000)]
    text = json.dumps({"questions": value})
    items = ArrayItemStream("questions")
    found: list[Any] = []
    for i in range(0, len(text), 3):
        found.extend(items.feed(text[i:i + 3]))
    assert found == value


_TEXT = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from('"\\{}[],: \n\t')), max_size=20)
_ITEM = st.one_of(_TEXT, st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers(), st.lists(_TEXT, max_size=3)),
                                         max_size=4))


@settings(max_examples=300, deadline=None)
@given(value=st.lists(_ITEM, max_size=8), ensure_ascii=st.booleans(), data=st.data())
def test_random_splits_give_back_the_list(value: list[Any], ensure_ascii: bool, data: st.DataObject):
    text = '{"x": 1, "questions": ' + json.dumps(value, ensure_ascii=ensure_ascii) + ', "y": "z"}'
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=30)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    items = ArrayItemStream("questions")
    assert feed_all(items, pieces) == value
    assert items.items_seen == len(value) and items.done

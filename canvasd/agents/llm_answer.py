"""One agent call answered by the LLM: the prompt, the streamed answer, the schema check, one retry.

An answer that does not parse or does not match the agent's schema is asked for once more; a second bad
answer gives up and the runner uses the offline answer, saying why. A server that cannot be reached or
refuses raises `LlmError` (the run fails and names the URL). With `stream_items`, each item of that array is
turned into ops as soon as it is complete (`on_ops`), so the first question is on the canvas before the
answer has finished; the final answer then only adds the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from canvasd.agents.answer_stream import ArrayItemStream
from canvasd.agents.schema import schema_problems

if TYPE_CHECKING:
    from canvasd.agents.base import Agent, AgentContext, AgentOutput
    from canvasd.agents.llm import LlmClient
    from canvasd.types import JSONObject

ATTEMPTS = 2


@dataclass(slots=True)
class LlmAnswer:
    """The LLM's output for one call, or why there is none (`fallback`: use the offline answer)."""

    output: AgentOutput | None
    fallback: str | None = None


async def ask_llm(client: LlmClient, agent: Agent, ctx: AgentContext,
                  on_ops: Callable[[list[JSONObject]], None] | None = None) -> LlmAnswer:
    """Ask the LLM for the agent's answer (see the module docstring); raises LlmError when it cannot be asked."""
    assert agent.schema is not None
    messages = agent.prompt(ctx)
    item_schema = _item_schema(agent)
    placed = 0
    problem = ""
    for _ in range(ATTEMPTS):
        stream = ArrayItemStream(agent.stream_items) if agent.stream_items and on_ops is not None else None
        early: list[Any] = []

        def take(piece: str, stream: ArrayItemStream | None = stream, early: list[Any] = early,
                 before: int = placed) -> None:
            if stream is None or on_ops is None:
                return
            for item in stream.feed(piece):
                if before + len(early) >= _most_items(agent) or schema_problems(item, item_schema):
                    continue  # a bad item waits for the whole answer's check
                early.append(item)
                on_ops(agent.from_answer(ctx, {agent.stream_items: [item]}).ops)  # type: ignore[dict-item]

        text = await client.complete(messages, agent.schema, name=agent.name, on_text=take)
        placed += len(early)
        answer, problem = _parsed(text, agent.schema)
        if answer is not None:
            if agent.stream_items and placed:
                answer = {**answer, agent.stream_items: answer[agent.stream_items][placed:]}
            output = agent.from_answer(ctx, answer)
            output.result.setdefault("llm", True)
            if placed:
                output.result.setdefault("streamed", placed)
            return LlmAnswer(output)
        if placed:  # some items are on the canvas already: keep them, add no offline answer on top
            from canvasd.agents.base import AgentOutput

            return LlmAnswer(AgentOutput(result={"llm": True, "streamed": placed,
                                                 "note": f"the rest of the answer was unusable: {problem}"}))
    return LlmAnswer(None, f"the LLM's answer was unusable twice ({problem}); this is the offline answer")


def _parsed(text: str, schema: JSONObject) -> tuple[JSONObject | None, str]:
    try:
        answer = json.loads(_without_fence(text))
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    problems = schema_problems(answer, schema)
    if problems:
        return None, "; ".join(problems[:3])
    return answer, ""


def _without_fence(text: str) -> str:
    """Some servers wrap JSON in a markdown fence even when asked for a schema."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped


def _item_schema(agent: Agent) -> JSONObject:
    if not agent.stream_items or agent.schema is None:
        return {}
    field: JSONObject = agent.schema.get("properties", {}).get(agent.stream_items, {})
    items: JSONObject = field.get("items", {})
    return items


def _most_items(agent: Agent) -> int:
    if not agent.stream_items or agent.schema is None:
        return 0
    most: int = agent.schema.get("properties", {}).get(agent.stream_items, {}).get("maxItems", 1 << 30)
    return most

"""What the learning agents give the review: the verify agent's question for a card, the scorer's score for an
answer. Both offline (the review canvas is built at 06:00 on a laptop that may have no LLM running)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from canvasd.agents.base import AgentContext, CanvasView
from canvasd.canvas.model import node_text

if TYPE_CHECKING:
    from canvasd.canvas.learning import LearningStates
    from canvasd.types import JSONObject

_TEMPLATES = {
    "en": "Without looking: explain “{t}” in your own words, with an example.",
    "zh": "不看笔记，用你自己的话解释「{t}」，并举一个例子。",
}


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text[:200])


def template_question(title: str) -> str:
    """The question asked when the verify agent cannot ask one (the node is gone, or it raised)."""
    return _TEMPLATES["zh" if _is_chinese(title) else "en"].format(t=title or "?")


def question_for(vault: str, path: str, document: JSONObject, node: JSONObject, title: str,
                 states: LearningStates) -> str:
    """The verify agent's offline question about `node` of canvas `document` (a template when it has none)."""
    from canvasd.agents.builtin.verify import VerifyAgent

    ctx = AgentContext(vault, path, "review", CanvasView(document, states), (node,))
    try:
        questions = VerifyAgent().offline(ctx).result.get("questions")
    except Exception:  # an agent's failure costs the card its tailored question, never the canvas
        questions = None
    if isinstance(questions, list) and questions and isinstance(questions[0], str) and questions[0].strip():
        return questions[0]
    return template_question(title)


def score_answer(document: JSONObject, concept: JSONObject, answer: str, states: LearningStates) -> int:
    """The scorer's offline score (0-100) of `answer` as an explanation of `concept` on its canvas."""
    from canvasd.agents.builtin.score import estimate

    explanation: JSONObject = {"id": "review-answer", "type": "text", "text": answer}
    return estimate(CanvasView(document, states), concept, [explanation]).total


def concept_title(node: JSONObject) -> str:
    """A card's title: the node's first line (a file's name), at most 120 characters."""
    from canvasd.agents.builtin._common import node_title

    title = node_title(node) or node_text(node)
    return title[:120]

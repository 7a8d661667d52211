"""Review routes: the cards due, one card and its log, a rating, the day's review canvas, the statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from canvasd.errors import BodyFieldError, InvalidQueryError
from canvasd.review.rating import Rating, parse_score, rating_of_score
from canvasd.server._http import JSONResponse, object_body, read_json_body
from canvasd.server.context import ApiContext

if TYPE_CHECKING:
    from canvasd.review.subsystem import ReviewSubsystem

MAX_LIMIT = 500
_RATING_FIELDS = frozenset({"rating", "score", "at"})
_CANVAS_FIELDS = frozenset({"vault", "on"})


def _review(request: Request) -> tuple[ApiContext, ReviewSubsystem]:
    ctx: ApiContext = request.app.state.ctx
    return ctx, ctx.review


def _day(raw: object, where: str) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    error = InvalidQueryError if where == "query" else BodyFieldError
    raise error(f"'on' must be a date, YYYY-MM-DD (got {raw!r})")


def _card_path(request: Request, ctx: ApiContext) -> tuple[str, str, str]:
    vault, path, node = (request.path_params[k] for k in ("vault", "path", "node"))
    ctx.vaults.get(vault).resolve(path)  # the path rules of every canvas route (400 outside the vault)
    return vault, path, node


async def due(request: Request) -> Response:
    """GET /v1/review/due?vault=&on=YYYY-MM-DD&limit="""
    _, review = _review(request)
    params = request.query_params
    raw_limit = params.get("limit")
    try:
        limit = int(raw_limit) if raw_limit is not None else 50
    except ValueError:
        raise InvalidQueryError(f"'limit' must be an integer; got '{raw_limit}'") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQueryError(f"'limit' must be between 1 and {MAX_LIMIT}; got {limit}")
    return JSONResponse(await review.due(params.get("vault") or None, _day(params.get("on"), "query"), limit))


async def card(request: Request) -> Response:
    """GET /v1/review/cards/{vault}/{path}/nodes/{node}"""
    ctx, review = _review(request)
    return JSONResponse(await review.card(*_card_path(request, ctx)))


async def rate(request: Request) -> Response:
    """POST /v1/review/cards/{vault}/{path}/nodes/{node}/ratings with {"rating"} or {"score"}, optionally "at"."""
    ctx, review = _review(request)
    vault, path, node = _card_path(request, ctx)
    body = await read_json_body(request, ctx.settings.http.max_body_bytes)
    rating, source, at = _rating_request(body, ctx.settings.review.easy_score)
    _, entry = await review.rate(vault, path, node, rating, source=source, at=at)
    answer: dict[str, Any] = await review.card(vault, path, node)
    answer["review"] = {"rating": entry.rating.word, "source": entry.source, "scheduled": entry.scheduled}
    return JSONResponse(answer)


def _rating_request(body: Any, easy_score: int | None) -> tuple[Rating, str, datetime | None]:
    body = object_body(body, "a rating", '{"rating": "again|hard|good|easy"} or {"score": 0-100}', _RATING_FIELDS)
    if ("rating" in body) == ("score" in body):
        raise BodyFieldError("a rating names either 'rating' (again, hard, good, easy) or 'score' (0-100)")
    if "rating" in body:
        rating, source = Rating.parse(body["rating"]), "rating"
    else:
        rating, source = rating_of_score(parse_score(body["score"]), easy_score), "score"
    return rating, source, _time(body.get("at"))


def _time(raw: object) -> datetime | None:
    """A queued rating's time: an ISO datetime (UTC unless it says otherwise)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            pass
        else:
            return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    raise BodyFieldError(f"'at' must be an ISO date and time, e.g. 2026-12-07T08:30:00Z (got {raw!r})")


async def build_canvas(request: Request) -> Response:
    """POST /v1/review/canvas with {"vault", "on"}: the review canvas, written through the engine as a job."""
    ctx, review = _review(request)
    body = await read_json_body(request, ctx.settings.http.max_body_bytes)
    body = object_body(body, "a review canvas request", '{"vault", "on"}', _CANVAS_FIELDS)
    vault = body.get("vault")
    if not isinstance(vault, str) or not vault:
        raise BodyFieldError("a review canvas request needs 'vault': a vault name")
    return JSONResponse(await review.build_canvas_job(vault, _day(body.get("on"), "body")))


async def stats(request: Request) -> Response:
    """GET /v1/review/stats?vault="""
    _, review = _review(request)
    return JSONResponse(await review.stats(request.query_params.get("vault") or None))

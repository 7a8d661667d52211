"""Agent routes: the agents, asking for a run, following and cancelling runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from canvasd.errors import BodyFieldError
from canvasd.server._http import JSONResponse, object_body, read_json_body
from canvasd.server.context import ApiContext

if TYPE_CHECKING:
    from canvasd.agents.runner import AgentRunner

_RUN_FIELDS = frozenset({"vault", "path", "nodes", "state", "options", "wait"})


def _agents(request: Request) -> tuple[ApiContext, AgentRunner]:
    ctx: ApiContext = request.app.state.ctx
    return ctx, ctx.agents


async def list_agents(request: Request) -> Response:
    """GET /v1/agents"""
    _, agents = _agents(request)
    return JSONResponse({"agents": agents.agents()})


async def start_run(request: Request) -> Response:
    """POST /v1/agents/{name}/runs: 200 with the finished run (wait true), else 202 with its id and state."""
    ctx, agents = _agents(request)
    body = await read_json_body(request, ctx.settings.http.max_body_bytes)
    vault, path, nodes, state, options, wait = _run_request(body)
    run = await agents.submit(request.path_params["name"], vault, path, nodes=nodes, state=state, options=options)
    if not wait:
        return JSONResponse({"run": {"id": run.id, "state": run.state.value}}, status_code=202)
    await agents.wait(run)
    return JSONResponse({"run": run.as_dict()})


def _run_request(body: Any) -> tuple[str, str, list[str], str | None, dict[str, Any], bool]:
    body = object_body(body, "a run", '{"vault", "path", "nodes" or "state", ...}', _RUN_FIELDS)
    vault, path = body.get("vault"), body.get("path")
    if not isinstance(vault, str) or not vault or not isinstance(path, str) or not path:
        raise BodyFieldError("a run needs 'vault' and 'path': non-empty strings")
    nodes = body.get("nodes", [])
    if not isinstance(nodes, list) or not all(isinstance(n, str) and n for n in nodes):
        raise BodyFieldError("'nodes' must be an array of node ids")
    state = body.get("state")
    if state is not None and (not isinstance(state, str) or not state):
        raise BodyFieldError("'state' must be a learning state, e.g. \"not_understood\"")
    if not nodes and state is None:
        raise BodyFieldError("a run needs 'nodes' (node ids) or 'state' (every node in that learning state)")
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise BodyFieldError("'options' must be a JSON object")
    wait = body.get("wait", True)
    if not isinstance(wait, bool):
        raise BodyFieldError("'wait' must be true or false")
    return vault, path, nodes, state, options, wait


async def list_runs(request: Request) -> Response:
    """GET /v1/agents/runs: queued and running runs, then finished ones, newest first."""
    _, agents = _agents(request)
    return JSONResponse({"runs": [run.as_dict() for run in agents.runs()]})


async def run(request: Request) -> Response:
    """GET /v1/agents/runs/{id}; DELETE cancels it."""
    _, agents = _agents(request)
    run_id = request.path_params["id"]
    found = agents.cancel(run_id) if request.method == "DELETE" else agents.get(run_id)
    return JSONResponse({"run": found.as_dict()})

"""relate: a node -> the nearest nodes in other canvases, from the semantic index, linked with labelled edges.

A hit in the same vault becomes a file node pointing at its canvas; a hit in another vault a link node with
an `obsidian://open` URL. Each edge is labelled "related" with the similarity. Canvases an earlier run already
linked to the same node are skipped, so running it again adds only what is new.
"""

from __future__ import annotations

from urllib.parse import quote

from canvasd.agents.base import PROVENANCE_KEY, Agent, AgentContext, AgentOutput, add_edge
from canvasd.agents.hookspecs import hookimpl
from canvasd.errors import CanvasdError
from canvasd.types import JSONObject

DEFAULT_LIMIT = 3
MOST = 10


class RelateAgent(Agent):
    """Links a node to related notes elsewhere in the vaults."""

    name = "relate"
    description = "Links a node to the nearest nodes in other canvases (semantic index), with labelled edges."

    async def run_offline(self, ctx: AgentContext) -> AgentOutput:
        source = str(ctx.target["id"])
        if ctx.index is None:
            return AgentOutput(result={"summary": "the semantic index is not available", "related": []})
        limit = _limit(ctx.options.get("limit"))
        linked = {_linked_path(node) for node in ctx.canvas.added_by_agents(source, "related")}
        try:
            answer = await ctx.index.related(ctx.vault, ctx.path, source, limit + len(linked))
        except CanvasdError as exc:
            return AgentOutput(result={"summary": f"no related nodes: {exc}", "related": []})
        if answer is None:
            return AgentOutput(result={"summary": "the node is not in the semantic index (yet)", "related": []})
        output = AgentOutput(result={"related": []})
        for hit in answer["results"]:
            key = (hit["vault"], hit["path"])
            if key in linked or len(output.result["related"]) >= limit:
                continue
            linked.add(key)
            node = _hit_node(ctx, hit, source)
            output.ops.append({"op": "add_node", "node": node})
            output.ops.append(add_edge(ctx, source, node["id"], f"related {hit['score']:.2f}"))
            output.result["related"].append({"vault": hit["vault"], "path": hit["path"], "node": hit["node_id"],
                                             "score": hit["score"]})
        count = len(output.result["related"])
        output.result["summary"] = f"linked {count} related canvas{'es' if count != 1 else ''}"
        return output


def _hit_node(ctx: AgentContext, hit: JSONObject, source: str) -> JSONObject:
    mark = {"source": source, "role": "related", "vault": hit["vault"], "path": hit["path"], "node": hit["node_id"]}
    node: JSONObject = {"id": ctx.new_id(), PROVENANCE_KEY: mark}
    if hit["vault"] == ctx.vault:
        node.update(type="file", file=hit["path"])
    else:
        node.update(type="link", url=f"obsidian://open?vault={quote(hit['vault'])}&file={quote(hit['path'])}")
    return node


def _linked_path(node: JSONObject) -> tuple[str, str] | None:
    mark = node.get(PROVENANCE_KEY)
    if not isinstance(mark, dict) or not isinstance(mark.get("vault"), str) or not isinstance(mark.get("path"), str):
        return None
    return mark["vault"], mark["path"]


def _limit(raw: object) -> int:
    return max(1, min(MOST, raw)) if isinstance(raw, int) and not isinstance(raw, bool) else DEFAULT_LIMIT


@hookimpl
def canvasd_agents() -> list[Agent]:
    """The relate agent."""
    return [RelateAgent()]

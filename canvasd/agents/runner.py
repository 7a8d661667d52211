"""The agents as a daemon subsystem: runs are jobs on the scheduler, their answers applied through the engine.

A run is asked for (`submit`), checked at once (the agent exists, the canvas and its nodes exist, they suit the
agent), queued as a job (interactive for nodes a person picked, bulk for a batch over a learning state) and
then, in its job: the canvas is read as it is now, the agent answers (offline, or through the LLM with the
offline answer as the fallback), the rules check the answer, and an `AgentEdit` places and applies it through
the engine's writer, to the newest content on disk. Every change of a run's state is an `agent_run` event on
the change feed. Finished runs are kept in a bounded history.

As a follower of the change feed the runner keeps, per canvas, the learning colour of every node, so that
`agents.triggers` can start an agent when the learner gives a node a colour (a node turned red -> decompose).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from canvasd.agents.base import PROVENANCE_KEY, AgentContext, AgentOutput, CanvasView
from canvasd.agents.rules import check_ops
from canvasd.agents.run import AgentRun, RunState
from canvasd.canvas.commit import settling
from canvasd.errors import (
    AgentRunNotFoundError,
    AgentTargetError,
    CanvasBusyError,
    CanvasdError,
    CanvasParseError,
    NodeNotFoundError,
)
from canvasd.jobs.scheduler import Priority
from canvasd.subsystem import Phase
from canvasd.watch.follower import Absent, CanvasKey, FeedFollower, FileStamp

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from concurrent.futures import Future
    from pathlib import Path

    from canvasd.agents.base import Agent
    from canvasd.agents.edit import AgentEdit
    from canvasd.agents.llm import LlmClient
    from canvasd.agents.registry import AgentRegistry
    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.commit import CommitResult
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.config import Settings
    from canvasd.index.semantic_index import SemanticIndex
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.memory.subsystem import MemorySubsystem
    from canvasd.metrics import Metrics
    from canvasd.types import JSONObject
    from canvasd.watch.feed import ChangeFeed
    from canvasd.watch.open_canvases import OpenCanvases

log = logging.getLogger(__name__)

_JOB_GRACE_S = 5.0  # the job's own timeout lies beyond the run's, so a run that times out says so itself
_BUSY_RETRIES = 4  # a canvas another program keeps rewriting: the run's write is tried again, after a pause
_BUSY_PAUSE_S = 0.1


class AgentRunner(FeedFollower):
    """The learning agents inside the daemon; see the module docstring."""

    name = "agents"
    title = "the agents"

    def __init__(self, settings: Settings, metrics: Metrics, engine: CanvasEngine, vaults: VaultRegistry,
                 scheduler: JobScheduler, feed: ChangeFeed, *, index: SemanticIndex | None = None,
                 memory: MemorySubsystem | None = None, open_canvases: OpenCanvases | None = None) -> None:
        super().__init__(engine, vaults, scheduler, feed, enabled=settings.agents.enabled)
        self._open_canvases = open_canvases
        self._settings = settings.agents
        self._states = engine.learning_states
        self._metrics = metrics
        self._index = index
        self._memory = memory
        self.registry: AgentRegistry | None = None
        self._llm: LlmClient | None = None
        self._active: dict[str, AgentRun] = {}
        self._history: OrderedDict[str, AgentRun] = OrderedDict()
        self._colours: dict[CanvasKey, tuple[FileStamp | None, dict[str, str]]] = {}
        self._own_colours: dict[tuple[str, str, str], str] = {}  # colours runs set: not the learner's doing
        self._settling: set[asyncio.Task[None]] = set()  # runs whose job is over, waiting for their writes

    # ------------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Load the agents (built-in and plugins) and, when configured, the LLM client."""
        from canvasd.agents.registry import AgentRegistry

        self.registry = await asyncio.to_thread(
            AgentRegistry, entry_points=self._settings.plugins, disabled=self._settings.disabled)
        if self._settings.llm.configured:
            from canvasd.agents.llm import LlmClient

            self._llm = LlmClient(self._settings.llm)
        unknown = sorted(set(self._settings.triggers.values()) - set(self.registry.names()))
        if unknown:
            log.warning("agents.triggers names agents that are not enabled: %s", ", ".join(unknown))

    async def release(self) -> None:
        """End what is still queued or running and close the LLM client (the writer has flushed by now)."""
        if self._settling:
            await asyncio.wait(list(self._settling), timeout=5.0)
        for task in list(self._settling):
            task.cancel()
        for run in list(self._active.values()):
            self._finish(run, RunState.CANCELLED, "cancelled: the daemon stopped")
        if self._llm is not None:
            await self._llm.aclose()

    async def after_ready(self) -> None:
        """Load the Chinese key-term model in the background (`agents.prewarm`), so no run waits for it."""
        if self._settings.prewarm:
            from canvasd.agents.text import load_chinese_model

            self._scheduler.submit_blocking("agents_prewarm", load_chinese_model, priority=Priority.MAINTENANCE)

    def known_canvases(self) -> Mapping[CanvasKey, FileStamp | None]:
        """Canvases whose colours are known (only kept when triggers are configured)."""
        return {key: stamp for key, (stamp, _) in self._colours.items()}

    def status(self) -> dict[str, Any]:
        """Phase, agents, LLM, and how many runs are queued or running."""
        return {**super().status(), "agents": self.registry.names() if self.registry else [],
                "llm": self._settings.llm.url or None,
                "runs_active": len(self._active), "runs_kept": len(self._history)}

    # ------------------------------------------------------------------------------------ asking for runs

    def agents(self) -> list[dict[str, Any]]:
        """Every enabled agent, as `GET /v1/agents` lists it."""
        return [agent.describe() for agent in self._registry()]

    async def submit(self, agent_name: str, vault: str, path: str, *, nodes: Sequence[str] = (),
                     state: str | None = None, options: Mapping[str, Any] | None = None,
                     priority: Priority | None = None) -> AgentRun:
        """Check a run and queue it as a job; raises the error a client should see (404, 422, 503)."""
        agent = self._registry().get(agent_name)
        vault_obj = self._vaults.get(vault)
        view = await self._view(vault_obj.resolve(path))
        targets = self._targets(agent, view, vault, path, nodes, state)
        run = AgentRun(agent.name, vault, path, [n["id"] for n in targets], dict(options or {}))
        if priority is None:
            priority = Priority.BULK if state is not None and not nodes else Priority.INTERACTIVE
        self._active[run.id] = run
        run.job = self._scheduler.submit("agent_run", lambda: self._execute(run, agent), name=f"{agent.name} {path}",
                                         priority=priority, timeout=self._settings.run_timeout_s + _JOB_GRACE_S)
        if run.job.done:  # the scheduler is stopping: it came back cancelled
            self._finish(run, RunState.CANCELLED, "cancelled: the daemon is stopping")
        else:
            self._publish(run)
        return run

    async def _view(self, real: Path) -> CanvasView:
        """The canvas as it is now, parsed into a private copy (an agent cannot touch the engine's cache)."""
        engine = self._engine

        def read() -> CanvasView:
            return CanvasView(engine.private_document(engine.read_settled(real)), self._states)

        return await asyncio.to_thread(read)

    def _targets(self, agent: Agent, view: CanvasView, vault: str, path: str, nodes: Sequence[str],
                 state: str | None) -> list[JSONObject]:
        requested: list[JSONObject] = []
        for node_id in dict.fromkeys(nodes):
            node = view.node(node_id)
            if node is None:
                raise NodeNotFoundError(vault, path, node_id)
            requested.append(node)
        if state is not None:
            if state not in self._states.names:
                raise AgentTargetError(agent.name, f"unknown learning state '{state}' (one of "
                                                   f"{', '.join(self._states.names)})")
            requested += [n for n in view.nodes() if view.state(n) == state and n not in requested]
        if not requested:
            raise AgentTargetError(agent.name, "no nodes to work on: name them in 'nodes' or pick a 'state'")
        selected = agent.select(view, requested)
        if agent.targets:
            unfit = [n for n in selected if view.state(n) not in agent.targets]
            if unfit and (nodes or not state):
                raise AgentTargetError(agent.name, f"node '{unfit[0].get('id')}' is {view.state(unfit[0])}; this "
                                                   f"agent works on {', '.join(agent.targets)} nodes")
            selected = [n for n in selected if n not in unfit]
        allowed = {n["id"] for n in requested} | {other["id"] for n in requested
                                                  for _, other in view.neighbours(n["id"])}
        allowed |= {mark["source"] for n in requested if isinstance(mark := n.get(PROVENANCE_KEY), dict)
                    and isinstance(mark.get("source"), str)}  # an answer slot an agent added: its concept
        selected = [n for n in selected if n.get("id") in allowed][: self._settings.batch_limit]
        if not selected:
            raise AgentTargetError(agent.name, f"none of the nodes asked for suits it (it works on "
                                               f"{', '.join(agent.targets) or 'any'} nodes)")
        if len(selected) < agent.min_nodes or (agent.max_nodes is not None and len(selected) > agent.max_nodes):
            most = f"-{agent.max_nodes}" if agent.max_nodes is not None else " or more"
            raise AgentTargetError(agent.name, f"it works on {agent.min_nodes}{most} nodes at once, not "
                                               f"{len(selected)}")
        return selected

    # ------------------------------------------------------------------------------------ runs

    def get(self, run_id: str) -> AgentRun:
        """A queued, running or kept run; AgentRunNotFoundError otherwise."""
        run = self._active.get(run_id) or self._history.get(run_id)
        if run is None:
            raise AgentRunNotFoundError(run_id)
        return run

    def runs(self) -> list[AgentRun]:
        """Runs queued or running, then finished ones, newest first."""
        return [*reversed(self._active.values()), *reversed(self._history.values())]

    async def wait(self, run: AgentRun) -> AgentRun:
        """Until the run has ended (its writes durable, or its error known)."""
        await run.ended.wait()
        return run

    def cancel(self, run_id: str) -> AgentRun:
        """Cancel a queued or running run (what it already wrote stays); a finished run is returned as it is."""
        run = self.get(run_id)
        job = run.job
        if job is not None and not run.state.final and job.cancel() and run.state is RunState.QUEUED:
            self._finish(run, RunState.CANCELLED, "cancelled before it started")
        return run

    async def _execute(self, run: AgentRun, agent: Agent) -> None:
        """The run's job: read, answer, check and queue the writes. Waiting for them to be durable is no work, so it
        happens after the job has given its slot back (runs on one canvas then share a commit)."""
        run.started()
        self._publish(run)
        try:
            async with asyncio.timeout(self._settings.run_timeout_s):
                pending = await self._answer_and_submit(run, agent)
        except asyncio.CancelledError:
            self._finish(run, RunState.CANCELLED, "cancelled")
            raise
        except TimeoutError:
            self._finish(run, RunState.FAILED, f"ran longer than agents.run_timeout_s "
                                               f"({self._settings.run_timeout_s:g} s)")
        except CanvasdError as exc:
            log.warning("agent run %s (%s on %s/%s) failed: %s", run.id, run.agent, run.vault, run.path, exc)
            self._finish(run, RunState.FAILED, self._describe(run, exc))
        except Exception as exc:
            self._finish(run, RunState.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        else:
            task = asyncio.create_task(self._settle(run, pending), name=f"canvasd-agent-run-{run.id}")
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _answer_and_submit(self, run: AgentRun,
                                 agent: Agent) -> list[tuple[AgentEdit, Future[CommitResult]]]:
        real = self._vaults.get(run.vault).resolve(run.path)
        view = await self._view(real)
        targets = [node for node_id in run.nodes if (node := view.node(node_id)) is not None]
        if not targets:
            raise NodeNotFoundError(run.vault, run.path, run.nodes[0])
        existing = {n["id"] for n in view.nodes() if isinstance(n.get("id"), str)}
        calls = [(node,) for node in targets] if agent.per_node else [tuple(targets)]
        pending: list[tuple[AgentEdit, Future[CommitResult]]] = []
        total = AgentOutput()
        for call_targets in calls:
            ctx = AgentContext(run.vault, run.path, run.id, view, call_targets, run.options, self._index,
                               self._memory, self._llm is not None, run.ids)
            output = await self._answer(agent, ctx, run, existing, pending)
            if self._engine.queues_writes:  # queueing is cheap; the plain writer commits in the caller's thread
                pending.append(self._submit(run, agent, output.ops, existing, real))
            else:
                pending.append(await asyncio.to_thread(self._submit, run, agent, output.ops, existing, real))
            total.extend(output)
        run.result = total.result
        return pending

    async def _answer(self, agent: Agent, ctx: AgentContext, run: AgentRun, existing: set[str],
                      pending: list[tuple[AgentEdit, Future[CommitResult]]]) -> AgentOutput:
        """The agent's answer for one call: through the LLM when one is configured, else (or as its fallback)
        offline."""
        if self._llm is None or agent.schema is None:
            return await agent.run_offline(ctx)
        from canvasd.agents.llm_answer import ask_llm

        real = self._vaults.get(run.vault).resolve(run.path)

        def place_early(ops: list[JSONObject]) -> None:
            pending.append(self._submit(run, agent, ops, existing, real))

        streamed = place_early if self._engine.queues_writes else None
        answer = await ask_llm(self._llm, agent, ctx, on_ops=streamed)
        if answer.output is not None:
            return answer.output
        output = await agent.run_offline(ctx)
        output.result.setdefault("fallback", answer.fallback)
        return output

    def _submit(self, run: AgentRun, agent: Agent, ops: list[JSONObject], existing: set[str],
                real: Path) -> tuple[AgentEdit, Future[CommitResult]]:
        from canvasd.agents.edit import AgentEdit

        checked = check_ops(agent, ops, targets=set(run.nodes), existing=existing)
        run.nodes_added += len(checked.nodes)
        existing.update(node["id"] for node in checked.nodes)
        if self._settings.triggers:  # only triggers need to tell canvasd's recolours from the learner's
            for node_id, colour in checked.colours.items():
                self._own_colours[(run.vault, run.path, node_id)] = colour
        edit = AgentEdit(checked, {"agent": agent.name, "run": run.id})
        return edit, self._write(run, real, edit)

    def _write(self, run: AgentRun, real: Path, edit: AgentEdit) -> Future[CommitResult]:
        """The edit submitted to the engine, or proposed to the plugin when the canvas is open in Obsidian."""
        if self._open_canvases is not None:
            return self._open_canvases.submit((run.vault, run.path), real, edit)
        return self._engine.submit(real, edit)

    async def _settle(self, run: AgentRun, pending: list[tuple[AgentEdit, Future[CommitResult]]]) -> None:
        """Wait until every write of the run is durable, count what it added and end the run."""
        run.nodes_added = 0
        errors: list[BaseException] = []
        for edit, future in pending:
            try:
                edit = await self._durable(run, edit, future)
            except asyncio.CancelledError:
                self._finish(run, RunState.CANCELLED, "cancelled: the daemon stopped before its writes were durable")
                raise
            except CanvasdError as exc:
                errors.append(exc)
                continue
            except Exception as exc:
                log.exception("agent run %s: a write failed", run.id)
                errors.append(exc)
                continue
            run.ops += edit.applied
            run.nodes_added += sum(1 for op in edit.applied if op["op"] == "add_node")
            run.edges_added += sum(1 for op in edit.applied if op["op"] == "add_edge")
            if edit.dropped:
                run.result.setdefault("dropped", []).extend(edit.dropped)
        if errors:
            log.warning("agent run %s (%s on %s/%s) failed: %s", run.id, run.agent, run.vault, run.path, errors[0])
            self._finish(run, RunState.FAILED, self._describe(run, errors[0]))
        else:
            self._finish(run, RunState.DONE)

    async def _durable(self, run: AgentRun, edit: AgentEdit, future: Future[CommitResult]) -> AgentEdit:
        """Until `edit` is durable (the edit as committed). A canvas another program kept rewriting while it was
        committed (`canvas_busy`, or caught half-written) gets the same answer again, placed anew, a few times."""
        for attempt in range(_BUSY_RETRIES + 1):
            try:
                await asyncio.wrap_future(future)
                return edit
            except (CanvasBusyError, CanvasParseError) as exc:
                if attempt == _BUSY_RETRIES:
                    raise
                if isinstance(exc, CanvasParseError) and not await asyncio.to_thread(self._rewritten_now, run):
                    raise
            await asyncio.sleep(_BUSY_PAUSE_S * 2 ** attempt)
            edit = edit.again()
            real = self._vaults.get(run.vault).resolve(run.path)
            future = (self._write(run, real, edit) if self._engine.queues_writes
                      else await asyncio.to_thread(self._write, run, real, edit))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _rewritten_now(self, run: AgentRun) -> bool:
        """Whether the run's canvas was modified within the last two seconds (a save may be in progress)."""
        try:
            snapshot = self._engine.read(self._vaults.get(run.vault).resolve(run.path), parse=False)
        except CanvasdError:
            return False
        return settling(snapshot)

    def _describe(self, run: AgentRun, error: BaseException) -> str:
        """A run's error as the API shows it: canvases named by their vault path, never where the vault lives."""
        if not isinstance(error, CanvasdError):
            return f"{type(error).__name__}: {error}"
        try:
            real = self._vaults.get(run.vault).resolve(run.path)
        except CanvasdError:
            return str(error)
        return str(error.naming(real, run.path))

    def _finish(self, run: AgentRun, state: RunState, error: str | None = None) -> None:
        if run.state.final:
            return
        run.finished(state, error)
        self._active.pop(run.id, None)
        self._history[run.id] = run
        while len(self._history) > self._settings.history:
            self._history.popitem(last=False)
        self._metrics.agent_runs.labels(run.agent, state.value).inc()
        run_s = run.run_s()
        if run_s is not None:
            self._metrics.agent_run_seconds.labels(run.agent).observe(run_s)
        self._publish(run)

    def _publish(self, run: AgentRun) -> None:
        self._feed.publish("agent_run", run.vault, run.path, detail={
            "id": run.id, "agent": run.agent, "state": run.state.value, "nodes_added": run.nodes_added,
            "error": run.error})

    def _registry(self) -> AgentRegistry:
        self.require_answering()
        if self.registry is None:
            raise self.unavailable(f"{self.title} are still starting; try again shortly")
        return self.registry

    # ------------------------------------------------------------------------------------ triggers

    async def sync(self, vault: str, path: str, priority: Priority) -> str:
        """Compare the canvas's colours with the last ones seen; start the triggered agents on newly coloured
        nodes (only with `agents.triggers`)."""
        if not self._settings.triggers:
            return "skipped"
        snapshot = await asyncio.to_thread(self.read_canvas, vault, path)
        key = (vault, path)
        if snapshot is Absent.AWAY:
            return "skipped"
        if snapshot is Absent.GONE:
            self._colours.pop(key, None)
            return "removed"
        colours = _colours(snapshot.document)
        before = self._colours.get(key)
        signature = snapshot.signature
        self._colours[key] = ((signature[0], signature[1]) if signature else None, colours)
        if before is None and self.phase is not Phase.READY:
            return "seen"  # the start: what was coloured before canvasd looked triggers nothing
        known = before[1] if before is not None else {}  # a canvas made since the start: all of it is new
        started = 0
        for node_id, colour in colours.items():
            if known.get(node_id) == colour or self._own_colours.pop((vault, path, node_id), None) == colour:
                continue
            agent_name = self._settings.triggers.get(self._states.state_of({"color": colour}))
            if agent_name is None:
                continue
            try:
                await self.submit(agent_name, vault, path, nodes=[node_id], priority=Priority.BULK)
                started += 1
            except CanvasdError as exc:
                log.info("trigger %s on %s/%s node %s not started: %s", agent_name, vault, path, node_id, exc)
        return "triggered" if started else "unchanged"

    def _stale_canvases(self) -> list[CanvasKey]:
        return super()._stale_canvases() if self._settings.triggers else []


def _colours(document: JSONObject) -> dict[str, str]:
    nodes = document.get("nodes")
    return {n["id"]: n["color"] for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)
            and isinstance(n.get("color"), str)} if isinstance(nodes, list) else {}

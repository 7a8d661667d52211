"""Which agents exist: the built-in plugin modules and third-party ones, registered the same way (pluggy).

The built-ins are a tuple of plugin modules (`BUILTIN_PLUGINS`); third-party packages add modules through the
entry-point group `canvasd.agents`. `agents.disabled` switches agents off by name, whoever provides them.
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import TYPE_CHECKING

import pluggy

from canvasd.agents import hookspecs
from canvasd.agents.base import Agent
from canvasd.errors import AgentNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

log = logging.getLogger(__name__)

BUILTIN_PLUGINS: tuple[str, ...] = (
    "canvasd.agents.builtin.decompose",
    "canvasd.agents.builtin.probe",
    "canvasd.agents.builtin.verify",
    "canvasd.agents.builtin.score",
    "canvasd.agents.builtin.relate",
    "canvasd.agents.builtin.compare",
    "canvasd.agents.builtin.explain",
)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class AgentRegistry:
    """The agents by name, in the order their plugins registered them."""

    def __init__(self, modules: Iterable[str] = BUILTIN_PLUGINS, *, entry_points: bool = True,
                 disabled: Iterable[str] = ()) -> None:
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        for module in modules:
            manager.register(importlib.import_module(module), name=module)
        if entry_points:
            manager.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
        self._disabled = frozenset(disabled)
        self._agents: dict[str, Agent] = {}
        # pluggy calls the most recently registered plugin first: reversed, the built-ins come first, in order.
        for provided in reversed(manager.hook.canvasd_agents()):
            for agent in provided:
                self._add(agent)

    def _add(self, agent: Agent) -> None:
        name = getattr(agent, "name", None)
        if not isinstance(agent, Agent) or not isinstance(name, str) or not _NAME_RE.match(name):
            log.warning("ignoring agent %r: agents subclass canvasd.agents.base.Agent and have a lower-case name",
                        agent)
            return
        if name in self._agents:
            log.warning("ignoring a second agent named '%s' (%r); the first registered wins", name, agent)
            return
        if name not in self._disabled:
            self._agents[name] = agent

    def get(self, name: str) -> Agent:
        """The agent of that name; AgentNotFoundError (404) when none is, or it is switched off."""
        agent = self._agents.get(name)
        if agent is None:
            raise AgentNotFoundError(name, disabled=name in self._disabled)
        return agent

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents.values())

    def names(self) -> list[str]:
        """Every enabled agent's name."""
        return list(self._agents)

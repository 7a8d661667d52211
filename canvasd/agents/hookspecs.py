"""The plugin contract: a package adds agents by implementing `canvasd_agents` (pluggy).

A plugin module (built-in or third-party) looks like this:

    from canvasd.agents.hookspecs import hookimpl

    @hookimpl
    def canvasd_agents() -> list[Agent]:
        return [MyAgent()]

Third-party packages declare the module in the entry-point group `canvasd.agents`:

    [project.entry-points."canvasd.agents"]
    my_agents = "my_package.agents"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from canvasd.agents.base import Agent

PROJECT = "canvasd"
ENTRY_POINT_GROUP = "canvasd.agents"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def canvasd_agents() -> list[Agent]:  # type: ignore[empty-body]
    """The agents this plugin provides."""

"""Learning states by colour: red = not understood, purple = partly, green = mastered, yellow = own words."""

from __future__ import annotations

from collections.abc import Mapping

from canvasd.types import JSONObject

UNMARKED = "unmarked"


class LearningStates:
    """Maps node colours to learning states (from settings) and groups a canvas's nodes by state."""

    def __init__(self, states: Mapping[str, str]) -> None:
        self._by_color = {color.lower(): state for color, state in states.items()}
        self.names = list(dict.fromkeys(self._by_color.values()))

    def state_of(self, node: JSONObject) -> str:
        """The node's learning state, or `unmarked` when its colour maps to none."""
        color = node.get("color")
        return self._by_color.get(color.lower(), UNMARKED) if isinstance(color, str) else UNMARKED

    def group(self, document: JSONObject) -> dict[str, list[JSONObject]]:
        """Every configured state (and `unmarked`) with the nodes in it, in canvas order."""
        groups: dict[str, list[JSONObject]] = {name: [] for name in self.names}
        groups[UNMARKED] = []
        nodes = document.get("nodes")
        for node in nodes if isinstance(nodes, list) else []:
            if isinstance(node, dict):
                groups[self.state_of(node)].append(node)
        return groups

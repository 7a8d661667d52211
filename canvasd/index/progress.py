"""Progress of the index's start: phase, done / total, rate and ETA, for the status API, the feed and the CLI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

IndexPhase = Literal["off", "starting", "opening", "prewarming", "reconciling", "indexing", "ready", "failed"]
SETTLED: frozenset[str] = frozenset({"ready", "off", "failed"})


@dataclass(slots=True)
class IndexProgress:
    """Where the index is in its start (or a rebuild): one phase at a time, counted in steps."""

    phase: IndexPhase = "starting"
    done: int = 0
    total: int = 0
    unit: str = ""
    started: float = field(default_factory=time.monotonic)
    phase_started: float = field(default_factory=time.monotonic)
    error: str | None = None

    def enter(self, phase: IndexPhase, total: int = 0, unit: str = "") -> None:
        """Start a phase of `total` steps of `unit`."""
        self.phase, self.done, self.total, self.unit = phase, 0, total, unit
        self.phase_started = time.monotonic()

    def advance(self, steps: int = 1) -> None:
        """Count finished steps of the current phase."""
        self.done += steps

    def grow(self, steps: int) -> None:
        """More steps joined the current phase (canvases changed while it ran)."""
        self.total += steps

    def fail(self, error: str) -> None:
        """The start failed; the index answers nothing until a rebuild."""
        self.phase, self.error = "failed", error

    @property
    def settled(self) -> bool:
        """Whether the phase is final (ready, off or failed): answers are no longer partial."""
        return self.phase in SETTLED

    def eta_s(self) -> float | None:
        """Seconds left in this phase at the rate so far; None before the first step."""
        if self.done <= 0 or self.total <= self.done:
            return None if self.done <= 0 else 0.0
        elapsed = time.monotonic() - self.phase_started
        return elapsed / self.done * (self.total - self.done)

    def as_dict(self) -> dict[str, Any]:
        """The progress as a JSON-serialisable mapping."""
        eta = self.eta_s()
        return {"phase": self.phase, "done": self.done, "total": self.total, "unit": self.unit,
                "eta_s": None if eta is None else round(eta, 1),
                "elapsed_s": round(time.monotonic() - self.started, 3), "error": self.error}

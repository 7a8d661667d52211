"""Machine pressure: readings of CPU and memory use, and the concurrency limit that follows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PressureReading:
    """One sample of system-wide CPU and memory use, in percent (0-100)."""

    cpu_percent: float
    memory_percent: float


class PressureSampler(Protocol):
    """Where readings come from: psutil in the daemon, a settable reading in tests."""

    def sample(self) -> PressureReading: ...


class PsutilSampler:
    """Reads system-wide CPU use since the previous sample and current memory use; never blocks."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        # The first non-blocking call only sets the baseline (it returns a meaningless 0.0).
        psutil.cpu_percent(interval=None)

    def sample(self) -> PressureReading:
        """CPU use since the last call (per calling thread in psutil) and memory use now."""
        cpu = self._psutil.cpu_percent(interval=None)
        memory = self._psutil.virtual_memory().percent
        return PressureReading(cpu_percent=float(cpu), memory_percent=float(memory))


class ConcurrencyLimit:
    """How many jobs may run at once: halved under pressure, restored one slot per calm reading."""

    def __init__(self, maximum: int, minimum: int, cpu_high: float, memory_high: float,
                 adaptive: bool = True) -> None:
        """Start at `maximum`; under pressure never go below `minimum`; `adaptive=False` keeps it fixed."""
        if minimum < 1 or maximum < minimum:
            raise ValueError(f"need 1 <= minimum <= maximum, got minimum={minimum}, maximum={maximum}")
        self.maximum = maximum
        self.minimum = minimum
        self.cpu_high = cpu_high
        self.memory_high = memory_high
        self.adaptive = adaptive
        self.current = maximum

    def is_pressure(self, reading: PressureReading) -> bool:
        """Whether the reading is above either threshold."""
        return reading.cpu_percent > self.cpu_high or reading.memory_percent > self.memory_high

    def observe(self, reading: PressureReading) -> int:
        """Fold one reading into the limit and return the new limit."""
        if not self.adaptive:
            return self.current
        if self.is_pressure(reading):
            self.current = max(self.minimum, self.current // 2)
        else:
            # Recover one slot at a time so a brief calm moment does not unleash a full burst.
            self.current = min(self.maximum, self.current + 1)
        return self.current

"""The memory's private event loop thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from canvasd.memory._loop import EventLoopThread


async def add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def fail() -> None:
    raise ValueError("boom")


def test_runs_coroutines_and_raises_their_errors():
    loop = EventLoopThread("test-loop")
    loop.start()
    try:
        assert loop.run(add(2, 3)) == 5
        with pytest.raises(ValueError, match="boom"):
            loop.run(fail())
    finally:
        loop.close()
    with pytest.raises(RuntimeError):
        loop.run(add(1, 1))


def test_close_cancels_a_call_still_waiting():
    loop = EventLoopThread("test-loop")
    loop.start()
    started = threading.Event()
    outcome: list[BaseException] = []

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    def caller() -> None:
        try:
            loop.run(forever())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    started.wait()
    loop.close()
    thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], concurrent.futures.CancelledError)

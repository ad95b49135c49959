from __future__ import annotations

from pathlib import Path

import pytest

from kb.errors import ConfigError
from kb.settings import DEFAULT_MODEL, Settings


def test_defaults_need_no_environment() -> None:
    s = Settings.from_env({})
    assert s.articles_dir == Path("articles") and s.index_dir == Path("index")
    assert s.model == DEFAULT_MODEL and (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.admin_key is None


def test_environment_then_arguments() -> None:
    env = {"KB_ARTICLES_DIR": "/kb/a", "KB_INDEX_DIR": "/kb/i", "KB_MODEL": "m", "KB_CACHE_DIR": "/c",
           "KB_PORT": "9000", "KB_ADMIN_KEY": "secret"}
    s = Settings.from_env(env, index_dir="/override", port=None)
    assert s.articles_dir == Path("/kb/a") and s.index_dir == Path("/override")
    assert (s.model, s.cache_dir, s.port, s.admin_key) == ("m", Path("/c"), 9000, "secret")


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_bad_port_is_a_config_error(port: str) -> None:
    with pytest.raises(ConfigError, match="port"):
        Settings.from_env({"KB_PORT": port})


def test_learning_mode() -> None:
    assert Settings.from_env({}).learn == "auto"
    assert Settings.from_env({"KB_LEARN": " Review "}).learn == "review"
    assert Settings.from_env({"KB_LEARN": "auto"}, learn="off").learn == "off"
    with pytest.raises(ConfigError, match="KB_LEARN"):
        Settings.from_env({"KB_LEARN": "sometimes"})


def test_the_key_throttle() -> None:
    assert (Settings.from_env({}).key_failures, Settings.from_env({}).key_window) == (10, 900.0)
    s = Settings.from_env({"KB_KEY_FAILURES": "5", "KB_KEY_WINDOW": "60"})
    assert (s.key_failures, s.key_window) == (5, 60.0)
    for env in ({"KB_KEY_FAILURES": "0"}, {"KB_KEY_FAILURES": "many"}, {"KB_KEY_WINDOW": "nan"},
                {"KB_KEY_WINDOW": "0"}, {"KB_KEY_WINDOW": "1e9"}, {"KB_KEY_WINDOW": "soon"}):
        with pytest.raises(ConfigError, match="key_"):
            Settings.from_env(env)

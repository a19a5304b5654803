"""``${VAR}`` and ``${VAR:-default}`` anywhere in the file."""

from __future__ import annotations

from config_helpers import MINIMAL, Load

from proxyapi.config.substitution import substitute_variables
from proxyapi.keys import KeyDigest


def test_variables_are_substituted_in_nested_strings_and_lists(load: Load) -> None:
    text = MINIMAL + (
        "auth: {api_keys: ['${KEY_A}', 'static', 'pre-${KEY_B}-post']}\n"
        "server: {host: '${HOST_ADDR}'}\n"
    )
    environ = {"KEY_A": "a", "KEY_B": "b", "HOST_ADDR": "0.0.0.0"}
    config = load(text, environ).config
    assert config.auth.api_keys == [KeyDigest.of(k) for k in ("a", "static", "pre-b-post")]
    assert config.server.host == "0.0.0.0"


def test_defaults_are_used_when_the_variable_is_unset(load: Load) -> None:
    text = (
        MINIMAL + "redis: {host: '${REDIS_HOST:-cache.local}', password: '${REDIS_PASSWORD:-}'}\n"
    )
    loaded = load(text, {})
    assert (loaded.config.redis.host, loaded.config.redis.password) == ("cache.local", None)
    assert loaded.warnings == []


def test_a_set_variable_wins_over_its_default(load: Load) -> None:
    text = MINIMAL + "redis: {host: '${REDIS_HOST:-cache.local}'}\n"
    assert load(text, {"REDIS_HOST": "redis.internal"}).config.redis.host == "redis.internal"


def test_substituted_strings_are_coerced_like_written_values(load: Load) -> None:
    text = MINIMAL + "server: {port: '${PORT_NUMBER:-8080}', debug: '${DEBUG_FLAG}'}\n"
    server = load(text, {"DEBUG_FLAG": "true"}).config.server
    assert (server.port, server.debug) == (8080, True)


def test_an_unset_variable_becomes_empty_with_a_warning_naming_the_path(load: Load) -> None:
    text = MINIMAL + "auth: {api_keys: [real-key, '${API_KEY_ENV}']}\n"
    loaded = load(text, {})
    assert loaded.config.auth.api_keys == [
        KeyDigest.of("real-key")
    ]  # the empty key is dropped, never accepted
    assert loaded.warnings == ["auth.api_keys[1]: environment variable 'API_KEY_ENV' is not set"]


def test_non_string_values_are_left_alone() -> None:
    warnings: list[str] = []
    tree = {"a": 1, "b": [True, None, 2.5], "c": {"d": "${X}"}}
    assert substitute_variables(tree, {"X": "x"}, warnings) == {
        "a": 1,
        "b": [True, None, 2.5],
        "c": {"d": "x"},
    }
    assert warnings == []

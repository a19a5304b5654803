"""ENVIRONMENT picks defaults the file did not set."""

from __future__ import annotations

import pytest
from config_helpers import MINIMAL, Load


def test_development_is_the_default_with_text_logs(load: Load) -> None:
    config = load().config
    assert (config.app.environment, config.logging.format, config.logging.level) == (
        "development",
        "text",
        "INFO",
    )


def test_production_defaults_to_json_warning_logs_and_no_debug(load: Load) -> None:
    config = load(environ={"ENVIRONMENT": "production"}).config
    assert config.app.environment == "production"
    assert (config.logging.format, config.logging.level) == ("json", "WARNING")
    assert (config.app.debug, config.server.debug) == (False, False)


def test_staging_defaults_to_json_logs_at_info(load: Load) -> None:
    config = load(environ={"ENVIRONMENT": "staging"}).config
    assert (config.logging.format, config.logging.level) == ("json", "INFO")


def test_the_file_can_choose_the_environment(load: Load) -> None:
    config = load(MINIMAL + "app: {environment: production}\n").config
    assert config.logging.format == "json"


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_what_the_file_sets_beats_the_environment_defaults(load: Load, environment: str) -> None:
    text = MINIMAL + "logging: {format: text, level: error}\nserver: {debug: true}\n"
    config = load(text, {"ENVIRONMENT": environment}).config
    assert (config.logging.format, config.logging.level, config.server.debug) == (
        "text",
        "ERROR",
        True,
    )


def test_variables_beat_the_environment_defaults(load: Load) -> None:
    environ = {"ENVIRONMENT": "production", "PROXY_API_LOG_LEVEL": "INFO", "PROXY_API_DEBUG": "1"}
    config = load(environ=environ).config
    assert (config.logging.level, config.app.debug) == ("INFO", True)


def test_the_environment_name_is_case_insensitive_in_the_file(load: Load) -> None:
    config = load(MINIMAL + "app: {environment: Production}\n").config
    assert (config.app.environment, config.logging.format) == ("production", "json")

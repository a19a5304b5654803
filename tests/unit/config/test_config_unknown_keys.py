"""Keys the schema does not know are warnings with their path, not errors."""

from __future__ import annotations

from config_helpers import MINIMAL, Load


def test_a_typo_in_a_provider_is_reported_with_its_path(load: Load) -> None:
    text = MINIMAL.replace("models: [gpt-4o]", "models: [gpt-4o]\n    timout: 30")
    loaded = load(text)
    assert loaded.warnings == ["providers[0].timout: unknown key (ignored)"]
    assert loaded.config.providers[0].timeout == 30.0  # the default, since the typo is ignored


def test_unknown_sections_and_nested_keys_are_reported(load: Load) -> None:
    text = MINIMAL + (
        "servre: {port: 1}\n"
        "rate_limit: {providers: {openai: {requests_per_minute: 5, burts: 1}}}\n"
        "logging: {structured: {enabeld: true}}\n"
    )
    assert load(text).warnings == [
        "servre: unknown key (ignored)",
        "rate_limit.providers.openai.burts: unknown key (ignored)",
        "logging.structured.enabeld: unknown key (ignored)",
    ]


def test_free_form_mappings_are_not_unknown_keys(load: Load) -> None:
    text = MINIMAL.replace(
        "models: [gpt-4o]",
        "models: [gpt-4o]\n    headers: {X-Org: acme}\n    deployments: {gpt-4o: prod}",
    ) + (
        "model_overrides: {gpt-4o: {temperature: 0.2, anything: 1}}\n"
        "rate_limit: {routes: {/v1/embeddings: 1000/minute}}\n"
        "load_testing: {scenarios: {custom: {weight: 5, whatever: true}}}\n"
    )
    assert load(text).warnings == []


def test_sections_the_seeds_mention_but_the_gateway_ignores_are_tolerated(load: Load) -> None:
    text = MINIMAL + "network_simulation: {latency_ms: 50}\nalerting: {cache: []}\n"
    assert load(text).warnings == []


def test_max_retries_is_an_alias_not_an_unknown_key(load: Load) -> None:
    text = MINIMAL.replace("models: [gpt-4o]", "models: [gpt-4o]\n    max_retries: 7")
    loaded = load(text)
    assert (loaded.config.providers[0].retry_attempts, loaded.warnings) == (7, [])

"""The /health report: seed 003's shape, filled from the running Gateway."""

from __future__ import annotations

from proxyapi.api.health import health_report
from proxyapi.config import validate_config
from proxyapi.gateway import Gateway


def gateway(**sections: object) -> Gateway:
    providers = [{"name": "a", "type": "openai", "api_key_env": "A_KEY", "models": ["m"]}]
    return Gateway(validate_config({"providers": providers, **sections}), environ={"A_KEY": "k"})


def test_the_version_is_the_configured_app_version() -> None:
    assert health_report(gateway(app={"version": "9.9.9"}))["version"] == "9.9.9"


def test_every_check_of_the_seed_is_present_with_a_status() -> None:
    report = health_report(gateway())
    assert report["status"] in {"healthy", "degraded", "unhealthy"}
    for name in ("providers", "memory", "cache", "http_client"):
        assert report["checks"][name]["status"] in {"healthy", "degraded", "unhealthy"}


def test_no_usable_provider_is_unhealthy() -> None:
    config = validate_config(
        {"providers": [{"name": "a", "type": "openai", "api_key_env": "A_KEY", "models": ["m"]}]}
    )
    report = health_report(Gateway(config, environ={}))
    assert report["checks"]["providers"]["status"] == "unhealthy"
    assert report["status"] == "unhealthy"

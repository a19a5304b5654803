"""Health probes answer as seed 003 describes them."""

from __future__ import annotations

import httpx
import pytest
from processes import Running

pytestmark = pytest.mark.integration


def test_health_has_the_seed_shape(gateway: Running) -> None:
    for path in ("/health", "/v1/health"):
        body = httpx.get(gateway.url + path).json()
        assert set(body) >= {"status", "timestamp", "version", "uptime", "checks"}
        assert set(body["checks"]) >= {"providers", "memory", "cache", "http_client"}
        providers = body["checks"]["providers"]
        assert providers["total"] == 10 and providers["enabled"] == 10
        assert providers["skipped"] == {
            "keyless": "environment variable PROXYAPI_TEST_UNSET_KEY is not set"
        }
        assert body["checks"]["memory"]["used_mb"] > 0
        assert "requests_total" in body["checks"]["http_client"]


def test_a_skipped_provider_makes_health_degraded_not_down(gateway: Running) -> None:
    response = httpx.get(gateway.url + "/health")
    assert response.status_code == 200
    assert response.json()["checks"]["providers"]["status"] == "degraded"


def test_liveness_and_readiness(gateway: Running) -> None:
    assert httpx.get(gateway.url + "/health/live").json() == {"status": "alive"}
    ready = httpx.get(gateway.url + "/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"

"""Blocks for seeing what the gateway does: logging, telemetry, metrics, health checks, memory."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from proxyapi.config._fields import ByteSize, Percent, Port, Positive, Probability, Section

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class StructuredLogging(Section):
    enabled: bool = True
    include_trace_id: bool = True
    include_span_id: bool = True
    include_request_id: bool = True


class LokiSink(Section):
    enabled: bool = False
    url: str = "http://localhost:3100/loki/api/v1/push"
    labels: dict[str, str] = Field(default_factory=dict)


class ElasticsearchSink(Section):
    enabled: bool = False
    hosts: list[str] = Field(default_factory=lambda: ["localhost:9200"])
    index: str = "llm-proxy-logs"
    username: str | None = None
    password: str | None = None


class ExternalLogging(Section):
    loki: LokiSink = Field(default_factory=LokiSink)
    elasticsearch: ElasticsearchSink = Field(default_factory=ElasticsearchSink)


class LoggingConfig(Section):
    """``logging:``; the level is case-insensitive on input and upper case after loading."""

    level: LogLevel = "INFO"
    format: Literal["json", "text"] = "text"
    file: str | None = None
    max_file_size: ByteSize = 100 * 1024**2
    max_files: Positive = 5
    rotation: Literal["daily", "size", "time"] = "size"
    compression: str | None = "gzip"
    encoding: str = "utf-8"
    structured: StructuredLogging = Field(default_factory=StructuredLogging)
    filters: list[dict[str, Any]] = Field(default_factory=list)
    external: ExternalLogging = Field(default_factory=ExternalLogging)

    @field_validator("level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Exporter(Section):
    enabled: bool = False
    endpoint: str = ""
    username: str | None = None
    password: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class SamplingRule(Section):
    service: str
    probability: Probability


class Sampling(Section):
    probability: Probability = 1.0
    parent_based: bool = True
    rules: list[SamplingRule] = Field(default_factory=list)


class TelemetryConfig(Section):
    """OpenTelemetry tracing (``telemetry:``).

    Off by default (the seed's example turns it on): exporting spans to a
    collector that is not there would only produce connection errors.
    """

    enabled: bool = False
    service_name: str = "llm-proxy"
    service_version: str | None = None
    jaeger: Exporter = Field(
        default_factory=lambda: Exporter(enabled=True, endpoint="http://localhost:14268/api/traces")
    )
    zipkin: Exporter = Field(
        default_factory=lambda: Exporter(
            enabled=True, endpoint="http://localhost:9411/api/v2/spans"
        )
    )
    otlp: Exporter = Field(default_factory=lambda: Exporter(endpoint="http://localhost:4317"))
    sampling: Sampling = Field(default_factory=Sampling)
    resource: dict[str, str] = Field(default_factory=dict)


class PrometheusMetrics(Section):
    enabled: bool = True
    port: Port = 9090
    path: str = "/metrics"
    registry: str = "default"


class CustomMetrics(Section):
    enabled: bool = True
    prefix: str = "llm_proxy"
    labels: dict[str, str] = Field(default_factory=dict)


class MetricsCollection(Section):
    interval: Positive = 30
    timeout: Positive = 10


class AlertRule(Section):
    name: str
    condition: str
    severity: Literal["info", "warning", "critical"] = "warning"
    description: str = ""


class MetricsAlerting(Section):
    enabled: bool = True
    rules: list[AlertRule] = Field(default_factory=list)


class MetricsConfig(Section):
    """Prometheus metrics (``metrics:``)."""

    enabled: bool = True
    prometheus: PrometheusMetrics = Field(default_factory=PrometheusMetrics)
    custom: CustomMetrics = Field(default_factory=CustomMetrics)
    collection: MetricsCollection = Field(default_factory=MetricsCollection)
    alerting: MetricsAlerting = Field(default_factory=MetricsAlerting)


class HealthChecks(Section):
    providers: bool = True
    cache: bool = True
    database: bool = False
    external_services: bool = True


class DetailedHealth(Section):
    enabled: bool = True
    include_metrics: bool = True
    include_config: bool = False


class HealthEndpoints(Section):
    liveness: str = "/health/live"
    readiness: str = "/health/ready"
    detailed: str = "/health"


class HealthCheckConfig(Section):
    """Background health checks and the ``/health`` probes (``health_check:``)."""

    enabled: bool = True
    interval: Positive = 30
    timeout: Positive = 5
    unhealthy_threshold: Positive = 3
    checks: HealthChecks = Field(default_factory=HealthChecks)
    detailed: DetailedHealth = Field(default_factory=DetailedHealth)
    endpoints: HealthEndpoints = Field(default_factory=HealthEndpoints)


class GcTuning(Section):
    enabled: bool = True
    generation0_threshold: Positive = 700
    generation1_threshold: Positive = 10
    generation2_threshold: Positive = 10


class MemoryProfiling(Section):
    enabled: bool = False
    dump_on_high_usage: bool = True
    profile_interval: Positive = 300


class MemoryConfig(Section):
    """Memory limits, GC tuning and profiling (``memory:``); thresholds in percent."""

    max_usage_percent: Percent = 85
    threshold_mb: Positive | None = Field(
        None,
        description="the process's memory limit (MEMORY_THRESHOLD_MB); omitted: the "
        "container's cgroup limit, else the machine's RAM",
    )
    gc_threshold_percent: Percent = 80
    emergency_threshold_percent: Percent = 95
    monitoring_interval: Positive = 30
    cache_cleanup_interval: Positive = 300
    gc_tuning: GcTuning = Field(default_factory=GcTuning)
    profiling: MemoryProfiling = Field(default_factory=MemoryProfiling)

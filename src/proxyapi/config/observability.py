"""Blocks for seeing what the gateway does: logging, telemetry, metrics, health checks, memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from proxyapi.config._fields import (
    ByteSize,
    Count,
    Percent,
    Port,
    Positive,
    Probability,
    Seconds,
    Section,
)

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
    format: Literal["json", "text"] | None = Field(
        None,
        description="json or text; omitted: JSON lines when app.environment is production, "
        "text otherwise (LOG_JSON_FORMAT)",
    )
    file: str | None = None
    max_file_size: ByteSize = 100 * 1024**2
    max_files: Positive = Field(5, description="rotated files kept (LOG_BACKUP_COUNT)")
    rotation: Literal["daily", "size", "time"] = "size"
    compression: str | None = "gzip"
    encoding: str = "utf-8"
    structured: StructuredLogging = Field(default_factory=StructuredLogging)
    filters: list[dict[str, Any]] = Field(default_factory=list)
    external: ExternalLogging = Field(default_factory=ExternalLogging)
    access_log: bool = Field(
        True, description="one line per request: method, route, status, latency, provider..."
    )
    log_content: bool = Field(
        False, description="also log request messages and answers; off, content is never logged"
    )

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
    port: Port | None = Field(
        None,
        description="also serve the metrics on this port, apart from the API (METRICS_PORT); "
        "omitted: only on the API's port",
    )
    path: str = Field("/metrics", pattern=r"^/[A-Za-z0-9/_.-]*$")
    registry: str = "default"


class CustomMetrics(Section):
    enabled: bool = True
    prefix: str = "llm_proxy"
    labels: dict[str, str] = Field(default_factory=dict)


class MetricsCollection(Section):
    interval: Positive = 30
    timeout: Positive = 10


ConditionOp = Literal[">", ">=", "<", "<="]

CONDITION_FIGURES = (
    "error_rate",
    "avg_response_time",
    "avg_response_time_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "cpu_percent",
    "memory_percent",
    "requests_per_second",
)
"""The figures an alert condition can name, all computed over the last evaluation window."""

# The seed writes avg_response_time; the unit is milliseconds like the other latencies.
_FIGURE_ALIASES = {"avg_response_time": "avg_response_time_ms"}
# Upper bounds; error_rate's catches a percentage written where a fraction is meant.
_FIGURE_MAXIMA = {"error_rate": 1.0, "cpu_percent": 100.0, "memory_percent": 100.0}
_OPS: tuple[ConditionOp, ...] = (">=", "<=", ">", "<")  # two-character operators first


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed :attr:`AlertRule.condition`, so evaluation never re-reads the string.

    ``figure`` is the canonical name (``avg_response_time`` becomes ``avg_response_time_ms``).
    """

    figure: str
    op: ConditionOp
    threshold: float

    def holds(self, value: float) -> bool:
        """Whether ``value`` of the figure makes the condition true."""
        if self.op == ">":
            return value > self.threshold
        if self.op == ">=":
            return value >= self.threshold
        if self.op == "<":
            return value < self.threshold
        return value <= self.threshold

    def __str__(self) -> str:
        return f"{self.figure} {self.op} {self.threshold:g}"


def parse_condition(text: str) -> Condition:
    """Parse ``<figure> <op> <number>`` (``error_rate > 0.05``); spaces are optional.

    Raises ValueError with a message meant for the user.
    """
    for op in _OPS:
        left, found, right = text.partition(op)
        if found:
            break
    else:
        raise ValueError(
            f"{text!r} is not a condition; write '<figure> <op> <number>' "
            "with op one of > >= < <=, e.g. 'error_rate > 0.05'"
        )
    figure = left.strip()
    if figure not in CONDITION_FIGURES:
        raise ValueError(f"unknown figure {figure!r}; known: {', '.join(CONDITION_FIGURES)}")
    try:
        threshold = float(right.strip())
    except ValueError:
        raise ValueError(f"{right.strip()!r} in {text!r} is not a number") from None
    maximum = _FIGURE_MAXIMA.get(figure)
    if not 0 <= threshold <= (float("inf") if maximum is None else maximum):  # refuses nan too
        bounds = "not be negative" if maximum is None else f"be from 0 to {maximum:g}"
        hint = " (a fraction: 5% is 0.05)" if figure == "error_rate" else ""
        raise ValueError(f"{figure} threshold {threshold:g} should {bounds}{hint}")
    return Condition(_FIGURE_ALIASES.get(figure, figure), op, threshold)


class AlertRule(Section):
    """One alert on a figure of the last evaluation window (``metrics.alerting.rules``)."""

    name: str
    condition: str = Field(
        description="<figure> <op> <number>, op one of > >= < <=; figures: "
        + ", ".join(CONDITION_FIGURES)
    )
    severity: Literal["info", "warning", "critical"] = "warning"
    description: str = ""

    @field_validator("condition")
    @classmethod
    def _check_condition(cls, value: str) -> str:
        parse_condition(value)
        return value

    @property
    def parsed_condition(self) -> Condition:
        """The condition parsed; parse once and keep it, this does not cache."""
        return parse_condition(self.condition)


class MetricsAlerting(Section):
    """Built-in alerting to a webhook (``ALERT_*``), for operators without an Alertmanager."""

    enabled: bool = True
    webhook_url: str | None = Field(
        None,
        description="Slack-compatible incoming webhook (ALERT_WEBHOOK_URL); omitted: no alerts",
    )
    cpu_threshold: Percent = Field(80.0, description="CPU percent (ALERT_CPU_THRESHOLD)")
    memory_threshold: Percent = Field(85.0, description="memory percent (ALERT_MEMORY_THRESHOLD)")
    evaluation_interval: Seconds = 15.0
    repeat_interval: Seconds = Field(
        3600.0, description="remind of a still-firing alert after this long"
    )
    min_requests: Count = Field(
        10, description="requests in an evaluation window before rates and latencies are judged"
    )
    min_hold: Seconds = Field(
        60.0, description="changes of one alert closer than this are coalesced (no flapping)"
    )
    max_per_minute: Positive = 10
    timeout: Seconds = 5.0
    rules: list[AlertRule] = Field(
        default_factory=lambda: [
            AlertRule(
                name="high_error_rate",
                condition="error_rate > 0.05",
                severity="warning",
                description="Error rate is above 5%",
            ),
            AlertRule(
                name="high_latency",
                condition="p95_latency_ms > 5000",
                severity="critical",
                description="p95 latency is above 5 seconds",
            ),
        ]
    )


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

    enabled: bool = Field(True, description="background provider checks")
    interval: Seconds = Field(30, description="seconds between checks (HEALTH_CHECK_INTERVAL)")
    timeout: Seconds = 5
    unhealthy_threshold: Positive = Field(3, description="failures in a row before unhealthy")
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

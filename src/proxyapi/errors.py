"""The one exception hierarchy of ProxyAPI, and its rendering as OpenAI error JSON.

```
ProxyError                         status, type, code; rendered once as OpenAI JSON
  ConfigError                      a configuration that cannot be used (path: reason lines)
  ClientError
    InvalidRequest          400
      ContentBlocked        400  content_filter (a validation.content_filter block rule)
    AuthenticationFailed    401
    PermissionDenied        403
    ModelNotFound           404
    NotFound                404
    PayloadTooLarge         413
    UnsupportedMediaType    415
    RateLimited             429
  ServiceUnavailable        503  (rate limiter unreachable, fail closed)
  UpstreamError            (provider, status, is_retryable)
    UpstreamTimeout          504  (also a TimeoutError)
    UpstreamConnectError     502  (also a ConnectionError)
    UpstreamAuthError        502  (the provider refused our key)
    CircuitOpen              503  (skipped: its breaker is open)
    UpstreamRateLimited      429
      ProviderOverLimit      429  (our own limit on that provider; skipped)
    UpstreamStatusError      the upstream's own status (Retry-After on 503 / 529)
    ContextLengthExceeded    400  context_length_exceeded
    InvalidUpstreamResponse  502  (not OpenAI-shaped; retryable)
    UpstreamResponseTooLarge 502  (over validation.response.max_response_size)
  NoProviderAvailable       503  (nothing could be tried)
  AllProvidersFailed        502  (everything tried failed)
```

Retryability is an attribute of the class (``is_retryable``), never a list of
status codes scattered around the request path. Messages never carry provider
keys or internal URLs: upstream messages are passed on, our own are written here.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import orjson


class ProxyError(Exception):
    """Base of every error the gateway raises on purpose."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.error_code = code if code is not None else self.code

    @property
    def http_status(self) -> int:
        """The status sent to the client; upstream errors override it per instance."""
        return self.status

    def headers(self) -> dict[str, str]:
        """Extra response headers (``Retry-After`` on rate limits)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.error_code,
            }
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


class ConfigError(ProxyError):
    """A configuration that cannot be used; ``problems`` holds one ``path: reason`` each."""

    type = "configuration_error"

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        super().__init__(f"Configuration validation failed for {source}")
        self.problems = problems
        self.source = source


class ClientError(ProxyError):
    status = 400
    type = "invalid_request_error"


class InvalidRequest(ClientError):
    status = 400
    code = "invalid_request"


class ContentBlocked(InvalidRequest):
    """A ``block`` rule of ``validation.content_filter`` matched the request."""

    code = "content_filter"


class AuthenticationFailed(ClientError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class ModelNotFound(ClientError):
    status = 404
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model '{model}' does not exist or no enabled provider serves it.",
            param="model",
        )


class NotFound(ClientError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ClientError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(ClientError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        scope: str = "global",
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self._headers = headers
        self.scope = scope  # which limit refused it: proxy_api_rate_limit_rejections_total

    def headers(self) -> dict[str, str]:
        """The rate-limit headers the limiter chose, else a plain ``Retry-After``."""
        if self._headers is not None:
            return self._headers
        return retry_after_header(self.retry_after)


class ServiceUnavailable(ProxyError):
    """The gateway cannot judge the request now (its rate-limit backend is down, fail closed)."""

    status = 503
    type = "service_unavailable"
    code = "service_unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


def retry_after_header(seconds: float | None) -> dict[str, str]:
    """``Retry-After`` in whole seconds (at least 1, RFC 9110 delay-seconds), if known.

    Rounded up: a client that waits exactly as long as told should then succeed.
    """
    if seconds is None:
        return {}
    return {"Retry-After": str(whole_seconds(seconds))}


def whole_seconds(seconds: float) -> int:
    """``seconds`` rounded up to a whole second, at least 1 (float noise ignored)."""
    return max(1, math.ceil(seconds - 1e-6))


class UpstreamError(ProxyError):
    """A provider failed; ``is_retryable`` says whether the next candidate may be tried.

    ``retry_after`` is the upstream's own hint (seconds), sent on as ``Retry-After``.
    """

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    is_retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        upstream_status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.provider = provider
        self.upstream_status = upstream_status
        self.error_type = error_type or self.type
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return retry_after_header(self.retry_after)

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["type"] = self.error_type
        return body


class UpstreamTimeout(UpstreamError, TimeoutError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class UpstreamConnectError(UpstreamError, ConnectionError):
    status = 502
    code = "upstream_connect_error"


class UpstreamAuthError(UpstreamError):
    """The provider refused *our* key. Retryable: another provider may accept its own.

    The client is not told the provider's message: it can name the key.
    """

    status = 502
    code = "upstream_authentication_failed"

    def __init__(self, provider: str, upstream_status: int) -> None:
        super().__init__(
            f"Provider '{provider}' rejected the gateway's credentials "
            f"(status {upstream_status}); check its api_key_env.",
            provider=provider,
            upstream_status=upstream_status,
        )


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class ProviderOverLimit(UpstreamRateLimited):
    """The gateway's own limit on a provider is spent: skipped without being called."""

    code = "provider_rate_limit_exceeded"

    def __init__(self, provider: str, retry_after: float) -> None:
        super().__init__(
            f"Provider '{provider}' is at the rate limit configured for it; "
            f"retry after {whole_seconds(retry_after)} s.",
            provider=provider,
            retry_after=retry_after,
        )


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an error status; passed on with that status.

    5xx answers are retryable (another provider may do better); 4xx are the
    client's fault and would fail the same way everywhere.
    """

    @property
    def http_status(self) -> int:
        return self.upstream_status or self.status

    @property
    def is_retryable(self) -> bool:  # type: ignore[override]
        return (self.upstream_status or 500) >= 500


class ContextLengthExceeded(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = "context_length_exceeded"
    is_retryable = False


class InvalidUpstreamResponse(UpstreamError):
    """The provider answered 200 with a body that is not the OpenAI shape."""

    code = "invalid_upstream_response"


class UpstreamResponseTooLarge(UpstreamError):
    """The answer is over ``validation.response.max_response_size``.

    Not retried: the same prompt would likely be as long anywhere.
    """

    code = "response_too_large"
    is_retryable = False


class CircuitOpen(UpstreamError):
    """The provider's circuit breaker is open: it was skipped without being called."""

    status = 503
    type = "service_unavailable"
    code = "circuit_open"

    def __init__(self, provider: str) -> None:
        super().__init__(
            f"Provider '{provider}' is failing; its circuit breaker is open.", provider=provider
        )


class NoProviderAvailable(ProxyError):
    status = 503
    type = "service_unavailable"
    code = "no_provider_available"


class AllProvidersFailed(ProxyError):
    status = 502
    type = "upstream_error"
    code = "all_providers_failed"

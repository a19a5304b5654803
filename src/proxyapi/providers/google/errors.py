"""Google's failures as the gateway's ``UpstreamError`` classes, and the parameters
Gemini cannot honour.

Google answers ``{"error": {"code", "message", "status", "details"}}`` (sometimes
wrapped in a list), per https://ai.google.dev/gemini-api/docs/troubleshooting and
``google.rpc.Status``; a 429 may carry ``google.rpc.RetryInfo`` in ``details``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from proxyapi.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamError,
)
from proxyapi.providers._errors import body_excerpt, load_json, rate_limited, status_error
from proxyapi.providers.base import Deployment, JSONObject

logger = logging.getLogger("proxyapi.providers.google")


def refuse(param: str, deployment: Deployment, detail: str = "") -> None:
    """A parameter Gemini cannot honour: 400 naming it, or dropped under ``drop_params``."""
    if deployment.drop_params:
        logger.debug(
            "dropping '%s' for provider %s: Gemini cannot honour it", param, deployment.name
        )
        return
    raise InvalidRequest(
        f"Parameter '{param}' is not supported by Google Gemini{detail}. "
        "Remove it, or set drop_params on the provider to drop it.",
        param=param,
        code="unsupported_parameter",
    )


def check_params(body: JSONObject, known: frozenset[str], deployment: Deployment) -> None:
    for name, value in body.items():
        if value is not None and name not in known:
            refuse(name, deployment)


def _error_object(body: bytes) -> JSONObject:
    """Google's ``{"error": {code, message, status, details}}``, also when list-wrapped."""
    parsed = load_json(body)
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_delay(details: Any) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` ("3s", "19.4s") in seconds."""
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            try:
                return float(str(delay).removesuffix("s"))
            except ValueError:
                return None
    return None


def _is_key_rejected(message: str, details: Any) -> bool:
    """AI Studio answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    reasons = (
        {detail.get("reason") for detail in details or [] if isinstance(detail, dict)}
        if isinstance(details, list)
        else set()
    )
    return "API_KEY_INVALID" in reasons or "api key not valid" in message.lower()


def _is_context_error(message: str) -> bool:
    # "The input token count (N) exceeds the maximum number of tokens allowed (M)."
    # (google-gemini/gemini-cli#4118 and many more).
    lowered = message.lower()
    return "token count" in lowered and "exceeds the maximum" in lowered


def classify(status: int, headers: Mapping[str, str], body: bytes, provider: str) -> UpstreamError:
    error = _error_object(body)
    message = str(error.get("message") or body_excerpt(body))
    details = error.get("details")
    if status == 429:
        return rate_limited(
            message,
            headers,
            provider,
            retry_after=_retry_delay(details),
            code="rate_limit_exceeded",
        )
    if status in (401, 403) or (status == 400 and _is_key_rejected(message, details)):
        return UpstreamAuthError(provider, status)
    if status == 400 and _is_context_error(message):
        return ContextLengthExceeded(
            message, provider=provider, upstream_status=status, param="messages"
        )
    google_status = error.get("status")
    code = str(google_status).lower() if google_status else None
    return status_error(message, headers, provider, status, code=code)

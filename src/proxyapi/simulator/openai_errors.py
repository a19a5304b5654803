"""OpenAI's error bodies, as its API really sends them.

Every failure the simulator produces on an OpenAI route is a ``SimulatedError``
rendered once as ``{"error": {"message", "type", "param", "code"}}``; messages
are copied from OpenAI's responses so a client's error handling meets the real
thing. API keys are masked the way OpenAI masks them, never echoed whole.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web

_DOCS_KEYS = "You can find your API key at https://platform.openai.com/account/api-keys."


class SimulatedError(Exception):
    """An OpenAI-shaped error response, raised anywhere and rendered at the route."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "type": error_type, "param": param, "code": code}
        self.headers = dict(headers or {})

    def to_response(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=orjson.dumps({"error": self.body}),
            content_type="application/json",
            headers=self.headers,
        )

    def to_sse_event(self) -> bytes:
        """The event OpenAI sends when a stream fails after it has started."""
        return b"data: " + orjson.dumps({"error": self.body}) + b"\n\n"


def mask_key(key: str) -> str:
    """``sk-ab***wxyz``: enough to recognise a key, never enough to use it."""
    return f"{key[:5]}***{key[-4:]}" if len(key) >= 12 else "***"


def invalid_json() -> SimulatedError:
    return SimulatedError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you "
        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
        "but what was sent was not valid JSON. If you have trouble figuring out how to fix "
        "this, please contact us through our help center at help.openai.com.)",
        "invalid_request_error",
    )


def missing_model() -> SimulatedError:
    return SimulatedError(400, "you must provide a model parameter", "invalid_request_error")


def missing_parameter(param: str) -> SimulatedError:
    return SimulatedError(
        400,
        f"Missing required parameter: '{param}'.",
        "invalid_request_error",
        param=param,
        code="missing_required_parameter",
    )


def invalid_value(param: str, message: str) -> SimulatedError:
    return SimulatedError(400, message, "invalid_request_error", param=param, code="invalid_value")


def model_not_found(model: str) -> SimulatedError:
    return SimulatedError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
    )


def missing_api_key() -> SimulatedError:
    return SimulatedError(
        401,
        "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
        "or as the password field (with blank username) if you're accessing the API "
        f"from your browser and are prompted for a username. {_DOCS_KEYS}",
        "invalid_request_error",
    )


def invalid_api_key(presented: str) -> SimulatedError:
    return SimulatedError(
        401,
        f"Incorrect API key provided: {mask_key(presented)}. {_DOCS_KEYS}",
        "invalid_request_error",
        code="invalid_api_key",
    )


def context_length_exceeded(window: int, prompt: int, completion: int) -> SimulatedError:
    """OpenAI words this two ways: messages alone too long, or with max_tokens."""
    if completion and prompt <= window:
        message = (
            f"This model's maximum context length is {window} tokens. However, you "
            f"requested {prompt + completion} tokens ({prompt} in the messages, "
            f"{completion} in the completion). Please reduce the length of the messages "
            "or completion."
        )
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, your "
            f"messages resulted in {prompt} tokens. Please reduce the length of the messages."
        )
    return SimulatedError(
        400, message, "invalid_request_error", param="messages", code="context_length_exceeded"
    )


def server_error() -> SimulatedError:
    return SimulatedError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
    )


def injected_error(status: int, model: str, retry_after_s: int) -> SimulatedError:
    """The error OpenAI would send with ``status``, for error injection."""
    if status == 429:
        return SimulatedError(
            429,
            f"Rate limit reached for {model} in organization org-simulator on requests "
            "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in "
            f"{retry_after_s}s. Visit https://platform.openai.com/account/rate-limits "
            "to learn more.",
            "requests",
            code="rate_limit_exceeded",
            headers={"retry-after": str(retry_after_s)},
        )
    if status == 401:
        return invalid_api_key("sk-simulated-injected-key")
    if status == 404:
        return model_not_found(model)
    if status == 500:
        return server_error()
    if status == 503:
        return SimulatedError(503, "The server is overloaded or not ready yet.", "server_error")
    return _generic_error(status)


def _generic_error(status: int) -> SimulatedError:
    messages = {
        400: "Invalid request (simulated error).",
        403: "Country, region, or territory not supported",
        408: "Request timed out.",
        502: "Bad gateway.",
        504: "Gateway timeout.",
    }
    message = messages.get(status, f"Simulated error with status {status}.")
    if status == 403:
        return SimulatedError(
            403, message, "request_forbidden", code="unsupported_country_region_territory"
        )
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    return SimulatedError(status, message, error_type)


def invalid_url(method: str, path: str, status: int) -> SimulatedError:
    return SimulatedError(status, f"Invalid URL ({method} {path})", "invalid_request_error")

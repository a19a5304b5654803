"""Azure OpenAI on its real paths: ``/openai/deployments/{deployment}/chat/completions``,
``.../embeddings`` and ``GET /openai/models``, each with ``?api-version=`` required.

The bodies are OpenAI's, built by the OpenAI format's planner, with Azure's
additions: ``prompt_filter_results`` on the answer and a first stream chunk
that carries nothing else (empty ``choices``, empty ``id`` and ``model``), and
``content_filter_results`` on every choice. The key is the ``api-key`` header.
Azure's own errors (auth, quota, deployment, content filter, missing
``api-version``) are ``{"error": {"code", "message"}}``; errors Azure relays
from the model (bad parameters, context length) are OpenAI's.

The ``model`` reported is the deployment name: real Azure reports the
deployment's underlying model version, which is also not the name the client
asked for, and that difference is what the gateway must undo.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson
from aiohttp import web

from . import openai_errors as errors
from .knobs import RequestKnobs
from .openai_chat import ChatPlan, build_completion, iter_chunks, plan_chat
from .openai_errors import SimulatedError
from .openai_format import MODEL_CREATED, _invalid_knob, embedding_list
from .openai_request import parse_body, require_messages
from .pacing import DONE, stream_paced
from .prelude import Endpoint, Handler, endpoint, read_knobs
from .state import SIM_STATE, SimulatorState

_SAFE = {"filtered": False, "severity": "safe"}
CONTENT_FILTER_RESULTS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTER_RESULTS = [{"prompt_index": 0, "content_filter_results": CONTENT_FILTER_RESULTS}]
_OPERATIONS = {"chat": "ChatCompletions_Create", "embeddings": "Embeddings_Create"}


def add_azure_routes(app: web.Application) -> None:
    deployment = "/openai/deployments/{deployment}"
    app.router.add_post(f"{deployment}/chat/completions", _endpoint(chat_completions, "chat"))
    app.router.add_post(f"{deployment}/embeddings", _endpoint(embeddings, "embeddings"))
    app.router.add_get("/openai/models", _endpoint(list_models, "models"))


# -- errors, in Azure's own shape ------------------------------------------------------


def azure_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> SimulatedError:
    """``{"error": {"code", "message"}}``: how Azure's front door answers."""
    error = SimulatedError(status, message, "", headers=headers)
    error.body = {"code": code, "message": message}
    return error


def missing_api_version() -> SimulatedError:
    # Newer Azure endpoints answer this way; older ones said 404 "Resource not
    # found" (MicrosoftDocs/azure-docs#114602, Azure/azure-dev#8499).
    return azure_error(400, "BadRequest", "Missing required query parameter: api-version")


def access_denied() -> SimulatedError:
    return azure_error(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API "
        "endpoint for your resource.",
    )


def deployment_not_found() -> SimulatedError:
    return azure_error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again.",
    )


def rate_limited(operation: str, api_version: str, seconds: int) -> SimulatedError:
    return azure_error(
        429,
        "429",
        f"Requests to the {operation} Operation under Azure OpenAI API version {api_version} "
        "have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry "
        f"after {seconds} seconds. Please go here: https://aka.ms/oai/quotaincrease if you "
        "would like to further increase the default rate limit.",
        headers={"retry-after": str(seconds), "retry-after-ms": str(seconds * 1000)},
    )


def content_filtered() -> SimulatedError:
    """The 400 of a prompt the content filter blocked (Azure "Content filtering" docs)."""
    error = SimulatedError(
        400,
        "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy. Please modify your prompt and retry. To learn more about our "
        "content filtering policies please read our documentation: "
        "https://go.microsoft.com/fwlink/?linkid=2198766",
        "",
        param="prompt",
        code="content_filter",
    )
    body: dict[str, Any] = error.body  # Azure adds its status and the filter's verdict
    body["type"] = None
    body["status"] = 400
    body["innererror"] = {
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": {
            **CONTENT_FILTER_RESULTS,
            "violence": {"filtered": True, "severity": "medium"},
        },
    }
    return error


def injected_error(status: int, operation: str, api_version: str, seconds: int) -> SimulatedError:
    """What Azure sends with ``status``; a 400 is its most typical one, the content filter."""
    if status == 429:
        return rate_limited(operation, api_version, seconds)
    if status == 401:
        return access_denied()
    if status == 404:
        return deployment_not_found()
    if status == 400:
        return content_filtered()
    return errors.injected_error(status, "deployment", seconds)


# -- the shared prelude ----------------------------------------------------------------


def _endpoint(handler: Handler, operation: str) -> Endpoint:
    async def prelude(request: web.Request, state: SimulatorState) -> RequestKnobs:
        return await _prelude(request, state, operation)

    return endpoint(handler, prelude, SimulatedError, SimulatedError.to_response)


async def _prelude(request: web.Request, state: SimulatorState, operation: str) -> RequestKnobs:
    """api-version, key, knobs, latency, deployment, injected error: in Azure's order."""
    api_version = request.query.get("api-version")
    if not api_version:
        raise missing_api_version()
    key = state.settings.api_key
    presented = request.headers.get("api-key", "")
    if key is not None and not secrets.compare_digest(presented.encode(), key.encode()):
        raise access_denied()
    knobs = await read_knobs(request, state, _invalid_knob)
    deployment = request.match_info.get("deployment")
    if deployment is not None and state.settings.strict_models and deployment not in state.models:
        raise deployment_not_found()
    if state.should_fail(knobs.error_rate):
        name = _OPERATIONS.get(operation, "Models_List")
        raise injected_error(knobs.error_status, name, api_version, knobs.retry_after_s)
    return knobs


def _json(payload: Any) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


# -- chat ------------------------------------------------------------------------------


async def chat_completions(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    body = parse_body(await request.read())
    require_messages(body)
    plan = plan_chat(body, request.match_info["deployment"], knobs)
    if body.get("stream") is True:
        return await _stream_chat(request, plan, knobs)
    delay = knobs.delay_for(plan.completion_tokens)
    if delay > 0:
        await asyncio.sleep(delay)
    completion = build_completion(plan)
    completion["prompt_filter_results"] = PROMPT_FILTER_RESULTS
    for choice in completion["choices"]:
        choice["content_filter_results"] = CONTENT_FILTER_RESULTS
    return _json(completion)


def _filter_only_chunk() -> bytes:
    chunk = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": PROMPT_FILTER_RESULTS,
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _with_filter_results(event: bytes) -> bytes:
    """An OpenAI chunk event with Azure's (empty, streamed) ``content_filter_results``."""
    chunk = orjson.loads(event[len(b"data: ") :])
    for choice in chunk["choices"]:
        choice["content_filter_results"] = {}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _stream_chat(
    request: web.Request, plan: ChatPlan, knobs: RequestKnobs
) -> web.StreamResponse:
    """Paced like the OpenAI stream, after Azure's filter-only first chunk."""
    return await stream_paced(
        request,
        iter_chunks(plan),
        knobs,
        encode=_with_filter_results,
        failure=lambda: errors.server_error().to_sse_event(),
        preamble=_filter_only_chunk(),
        done=DONE,
    )


# -- embeddings and models -------------------------------------------------------------


async def embeddings(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    body = parse_body(await request.read())
    return await embedding_list(body, knobs, request.match_info["deployment"], 1536)


def _model_object(model_id: str) -> dict[str, Any]:
    """An entry of Azure's model list: what the resource could deploy."""
    is_embedding = "embedding" in model_id
    return {
        "id": model_id,
        "object": "model",
        "created_at": MODEL_CREATED,
        "status": "succeeded",
        "capabilities": {
            "chat_completion": not is_embedding,
            "completion": False,
            "embeddings": is_embedding,
            "fine_tune": False,
            "inference": True,
        },
        "lifecycle_status": "generally-available",
    }


async def list_models(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    models = request.app[SIM_STATE].settings.models
    return _json({"object": "list", "data": [_model_object(model) for model in models]})

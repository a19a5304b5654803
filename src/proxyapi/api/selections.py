"""``/api/model-selections``: each provider's default model (selections.py). Admin keys only.

``GET /api/model-selections`` lists every usable provider (enabled, with its
key) as ``{provider: {model_name, editable, last_updated, source}}``; ``source``
is ``file`` for an entry of the selections file, ``default`` for a provider
without one (its first configured model).

``PUT /api/model-selections/{provider}`` with ``{"model_name": "gpt-4o"}``
selects a model and answers the new entry (with ``provider``). Refusals: 404 for a provider that is
not usable here, 403 ``permission_denied`` when its entry says
``"editable": false`` (the file locks it; changing that is a hand edit), 400
when the provider does not offer the model (neither configured nor in its own
model list, fetched through the model-discovery cache).
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.errors import InvalidRequest, NotFound, PermissionDenied
from proxyapi.gateway import Candidate, Gateway
from proxyapi.pipeline.body import parse_object
from proxyapi.pipeline.models import discover


def usable_provider(gateway: Gateway, name: str) -> Candidate:
    found = gateway.candidates_by_name.get(name)
    if found is not None:
        return found
    if name in gateway.skipped or any(p.name == name for p in gateway.config.providers):
        raise NotFound(f"Provider '{name}' is configured but not usable (disabled or no key).")
    raise NotFound(f"Unknown provider '{name}'.")


async def list_selections(request: Request) -> Response:
    gateway = gateway_of(request)
    listed = {}
    for name, candidate in gateway.candidates_by_name.items():
        chosen = gateway.selections.choose(name, candidate.deployment.models)
        if chosen is not None:
            listed[name] = chosen.to_api()
    return json_bytes(orjson.dumps(listed))


async def put_selection(request: Request) -> Response:
    gateway = gateway_of(request)
    name: str = request.path_params["provider"]
    candidate = usable_provider(gateway, name)
    model = parse_object(await request.body()).get("model_name")
    if not isinstance(model, str) or not model:
        raise InvalidRequest('Expected a JSON body {"model_name": "..."}.', param="model_name")
    current = gateway.selections.get(name)
    if current is not None and not current.editable:  # refused before asking the provider
        raise PermissionDenied(f"The model selection of provider '{name}' is not editable.")
    offered = (*candidate.deployment.models, *await discover(candidate, gateway))
    if model not in offered:
        raise InvalidRequest(
            f"Provider '{name}' does not offer the model '{model}' "
            "(neither configured nor in the model list it reports).",
            param="model_name",
            code="model_not_offered",
        )
    # A small file, but fsync may wait on the disk: not on the event loop.
    selection = await asyncio.to_thread(gateway.selections.put, name, model)
    return json_bytes(orjson.dumps({"provider": name, **selection.to_api()}))


routes = [
    Route("/api/model-selections", list_selections, methods=["GET"]),
    Route("/api/model-selections/{provider}", put_selection, methods=["PUT"]),
]

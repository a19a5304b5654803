"""The Google Gemini wire format: the Generative Language API, v1beta.

Chat goes to ``models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``
when streaming), embeddings to ``:embedContent`` / ``:batchEmbedContents``, with the
key in ``x-goog-api-key``. References: https://ai.google.dev/api/generate-content,
https://ai.google.dev/api/embeddings, https://ai.google.dev/api/models, and the
field names of the official ``google-genai`` SDK (its REST converters in ``models.py``).

Translation choices worth knowing (the README's provider table repeats them):

- ``system`` / ``developer`` messages, wherever they are, become one ``systemInstruction``.
- ``user`` has no Gemini equivalent and is dropped silently, like OpenAI's own advice field.
- ``reasoning_effort`` becomes ``thinkingConfig.thinkingBudget`` (``THINKING_BUDGETS``)
  with ``includeThoughts``, so thought summaries come back as ``reasoning_content``.
- Tool ``parameters`` go through ``gemini_schema``: Gemini's ``parameters`` is an
  OpenAPI 3.0 subset, so unknown JSON-Schema keys (``additionalProperties``,
  ``$schema``, ...) are stripped, local ``$ref``s inlined, ``["T", "null"]`` types
  turned into ``nullable``, and a parameterless tool sends no ``parameters`` at all.
- Gemini gives function calls no id, so ids are ``call_`` + a hash of the response.
  A call's ``thoughtSignature`` (Gemini 3 rejects a history without it, see
  https://ai.google.dev/gemini-api/docs/thought-signatures) rides in the id after
  ``SIGNATURE_MARK``: every OpenAI client echoes tool-call ids back verbatim.
- Embedding usage is estimated (four characters a token) when Gemini reports none.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import secrets
import sys
import time
from array import array
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from proxyapi.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamStatusError,
)
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.providers.openai import parse_retry_after
from proxyapi.transport.sse import DONE_EVENT, SSEEvent, encode_data

logger = logging.getLogger("proxyapi.providers.google")

API_VERSION = "v1beta"
SIGNATURE_MARK = "__thought__"
# OpenAI reasoning_effort -> Gemini thinkingBudget (tokens). 0 turns thinking off
# where the model allows it; 24576 is Gemini 2.5 Flash's maximum budget.
THINKING_BUDGETS: Mapping[str, int] = {
    "none": 0,
    "minimal": 128,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
_CHAT_PARAMS = frozenset(
    "model messages stream stream_options max_tokens max_completion_tokens "
    "temperature top_p stop n seed presence_penalty frequency_penalty response_format "
    "reasoning_effort tools tool_choice parallel_tool_calls user".split()
)
_EMBEDDING_PARAMS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
_SIMPLE_CONFIG = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("n", "candidateCount"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# Gemini's Schema object (an OpenAPI 3.0 subset); anything else is stripped.
_SCHEMA_KEYS = frozenset(
    "type format title description nullable enum maxItems minItems minProperties "
    "maxProperties minLength maxLength pattern example propertyOrdering default "
    "minimum maximum required".split()
)
_MAX_SCHEMA_DEPTH = 32
# FinishReason values: https://ai.google.dev/api/generate-content#FinishReason
_FILTERED = frozenset(
    "SAFETY RECITATION BLOCKLIST PROHIBITED_CONTENT SPII IMAGE_SAFETY "
    "IMAGE_PROHIBITED_CONTENT IMAGE_RECITATION MODEL_ARMOR".split()
)


# --- requests ------------------------------------------------------------------------


def _refuse(param: str, deployment: Deployment, detail: str = "") -> None:
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


def _check_params(body: JSONObject, known: frozenset[str], deployment: Deployment) -> None:
    for name, value in body.items():
        if value is not None and name not in known:
            _refuse(name, deployment)


def _model_path(model: str) -> str:
    """``gemini-2.5-flash`` or ``models/gemini-2.5-flash`` as the URL's ``models/{model}``."""
    return quote(model.removeprefix("models/"), safe="")


def build_headers(deployment: Deployment, *, has_body: bool = True) -> dict[str, str]:
    headers = {"Content-Type": "application/json"} if has_body else {}
    headers.update(deployment.headers)
    if deployment.api_key:
        headers["x-goog-api-key"] = deployment.api_key
    return headers


def _content_error(index: int, message: str, param: str = "") -> InvalidRequest:
    return InvalidRequest(f"messages[{index}]: {message}", param=f"messages[{index}]{param}")


def _texts(content: Any, index: int) -> list[str]:
    """The text of a string or of ``text`` / ``refusal`` parts; other parts are an error."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    texts: list[str] = []
    for number, part in enumerate(content if isinstance(content, list) else [content]):
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get(kind) if kind in ("text", "refusal") and isinstance(part, dict) else None
        if not isinstance(text, str):
            raise _content_error(index, "only text content is allowed here.", f".content[{number}]")
        if text:
            texts.append(text)
    return texts


def _data_url_part(url: str, index: int) -> JSONObject:
    header, comma, data = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise _content_error(index, "a data URL must be base64-encoded.", ".content")
    mime = header[len("data:") :].split(";", 1)[0] or "application/octet-stream"
    return {"inlineData": {"mimeType": mime, "data": data}}


def _image_part(url: Any, index: int) -> JSONObject:
    """A data URL inline; an http(s) or gs:// URL by reference (``fileData``)."""
    if not isinstance(url, str):
        raise _content_error(index, "image_url.url must be a string.", ".content")
    if url.startswith("data:"):
        return _data_url_part(url, index)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "gs"):
        raise _content_error(index, "image_url.url must be an http(s) or data URL.", ".content")
    mime = mimetypes.guess_type(parts.path)[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _user_part(part: Any, index: int, number: int) -> JSONObject | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"text": part["text"]} if part["text"] else None
    if kind == "image_url" and isinstance(part.get("image_url"), dict):
        return _image_part(part["image_url"].get("url"), index)
    if kind == "input_audio" and isinstance(part.get("input_audio"), dict):
        audio = part["input_audio"]
        return {
            "inlineData": {"mimeType": f"audio/{audio.get('format')}", "data": audio.get("data")}
        }
    if kind == "file" and isinstance(part.get("file"), dict):
        data = part["file"].get("file_data")
        if isinstance(data, str) and data.startswith("data:"):
            return _data_url_part(data, index)
    raise InvalidRequest(
        f"Content part type '{kind}' is not supported by Google Gemini.",
        param=f"messages[{index}].content[{number}].type",
    )


def _user_parts(content: Any, index: int) -> list[JSONObject]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        return []
    parts = [_user_part(part, index, number) for number, part in enumerate(content)]
    return [part for part in parts if part is not None]


def _split_signature(call_id: Any) -> str | None:
    """The ``thoughtSignature`` carried in a tool-call id we made, if any."""
    if not isinstance(call_id, str):
        return None
    _, mark, signature = call_id.partition(SIGNATURE_MARK)
    return signature if mark and signature else None


def _call_part(call: Any, index: int, number: int, names: dict[str, str]) -> JSONObject:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _content_error(index, "a tool call needs a function name.", f".tool_calls[{number}]")
    try:
        args = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise _content_error(
            index,
            "tool call arguments must be a JSON object.",
            f".tool_calls[{number}].function.arguments",
        )
    call_id = call.get("id")
    if isinstance(call_id, str):
        names[call_id] = function["name"]
    part: JSONObject = {"functionCall": {"name": function["name"], "args": args}}
    signature = _split_signature(call_id)
    if signature:
        part["thoughtSignature"] = signature
    return part


def _assistant_parts(message: JSONObject, index: int, names: dict[str, str]) -> list[JSONObject]:
    parts: list[JSONObject] = [{"text": text} for text in _texts(message.get("content"), index)]
    calls = message.get("tool_calls") or []
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls = [*calls, {"type": "function", "function": legacy}]
    parts.extend(_call_part(call, index, number, names) for number, call in enumerate(calls))
    return parts


def _function_response(message: JSONObject, index: int, names: dict[str, str]) -> JSONObject:
    """A ``tool`` result as Gemini's ``functionResponse``, named after its call."""
    call_id = message.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    name = name or message.get("name")
    if not isinstance(name, str):
        raise _content_error(
            index, f"no earlier assistant tool call has id {call_id!r}.", ".tool_call_id"
        )
    text = "".join(_texts(message.get("content"), index))
    try:
        result = orjson.loads(text)
    except orjson.JSONDecodeError:
        result = text
    response = result if isinstance(result, dict) else {"result": result}
    return {"functionResponse": {"name": name, "response": response}}


def convert_messages(messages: list[Any]) -> tuple[list[JSONObject], list[JSONObject]]:
    """(systemInstruction parts, contents), consecutive same-role contents merged."""
    system: list[JSONObject] = []
    contents: list[JSONObject] = []
    names: dict[str, str] = {}
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.get("content"), index))
            continue
        if role == "assistant":
            author, parts = "model", _assistant_parts(message, index, names)
        elif role in ("tool", "function"):
            author, parts = "user", [_function_response(message, index, names)]
        else:
            author, parts = "user", _user_parts(message.get("content"), index)
        if not parts:
            continue
        if contents and contents[-1]["role"] == author:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": author, "parts": parts})
    return system, contents


def _resolve_ref(ref: str, defs: Mapping[str, Any]) -> Any:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            return defs.get(ref[len(prefix) :])
    return None


def _schema_type(value: list[Any], out: JSONObject) -> None:
    """``["string", "null"]`` (JSON Schema) as ``type`` + ``nullable`` (OpenAPI 3.0)."""
    kinds = [kind for kind in value if kind != "null"]
    if len(kinds) != len(value):
        out["nullable"] = True
    if len(kinds) == 1:
        out["type"] = kinds[0]
    elif kinds:
        out["anyOf"] = [{"type": kind} for kind in kinds]


def gemini_schema(schema: JSONObject, defs: Mapping[str, Any], depth: int = 0) -> JSONObject:
    """A JSON Schema reduced to what Gemini's ``parameters`` accepts."""
    if depth > _MAX_SCHEMA_DEPTH:
        return {"type": "string"}  # a cyclic $ref, cut where Gemini would give up anyway
    ref = schema.get("$ref")
    target = _resolve_ref(ref, defs) if isinstance(ref, str) else None
    if isinstance(target, dict):
        merged = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        return gemini_schema(merged, defs, depth + 1)
    out: JSONObject = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            properties = {
                name: gemini_schema(sub, defs, depth + 1)
                for name, sub in value.items()
                if isinstance(sub, dict)
            }
            if properties:  # "properties: should be non-empty for OBJECT type"
                out["properties"] = properties
        elif key == "items" and isinstance(value, dict):
            out["items"] = gemini_schema(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out["anyOf"] = [
                gemini_schema(sub, defs, depth + 1) for sub in value if isinstance(sub, dict)
            ]
        elif key == "type" and isinstance(value, list):
            _schema_type(value, out)
        elif key == "const":
            out["enum"] = [value]
        elif key == "enum" and isinstance(value, list):
            if None in value:  # JSON Schema's nullable enum; Gemini's enum holds strings only
                out["nullable"] = True
            out["enum"] = [item for item in value if item is not None]
        elif key in _SCHEMA_KEYS:
            out[key] = value
    return out


def _function_declaration(function: JSONObject) -> JSONObject:
    declaration: JSONObject = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict):
        defs = {**parameters.get("definitions", {}), **parameters.get("$defs", {})}
        cleaned = gemini_schema(parameters, defs)
        # Gemini rejects an OBJECT with no properties: a parameterless tool sends none.
        if cleaned.get("properties") or str(cleaned.get("type", "object")).lower() != "object":
            declaration["parameters"] = cleaned
    return declaration


def _tools(body: JSONObject, deployment: Deployment) -> list[JSONObject]:
    declarations: list[JSONObject] = []
    for number, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            _refuse(f"tools[{number}]", deployment, " (only function tools are)")
            continue
        if not isinstance(function.get("name"), str):
            raise InvalidRequest("A function tool needs a name.", param=f"tools[{number}]")
        declarations.append(_function_declaration(function))
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: Any, deployment: Deployment) -> JSONObject | None:
    """``tool_choice`` as ``functionCallingConfig`` (modes AUTO / NONE / ANY)."""
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        config = {"mode": "ANY", "allowedFunctionNames": [function["name"]]}
        return {"functionCallingConfig": config}
    _refuse("tool_choice", deployment, " in this form")
    return None


def _response_format(value: Any, config: JSONObject, deployment: Deployment) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    spec = value.get("json_schema") if isinstance(value, dict) else None
    if kind == "json_schema" and isinstance(spec, dict):
        config["responseMimeType"] = "application/json"
        if isinstance(spec.get("schema"), dict):
            # responseJsonSchema takes real JSON Schema (GenerationConfig, google-genai types).
            config["responseJsonSchema"] = spec["schema"]
        return
    _refuse("response_format", deployment, f" with type {kind!r}")


def _thinking_config(effort: Any, deployment: Deployment) -> JSONObject | None:
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        _refuse("reasoning_effort", deployment, f" with value {effort!r}")
        return None
    if budget == 0:
        return {"thinkingBudget": 0}
    return {"thinkingBudget": budget, "includeThoughts": True}


def _generation_config(body: JSONObject, deployment: Deployment) -> JSONObject:
    config: JSONObject = {}
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    for name, field in _SIMPLE_CONFIG:
        if body.get(name) is not None:
            config[field] = body[name]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("response_format") is not None:
        _response_format(body["response_format"], config, deployment)
    if body.get("reasoning_effort") is not None:
        thinking = _thinking_config(body["reasoning_effort"], deployment)
        if thinking is not None:
            config["thinkingConfig"] = thinking
    return config


def build_generate_request(body: JSONObject, deployment: Deployment) -> JSONObject:
    """An OpenAI chat body as a Gemini ``GenerateContentRequest``."""
    _check_params(body, _CHAT_PARAMS, deployment)
    if body.get("parallel_tool_calls") is False:
        _refuse("parallel_tool_calls", deployment, " set to false")
    system, contents = convert_messages(body["messages"])
    request: JSONObject = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    tools = _tools(body, deployment)
    if tools:
        request["tools"] = tools
        if body.get("tool_choice") is not None:
            tool_config = _tool_config(body["tool_choice"], deployment)
            if tool_config is not None:
                request["toolConfig"] = tool_config
    config = _generation_config(body, deployment)
    if config:
        request["generationConfig"] = config
    return request


def _embedding_texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if isinstance(texts, list) and texts and all(isinstance(text, str) for text in texts):
        return texts
    raise InvalidRequest(
        "Google Gemini embeds text only: 'input' must be a string or an array of strings.",
        param="input",
    )


# --- responses -----------------------------------------------------------------------


def finish_reason(reason: Any, has_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def usage_from(meta: Any) -> JSONObject:
    """``usageMetadata`` as OpenAI usage; thoughts count as completion (reasoning) tokens."""
    meta = meta if isinstance(meta, dict) else {}
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(meta.get("totalTokenCount") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def tool_call(part: JSONObject, seed: str, number: int) -> JSONObject:
    """A ``functionCall`` part as an OpenAI tool call with a stable id."""
    call = part["functionCall"]
    name = str(call.get("name") or "")
    arguments = orjson.dumps(call.get("args") or {}).decode()
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        key = f"{seed}:{number}:{name}:{arguments}".encode()
        call_id = "call_" + hashlib.blake2b(key, digest_size=12).hexdigest()
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        call_id = f"{call_id}{SIGNATURE_MARK}{signature}"
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _read_candidate(
    candidate: JSONObject, seed: str
) -> tuple[list[str], list[str], list[JSONObject]]:
    """(text pieces, thought pieces, tool calls) of one candidate."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSONObject] = []
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            calls.append(tool_call(part, seed, len(calls)))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") is True else texts).append(part["text"])
    return texts, thoughts, calls


def _choice(candidate: JSONObject, position: int, response_id: str) -> JSONObject:
    index = int(candidate.get("index") or position)
    texts, thoughts, calls = _read_candidate(candidate, f"{response_id}:{index}")
    message: JSONObject = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    return {
        "index": index,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)),
    }


def _is_blocked(data: JSONObject) -> bool:
    feedback = data.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def completion_from(data: JSONObject, model: str) -> JSONObject:
    """A ``GenerateContentResponse`` as an OpenAI ``chat.completion``."""
    response_id = str(data.get("responseId") or secrets.token_hex(12))
    candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
    choices = [_choice(c, position, response_id) for position, c in enumerate(candidates)]
    if not choices:
        # A prompt blocked by promptFeedback.blockReason comes back with no candidates.
        message = {"role": "assistant", "content": None, "refusal": None}
        reason = "content_filter" if _is_blocked(data) else "stop"
        choices = [{"index": 0, "message": message, "logprobs": None, "finish_reason": reason}]
    return {
        "id": f"chatcmpl-{response_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage_from(data.get("usageMetadata")),
    }


def encode_base64(values: list[float]) -> str:
    """Little-endian float32s in base64, as OpenAI sends ``encoding_format: base64``."""
    vector = array("f", values)
    if sys.byteorder != "little":
        vector.byteswap()
    return base64.b64encode(vector.tobytes()).decode("ascii")


def _estimate_tokens(text: str) -> int:
    return -(-len(text) // 4)


def embeddings_from(data: JSONObject, request: JSONObject) -> JSONObject:
    single = data.get("embedding")
    items = [single] if isinstance(single, dict) else data.get("embeddings") or []
    vectors = [item.get("values") or [] for item in items if isinstance(item, dict)]
    as_base64 = request.get("encoding_format") == "base64"
    meta = data.get("usageMetadata")
    tokens = meta.get("promptTokenCount") if isinstance(meta, dict) else None
    if tokens is None:
        texts = request.get("input")
        texts = [texts] if isinstance(texts, str) else texts or []
        tokens = sum(_estimate_tokens(text) for text in texts if isinstance(text, str))
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": encode_base64(vector) if as_base64 else vector,
            }
            for index, vector in enumerate(vectors)
        ],
        "model": request.get("model"),
        "usage": {"prompt_tokens": int(tokens), "total_tokens": int(tokens)},
    }


def read_object(body: bytes) -> JSONObject:
    """A 2xx body as a JSON object; anything else is the upstream's failure (502)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamStatusError(
            "Google answered with a body that is not a JSON object.",
            provider="google",
            upstream_status=502,
        )
    return parsed


# --- errors --------------------------------------------------------------------------


def _error_object(body: bytes) -> JSONObject:
    """Google's ``{"error": {code, message, status, details}}``, also when list-wrapped."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
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
    message = str(error.get("message") or body[:200].decode("utf-8", "replace").strip())
    message = message or "Upstream error"
    details = error.get("details")
    if status == 429:
        return UpstreamRateLimited(
            message,
            retry_after=_retry_delay(details) or parse_retry_after(headers),
            provider=provider,
            upstream_status=status,
            code="rate_limit_exceeded",
        )
    if status in (401, 403) or (status == 400 and _is_key_rejected(message, details)):
        return UpstreamAuthError(provider, status)
    if status == 400 and _is_context_error(message):
        return ContextLengthExceeded(
            message, provider=provider, upstream_status=status, param="messages"
        )
    google_status = error.get("status")
    return UpstreamStatusError(
        message,
        provider=provider,
        upstream_status=status,
        code=str(google_status).lower() if google_status else None,
        error_type="server_error" if status >= 500 else "invalid_request_error",
    )


# --- streaming -----------------------------------------------------------------------


class GoogleStreamTranslator:
    """Gemini's SSE chunks (each a whole ``GenerateContentResponse``) to OpenAI chunks."""

    __slots__ = (
        "_calls",
        "_created",
        "_done",
        "_finished",
        "_id",
        "_model",
        "_usage",
        "_with_usage",
    )

    def __init__(self, request: JSONObject) -> None:
        options = request.get("stream_options")
        self._with_usage = isinstance(options, dict) and options.get("include_usage") is True
        self._model = request.get("model")
        self._id = ""
        self._created = int(time.time())
        self._calls: dict[int, int] = {}  # candidate index -> tool calls seen; keys = started
        self._finished: set[int] = set()
        self._usage: Any = None
        self._done = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._done:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamStatusError(
                "Google sent a stream chunk that is not JSON.",
                provider="google",
                upstream_status=502,
            ) from None
        if not isinstance(data, dict):
            return []
        if "error" in data:
            self._done = True
            return [self._error_event(data)]
        if not self._id:
            self._id = str(data.get("responseId") or secrets.token_hex(12))
        out: list[bytes] = []
        candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
        for position, candidate in enumerate(candidates):
            self._candidate(candidate, position, out)
        if not candidates and _is_blocked(data):
            self._start(0, out)
            self._finish(0, "content_filter", out)
        if data.get("usageMetadata") is not None:
            self._usage = data["usageMetadata"]
        return out

    def close(self) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        out: list[bytes] = []
        if not self._calls:
            self._start(0, out)
        for index, calls in self._calls.items():
            if index not in self._finished:
                self._finish(index, "tool_calls" if calls else "stop", out)
        if self._with_usage:
            chunk = self._head([])
            chunk["usage"] = usage_from(self._usage)
            out.append(encode_data(orjson.dumps(chunk)))
        out.append(DONE_EVENT)
        return out

    def _candidate(self, candidate: JSONObject, position: int, out: list[bytes]) -> None:
        index = int(candidate.get("index") or position)
        self._start(index, out)
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("functionCall"), dict):
                number = self._calls[index]
                self._calls[index] = number + 1
                call = tool_call(part, f"{self._id}:{index}", number)
                out.append(self._chunk(index, {"tool_calls": [{"index": number, **call}]}))
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") is True else "content"
                out.append(self._chunk(index, {key: part["text"]}))
        reason = candidate.get("finishReason")
        if reason and index not in self._finished:
            self._finish(index, finish_reason(reason, self._calls[index] > 0), out)

    def _start(self, index: int, out: list[bytes]) -> None:
        if index not in self._calls:
            self._calls[index] = 0
            if not self._id:
                self._id = secrets.token_hex(12)
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))

    def _finish(self, index: int, reason: str, out: list[bytes]) -> None:
        self._finished.add(index)
        out.append(self._chunk(index, {}, reason))

    def _head(self, choices: list[JSONObject]) -> JSONObject:
        chunk: JSONObject = {
            "id": f"chatcmpl-{self._id}",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if self._with_usage:
            chunk["usage"] = None
        return chunk

    def _chunk(self, index: int, delta: JSONObject, reason: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}
        return encode_data(orjson.dumps(self._head([choice])))

    def _error_event(self, data: JSONObject) -> bytes:
        error = data.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        classified = classify(status, {}, orjson.dumps(data), "google")
        return encode_data(orjson.dumps(classified.to_dict()))


# --- the adapter ---------------------------------------------------------------------


class GoogleAdapter:
    """Adapter for Google's Gemini API (AI Studio keys, ``generativelanguage.googleapis.com``)."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        payload = build_generate_request(body, deployment)
        model = _model_path(str(body["model"]))
        method = (
            "streamGenerateContent?alt=sse" if body.get("stream") is True else "generateContent"
        )
        return UpstreamRequest(
            "POST",
            f"{deployment.base_url}/{API_VERSION}/models/{model}:{method}",
            build_headers(deployment),
            orjson.dumps(payload),
        )

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return orjson.dumps(completion_from(read_object(body), str(request.get("model"))))

    def stream_translator(self, request: JSONObject) -> GoogleStreamTranslator:
        return GoogleStreamTranslator(request)

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        _check_params(body, _EMBEDDING_PARAMS, deployment)
        if body.get("encoding_format") not in (None, "float", "base64"):
            raise InvalidRequest(
                "Invalid 'encoding_format': use float or base64.", param="encoding_format"
            )
        texts = _embedding_texts(body.get("input"))
        model = str(body["model"]).removeprefix("models/")
        extra = {"outputDimensionality": body["dimensions"]} if body.get("dimensions") else {}
        base = f"{deployment.base_url}/{API_VERSION}/models/{_model_path(model)}"
        if isinstance(body.get("input"), str):
            url, payload = (
                f"{base}:embedContent",
                {"content": {"parts": [{"text": texts[0]}]}, **extra},
            )
        else:
            requests = [
                {"model": f"models/{model}", "content": {"parts": [{"text": text}]}, **extra}
                for text in texts
            ]
            url, payload = f"{base}:batchEmbedContents", {"requests": requests}
        return UpstreamRequest("POST", url, build_headers(deployment), orjson.dumps(payload))

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return orjson.dumps(embeddings_from(read_object(body), request))

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        return UpstreamRequest(
            "GET",
            f"{deployment.base_url}/{API_VERSION}/models?pageSize=1000",
            build_headers(deployment, has_body=False),
        )

    def parse_models(self, body: bytes) -> list[str]:
        parsed = orjson.loads(body)
        models = parsed.get("models") if isinstance(parsed, dict) else None
        if not isinstance(models, list):
            return []
        return [
            str(model["name"]).removeprefix("models/")
            for model in models
            if isinstance(model, dict) and model.get("name")
        ]

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        return classify(status, headers, body, provider)

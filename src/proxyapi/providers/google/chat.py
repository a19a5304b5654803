"""OpenAI chat requests as Gemini ``GenerateContentRequest``s, and the answers back."""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from proxyapi.errors import InvalidRequest
from proxyapi.providers._openai_shape import (
    assistant_message,
    choice,
    completion,
    tool_call as openai_tool_call,
    usage,
)
from proxyapi.providers.base import Deployment, JSONObject
from proxyapi.providers.google.errors import check_params, refuse
from proxyapi.providers.google.tools import function_tools, tool_config_of

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
_SIMPLE_CONFIG = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("n", "candidateCount"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)
# FinishReason values: https://ai.google.dev/api/generate-content#FinishReason
_FILTERED = frozenset(
    "SAFETY RECITATION BLOCKLIST PROHIBITED_CONTENT SPII IMAGE_SAFETY "
    "IMAGE_PROHIBITED_CONTENT IMAGE_RECITATION MODEL_ARMOR".split()
)


def model_url(deployment: Deployment, model: str) -> str:
    """``{base_url}/v1beta/models/{model}``; ``model`` may carry its ``models/`` prefix."""
    path = quote(model.removeprefix("models/"), safe="")
    return f"{deployment.base_url}/{API_VERSION}/models/{path}"


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
    refuse("response_format", deployment, f" with type {kind!r}")


def _thinking_config(effort: Any, deployment: Deployment) -> JSONObject | None:
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        refuse("reasoning_effort", deployment, f" with value {effort!r}")
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
    check_params(body, _CHAT_PARAMS, deployment)
    if body.get("parallel_tool_calls") is False:
        refuse("parallel_tool_calls", deployment, " set to false")
    system, contents = convert_messages(body["messages"])
    request: JSONObject = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    tools = function_tools(body, deployment)
    if tools:
        request["tools"] = tools
        if body.get("tool_choice") is not None:
            tool_config = tool_config_of(body["tool_choice"], deployment)
            if tool_config is not None:
                request["toolConfig"] = tool_config
    config = _generation_config(body, deployment)
    if config:
        request["generationConfig"] = config
    return request


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
    return usage(
        prompt,
        completion,
        total=int(meta.get("totalTokenCount") or prompt + completion),
        cached=int(meta.get("cachedContentTokenCount") or 0),
        reasoning=thoughts,
    )


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
    return openai_tool_call(call_id, name, arguments)


def candidate_parts(candidate: JSONObject) -> list[JSONObject]:
    """The parts of a candidate's ``content`` that are objects (all of them, normally)."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _read_candidate(
    candidate: JSONObject, seed: str
) -> tuple[list[str], list[str], list[JSONObject]]:
    """(text pieces, thought pieces, tool calls) of one candidate."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSONObject] = []
    for part in candidate_parts(candidate):
        if isinstance(part.get("functionCall"), dict):
            calls.append(tool_call(part, seed, len(calls)))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") is True else texts).append(part["text"])
    return texts, thoughts, calls


def _choice(candidate: JSONObject, position: int, response_id: str) -> JSONObject:
    index = int(candidate.get("index") or position)
    texts, thoughts, calls = _read_candidate(candidate, f"{response_id}:{index}")
    message = assistant_message(
        "".join(texts) if texts else None,
        reasoning="".join(thoughts) if thoughts else None,
        tool_calls=calls,
    )
    reason = finish_reason(candidate.get("finishReason"), bool(calls))
    return choice(message, reason, index)


def is_blocked(data: JSONObject) -> bool:
    feedback = data.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def completion_from(data: JSONObject, model: str) -> JSONObject:
    """A ``GenerateContentResponse`` as an OpenAI ``chat.completion``."""
    response_id = str(data.get("responseId") or secrets.token_hex(12))
    candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
    choices = [_choice(c, position, response_id) for position, c in enumerate(candidates)]
    if not choices:
        # A prompt blocked by promptFeedback.blockReason comes back with no candidates.
        reason = "content_filter" if is_blocked(data) else "stop"
        choices = [choice(assistant_message(None), reason)]
    return completion(
        f"chatcmpl-{response_id}", model, choices, usage_from(data.get("usageMetadata"))
    )

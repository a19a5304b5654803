"""The fixed-response upstream: one nginx worker answering canned OpenAI bodies.

Port JSON_PORT answers POST /v1/chat/completions with a `chat.completion`;
port STREAM_PORT answers the same path with an SSE body of `chat.completion.chunk`
events ending in `data: [DONE]`. nginx cannot cheaply branch on the request body,
so the streaming benchmarks point the server under test at STREAM_PORT instead.

nginx refuses POST to a static file with 405; `error_page 405 =200 $uri` turns
that into an internal GET of the same location (an `alias` of the body file),
answered with 200.
"""

from __future__ import annotations

import json
from pathlib import Path

JSON_PORT = 18080
STREAM_PORT = 18081
ANTHROPIC_JSON_PORT = 18082
ANTHROPIC_STREAM_PORT = 18083
ANTHROPIC_MODEL = "claude-3-5-haiku-latest"
_MESSAGES = ("/v1/messages", "/v1/chat/completions")
MODEL = "gpt-4o-mini"
STREAM_CHUNKS = 20

_CREATED = 1_700_000_000
_COMPLETION_ID = "chatcmpl-bench0000000000000000000000"


def chat_completion_body() -> bytes:
    """A fixed non-streaming OpenAI `chat.completion`."""
    body = {
        "id": _COMPLETION_ID,
        "object": "chat.completion",
        "created": _CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! How can I assist you today? (fixed benchmark reply)",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 16, "total_tokens": 25},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _chunk(delta: dict[str, object], finish_reason: str | None) -> bytes:
    chunk = {
        "id": _COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def chat_stream_body() -> bytes:
    """A fixed SSE stream: a role chunk, content chunks, a finish chunk, then [DONE]."""
    events = [_chunk({"role": "assistant", "content": ""}, None)]
    events += [_chunk({"content": f"word{i} "}, None) for i in range(STREAM_CHUNKS - 2)]
    events.append(_chunk({}, "stop"))
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


def anthropic_message_body() -> bytes:
    """The same reply as `chat_completion_body`, as an Anthropic Messages API `message`."""
    body = {
        "id": "msg_bench000000000000000000",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [
            {"type": "text", "text": "Hello! How can I assist you today? (fixed benchmark reply)"}
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 16},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _event(name: str, data: dict[str, object]) -> bytes:
    return (
        f"event: {name}\ndata: ".encode()
        + json.dumps(data, separators=(",", ":")).encode()
        + b"\n\n"
    )


def anthropic_stream_body() -> bytes:
    """Anthropic's event sequence with as many text deltas as `chat_stream_body` has."""
    start = json.loads(anthropic_message_body())
    start.update(content=[], stop_reason=None, usage={"input_tokens": 9, "output_tokens": 1})
    events = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    events += [
        _event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": f"word{i} "},
            },
        )
        for i in range(STREAM_CHUNKS - 2)
    ]
    events += [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 16},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(events)


def _server_block(
    port: int,
    root: Path,
    filename: str,
    content_type: str,
    paths: tuple[str, ...] = ("/v1/chat/completions",),
) -> str:
    # The Anthropic ports answer on /v1/messages (the gateway's upstream call) and on
    # /v1/chat/completions (the path wrk uses for the "direct" reference target).
    locations = "".join(
        f"""
        location = {path} {{
            alias {root / filename};
            types {{ }}
            default_type {content_type};
            error_page 405 =200 $uri;
        }}"""
        for path in paths
    )
    return f"""
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;{locations}
        location / {{ return 404; }}
    }}"""


def write_config(workdir: Path) -> Path:
    """Write the bodies and nginx.conf into workdir (readable by nginx's worker user)."""
    docroot = workdir / "www"
    docroot.mkdir(parents=True, exist_ok=True)
    (docroot / "chat.json").write_bytes(chat_completion_body())
    (docroot / "chat.sse").write_bytes(chat_stream_body())
    (docroot / "message.json").write_bytes(anthropic_message_body())
    (docroot / "message.sse").write_bytes(anthropic_stream_body())
    for path in (workdir, docroot, *docroot.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    conf = f"""
worker_processes 1;
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    etag off;
    server_tokens off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
{_server_block(JSON_PORT, docroot, "chat.json", "application/json")}
{_server_block(STREAM_PORT, docroot, "chat.sse", "text/event-stream")}
{_server_block(ANTHROPIC_JSON_PORT, docroot, "message.json", "application/json", _MESSAGES)}
{_server_block(ANTHROPIC_STREAM_PORT, docroot, "message.sse", "text/event-stream", _MESSAGES)}
}}
"""
    path = workdir / "nginx.conf"
    path.write_text(conf)
    return path

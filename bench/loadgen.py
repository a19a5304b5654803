"""Drive load with wrk (bench/chat.lua) and check a target answers correctly first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from procs import child_setup

LUA_SCRIPT = Path(__file__).with_name("chat.lua")
CHAT_PATH = "/v1/chat/completions"
MARKER = "BENCH_JSON "
REQUEST_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench-key"}


class LoadError(RuntimeError):
    """wrk failed or printed no result line."""


def request_body(stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello"}],
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def check_target(base_url: str, stream: bool, timeout: float = 10.0) -> str | None:
    """One real request; None if the answer is a well-formed OpenAI response, else why not."""
    req = urllib.request.Request(
        base_url + CHAT_PATH, data=request_body(stream), headers=REQUEST_HEADERS, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:300]!r}"
    except OSError as exc:
        return f"request failed: {exc}"
    if status != 200:
        return f"HTTP {status}: {payload[:300]!r}"
    if stream:
        ok = b"chat.completion.chunk" in payload and payload.rstrip().endswith(b"data: [DONE]")
    else:
        try:
            ok = json.loads(payload).get("object") == "chat.completion"
        except ValueError:
            ok = False
    return None if ok else f"unexpected body: {payload[:300]!r}"


def wrk_argv(
    url: str, concurrency: int, seconds: float, stream: bool, unique: bool = False
) -> list[str]:
    threads = 1 if concurrency == 1 else 2
    return [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        "stream" if stream else "unique" if unique else "json",
    ]


def run_wrk(
    base_url: str,
    concurrency: int,
    seconds: float,
    stream: bool,
    cpus: frozenset[int] | None,
    unique: bool = False,
) -> dict[str, Any]:
    """Run one wrk point and return the parsed BENCH_JSON object from chat.lua's done()."""
    argv = wrk_argv(base_url + CHAT_PATH, concurrency, seconds, stream, unique)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=child_setup(cpus),
    )
    try:
        out, err = proc.communicate(timeout=seconds + 30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER) :])
            return result
    raise LoadError(f"wrk exited {proc.returncode} without a result: {err.decode()[-500:]}")

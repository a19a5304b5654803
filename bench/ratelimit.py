"""What the rate-limit check costs per request, memory and Redis backends, at concurrency 1.

    .venv/bin/python bench/ratelimit.py [--quick] [--repeat 3] [--duration 10]
    .venv/bin/python bench/ratelimit.py --micro [--quick] [--calls 20000]

HTTP (default): one `proxyapi serve` per configuration, all alive at once on
127.0.0.1:18000-18003 in front of the harness's nginx upstream (bench/run.py), driven
in turn by wrk -c1 with bench/chat.lua, in `--repeat` interleaved rounds (the order
rotated each round). The configurations differ only in their `auth`, `rate_limit` and
`redis` blocks:

    none    no auth, no limits
    auth    auth only: the baseline every added p50 is measured against
    memory  auth + global, route and per-key limits that never refuse, memory backend
    redis   the same limits with the Redis backend (redis-server on loopback)

Each configuration's added p50 is the median over the rounds of its p50 minus the
baseline's p50 in the same round. Targets (the issue): memory <= 0.05 ms, redis <= 0.2 ms.

--micro: no HTTP. Times `await Guard.admit(scope)` in this process (pinned to the CPU
the gateway gets in the HTTP run) for the same configurations, `--calls` sequential
calls per configuration and round, plus a Redis PING: the floor of any Redis check.

Redis keys go under a unique `redis.key_prefix` and are deleted at the end; every
process started here is stopped at the end, also on an error, Ctrl-C or SIGTERM.
See bench/README.md, "Rate-limit check cost".
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import redis
import report
import run
import uvloop
import yaml
from loadgen import CHAT_PATH, REQUEST_HEADERS, request_body

from proxyapi.config.loader import validate_config
from proxyapi.config.models import Config
from proxyapi.pipeline.guard import Guard
from proxyapi.ratelimit.base import Backend
from proxyapi.ratelimit.limiter import RateLimiter
from proxyapi.ratelimit.memory import MemoryBackend
from proxyapi.ratelimit.redis import RedisBackend
from proxyapi.transport.redis import RedisPipe

MODE = "json"  # non-streaming chat, the harness's json upstream (nginx on 18080)
BENCH_KEY = REQUEST_HEADERS["Authorization"].removeprefix("Bearer ")  # what chat.lua sends
NEVER = 100_000_000  # a limit no run gets anywhere near
LIMITS: dict[str, Any] = {
    "requests_per_window": NEVER,
    "window_seconds": 60,
    "user_limits": {"requests_per_minute": NEVER},
    "routes": {CHAT_PATH: f"{NEVER}/minute"},
    # A Redis failure must show up (503, counted by wrk as an error), not pass as a
    # suspiciously cheap check; on the admitted path fail_open changes nothing.
    "fail_open": False,
}
BASELINE = "auth"
TARGETS_MS = {"memory": 0.05, "redis": 0.2}
LIMIT_HEADER = "x-ratelimit-limit"
PING = "redis PING"


@dataclass(frozen=True)
class Setup:
    name: str
    about: str
    auth: bool
    limits: bool
    redis: bool


SETUPS = {
    s.name: s
    for s in (
        Setup("none", "(a) no auth, no limits", False, False, False),
        Setup("auth", "(a') auth only: the baseline", True, False, False),
        Setup("memory", "(b) auth + limits, memory backend", True, True, False),
        Setup("redis", "(c) auth + limits, Redis backend", True, True, True),
        Setup("auth2", "A/A control: a second auth-only gateway", True, False, False),
    )
}
DEFAULT_SETUPS = ("none", "auth", "memory", "redis")


def gateway_data(setup: Setup, redis_url: str, prefix: str) -> dict[str, Any]:
    """The harness's gateway config for the json mode plus this setup's blocks."""
    data: dict[str, Any] = yaml.safe_load(run.gateway_config(MODE))
    if setup.auth:
        data["auth"] = {"api_keys": [BENCH_KEY]}
    if setup.limits:
        data["rate_limit"] = LIMITS
    if setup.redis:
        data["redis"] = {"enabled": True, "url": redis_url, "key_prefix": prefix}
    return data


# --- options ---------------------------------------------------------------------------


_setups = run.distinct_names(SETUPS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--micro", action="store_true", help="time Guard.admit in-process, no HTTP")
    run.add_round_options(p)
    p.add_argument("--calls", type=int, default=20_000, help="--micro: calls per round")
    p.add_argument(
        "--configs",
        type=_setups,
        default=list(DEFAULT_SETUPS),
        help=f"comma-separated, from {','.join(SETUPS)} (default {','.join(DEFAULT_SETUPS)}); "
        "auth2 is an A/A control: a second auth-only gateway, to see the noise",
    )
    p.add_argument(
        "--redis-url",
        default=None,
        help="an existing Redis for `redis` (default: the bench starts its own redis-server)",
    )
    p.add_argument(
        "--redis-cpu",
        choices=["gateway", "load", "any"],
        default="gateway",
        help="where the bench's own redis-server runs: the gateway's core (default), the load "
        "generator's, or unpinned; a cross-core round trip on a VM costs ~100 µs more",
    )
    p.add_argument(
        "--gateway-cmd",
        default=run.DEFAULT_GATEWAY_CMD,
        help="as in bench/run.py: {config}, {host}, {port} and {upstream} are substituted",
    )
    p.add_argument("--gateway-timeout", type=float, default=15.0, help="seconds to come up")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--results", type=Path, default=run.BENCH_DIR / "results")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.quick:
        args.duration, args.warmup, args.calls = 3.0, 1.0, min(args.calls, 2_000)
    if args.repeat < 1 or args.calls < 1:
        p.error("--repeat and --calls must be >= 1")
    if BASELINE not in args.configs:
        p.error(f"--configs must include the baseline, {BASELINE}")
    # The attributes bench/run.py's Bench and machine_meta read.
    args.concurrency, args.modes, args.targets = [1], [MODE], args.configs
    return args


def rotated(names: list[str], round_no: int) -> list[str]:
    shift = round_no % len(names)
    return names[shift:] + names[:shift]


# --- Redis -----------------------------------------------------------------------------


def redis_admin(url: str) -> redis.Redis:
    """A plain client for the bench's own checks and cleanup (not the gateway's)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        sys.exit(f"Redis at {url} is not reachable ({exc}); leave `redis` out of --configs")
    return client


def bench_keys(client: redis.Redis, prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=f"{prefix}:*", count=1000))


def delete_keys(client: redis.Redis, prefix: str) -> None:
    try:
        keys = bench_keys(client, prefix)
        if keys:
            client.delete(*keys)
        print(f"redis: deleted {len(keys)} key(s) under {prefix}:", flush=True)
    except (redis.RedisError, OSError) as exc:
        print(f"redis: could not delete keys under {prefix}: ({exc})", flush=True)


def start_redis(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """A private redis-server (nothing on disk), pinned as --redis-cpu asks."""
    pinning = run.choose_pinning(args.no_pin)
    cpus = {"gateway": pinning.server, "load": pinning.load, "any": None}[args.redis_cpu]
    port = _free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no"]
    if cpus:
        argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    args.redis_url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(args.redis_url, socket_timeout=0.2).ping()
            print(f"redis-server on port {port}, CPU {sorted(cpus) if cpus else 'any'}")
            return process
        except (redis.RedisError, OSError):
            time.sleep(0.05)
    process.kill()
    sys.exit("redis-server did not start")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment() -> list[str]:
    """Drop variables that would change the gateways' auth, limits or Redis under us."""
    dropped = sorted(k for k in os.environ if k.startswith("PROXY_API_") or k == "REDIS_URL")
    for name in dropped:
        del os.environ[name]
    return dropped


# --- figures ---------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(name: str, added: float | None, target: float, valid: bool, unit: str) -> str:
    if added is None:
        return f"SKIP  {name}: no baseline to compare with"
    word = "PASS" if added <= target else "FAIL"
    if not valid:
        word = "INVALID"
    return (
        f"{word:<7} {name}: added p50 {added:+.3f} {unit} over `{BASELINE}` "
        f"(target <= {target:g} {unit})"
    )


# --- HTTP ------------------------------------------------------------------------------


class RateLimitBench(run.Bench):
    """The harness's Bench, starting one gateway per setup on its own port."""

    def start_setup(self, setup: Setup, port: int, redis_url: str, prefix: str) -> run.Target:
        config = self.workdir / f"gateway-{setup.name}.yaml"
        config.write_text(yaml.safe_dump(gateway_data(setup, redis_url, prefix), sort_keys=False))
        cmd = self.args.gateway_cmd.format(
            config=config,
            host=run.HOST,
            port=port,
            upstream=f"http://{run.HOST}:{run.UPSTREAM_PORTS[MODE]}",
        )
        # Bench._start_server: spawn pinned, wait for the port, check one answer, sample RSS.
        return self._start_server(setup.name, shlex.split(cmd), port, MODE)


def check_headers(target: run.Target, setup: Setup) -> str | None:
    """None when the answer carries the rate-limit headers exactly when limits are set."""
    req = urllib.request.Request(
        target.base_url + CHAT_PATH, request_body(False), REQUEST_HEADERS, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            has = resp.headers.get(LIMIT_HEADER) is not None
    except (urllib.error.URLError, OSError) as exc:
        return f"request failed: {exc}"
    if has != setup.limits:
        return f"{LIMIT_HEADER} header {'present' if has else 'missing'}: limits not as configured"
    return None


def limiter_snapshot(target: run.Target) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(target.base_url + "/v1/metrics", timeout=10) as resp:
            snapshot: dict[str, Any] | None = json.loads(resp.read()).get("rate_limit")
            return snapshot
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class HttpResult:
    setups: list[str]
    rounds: list[dict[str, report.Point]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def http_bench(args: argparse.Namespace, prefix: str) -> int:
    run.ensure_tools()
    os.environ.setdefault("BENCH_UPSTREAM_KEY", "bench-upstream-key")
    ports = {name: run.GATEWAY_PORT + i for i, name in enumerate(args.configs)}
    run.check_ports([*run.UPSTREAM_PORTS.values(), *ports.values()])
    pinning = run.choose_pinning(args.no_pin)
    if pinning.load:
        os.sched_setaffinity(0, pinning.load)
    meta = run.machine_meta(args, pinning)
    logdir = args.results / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="proxyapi-bench-ratelimit-"))
    bench = RateLimitBench(args, pinning, workdir, logdir)
    result = HttpResult(list(args.configs))
    complete = False
    try:
        bench.start_nginx()
        targets: dict[str, run.Target] = {}
        for name in args.configs:
            targets[name] = bench.start_setup(SETUPS[name], ports[name], args.redis_url, prefix)
            problem = check_headers(targets[name], SETUPS[name])
            if problem:
                raise RuntimeError(f"{name}: {problem}")
            print(f"  {name:7} {SETUPS[name].about}: up on {targets[name].base_url}", flush=True)
        for round_no in range(args.repeat):
            order = rotated(args.configs, round_no)
            print(f"\n== round {round_no + 1}/{args.repeat}: {', '.join(order)}", flush=True)
            points: dict[str, report.Point] = {}
            result.rounds.append(points)
            for name in order:
                target = targets[name]
                wrk = bench.measure_once(MODE, 1, target)
                rss = target.sampler.window_max_kb if target.sampler else None
                points[name] = report.Point.from_wrk(MODE, 1, name, wrk, rss)
                if target.child and not target.child.alive():
                    raise RuntimeError(f"{name} died:\n{target.child.log_tail()}")
        result.notes += verify_backends(targets)
        complete = True
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    except (RuntimeError, OSError) as exc:
        print(f"\nbenchmark failed: {exc}", flush=True)
        if isinstance(exc, run.ServerError):
            print(exc.log_tail, flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        bench.children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        if result.rounds and result.rounds[0]:
            write_http(args, meta, result, complete)
    return 0 if complete else 1


def verify_backends(targets: dict[str, run.Target]) -> list[str]:
    """That each limiter checked every request with its own backend, without failing."""
    notes = []
    for name, target in targets.items():
        if not SETUPS[name].limits:
            continue
        snap = limiter_snapshot(target)
        if snap is None:
            notes.append(f"{name}: limiter counters not available from /v1/metrics")
            continue
        expected = "redis" if SETUPS[name].redis else "memory"
        bad = snap.get("backend") != expected or snap.get("backend_errors") or snap.get("unjudged")
        notes.append(
            f"{name}: {'PROBLEM: ' if bad else ''}backend {snap.get('backend')}, "
            f"{snap.get('checks')} checks, {snap.get('backend_errors')} backend errors, "
            f"{snap.get('unjudged')} unjudged"
        )
    return notes


def http_rows(result: HttpResult) -> list[dict[str, Any]]:
    rows = []
    for name in result.setups:
        points = [r[name] for r in result.rounds if name in r]
        if not points:
            continue
        paired = [(r[name], r[BASELINE]) for r in result.rounds if name in r and BASELINE in r]
        diffs = [p.p50_ms - b.p50_ms for p, b in paired]
        cpu = [p.cpu_us_per_req for p in points if p.cpu_us_per_req is not None]
        rows.append(
            {
                "config": name,
                "about": SETUPS[name].about,
                "rps": median([p.rps for p in points]),
                "p50_ms": median([p.p50_ms for p in points]),
                "p99_ms": median([p.p99_ms for p in points]),
                "errors": sum(p.errors for p in points),
                "cpu_us_per_req": median(cpu) if cpu else None,
                "added_p50_ms": median(diffs) if diffs and name != BASELINE else None,
                "added_p50_rounds_ms": diffs if name != BASELINE else [],
                "added_p99_ms": (
                    median([p.p99_ms - b.p99_ms for p, b in paired])
                    if paired and name != BASELINE
                    else None
                ),
                "p50_rounds_ms": [p.p50_ms for p in points],
            }
        )
    return rows


def _ms(value: float | None, spec: str = "+.3f") -> str:
    return "–" if value is None else f"{value:{spec}}"


def http_markdown(meta: dict[str, Any], rows: list[dict[str, Any]], result: HttpResult) -> str:
    lines = [
        "# Rate-limit check cost (HTTP, c=1, non-streaming chat)",
        "",
        f"- when: {meta['started']}  commit: `{meta['git_rev']}`  "
        f"load average at start: {' '.join(meta['loadavg_at_start'])}",
        f"- machine: {meta['cpu_model']}, {meta['cpus']} CPUs, kernel {meta['kernel']}",
        f"- {len(result.rounds)} round(s) of {meta['duration_s']} s per configuration after a "
        f"{meta['warmup_s']} s warm-up, order rotated each round; pinning: {meta['pinning']}",
        f"- {meta['tools']}",
        "",
        "Figures are medians over the rounds. `+p50`: the median over rounds of "
        f"(p50 − `{BASELINE}` p50 in the same round).",
        "",
        "| config | | req/s | p50 ms | p99 ms | errors | CPU µs/req | +p50 ms | "
        "+p50 per round | +p99 ms |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for row in rows:
        per_round = " ".join(f"{d:+.3f}" for d in row["added_p50_rounds_ms"]) or "–"
        lines.append(
            f"| {row['config']} | {row['about']} | {row['rps']:,.0f} | {row['p50_ms']:.3f} | "
            f"{row['p99_ms']:.3f} | {row['errors']} | {_ms(row['cpu_us_per_req'], '.0f')} | "
            f"{_ms(row['added_p50_ms'])} | {per_round} | {_ms(row['added_p99_ms'])} |"
        )
    by_name = {row["config"]: row for row in rows}
    base_errors = by_name[BASELINE]["errors"] if BASELINE in by_name else 0
    lines.append("")
    for name, target in TARGETS_MS.items():
        if name in by_name:
            row = by_name[name]
            valid = not row["errors"] and not base_errors
            valid = valid and not any(n.startswith(f"{name}: PROBLEM") for n in result.notes)
            lines.append(verdict(name, row["added_p50_ms"], target, valid, "ms"))
    if result.notes:
        lines += ["", "## Checks", "", *(f"- {n}" for n in result.notes)]
    return "\n".join(lines) + "\n"


def write_http(
    args: argparse.Namespace, meta: dict[str, Any], result: HttpResult, complete: bool
) -> None:
    rows = http_rows(result)
    text = http_markdown(meta, rows, result)
    print("\n" + text, flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    raw = {
        "meta": meta | {"complete": complete, "targets_ms": TARGETS_MS, "baseline": BASELINE},
        "notes": result.notes,
        "rows": rows,
        "rounds": [{n: p.__dict__ for n, p in r.items()} for r in result.rounds],
    }
    (args.results / "ratelimit.md").write_text(text)
    (args.results / "ratelimit.json").write_text(json.dumps(raw, indent=2) + "\n")
    print(f"written: {args.results / 'ratelimit.md'} and ratelimit.json")


# --- in-process ------------------------------------------------------------------------


def http_scope() -> dict[str, Any]:
    """The ASGI scope uvicorn builds for one of wrk's requests."""
    body = request_body(False)
    headers = [
        (b"host", f"{run.HOST}:{run.GATEWAY_PORT}".encode()),
        *((k.lower().encode(), v.encode()) for k, v in REQUEST_HEADERS.items()),
        (b"content-length", str(len(body)).encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": CHAT_PATH,
        "raw_path": CHAT_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (run.HOST, 54321),
        "server": (run.HOST, run.GATEWAY_PORT),
    }


def build_guard(config: Config, clients: list[RedisPipe]) -> Guard:
    """What Gateway.__init__ builds for the door, without the rest of the Gateway."""
    backend: Backend = MemoryBackend()
    if config.redis.enabled:
        clients.append(RedisPipe(config.redis))  # the gateway's own connection
        backend = RedisBackend(clients[-1], config.redis.key_prefix)
    limiter = RateLimiter(
        backend, fail_open=config.rate_limit.fail_open, retry_interval=config.redis.retry_interval
    )
    return Guard(config, limiter)


async def time_calls(call: Callable[[], Awaitable[object]], calls: int) -> dict[str, float]:
    """p50, mean and p99 in µs of `await call()`, `calls` sequential calls."""
    clock = time.perf_counter_ns
    spent = [0] * calls
    for i in range(calls):
        started = clock()
        await call()
        spent[i] = clock() - started
    spent.sort()
    return {
        "p50_us": spent[len(spent) // 2] / 1000,
        "mean_us": sum(spent) / len(spent) / 1000,
        "p99_us": spent[int(len(spent) * 0.99)] / 1000,
    }


def micro_line(name: str, f: dict[str, float]) -> str:
    return (
        f"  [{name:10}] p50 {f['p50_us']:7.2f} µs  mean {f['mean_us']:7.2f} µs  "
        f"p99 {f['p99_us']:7.2f} µs"
    )


async def micro_bench(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    scope = http_scope()
    clients: list[RedisPipe] = []
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        guards = {
            name: build_guard(
                validate_config(gateway_data(SETUPS[name], args.redis_url, prefix)), clients
            )
            for name in args.configs
        }
        admits = {name: partial(guard.admit, scope) for name, guard in guards.items()}
        for name, admit in admits.items():
            headers = await admit()
            if bool(headers) != SETUPS[name].limits:
                raise RuntimeError(f"{name}: rate-limit headers {headers!r}: not as configured")
            await time_calls(admit, min(args.calls, 2_000))  # warm-up
        gc.collect()
        gc.freeze()  # as the gateway does once started
        for round_no in range(args.repeat):
            order = rotated(args.configs, round_no)
            print(f"== round {round_no + 1}/{args.repeat}: {', '.join(order)}", flush=True)
            figures: dict[str, dict[str, float]] = {}
            for name in order:
                figures[name] = await time_calls(admits[name], args.calls)
                print(micro_line(name, figures[name]), flush=True)
            if clients:  # the floor of any Redis-backed check: one round trip
                figures[PING] = await time_calls(clients[0].ping, args.calls)
                print(micro_line(PING, figures[PING]), flush=True)
            rounds.append(figures)
        stats = {name: guard.limiter.snapshot() for name, guard in guards.items()}
    finally:
        for client in clients:
            await client.close()
    return {"rounds": rounds, "limiters": stats}


def micro_markdown(args: argparse.Namespace, measured: dict[str, Any]) -> str:
    rounds: list[dict[str, dict[str, float]]] = measured["rounds"]
    lines = [
        "# Rate-limit check cost (in-process: `await Guard.admit(scope)`)",
        "",
        f"- {len(rounds)} round(s) of {args.calls:,} sequential calls per configuration, "
        "order rotated each round, uvloop; figures are medians over the rounds; "
        f"this process on CPU {sorted(os.sched_getaffinity(0))}",
        f"- load average at start: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
        "",
        "| config | | p50 µs | mean µs | p99 µs | +p50 µs | +mean µs |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    added: dict[str, float] = {}
    for name in args.configs:
        f = {k: median([r[name][k] for r in rounds]) for k in ("p50_us", "mean_us", "p99_us")}
        plus_p50 = plus_mean = "–"
        if name != BASELINE:
            added[name] = median([r[name]["p50_us"] - r[BASELINE]["p50_us"] for r in rounds])
            added_mean = median([r[name]["mean_us"] - r[BASELINE]["mean_us"] for r in rounds])
            plus_p50, plus_mean = f"{added[name]:+.2f}", f"{added_mean:+.2f}"
        lines.append(
            f"| {name} | {SETUPS[name].about} | {f['p50_us']:.2f} | {f['mean_us']:.2f} | "
            f"{f['p99_us']:.2f} | {plus_p50} | {plus_mean} |"
        )
    if all(PING in r for r in rounds) and rounds:
        f = {k: median([r[PING][k] for r in rounds]) for k in ("p50_us", "mean_us", "p99_us")}
        lines.append(
            f"| ({PING}) | reference: one PING on the gateway's Redis connection | "
            f"{f['p50_us']:.2f} | {f['mean_us']:.2f} | {f['p99_us']:.2f} | | |"
        )
    limiters: dict[str, dict[str, Any]] = measured["limiters"]
    lines.append("")
    for name, target in TARGETS_MS.items():
        if name in added:
            snap = limiters[name]
            valid = not snap["backend_errors"] and not snap["unjudged"]
            lines.append(verdict(name, added[name], target * 1000, valid, "µs"))
    lines += ["", "## Limiters", ""]
    for name, snap in limiters.items():
        if SETUPS[name].limits:
            lines.append(
                f"- {name}: backend {snap['backend']}, {snap['checks']} checks, "
                f"{snap['backend_errors']} backend errors, {snap['unjudged']} unjudged"
            )
    return "\n".join(lines) + "\n"


def micro(args: argparse.Namespace, prefix: str) -> int:
    pinning = run.choose_pinning(args.no_pin)
    if pinning.server:  # where the gateway runs in the HTTP measurement
        os.sched_setaffinity(0, pinning.server)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        measured = runner.run(micro_bench(args, prefix))
    text = micro_markdown(args, measured)
    print("\n" + text, flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "ratelimit-micro.md").write_text(text)
    raw = {"calls": args.calls, "configs": args.configs, **measured}
    (args.results / "ratelimit-micro.json").write_text(json.dumps(raw, indent=2) + "\n")
    print(f"written: {args.results / 'ratelimit-micro.md'} and ratelimit-micro.json")
    return 0


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with & or nohup
    signal.signal(signal.SIGTERM, run._raise_on_signal)
    signal.signal(signal.SIGHUP, run._raise_on_signal)
    dropped = clean_environment()
    if dropped:
        print(f"not passed to the gateways: {', '.join(dropped)}")
    prefix = f"proxyapi-bench-{os.getpid()}-{secrets.token_hex(4)}"
    uses_redis = any(SETUPS[name].redis for name in args.configs)
    own_redis = start_redis(args) if uses_redis and args.redis_url is None else None
    admin = redis_admin(args.redis_url) if uses_redis else None
    try:
        return micro(args, prefix) if args.micro else http_bench(args, prefix)
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if admin is not None:
            delete_keys(admin, prefix)
            admin.close()
        if own_redis is not None:
            own_redis.terminate()
            own_redis.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())

"""What observability costs: metrics + JSON access logs on vs both off, at c=1 and c=64.

    .venv/bin/python bench/observability.py [--quick] [--repeat 3] [--duration 10]
        [--concurrency 1,64] [--targets off,on,traced]

Starts the harness's nginx upstream (bench/run.py, json mode) and one
`proxyapi serve --workers 1` per configuration, all alive at once on 127.0.0.1:18000-18002
and pinned to the server CPU, then drives each target in turn with wrk + bench/chat.lua
(non-streaming chat), in `--repeat` interleaved rounds with the order rotated each round:

    off      `metrics: {enabled: false}`, `logging: {level: WARNING, access_log: false}`
    on       metrics on (the default) and one JSON access line per request, written to
             stderr and to `logging.file` (a file in the temp dir)
    traced   (opt-in, `--targets off,on,traced`) `on` plus `telemetry.enabled`: one
             OpenTelemetry span per request, created but exported nowhere

All three have caching and background health checks off, so they differ only in
what they observe. Before measuring, `on`/`traced` must write exactly one JSON access
line to their file for a probe request and serve `proxy_api_requests_total` on
/metrics (and `off` must do neither); afterwards their files must hold at least as
many access lines, and their counters at least as many requests, as wrk completed
(warm-ups included), else the figures are `INVALID`.

Target (the issue): at c=64, the median over rounds of (on req/s / off req/s in the
same round) is at least 0.90. Also reported: the p50 latency `on` adds at c=1.

Every process started here is stopped at the end, also on an error, Ctrl-C, SIGTERM or
SIGHUP; the temp dir (configs, nginx files, access logs) is removed. See bench/README.md,
"Observability".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import report
import run
import yaml
from cache import OVERLAP_LIMIT, latency_overlap, rotated
from loadgen import CHAT_PATH, REQUEST_HEADERS, request_body

MODE = "json"  # non-streaming chat, the harness's json upstream (nginx on 18080)
BASELINE = "off"
TARGET_RATIO = 0.90  # on req/s / off req/s at c=64
LATENCY_C = 1
THROUGHPUT_C = 64
MIN_CPU_UTIL = 0.9  # at c=64 the gateway's core is saturated; less means it waited on others
PROBES = 2  # requests per gateway outside wrk: the start-up check and the access-log probe
ACCESS_LOGGER = "proxyapi.access"
INCOMPLETE = "PROBLEM: the run did not complete"
# Variables the gateway reads that would change what it logs, counts or traces under us.
ENV_OVERRIDES = (
    "ENVIRONMENT",
    "WORKERS",
    "REDIS_URL",
    "API_KEYS_REQUIRED",
    "LOG_LEVEL",
    "LOG_JSON_FORMAT",
    "LOG_MAX_SIZE",
    "LOG_BACKUP_COUNT",
    "METRICS_ENABLED",
    "METRICS_PORT",
    "HEALTH_CHECK_INTERVAL",
    "PROMETHEUS_MULTIPROC_DIR",
)
ENV_PREFIXES = ("PROXY_API_", "OTEL_", "ALERT_")


@dataclass(frozen=True)
class Setup:
    name: str
    about: str
    port: int
    observed: bool  # metrics and JSON access lines (stderr + file)
    traced: bool = False  # OpenTelemetry spans, exported nowhere


SETUPS = {
    s.name: s
    for s in (
        Setup("off", "metrics off, access log off, level WARNING", 18000, False),
        Setup("on", "metrics on, JSON access lines to stderr + file", 18001, True),
        Setup("traced", "on + OpenTelemetry spans (not exported)", 18002, True, True),
    )
}


def config_path(setup: Setup, workdir: Path) -> Path:
    """In a directory of its own: the gateway watches its config's directory, recursively
    (hot reload), so a file written there (an access log) would wake every gateway up."""
    return workdir / "configs" / setup.name / "gateway.yaml"


def access_log_path(setup: Setup, workdir: Path) -> Path:
    return workdir / "access-logs" / setup.name / "access.log"


def gateway_data(setup: Setup, workdir: Path) -> dict[str, Any]:
    """The harness's gateway config for the json mode, with this setup's observability.

    The unified cache's disk layer is off in every setup: even with caching off the
    gateway builds it, with `.cache/unified` under the working directory by default.
    """
    data: dict[str, Any] = yaml.safe_load(run.gateway_config(MODE))
    data["caching"] = {"enabled": False}
    data["cache"] = {"unified": {"enable_disk_cache": False}}
    data["health_check"] = {"enabled": False}
    data["metrics"] = {"enabled": setup.observed}
    if setup.observed:
        path = str(access_log_path(setup, workdir))
        data["logging"] = {"level": "INFO", "format": "json", "file": path}
    else:
        data["logging"] = {"level": "WARNING", "access_log": False}
    data["telemetry"] = {"enabled": setup.traced}
    if setup.traced:
        data["telemetry"] |= {"jaeger": {"enabled": False}, "zipkin": {"enabled": False}}
    return data


# --- options ---------------------------------------------------------------------------


_targets = run.distinct_names(SETUPS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    run.add_round_options(p)
    p.add_argument("--concurrency", type=run._ints, default=[LATENCY_C, THROUGHPUT_C])
    p.add_argument(
        "--targets",
        type=_targets,
        default=["off", "on"],
        help=f"comma-separated, from {','.join(SETUPS)} (default: off,on)",
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
        args.duration, args.warmup = 3.0, 1.0
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if BASELINE not in args.targets:
        p.error(f"--targets must include {BASELINE}: every figure is relative to it")
    # The attributes bench/run.py's Bench and machine_meta read.
    args.modes = [MODE]
    return args


def clean_environment() -> list[str]:
    """Drop variables that would change the gateways' logging, metrics or tracing."""
    dropped = sorted(k for k in os.environ if k.startswith(ENV_PREFIXES) or k in ENV_OVERRIDES)
    for name in dropped:
        del os.environ[name]
    return dropped


# --- checks ----------------------------------------------------------------------------


@dataclass
class AccessLog:
    """Access lines found in a log (rotated files included)."""

    lines: int = 0  # every complete line of the file(s)
    access: int = 0  # JSON lines from the access logger
    chat_ok: int = 0  # ... for POST /v1/chat/completions answered 200
    not_json: int = 0
    by_request_id: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def read_access_log(path: Path, request_id: str | None = None) -> AccessLog:
    """Count the access lines; keep those of `request_id` (if given) in `by_request_id`."""
    found = AccessLog()
    # RotatingFileHandler: access.log is the newest, access.log.1 the one before.
    for file in sorted(path.parent.glob(path.name + "*"), key=lambda p: p.name, reverse=True):
        data = file.read_bytes()
        # A buffered handler may be flushing right now: a last line without its newline
        # is not finished yet.
        for raw in data[: data.rfind(b"\n") + 1].splitlines():
            found.lines += 1
            try:
                line = json.loads(raw)
            except ValueError:
                found.not_json += 1
                continue
            if not isinstance(line, dict) or line.get("logger") != ACCESS_LOGGER:
                continue
            found.access += 1
            if line.get("route") == CHAT_PATH and line.get("status") == 200:
                found.chat_ok += 1
            if request_id is not None and line.get("request_id") == request_id:
                found.by_request_id.setdefault(request_id, []).append(line)
    return found


def probe(base_url: str) -> tuple[str | None, str | None]:
    """(request id the gateway answered with, problem) of one chat.lua-shaped request."""
    headers = REQUEST_HEADERS | {"X-Request-ID": f"bench-probe-{os.urandom(6).hex()}"}
    req = urllib.request.Request(base_url + CHAT_PATH, request_body(False), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            request_id, payload = resp.headers.get("x-request-id"), resp.read()
    except (urllib.error.URLError, OSError) as exc:
        return None, f"request failed: {exc}"
    try:
        ok = json.loads(payload).get("object") == "chat.completion"
    except ValueError:
        ok = False
    if not ok:
        return None, f"unexpected body: {payload[:200]!r}"
    return request_id, None if request_id else "no X-Request-ID in the answer"


def check_access_line(target: run.Target, setup: Setup, path: Path) -> str | None:
    """None when a probe request gets exactly one well-formed JSON access line in the file.

    The probe's line is found by its request id: lines may be flushed in batches, so
    counting lines before and after would not tell which request wrote them.
    """
    request_id, problem = probe(target.base_url)
    if problem or request_id is None:
        return f"probe: {problem}"
    deadline = time.monotonic() + 5  # written once the answer is sent, maybe flushed later
    while not (log := read_access_log(path, request_id)).by_request_id:
        if time.monotonic() > deadline:
            return f"no access line with request_id {request_id} in {path} ({log.lines} lines)"
        time.sleep(0.05)
    time.sleep(0.5)  # a duplicate line would come with the same flush, or soon after
    log = read_access_log(path, request_id)
    mine = log.by_request_id[request_id]
    line = mine[-1]
    expected = {"method": "POST", "route": CHAT_PATH, "status": 200}
    wrong = {k: line.get(k) for k, v in expected.items() if line.get(k) != v}
    if len(mine) != 1 or log.not_json or wrong:
        return (
            f"{len(mine)} access line(s) for one request, {log.not_json} non-JSON "
            f"line(s), unexpected fields {wrong} in {line}"
        )
    if setup.traced != ("trace_id" in line):
        return f"trace_id {'missing' if setup.traced else 'present'} in {line}"
    return None


def final_access_log(path: Path, sent: int, wait: float = 5.0) -> AccessLog:
    """The access log once it holds `sent` chat lines, or after `wait` s (buffered lines)."""
    deadline = time.monotonic() + wait
    while (log := read_access_log(path)).chat_ok < sent and time.monotonic() < deadline:
        time.sleep(0.5)
    return log


_COUNTER = re.compile(r"^proxy_api_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


def counted_chat_requests(base_url: str) -> tuple[float | None, str]:
    """(chat requests answered 200 per /metrics, or None if not counted; what was seen)."""
    try:
        with urllib.request.urlopen(base_url + "/metrics", timeout=10) as resp:
            text = resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return None, f"/metrics: HTTP {exc.code}"
    except OSError as exc:
        return None, f"/metrics: {exc}"
    samples = list(_COUNTER.finditer(text))
    if not samples:
        return None, "/metrics: 200 without proxy_api_requests_total"
    chat = f'endpoint="{CHAT_PATH}"'
    total = sum(
        float(m["value"])
        for m in samples
        if chat in m["labels"] and 'status_code="200"' in m["labels"]
    )
    return total, f"/metrics: proxy_api_requests_total, {total:,.0f} chat requests answered 200"


def stderr_access_lines(target: run.Target) -> int:
    """Access lines the gateway wrote to its stderr (bench/results/logs/<name>-json.log)."""
    log = target.child.log_path if target.child else None
    return log.read_bytes().count(ACCESS_LOGGER.encode()) if log and log.exists() else 0


def check_observability(target: run.Target, setup: Setup, workdir: Path) -> str | None:
    """None when the gateway observes what its setup says, and nothing more."""
    counted, seen = counted_chat_requests(target.base_url)
    if not setup.observed:
        if counted is not None:
            return f"metrics off, yet {seen}"
        lines = stderr_access_lines(target)
        return f"access log off, yet {lines} access lines on stderr" if lines else None
    if counted is None:
        return f"metrics on, yet {seen}"
    return check_access_line(target, setup, access_log_path(setup, workdir))


def verify_counts(bench: ObservabilityBench, targets: dict[str, run.Target]) -> list[str]:
    """That every request wrk completed was logged (and counted), or none at all for `off`."""
    notes = []
    for name, target in targets.items():
        setup, sent = SETUPS[name], bench.sent.get(name, 0)
        if not setup.observed:
            stderr_access = stderr_access_lines(target)
            counted, seen = counted_chat_requests(target.base_url)
            bad = counted is not None or stderr_access > 0
            notes.append(
                f"{name}: {'PROBLEM: ' if bad else ''}{stderr_access} access lines on stderr; "
                f"{seen}; wrk completed {sent:,} requests"
            )
            continue
        log = final_access_log(access_log_path(setup, bench.workdir), sent)
        stderr_access = stderr_access_lines(target)
        counted, seen = counted_chat_requests(target.base_url)
        # Above wrk's count: the probes, and answers sent as wrk closed its connections.
        most = sent + PROBES + bench.cut_short.get(name, 0)
        bad = not (sent <= log.chat_ok <= most) or log.not_json > 0 or (counted or 0) < sent
        notes.append(
            f"{name}: {'PROBLEM: ' if bad else ''}{log.chat_ok:,} access lines for 200 chat "
            f"answers in its file ({log.access:,} access lines, {log.not_json} non-JSON), "
            f"{stderr_access:,} on stderr; {seen}; wrk completed {sent:,} requests "
            f"(warm-ups included; expected {sent:,}–{most:,} lines)"
        )
    return notes


# --- the bench -------------------------------------------------------------------------


@dataclass
class Result:
    names: list[str]
    concurrency: list[int]
    # rounds[i][(c, name)]: round i's point
    rounds: list[dict[tuple[int, str], report.Point]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ObservabilityBench(run.Bench):
    """The harness's Bench, one gateway per setup, counting every request wrk completes."""

    sent: dict[str, int] = field(default_factory=dict)  # by target, warm-ups included
    cut_short: dict[str, int] = field(default_factory=dict)  # connections open as wrk ended

    def _wrk(self, mode: str, concurrency: int, target: run.Target, seconds: float) -> Any:
        wrk = super()._wrk(mode, concurrency, target, seconds)
        self.sent[target.name] = self.sent.get(target.name, 0) + wrk["requests"]
        self.cut_short[target.name] = self.cut_short.get(target.name, 0) + concurrency
        return wrk

    def start_setup(self, setup: Setup) -> run.Target:
        config = config_path(setup, self.workdir)
        config.parent.mkdir(parents=True)
        config.write_text(yaml.safe_dump(gateway_data(setup, self.workdir), sort_keys=False))
        cmd = self.args.gateway_cmd.format(
            config=config,
            host=run.HOST,
            port=setup.port,
            upstream=f"http://{run.HOST}:{run.UPSTREAM_PORTS[MODE]}",
        )
        # Bench._start_server: spawn pinned (stdout and stderr to bench/results/logs/),
        # wait for the port, check one answer, sample RSS.
        return self._start_server(setup.name, shlex.split(cmd), setup.port, MODE)


def measure(args: argparse.Namespace, bench: ObservabilityBench, result: Result) -> None:
    targets: dict[str, run.Target] = {}
    bench.start_nginx()
    for name in args.targets:
        setup = SETUPS[name]
        targets[name] = bench.start_setup(setup)
        problem = check_observability(targets[name], setup, bench.workdir)
        if problem:
            raise RuntimeError(f"{name}: {problem}")
        print(f"  {name:7} {setup.about}: up on {targets[name].base_url}", flush=True)
    for round_no in range(args.repeat):
        points: dict[tuple[int, str], report.Point] = {}
        result.rounds.append(points)
        for concurrency in args.concurrency:
            order = rotated(args.targets, round_no)
            print(
                f"\n== round {round_no + 1}/{args.repeat}, c={concurrency}: {', '.join(order)}",
                flush=True,
            )
            for name in order:
                target = targets[name]
                wrk = bench.measure_once(MODE, concurrency, target)
                rss = target.sampler.window_max_kb if target.sampler else None
                points[(concurrency, name)] = report.Point.from_wrk(
                    MODE, concurrency, name, wrk, rss
                )
                overlap = latency_overlap(wrk, concurrency)
                if overlap > OVERLAP_LIMIT:
                    result.notes.append(
                        f"round {round_no + 1}, c={concurrency}, {name}: wrk's latencies add up "
                        f"to {overlap:.2f}x the run time x connections (impossible above 1): "
                        "its mean/p90/p99 for this run are unreliable"
                    )
                if target.child and not target.child.alive():
                    raise RuntimeError(f"{name} died:\n{target.child.log_tail()}")
    result.notes += verify_counts(bench, targets)


# --- figures ---------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _per_round(result: Result, c: int, name: str, pick: str, op: str) -> list[float]:
    """Per round: the target's `pick` against off's in the same round (ratio or difference)."""
    values = []
    for points in result.rounds:
        if (c, name) not in points or (c, BASELINE) not in points:
            continue
        mine, base = getattr(points[(c, name)], pick), getattr(points[(c, BASELINE)], pick)
        if mine is None or base is None or (op == "ratio" and not base):
            continue
        values.append(mine / base if op == "ratio" else mine - base)
    return values


def rows_of(result: Result) -> list[dict[str, Any]]:
    rows = []
    for c in result.concurrency:
        for name in result.names:
            points = [r[(c, name)] for r in result.rounds if (c, name) in r]
            if not points:
                continue
            compared = name != BASELINE
            ratios = _per_round(result, c, name, "rps", "ratio") if compared else []
            added = _per_round(result, c, name, "p50_ms", "diff") if compared else []
            cpu_ratios = _per_round(result, c, name, "cpu_us_per_req", "ratio") if compared else []
            cpu = [p.cpu_us_per_req for p in points if p.cpu_us_per_req is not None]
            util = [p.cpu_util for p in points if p.cpu_util is not None]
            rss = [p.rss_max_mb for p in points if p.rss_max_mb is not None]
            rows.append(
                {
                    "concurrency": c,
                    "target": name,
                    "about": SETUPS[name].about,
                    "rps": statistics.median([p.rps for p in points]),
                    "rps_rounds": [p.rps for p in points],
                    "rps_vs_off": _median(ratios),
                    "rps_vs_off_rounds": ratios,
                    "p50_ms": statistics.median([p.p50_ms for p in points]),
                    "p50_rounds_ms": [p.p50_ms for p in points],
                    "added_p50_ms": _median(added),
                    "added_p50_rounds_ms": added,
                    "p99_ms": statistics.median([p.p99_ms for p in points]),
                    "errors": sum(p.errors for p in points),
                    "cpu_util": _median(util),
                    "cpu_us_per_req": _median(cpu),
                    "cpu_vs_off": _median(cpu_ratios),
                    "rss_max_mb": max(rss) if rss else None,
                }
            )
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else f"{value:{spec}}"


def _rounds(values: list[float], spec: str) -> str:
    return " ".join(f"{v:{spec}}" for v in values) or "–"


def verdicts(rows: list[dict[str, Any]], notes: list[str]) -> list[str]:
    by_key = {(r["concurrency"], r["target"]): r for r in rows}
    lines = []
    for name in (n for n in SETUPS if n != BASELINE):
        if not any(r["target"] == name for r in rows):
            continue
        problem = any(
            n.startswith((f"{name}: PROBLEM", f"{BASELINE}: PROBLEM", INCOMPLETE)) for n in notes
        )
        judged = name == "on"  # the issue's target; traced is reported alongside
        row, base = by_key.get((THROUGHPUT_C, name)), by_key.get((THROUGHPUT_C, BASELINE))
        what = f"{name}: req/s ÷ off at c={THROUGHPUT_C}"
        if row is None or base is None or row["rps_vs_off"] is None:
            lines.append(f"SKIP    {what}: not measured (needs c={THROUGHPUT_C})")
        else:
            idle = [r["target"] for r in (row, base) if (r["cpu_util"] or 0) < MIN_CPU_UTIL]
            invalid = problem or row["errors"] or base["errors"] or idle
            word = ("PASS" if row["rps_vs_off"] >= TARGET_RATIO else "FAIL") if judged else "INFO"
            lines.append(
                f"{'INVALID' if invalid else word:<7} {what}: {row['rps_vs_off']:.3f} "
                f"(per round {_rounds(row['rps_vs_off_rounds'], '.3f')}; "
                f"target >= {TARGET_RATIO:.2f})"
                + (
                    f"; CPU under {MIN_CPU_UTIL:.0%} for {', '.join(idle)}: the gateway was "
                    "not the bottleneck (other load on the machine?)"
                    if idle
                    else ""
                )
            )
        row = by_key.get((LATENCY_C, name))
        what = f"{name}: +p50 over off at c={LATENCY_C}"
        if row is None or row["added_p50_ms"] is None:
            lines.append(f"SKIP    {what}: not measured (needs c={LATENCY_C})")
        else:
            lines.append(
                f"{'INVALID' if problem else 'INFO':<7} {what}: {row['added_p50_ms']:+.3f} ms "
                f"(per round {_rounds(row['added_p50_rounds_ms'], '+.3f')})"
            )
    return lines


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]], result: Result) -> str:
    lines = [
        "# Observability: metrics + JSON access logs on vs off (HTTP, non-streaming chat)",
        "",
        f"- when: {meta['started']}  commit: `{meta['git_rev']}`  "
        f"load average at start: {' '.join(meta['loadavg_at_start'])}, "
        f"at end: {' '.join(meta.get('loadavg_at_end', ['?']))}",
        f"- machine: {meta['cpu_model']}, {meta['cpus']} CPUs, kernel {meta['kernel']}",
        f"- {len(result.rounds)} round(s) of {meta['duration_s']} s per target and concurrency "
        f"after a {meta['warmup_s']} s warm-up, order rotated each round; "
        f"pinning: {meta['pinning']}",
        f"- {meta['tools']}",
        "",
        "Figures are medians over the rounds. `÷ off` and `+p50 vs off`: the median over "
        "rounds of (target ÷ or − off in the same round).",
        "",
        "| c | target | | req/s | req/s per round | ÷ off | ÷ off per round | p50 ms | "
        "+p50 vs off ms | +p50 per round | p99 ms | errors | CPU % | CPU µs/req | "
        "µs/req ÷ off | max RSS MB |",
        "|--:|---|---|--:|---|--:|---|--:|--:|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        util = None if row["cpu_util"] is None else row["cpu_util"] * 100
        lines.append(
            f"| {row['concurrency']} | {row['target']} | {row['about']} | {row['rps']:,.0f} | "
            f"{_rounds(row['rps_rounds'], ',.0f')} | {_fmt(row['rps_vs_off'], '.3f')} | "
            f"{_rounds(row['rps_vs_off_rounds'], '.3f')} | {row['p50_ms']:.3f} | "
            f"{_fmt(row['added_p50_ms'], '+.3f')} | {_rounds(row['added_p50_rounds_ms'], '+.3f')}"
            f" | {row['p99_ms']:.3f} | {row['errors']} | {_fmt(util, '.0f')} | "
            f"{_fmt(row['cpu_us_per_req'], '.0f')} | {_fmt(row['cpu_vs_off'], '.3f')} | "
            f"{_fmt(row['rss_max_mb'], '.1f')} |"
        )
    lines += ["", *verdicts(rows, result.notes)]
    if result.notes:
        lines += ["", "## Checks", "", *(f"- {n}" for n in result.notes)]
    return "\n".join(lines) + "\n"


def write_results(
    args: argparse.Namespace,
    meta: dict[str, Any],
    result: Result,
    complete: bool,
    configs: dict[str, Any],
) -> None:
    meta["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    rows = rows_of(result)
    text = markdown(meta, rows, result)
    print("\n" + text, flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    raw = {
        "meta": meta
        | {
            "complete": complete,
            "targets": {"rps_on_vs_off_at_c64": TARGET_RATIO},
            "configs": configs,
        },
        "notes": result.notes,
        "rows": rows,
        "rounds": [
            [{"concurrency": c, "target": n, **p.__dict__} for (c, n), p in r.items()]
            for r in result.rounds
        ],
    }
    md, js = args.results / "observability-latest.md", args.results / "observability-latest.json"
    md.write_text(text)
    js.write_text(json.dumps(raw, indent=2) + "\n")
    print(f"written: {md} and {js.name}")


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with & or nohup
    signal.signal(signal.SIGTERM, run._raise_on_signal)
    signal.signal(signal.SIGHUP, run._raise_on_signal)
    dropped = clean_environment()
    if dropped:
        print(f"not passed to the gateways: {', '.join(dropped)}")
    run.ensure_tools()
    os.environ.setdefault("BENCH_UPSTREAM_KEY", "bench-upstream-key")
    run.check_ports([*run.UPSTREAM_PORTS.values(), *(SETUPS[n].port for n in args.targets)])
    pinning = run.choose_pinning(args.no_pin)
    if pinning.load:
        os.sched_setaffinity(0, pinning.load)
    meta = run.machine_meta(args, pinning)
    logdir = args.results / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="proxyapi-bench-observability-"))
    configs = {n: gateway_data(SETUPS[n], workdir) for n in args.targets}
    bench = ObservabilityBench(args, pinning, workdir, logdir)
    result = Result(list(args.targets), list(args.concurrency))
    complete = False
    try:
        measure(args, bench, result)
        complete = True
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        result.notes.append(f"{INCOMPLETE} (interrupted): the checks after measuring were not made")
    except (RuntimeError, OSError) as exc:
        print(f"\nbenchmark failed: {exc}", flush=True)
        if isinstance(exc, run.ServerError):
            print(exc.log_tail, flush=True)
        result.notes.append(f"{INCOMPLETE} ({exc}): the checks after measuring were not made")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        bench.children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        if result.rounds and result.rounds[0]:
            write_results(args, meta, result, complete, configs)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())

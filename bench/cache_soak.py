"""Soak: 50,000 distinct requests through a response cache capped at 50 MB; is RSS bounded?

    .venv/bin/python bench/cache_soak.py [--quick] [--requests 50000] [--concurrency 32]
                                         [--cap-mb 50] [--reply-tokens 2000] [--disk]

Starts the project's simulator (`python -m proxyapi simulate`) as the upstream and one
`proxyapi serve --workers 1` in front of it (pinned to the server CPU, as in bench/run.py),
with `caching: {enabled: true}` and `cache.unified: {max_memory_mb: --cap-mb,
max_size: 1000000}` (so the byte cap, not the entry count, is what bounds the cache), the
disk layer off (`--disk`: on, in a temp dir, `max_disk_mb: 200`). The gateway's provider
sends `x-sim-reply-tokens` (default 2000: ~8.5 KB replies, ~2.5 KB once zstd-compressed
in the cache), so every entry is a few KB.

A driver process (this file with `--drive`, aiohttp on uvloop, pinned with the simulator
to the other CPU) sends `--requests` chat requests, each with its own message content, so
each is a MISS that is then stored, `--concurrency` at a time. This process samples the
gateway's RSS (psutil, its process tree) and `GET /api/cache/stats` every second.

Reported: requests done, errors, X-Cache counts, peak RSS, RSS and the cache's own
memory_usage_mb / entries / evictions at every fifth of the run, and two verdicts:

    bound   peak RSS <= baseline RSS + cap + 60 MB slack (baseline: after start-up and
            a pre-flight MISS + HIT)
    growth  RSS stops growing: the max over the last 40 % of the requests (20k of 50k)
            is at most 5 MB above the max over the 40 % before; only meaningful once the
            cache is full (it says when the first eviction happened)

Every process started here is stopped at the end, also on an error, Ctrl-C, SIGTERM or
SIGHUP; the temp dir is removed. See bench/README.md, "Response cache".
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import psutil
import run
import uvloop
import yaml
from loadgen import CHAT_PATH
from procs import Child, Children, child_setup, spawn, wait_for_port

HOST = run.HOST
GATEWAY_PORT = 18000
SIM_PORT = 18090
CLIENT_KEY = "bench-key"
ADMIN_KEY = "bench-admin-key"
MODEL = "gpt-4o-mini"
SLACK_MB = 60.0
GROWTH_TOLERANCE_MB = 5.0
WINDOW_SHARE = 0.4  # 20k of 50k
CHECKPOINTS = 5
PROGRESS = "PROGRESS "
RESULT = "RESULT "
STALL_S = 60.0  # no progress for this long: the run is stuck
MB = 1024 * 1024
# Variables the gateway reads that would change its cache, auth or workers under us.
ENV_OVERRIDES = (
    "REDIS_URL",
    "CACHE_MAX_MEMORY_MB",
    "MEMORY_THRESHOLD_MB",
    "RESPONSE_CACHE_TTL",
    "RESPONSE_CACHE_SIZE",
    "WORKERS",
    "API_KEYS_REQUIRED",
)


def gateway_data(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    unified: dict[str, Any] = {
        "max_memory_mb": args.cap_mb,
        "max_size": 1_000_000,
        "enable_disk_cache": args.disk,
    }
    if args.disk:
        unified |= {"disk_cache_dir": str(workdir / "disk-cache"), "max_disk_mb": 200}
    return {
        "providers": [
            {
                "name": "sim",
                "type": "openai_compatible",
                "base_url": f"http://{HOST}:{SIM_PORT}/v1",
                "api_key_env": "BENCH_UPSTREAM_KEY",
                "models": [MODEL],
                "priority": 1,
                "headers": {"x-sim-reply-tokens": str(args.reply_tokens)},
            }
        ],
        "logging": {"level": "WARNING"},
        "auth": {"api_keys": [CLIENT_KEY], "admin_keys": [ADMIN_KEY]},
        "caching": {"enabled": True, "response_cache": {"compression": args.compression}},
        "cache": {"unified": unified},
    }


def request_body(text: str) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    return json.dumps(body, separators=(",", ":")).encode()


# --- options ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5,000 requests, a 5 MB cap")
    p.add_argument("--requests", type=int, default=None, help="distinct requests (50,000)")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    p.add_argument("--cap-mb", type=int, default=None, help="max_memory_mb (50; --quick 5)")
    p.add_argument("--reply-tokens", type=int, default=2000, help="x-sim-reply-tokens")
    p.add_argument("--disk", action="store_true", help="disk L2 on (temp dir, 200 MB)")
    p.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="caching.response_cache.compression: false (entries kept as the raw bodies)",
    )
    p.add_argument(
        "--gateway-cmd",
        default=f"{run.VENV_BIN}/proxyapi serve --config {{config}} --host {{host}} "
        "--port {port} --workers 1",
        help="command starting the gateway; {config}, {host} and {port} are substituted",
    )
    p.add_argument("--gateway-timeout", type=float, default=15.0, help="seconds to come up")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--results", type=Path, default=run.BENCH_DIR / "results")
    # The driver (started by this script, not by hand).
    p.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--every", type=int, default=250, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.requests is None:
        args.requests = 5_000 if args.quick else 50_000
    if args.cap_mb is None:
        args.cap_mb = 5 if args.quick else 50
    if min(args.requests, args.concurrency, args.cap_mb, args.reply_tokens) < 1:
        p.error("--requests, --concurrency, --cap-mb and --reply-tokens must be >= 1")
    return args


# --- the driver (its own process) ------------------------------------------------------


async def drive(url: str, requests: int, concurrency: int, every: int) -> dict[str, Any]:
    """Send `requests` distinct chat requests; print progress lines; return the totals."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"}
    tag = f"{os.getpid()}-{time.time_ns()}"
    numbers = itertools.count()
    done = errors = 0
    x_cache: dict[str, int] = {}
    statuses: dict[str, int] = {}
    samples: list[str] = []
    latencies: list[float] = []
    started = time.perf_counter()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while (i := next(numbers)) < requests:
            body = request_body(f"Soak request {i} of run {tag}: answer at length, please.")
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    payload = await resp.read()
                    status, cache = resp.status, resp.headers.get("x-cache", "none")
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, cache, payload = 0, "none", repr(exc).encode()
            latencies.append(time.perf_counter() - sent)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            x_cache[cache] = x_cache.get(cache, 0) + 1
            if status != 200:
                errors += 1
                if len(samples) < 5:
                    samples.append(f"{status}: {payload[:200]!r}")
            done += 1
            if done % every == 0:
                print(f"{PROGRESS}{done} {errors}", flush=True)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "done": done,
        "errors": errors,
        "statuses": statuses,
        "x_cache": x_cache,
        "error_samples": samples,
        "seconds": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None,
    }


def driver_main(args: argparse.Namespace) -> int:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        totals = runner.run(drive(args.url, args.requests, args.concurrency, args.every))
    print(RESULT + json.dumps(totals), flush=True)
    return 0


# --- measuring -------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """RSS of the process and its descendants (uvicorn workers, if any), in MB."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / MB


def get_json(url: str, key: str) -> dict[str, Any] | None:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


def chat(base_url: str, text: str) -> tuple[int, str | None, int]:
    """(status, X-Cache, body bytes) of one request."""
    req = urllib.request.Request(
        base_url + CHAT_PATH,
        request_body(text),
        {"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("x-cache"), len(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None, 0
    except OSError:
        return 0, None, 0


@dataclass
class Sample:
    t: float  # seconds since the driver started
    done: int
    rss_mb: float
    cache_mb: float | None = None
    entries: int | None = None
    evictions: int | None = None


def cache_figures(stats: dict[str, Any] | None) -> tuple[float | None, int | None, int | None]:
    if stats is None:
        return None, None, None
    return stats.get("memory_usage_mb"), stats.get("entries"), stats.get("evictions")


class Sampler(threading.Thread):
    """Every `interval` s: the gateway's RSS and its cache stats, with the requests done."""

    def __init__(self, pid: int, stats_url: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True, name="soak-sampler")
        self.pid = pid
        self.stats_url = stats_url
        self.interval = interval
        self.done = 0  # set by the main thread from the driver's progress lines
        self.started = time.monotonic()
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()

    def take(self) -> Sample:
        done = self.done
        rss = tree_rss_mb(self.pid)
        mb, entries, evictions = cache_figures(get_json(self.stats_url, ADMIN_KEY))
        return Sample(time.monotonic() - self.started, done, rss, mb, entries, evictions)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(self.take())
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _reader(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    for raw in stream:
        lines.put(raw.decode(errors="replace").rstrip("\n"))
    lines.put(None)


@dataclass
class Soak:
    args: argparse.Namespace
    config: dict[str, Any]
    reply_bytes: int = 0
    baseline_mb: float = 0.0
    checkpoints: list[Sample] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    totals: dict[str, Any] | None = None
    after_mb: float | None = None
    final_stats: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def start_driver(args: argparse.Namespace, cpus: frozenset[int] | None, log: Path) -> Child:
    argv = [sys.executable, str(Path(__file__).resolve()), "--drive"]
    argv += ["--url", f"http://{HOST}:{GATEWAY_PORT}{CHAT_PATH}"]
    argv += ["--requests", str(args.requests), "--concurrency", str(args.concurrency)]
    with open(log, "wb") as err:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
            preexec_fn=child_setup(cpus),
        )
    return Child("driver", popen, log)


def run_soak(
    args: argparse.Namespace, soak: Soak, children: Children, workdir: Path, pinning: run.Pinning
) -> None:
    logdir = args.results / "logs"
    python = sys.executable
    sim = children.add(
        spawn(
            "simulator",
            [python, "-m", "proxyapi", "simulate", "--host", HOST, "--port", str(SIM_PORT)],
            pinning.load,
            logdir / "soak-simulator.log",
            cwd=run.REPO,
        )
    )
    if not wait_for_port(SIM_PORT, 15, sim):
        raise RuntimeError(f"the simulator did not come up:\n{sim.log_tail()}")
    config = workdir / "gateway-soak.yaml"
    config.write_text(yaml.safe_dump(soak.config, sort_keys=False))
    cmd = args.gateway_cmd.format(config=config, host=HOST, port=GATEWAY_PORT)
    gateway = children.add(
        spawn("gateway", shlex.split(cmd), pinning.server, logdir / "soak-gateway.log", run.REPO)
    )
    if not wait_for_port(GATEWAY_PORT, args.gateway_timeout, gateway):
        raise RuntimeError(f"the gateway did not come up:\n{gateway.log_tail()}")
    base_url = f"http://{HOST}:{GATEWAY_PORT}"
    stats_url = base_url + "/api/cache/stats"
    # Pre-flight: one request twice: a MISS, then (once stored) a HIT.
    status, cache, soak.reply_bytes = chat(base_url, "Soak pre-flight request.")
    if status != 200 or cache != "MISS":
        raise RuntimeError(f"pre-flight: HTTP {status}, X-Cache {cache}:\n{gateway.log_tail()}")
    deadline = time.monotonic() + 5
    while (found := chat(base_url, "Soak pre-flight request."))[1] != "HIT":
        if time.monotonic() > deadline:
            raise RuntimeError(f"pre-flight: the repeated request was {found}, never a HIT")
        time.sleep(0.05)
    if get_json(stats_url, ADMIN_KEY) is None:
        raise RuntimeError("GET /api/cache/stats with the admin key failed")
    time.sleep(1)
    soak.baseline_mb = tree_rss_mb(gateway.pid)
    print(
        f"simulator on {SIM_PORT}, gateway on {GATEWAY_PORT} (pid {gateway.pid}); "
        f"reply {soak.reply_bytes:,} bytes; baseline RSS {soak.baseline_mb:.1f} MB; "
        f"pinning: {describe(pinning)}",
        flush=True,
    )

    sampler = Sampler(gateway.pid, stats_url)
    step = max(1, args.requests // CHECKPOINTS)
    marks = [min(args.requests, step * k) for k in range(1, CHECKPOINTS + 1)]
    driver = children.add(start_driver(args, pinning.load, logdir / "soak-driver.log"))
    assert driver.popen.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(driver.popen.stdout, lines), daemon=True).start()
    sampler.start()
    try:
        while True:
            try:
                line = lines.get(timeout=STALL_S)
            except queue.Empty:
                raise RuntimeError(f"no progress for {STALL_S:g} s (at {sampler.done:,})") from None
            if line is None:
                break
            if line.startswith(PROGRESS):
                done, errors = map(int, line[len(PROGRESS) :].split())
                sampler.done = done
                while marks and done >= marks[0]:
                    marks.pop(0)
                    point = sampler.take()
                    soak.checkpoints.append(point)
                    print(checkpoint_line(point, errors, soak.baseline_mb), flush=True)
            elif line.startswith(RESULT):
                soak.totals = json.loads(line[len(RESULT) :])
                sampler.done = soak.totals["done"]
            if not gateway.alive():
                raise RuntimeError(f"the gateway died:\n{gateway.log_tail()}")
        driver.popen.wait(timeout=30)
    finally:
        sampler.stop()
        soak.samples = sampler.samples
    if soak.totals is None:
        raise RuntimeError(f"the driver gave no result:\n{driver.log_tail()}")
    if marks:  # the last progress line came before the last request: mark the end
        point = sampler.take()
        soak.checkpoints.append(point)
        print(checkpoint_line(point, soak.totals["errors"], soak.baseline_mb), flush=True)
    time.sleep(2)
    soak.after_mb = tree_rss_mb(gateway.pid)
    soak.final_stats = get_json(stats_url, ADMIN_KEY)


def checkpoint_line(s: Sample, errors: int, baseline: float) -> str:
    cache = "cache stats unavailable"
    if s.cache_mb is not None:
        cache = f"cache {s.cache_mb:6.1f} MB, {s.entries:,} entries, {s.evictions:,} evictions"
    return (
        f"  {s.done:>7,} done  {errors} errors  {s.t:6.1f} s  RSS {s.rss_mb:6.1f} MB "
        f"(+{s.rss_mb - baseline:5.1f})  {cache}"
    )


def describe(pinning: run.Pinning) -> str:
    return (
        pinning.describe()
        .replace("floor/gateway", "gateway")
        .replace("nginx, wrk and the harness", "simulator, driver and this script")
    )


# --- verdicts and output ---------------------------------------------------------------


def figures(args: argparse.Namespace, soak: Soak) -> dict[str, Any]:
    samples = [*soak.samples, *soak.checkpoints]
    peak = max((s.rss_mb for s in samples), default=0.0)
    bound = soak.baseline_mb + args.cap_mb + SLACK_MB
    window = round(args.requests * WINDOW_SHARE)
    end = soak.totals["done"] if soak.totals else 0
    last = [s.rss_mb for s in samples if end - window < s.done <= end]
    before = [s.rss_mb for s in samples if end - 2 * window < s.done <= end - window]
    evicting = [s.done for s in samples if s.evictions]
    first_eviction = min(evicting) if evicting else None
    return {
        "peak_rss_mb": peak,
        "bound_mb": bound,
        "window": window,
        "max_last_window_mb": max(last) if last else None,
        "max_window_before_mb": max(before) if before else None,
        "first_eviction_at": first_eviction,
        # Growth is expected while the cache fills; once it is full (by the start of the
        # last window at the latest) the last window's max must not pass the one before.
        "full_in_time": first_eviction is not None and first_eviction <= end - window,
    }


def verdicts(args: argparse.Namespace, soak: Soak, f: dict[str, Any]) -> list[str]:
    totals = soak.totals or {}
    invalid = (
        not totals
        or totals["errors"]
        or totals["done"] < args.requests
        or totals.get("x_cache", {}).get("MISS", 0) != totals["done"]
    )
    word = "PASS" if f["peak_rss_mb"] <= f["bound_mb"] else "FAIL"
    lines = [
        f"{'INVALID' if invalid else word:<7} bound: peak RSS {f['peak_rss_mb']:.1f} MB "
        f"(target <= baseline {soak.baseline_mb:.1f} + cap {args.cap_mb} + slack {SLACK_MB:g} "
        f"= {f['bound_mb']:.1f} MB)"
    ]
    last, before = f["max_last_window_mb"], f["max_window_before_mb"]
    what = f"growth: max RSS over the last {f['window']:,} requests vs the {f['window']:,} before"
    if last is None or before is None:
        lines.append(f"SKIP    {what}: too few samples")
    else:
        word = "PASS" if last <= before + GROWTH_TOLERANCE_MB else "FAIL"
        if not f["full_in_time"]:
            word = "N/A"  # the cache was still filling: growth is expected
        lines.append(
            f"{'INVALID' if invalid else word:<7} {what}: {last:.1f} vs {before:.1f} MB "
            f"({last - before:+.1f}; target <= +{GROWTH_TOLERANCE_MB:g} MB"
            + (
                ""
                if f["full_in_time"]
                else "; the cache was not yet full when the last window began"
            )
            + ")"
        )
    return lines


def markdown(args: argparse.Namespace, meta: dict[str, Any], soak: Soak) -> str:
    f = figures(args, soak)
    totals = soak.totals or {}
    layer = (
        "memory L1 + disk L2 (temp dir, max_disk_mb 200)" if args.disk else "memory only (disk off)"
    )
    lines = [
        "# Response cache soak: distinct requests through a capped cache",
        "",
        f"- when: {meta['started']}  commit: `{meta['git_rev']}`  load average at start: "
        f"{' '.join(meta['loadavg_at_start'])}, at end: {' '.join(meta['loadavg_at_end'])}",
        f"- machine: {meta['cpu_model']}, {meta['cpus']} CPUs; pinning: {meta['pinning']}",
        f"- gateway: `proxyapi serve --workers 1`, caching on, `cache.unified.max_memory_mb: "
        f"{args.cap_mb}`, `max_size: 1000000`, {layer}, "
        f"`response_cache.compression: {str(args.compression).lower()}`; "
        f"upstream: the simulator with "
        f"`x-sim-reply-tokens: {args.reply_tokens}` (reply {soak.reply_bytes:,} bytes)",
        f"- driver: {args.requests:,} requests, each with its own message, {args.concurrency} "
        "in flight (aiohttp, uvloop)",
        f"- gateway command: `{args.gateway_cmd}`",
        "",
    ]
    if totals:
        lines += [
            f"Done: {totals['done']:,} requests in {totals['seconds']:.1f} s "
            f"({totals['rps']:,.0f} req/s), {totals['errors']} errors, statuses "
            f"{totals['statuses']}, X-Cache {totals['x_cache']}; client latency p50 "
            f"{totals['p50_ms']:.1f} ms, p99 {totals['p99_ms']:.1f} ms.",
            "",
        ]
        if totals["error_samples"]:
            lines += ["First errors: " + "; ".join(totals["error_samples"]), ""]
    lines += [
        "| requests done | s | RSS MB | RSS − baseline MB | cache memory_usage_mb | entries | "
        "evictions |",
        "|--:|--:|--:|--:|--:|--:|--:|",
        f"| 0 (baseline) | – | {soak.baseline_mb:.1f} | – | – | – | – |",
    ]
    for s in soak.checkpoints:
        lines.append(
            f"| {s.done:,} | {s.t:.1f} | {s.rss_mb:.1f} | {s.rss_mb - soak.baseline_mb:+.1f} | "
            f"{'–' if s.cache_mb is None else f'{s.cache_mb:.1f}'} | "
            f"{'–' if s.entries is None else f'{s.entries:,}'} | "
            f"{'–' if s.evictions is None else f'{s.evictions:,}'} |"
        )
    if soak.after_mb is not None:
        lines.append(f"| (2 s after) | | {soak.after_mb:.1f} | | | | |")
    first = f["first_eviction_at"]
    lines += [
        "",
        f"Peak RSS {f['peak_rss_mb']:.1f} MB over {len(soak.samples)} one-second samples; "
        f"first eviction by {'–' if first is None else f'{first:,}'} requests.",
        "",
        *verdicts(args, soak, f),
    ]
    final = soak.final_stats
    if final is not None:
        lines += [
            "",
            f"Cache at the end: {final.get('memory_usage_mb')} MB of {final.get('max_memory_mb')} "
            f"MB, {final.get('entries'):,} entries, {final.get('evictions'):,} evictions, "
            f"{final.get('sets'):,} sets, {final.get('hits'):,} hits, {final.get('misses'):,} "
            f"misses, compression ratio {final.get('compression_ratio')}"
            + (
                f"; disk: {final['l2'].get('entries'):,} entries, "
                f"{final['l2'].get('disk_usage_bytes', 0) / MB:.1f} MB, "
                f"{final['l2'].get('evictions'):,} evictions"
                if isinstance(final.get("l2"), dict)
                else ""
            ),
        ]
    if soak.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in soak.notes)]
    return "\n".join(lines) + "\n"


def write_results(args: argparse.Namespace, meta: dict[str, Any], soak: Soak) -> None:
    meta["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    text = markdown(args, meta, soak)
    print("\n" + text, flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    raw = {
        "meta": meta,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "config": soak.config,
        "baseline_mb": soak.baseline_mb,
        "reply_bytes": soak.reply_bytes,
        "figures": figures(args, soak),
        "totals": soak.totals,
        "checkpoints": [asdict(s) for s in soak.checkpoints],
        "samples": [asdict(s) for s in soak.samples],
        "after_mb": soak.after_mb,
        "final_stats": soak.final_stats,
        "notes": soak.notes,
    }
    (args.results / "cache_soak.md").write_text(text)
    (args.results / "cache_soak.json").write_text(json.dumps(raw, indent=2) + "\n")
    print(f"written: {args.results / 'cache_soak.md'} and cache_soak.json")


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.drive:
        return driver_main(args)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with & or nohup
    signal.signal(signal.SIGTERM, run._raise_on_signal)
    signal.signal(signal.SIGHUP, run._raise_on_signal)
    dropped = sorted(k for k in os.environ if k.startswith("PROXY_API_") or k in ENV_OVERRIDES)
    for name in dropped:
        del os.environ[name]
    if dropped:
        print(f"not passed to the gateway: {', '.join(dropped)}")
    os.environ.setdefault("BENCH_UPSTREAM_KEY", "bench-upstream-key")
    run.check_ports([GATEWAY_PORT, SIM_PORT])
    pinning = run.choose_pinning(args.no_pin)
    if pinning.load:
        os.sched_setaffinity(0, pinning.load)
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git_rev": run._git_rev(),
        "cpu_model": run._cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "pinning": describe(pinning),
    }
    (args.results / "logs").mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="proxyapi-bench-soak-"))
    children = Children()
    result = Soak(args, gateway_data(args, workdir))
    complete = False
    try:
        run_soak(args, result, children, workdir, pinning)
        complete = True
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        result.notes.append("interrupted: the figures cover part of the run")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"\nsoak failed: {exc}", flush=True)
        result.notes.append(f"failed: {str(exc).splitlines()[0]}")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        if result.samples or result.checkpoints:
            write_results(args, meta, result)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())

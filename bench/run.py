"""ProxyAPI benchmark: gateway vs bare forwarder (floor) vs nginx direct, in one run.

    .venv/bin/python bench/run.py [--quick] [--concurrency 1,16,64,256] [--modes json,stream]

Starts nginx (fixed OpenAI answers), bench/floor.py and `proxyapi serve`, drives each
with wrk + bench/chat.lua, prints a markdown table and writes bench/results/latest.{md,json}.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import loadgen
import report
import upstream
from procs import (
    Child,
    Children,
    RssSampler,
    cpu_seconds,
    port_in_use,
    spawn,
    wait_for_port,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENV_BIN = REPO / ".venv" / "bin"
HOST = "127.0.0.1"
GATEWAY_PORT = 18000
FLOOR_PORT = 18001
UPSTREAM_PORTS = {
    "json": upstream.JSON_PORT,
    "stream": upstream.STREAM_PORT,
    "anthropic-json": upstream.ANTHROPIC_JSON_PORT,
    "anthropic-stream": upstream.ANTHROPIC_STREAM_PORT,
}
ALL_TARGETS = ("direct", "floor", "gateway")
ALL_MODES = ("json", "stream", "anthropic-json", "anthropic-stream")
DEFAULT_MODES = ("json", "stream")
# The anthropic-* modes put an Anthropic-format upstream behind the gateway, to
# measure what translation costs; the floor only forwards, so it sits them out.
TRANSLATED_MODES = frozenset({"anthropic-json", "anthropic-stream"})
DEFAULT_GATEWAY_CMD = (
    f"{VENV_BIN}/proxyapi serve --config {{config}} --host {{host}} --port {{port}} --workers 1"
)
GATEWAY_CONFIG = """\
providers:
  - name: bench
    type: {provider_type}
    base_url: "{base_url}"
    api_key_env: BENCH_UPSTREAM_KEY
    models: ["gpt-4o-mini"]
    priority: 1
logging:
  level: WARNING
caching:
  enabled: false   # every request is the same: the proxy path is measured, not the cache
"""


def gateway_config(mode: str) -> str:
    port = UPSTREAM_PORTS[mode]
    if mode in TRANSLATED_MODES:
        return GATEWAY_CONFIG.format(provider_type="anthropic", base_url=f"http://{HOST}:{port}")
    return GATEWAY_CONFIG.format(
        provider_type="openai_compatible", base_url=f"http://{HOST}:{port}/v1"
    )


# --- options ---------------------------------------------------------------------------


def _csv(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(choices)}")
        return items

    return parse


def distinct_names(choices: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names from ``choices``, each at most once."""
    known = tuple(choices)

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in known]
        if bad or not items or len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"distinct names from {','.join(known)}")
        return items

    return parse


def add_round_options(p: argparse.ArgumentParser) -> None:
    """--quick, --repeat, --duration, --warmup: the options of every interleaved-round bench."""
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s points, 1 round")
    p.add_argument("--repeat", type=int, default=None, help="rounds (default 3, --quick 1)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per run")


def _ints(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("comma-separated integers, e.g. 1,16,64") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("concurrency must be >= 1")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=_ints, default=[1, 16, 64, 256])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured point")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per point")
    p.add_argument("--quick", action="store_true", help="3 s points")
    p.add_argument(
        "--repeat", type=int, default=1, help="measure each point N times, keep the median run"
    )
    p.add_argument("--modes", type=_csv(ALL_MODES), default=list(DEFAULT_MODES))
    p.add_argument("--targets", type=_csv(ALL_TARGETS), default=list(ALL_TARGETS))
    p.add_argument(
        "--gateway-cmd",
        default=DEFAULT_GATEWAY_CMD,
        help="command starting the gateway; {config} (generated YAML), {host}, {port} and "
        "{upstream} (nginx base URL for the mode, no /v1) are substituted",
    )
    p.add_argument("--gateway-timeout", type=float, default=15.0, help="seconds to come up")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.duration = 3.0
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


# --- environment -----------------------------------------------------------------------


def _apt_install(packages: list[str]) -> bool:
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    return subprocess.run(cmd, env=env, timeout=600).returncode == 0


def ensure_tools() -> None:
    """Install nginx and wrk with apt-get if missing (apt-get update only if needed)."""
    os.environ["PATH"] += os.pathsep + "/usr/sbin:/sbin"
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing {', '.join(missing)}: install with `apt-get install nginx wrk`")
    print(f"installing {' '.join(missing)} with apt-get ...")
    if not _apt_install(missing):
        subprocess.run(["apt-get", "update"], timeout=600, check=False)
        if not _apt_install(missing):
            sys.exit(f"could not install {', '.join(missing)}")


def check_ports(ports: list[int]) -> None:
    busy = [port for port in ports if port_in_use(port)]
    if busy:
        sys.exit(f"ports already in use on {HOST}: {busy} (stop whatever listens there)")


@dataclass(frozen=True)
class Pinning:
    server: frozenset[int] | None
    load: frozenset[int] | None

    def describe(self) -> str:
        if self.server is None:
            return "none"
        return (
            f"server under test (floor/gateway) on CPU {sorted(self.server)}; "
            f"nginx, wrk and the harness on CPU {sorted(self.load or [])}"
        )


def choose_pinning(disabled: bool) -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    if disabled or len(cpus) < 2:
        return Pinning(None, None)
    return Pinning(frozenset(cpus[:1]), frozenset(cpus[1:]))


def _command_output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    return (done.stdout + done.stderr).strip().splitlines()[0] if done.stdout + done.stderr else "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _git_rev() -> str:
    rev = _command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    return rev + ("-dirty" if dirty else "")


def machine_meta(args: argparse.Namespace, pinning: Pinning) -> dict[str, Any]:
    return {
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git_rev": _git_rev(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "duration_s": args.duration,
        "repeat": args.repeat,
        "warmup_s": args.warmup,
        "concurrency": args.concurrency,
        "modes": args.modes,
        "targets": args.targets,
        "pinning": pinning.describe(),
        "gateway_cmd": args.gateway_cmd,
        "tools": "; ".join(
            [
                _command_output(["nginx", "-v"]),
                _command_output(["wrk", "-v"]).split(" Copyright")[0],
                f"Python {platform.python_version()}",
            ]
        ),
    }


# --- servers ---------------------------------------------------------------------------


class ServerError(RuntimeError):
    """A server under test did not come up or answered wrongly."""

    def __init__(self, reason: str, child: Child) -> None:
        super().__init__(f"{child.name} {reason} (log: {child.log_path})")
        self.log_tail = child.log_tail()


@dataclass
class Target:
    """Something wrk can be pointed at; `child`/`sampler` are None for nginx direct."""

    name: str
    base_url: str
    child: Child | None = None
    sampler: RssSampler | None = None


@dataclass
class Bench:
    args: argparse.Namespace
    pinning: Pinning
    workdir: Path
    logdir: Path
    children: Children = field(default_factory=Children)
    points: list[report.Point] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def start_nginx(self) -> None:
        conf = upstream.write_config(self.workdir)
        argv = ["nginx", "-p", str(self.workdir), "-c", str(conf)]
        child = self.children.add(
            spawn("nginx", argv, self.pinning.load, self.logdir / "nginx.log")
        )
        for port in UPSTREAM_PORTS.values():
            if not wait_for_port(port, 10, child):
                raise RuntimeError(f"nginx did not come up on {port}:\n{child.log_tail()}")

    def _start_server(self, name: str, argv: list[str], port: int, mode: str) -> Target:
        log = self.logdir / f"{name}-{mode}.log"
        child = self.children.add(spawn(name, argv, self.pinning.server, log, cwd=REPO))
        target = Target(name, f"http://{HOST}:{port}", child)
        timeout = self.args.gateway_timeout
        if not wait_for_port(port, timeout, child):
            reason = "exited" if not child.alive() else f"was not listening after {timeout:g} s"
            self.stop(target)
            raise ServerError(f"{reason} on {HOST}:{port}", child)
        problem = loadgen.check_target(target.base_url, stream=mode.endswith("stream"))
        if problem:
            self.stop(target)
            raise ServerError(f"answered wrongly: {problem}", child)
        target.sampler = RssSampler(child.pid)
        target.sampler.start()
        return target

    def start_floor(self, mode: str) -> Target:
        python = VENV_BIN / "python" if (VENV_BIN / "python").exists() else Path(sys.executable)
        argv = [str(python), str(BENCH_DIR / "floor.py"), "--host", HOST, "--port", str(FLOOR_PORT)]
        argv += ["--upstream", f"http://{HOST}:{UPSTREAM_PORTS[mode]}"]
        return self._start_server("floor", argv, FLOOR_PORT, mode)

    def start_gateway(self, mode: str) -> Target | None:
        config = self.workdir / f"gateway-{mode}.yaml"
        config.write_text(gateway_config(mode))
        cmd = self.args.gateway_cmd.format(
            config=config,
            host=HOST,
            port=GATEWAY_PORT,
            upstream=f"http://{HOST}:{UPSTREAM_PORTS[mode]}",
        )
        try:
            return self._start_server("gateway", shlex.split(cmd), GATEWAY_PORT, mode)
        except (ServerError, OSError) as exc:
            tail = exc.log_tail if isinstance(exc, ServerError) else ""
            print(f"\n*** gateway SKIPPED for {mode}: {exc}\n    command: {cmd}", flush=True)
            print("    " + tail.replace("\n", "\n    ") + "\n", flush=True)
            self.notes.append(f"gateway skipped for {mode}: {exc}; command: `{cmd}`")
            return None

    def stop(self, target: Target) -> None:
        if target.sampler:
            target.sampler.stop()
        if target.child:
            self.children.stop(target.child)

    # --- measuring ---------------------------------------------------------------------

    def targets_for(self, mode: str) -> list[Target]:
        targets: list[Target] = []
        for name in self.args.targets:
            if name == "direct":
                targets.append(Target("direct", f"http://{HOST}:{UPSTREAM_PORTS[mode]}"))
            elif name == "floor":
                if mode not in TRANSLATED_MODES:
                    targets.append(self.start_floor(mode))
            elif gateway := self.start_gateway(mode):
                targets.append(gateway)
        return targets

    def _wrk(self, mode: str, concurrency: int, target: Target, seconds: float) -> dict[str, Any]:
        stream = mode.endswith("stream")
        return loadgen.run_wrk(target.base_url, concurrency, seconds, stream, self.pinning.load)

    def _alive(self, mode: str, concurrency: int, target: Target) -> bool:
        if target.child is None or target.child.alive():
            return True
        self.notes.append(f"{target.name} died during {mode} c={concurrency}")
        print(f"*** {target.name} died:\n{target.child.log_tail()}", flush=True)
        return False

    def measure_level(self, mode: str, concurrency: int, targets: list[Target]) -> None:
        """All targets at one concurrency, in `repeat` interleaved rounds (warm-up, run).

        Interleaving spreads the machine's noise over the targets instead of letting
        one target's runs absorb a slow spell; the median run per target is kept.
        """
        runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        measured = list(targets)
        for target in measured:
            if target.sampler:
                target.sampler.reset_window()
        try:
            for _ in range(self.args.repeat):
                for target in list(targets):
                    runs[target.name].append(self.measure_once(mode, concurrency, target))
                    if not self._alive(mode, concurrency, target):
                        targets.remove(target)
        finally:  # also on Ctrl-C: keep what was measured
            for target in measured:
                if runs[target.name]:
                    self.record(mode, concurrency, target, runs[target.name])

    def measure_once(self, mode: str, concurrency: int, target: Target) -> dict[str, Any]:
        """Warm-up run, then the measured run with the server's CPU time around it."""
        if self.args.warmup > 0:
            self._wrk(mode, concurrency, target, self.args.warmup)
        cpu_before = cpu_seconds(target.child.pid) if target.child else 0.0
        run = self._wrk(mode, concurrency, target, self.args.duration)
        if target.child:
            run["server_cpu_s"] = cpu_seconds(target.child.pid) - cpu_before
        rss = target.sampler.window_max_kb if target.sampler else None
        point = report.Point.from_wrk(mode, concurrency, target.name, run, rss)
        print(progress_line(point), flush=True)
        return run

    def record(
        self, mode: str, concurrency: int, target: Target, runs: list[dict[str, Any]]
    ) -> None:
        median = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
        rss = target.sampler.window_max_kb if target.sampler else None
        point = report.Point.from_wrk(mode, concurrency, target.name, median, rss)
        point.rps_runs = [run["rps"] for run in runs]
        self.points.append(point)

    def run_mode(self, mode: str) -> None:
        print(f"\n== {mode}: starting servers", flush=True)
        targets = self.targets_for(mode)
        started = list(targets)
        try:
            for concurrency in self.args.concurrency:
                self.measure_level(mode, concurrency, targets)
        finally:
            for target in started:
                self.stop(target)


def progress_line(p: report.Point) -> str:
    return (
        f"  [{p.mode:6} c={p.concurrency:<3} {p.target:7}] {p.rps:9,.0f} req/s  "
        f"p50 {p.p50_ms:7.2f} ms  p99 {p.p99_ms:7.2f} ms  errors {p.errors}"
        + (f"  cpu {p.cpu_util:4.0%} {p.cpu_us_per_req:4.0f} µs/req" if p.cpu_util else "")
        + (f"  rss {p.rss_max_mb:.1f} MB" if p.rss_max_mb is not None else "")
    )


# --- output ----------------------------------------------------------------------------


def write_results(bench: Bench, meta: dict[str, Any], complete: bool) -> None:
    rows = report.derive(bench.points)
    text = report.markdown(meta, rows, bench.notes)
    print("\n" + text)
    bench.args.results.mkdir(parents=True, exist_ok=True)
    (bench.args.results / "latest.md").write_text(text)
    raw = {
        "meta": meta | {"complete": complete},
        "notes": bench.notes,
        "points": rows,
        "raw_points": [asdict(p) for p in bench.points],
    }
    (bench.args.results / "latest.json").write_text(json.dumps(raw, indent=2) + "\n")
    print(f"written: {bench.args.results / 'latest.md'} and latest.json")


def _raise_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with & or nohup
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGHUP, _raise_on_signal)
    ensure_tools()
    # The gateway's bench provider reads its (fake) key from here; nginx ignores it.
    os.environ.setdefault("BENCH_UPSTREAM_KEY", "bench-upstream-key")
    check_ports([*UPSTREAM_PORTS.values(), FLOOR_PORT, GATEWAY_PORT])
    pinning = choose_pinning(args.no_pin)
    if pinning.load:
        os.sched_setaffinity(0, pinning.load)
    meta = machine_meta(args, pinning)
    workdir = Path(tempfile.mkdtemp(prefix="proxyapi-bench-"))
    logdir = args.results / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, pinning, workdir, logdir)
    complete = False
    try:
        bench.start_nginx()
        for mode in args.modes:
            bench.run_mode(mode)
        complete = True
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    except RuntimeError as exc:
        print(f"\nbenchmark failed: {exc}", flush=True)
        if isinstance(exc, ServerError):
            print(exc.log_tail, flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        bench.children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        if bench.points:
            write_results(bench, meta, complete)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())

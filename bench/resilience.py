"""The resilience experiment of issue 5, with its figures: .venv/bin/python bench/resilience.py

A simulator upstream, two providers for one model (the primary failing 20% of
calls with 503 and 5% with a timeout, injected by chaos engineering; the
fallback healthy), and 2,000 requests at concurrency 32 through the gateway.
Prints the success rate, latency percentiles, the slowest request against the
deadline, and the primary's circuit-breaker history. The test suite runs the
same experiment (tests/integration/test_resilience_experiment.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from test_resilience_experiment import DEADLINE, REQUESTS, drive, experiment_config  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(args: list[str], port: int, ready: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "proxyapi", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=0.5).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{args[0]} did not start")


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXY_API_")} | {"SIM_KEY": "k"}
    sim_port, gw_port = free_port(), free_port()
    simulator = start(["simulate", "--port", str(sim_port)], sim_port, "/v1/models", env)
    try:
        config = Path(tempfile.mkdtemp()) / "config.yaml"
        config.write_text(yaml.safe_dump(experiment_config(f"http://127.0.0.1:{sim_port}")))
        args = ["serve", "--config", str(config), "--port", str(gw_port)]
        gateway = start(args, gw_port, "/health/ready", env)
        try:
            report(asyncio.run(drive(f"http://127.0.0.1:{gw_port}")), gw_port)
        finally:
            gateway.terminate()
            gateway.wait()
    finally:
        simulator.terminate()
        simulator.wait()


def report(results: list[tuple[int, float]], port: int) -> None:
    latencies = sorted(seconds for _, seconds in results)
    ok = sum(1 for status, _ in results if status == 200)
    metrics = httpx.get(f"http://127.0.0.1:{port}/v1/metrics").json()
    primary = metrics["providers"]["primary"]
    print(f"requests {len(results)}  succeeded {ok} ({ok / REQUESTS:.2%})")
    print(
        f"latency p50 {latencies[len(latencies) // 2] * 1000:.1f} ms  "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms  "
        f"max {latencies[-1] * 1000:.1f} ms (deadline {DEADLINE * 1000:.0f} ms)"
    )
    print(f"injected faults {metrics['chaos']['injected']}")
    breaker = primary["circuit_breaker"]
    print(f"primary breaker: opened {breaker['times_opened']} times")
    print(f"primary breaker transitions {breaker['transitions']}")
    fallback = metrics["providers"]["fallback"]
    print(f"primary calls {primary['requests']}, fallback calls {fallback['requests']}")


if __name__ == "__main__":
    main()

"""``proxyapi demo``: a gateway that answers the README's first curl, key or no key.

Without ``OPENAI_API_KEY`` it starts the simulator in a child process and routes
to it (``demo.yaml``); with the key it serves the bundled default configuration,
which routes to the real OpenAI API.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer

DEMO_CONFIG = Path(__file__).parent / "config" / "demo.yaml"
BUNDLED_CONFIG = Path(__file__).parent / "config" / "default.yaml"


def wait_for_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when the demo dies, even by SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # Not Linux: the demo's own clean-up still stops it.


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "proxyapi", "simulate", "--port", str(port)]
    process = subprocess.Popen(command, preexec_fn=_die_with_parent)
    if not wait_for_port("127.0.0.1", port, 15):
        process.terminate()
        typer.echo(f"❌ the simulator did not start on port {port}", err=True)
        raise typer.Exit(code=1)
    return process


def run_demo(port: int, simulator_port: int) -> None:
    from proxyapi.cli import load_or_exit, run_server

    if os.environ.get("OPENAI_API_KEY"):
        typer.echo("OPENAI_API_KEY is set: routing to the real OpenAI API.", err=True)
        run_server(load_or_exit(BUNDLED_CONFIG), host=None, port=port, workers=1)
        return
    typer.echo(f"No OPENAI_API_KEY: routing to the simulator on port {simulator_port}.", err=True)
    os.environ["SIMULATOR_URL"] = f"http://127.0.0.1:{simulator_port}/v1"
    # uvicorn re-raises SIGTERM once it has shut down; exit through Python instead,
    # so the `finally` below stops the simulator.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    simulator = start_simulator(simulator_port)
    try:
        run_server(load_or_exit(DEMO_CONFIG), host=None, port=port, workers=1)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

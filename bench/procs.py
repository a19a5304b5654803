"""Child processes for the benchmark: start pinned, stop surely, sample their RSS.

Every child runs in its own session (so its process group id is its pid) and
gets PR_SET_PDEATHSIG=SIGTERM, so it is told to exit if the harness dies
without cleaning up. Stopping a child signals its own process group only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: no dlopen between fork and exec


def child_setup(cpus: frozenset[int] | None) -> Callable[[], None]:
    """A preexec_fn: pin to cpus (if any) and ask for SIGTERM when the harness dies."""

    def setup() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return setup


@dataclass
class Child:
    """One started process (and, through its process group, its descendants)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def spawn(
    name: str,
    argv: Sequence[str],
    cpus: frozenset[int] | None,
    log_path: Path | None,
    cwd: Path | None = None,
) -> Child:
    """Start argv pinned to cpus, output to log_path (or discarded)."""
    with ExitStack() as stack:
        out = stack.enter_context(open(log_path, "wb")) if log_path else subprocess.DEVNULL
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=child_setup(cpus),
        )
    return Child(name, popen, log_path)


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(child: Child, grace: float = 8.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
    pgid = child.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if child.popen.poll() is not None and not _group_exists(pgid):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    try:
        child.popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        print(f"warning: {child.name} (pid {pgid}) did not exit after SIGKILL")


@dataclass
class Children:
    """Everything the harness started; stop_all() is called from a finally block."""

    items: list[Child] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        self.items.append(child)
        return child

    def stop(self, child: Child) -> None:
        stop(child)
        if child in self.items:
            self.items.remove(child)

    def stop_all(self) -> None:
        for child in reversed(self.items):
            stop(child)
        self.items.clear()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, child: Child, host: str = "127.0.0.1") -> bool:
    """True once host:port accepts connections; False on timeout or if the child exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            return False
        if port_in_use(port, host):
            return True
        time.sleep(0.1)
    return False


# --- RSS -----------------------------------------------------------------------------


def _ppid_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    """root and all its descendants (by scanning /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """User + system CPU time of root and its live descendants, in seconds."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / _CLK_TCK


def rss_kb(pid: int) -> int:
    """VmRSS of one process in KiB (0 if it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class RssSampler(threading.Thread):
    """Samples the summed VmRSS of a process tree; keeps the overall and a window max."""

    def __init__(self, root: int, interval: float = 0.2, rescan: float = 2.0) -> None:
        super().__init__(daemon=True, name=f"rss-{root}")
        self.root = root
        self.interval = interval
        self.rescan = rescan
        self.max_kb = 0
        self.window_max_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        pids: list[int] = []
        scanned = 0.0
        while not self._stop_event.is_set():
            now = time.monotonic()
            if now - scanned >= self.rescan:
                pids, scanned = process_tree(self.root), now
            total = sum(rss_kb(pid) for pid in pids)
            self.max_kb = max(self.max_kb, total)
            self.window_max_kb = max(self.window_max_kb, total)
            self._stop_event.wait(self.interval)

    def reset_window(self) -> None:
        self.window_max_kb = 0

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)

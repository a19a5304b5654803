"""Memory pressure: the memory layer gives memory back as the process nears its limit."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from clocks import FakeClock

from proxyapi.cache import pressure
from proxyapi.cache.codec import Codec
from proxyapi.cache.memory import MemoryCache
from proxyapi.cache.pressure import MB, PressureWatcher, memory_limit
from proxyapi.config.observability import MemoryConfig

LIMIT = 1000
ENTRIES = 20
CONFIG = MemoryConfig(max_usage_percent=80, emergency_threshold_percent=95)


class Rss:
    """The process's RSS as the test sets it."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def __call__(self) -> int:
        return self.value


@pytest.fixture
def memory(clock: FakeClock) -> MemoryCache:
    cache = MemoryCache(codec=Codec(compress=False), clock=clock)
    for i in range(ENTRIES):
        cache.set_now(f"k{i:02}", b"x" * 1000)
    return cache


@pytest.fixture
def rss() -> Rss:
    return Rss()


@pytest.fixture
def watcher(memory: MemoryCache, rss: Rss) -> PressureWatcher:
    return PressureWatcher(memory, CONFIG, limit=LIMIT, rss=rss)


def test_below_max_usage_percent_nothing_is_evicted(
    watcher: PressureWatcher, memory: MemoryCache, rss: Rss
) -> None:
    rss.value = 799
    assert watcher.check_once() == 0
    assert len(memory) == ENTRIES
    assert watcher.events == 0
    assert memory.get_sync_stats()["memory_pressure_events"] == 0


@pytest.mark.parametrize("used", [800, 949])
def test_at_max_usage_percent_the_memory_layer_is_halved_and_an_event_counted(
    watcher: PressureWatcher, memory: MemoryCache, rss: Rss, used: int
) -> None:
    before = memory.memory_usage_bytes
    rss.value = used
    evicted = watcher.check_once()
    assert evicted == ENTRIES - len(memory) > 0
    assert 0 < memory.memory_usage_bytes <= before // 2
    assert watcher.events == 1
    assert memory.get_sync_stats()["memory_pressure_events"] == 1


def test_pressure_evicts_the_least_recently_used_entries_first(
    watcher: PressureWatcher, memory: MemoryCache, rss: Rss
) -> None:
    memory.get_now("k00")
    rss.value = 900
    watcher.check_once()
    assert "k00" in memory
    assert "k01" not in memory
    assert f"k{ENTRIES - 1}" in memory


@pytest.mark.parametrize("used", [950, 2000])
def test_at_the_emergency_threshold_the_memory_layer_is_emptied(
    watcher: PressureWatcher, memory: MemoryCache, rss: Rss, used: int
) -> None:
    rss.value = used
    assert watcher.check_once() == ENTRIES
    assert len(memory) == 0
    assert memory.memory_usage_bytes == 0
    assert watcher.events == 1
    assert memory.get_sync_stats()["memory_pressure_events"] == 1


def test_every_check_under_pressure_counts_an_event(
    watcher: PressureWatcher, memory: MemoryCache, rss: Rss
) -> None:
    rss.value = 900
    watcher.check_once()
    watcher.check_once()
    assert watcher.events == 2
    assert memory.get_sync_stats()["memory_pressure_events"] == 2


def test_memory_limit_is_threshold_mb_when_set() -> None:
    config = MemoryConfig(threshold_mb=256)
    assert memory_limit(config) == 256 * MB


def test_a_watcher_without_a_limit_takes_threshold_mb(memory: MemoryCache) -> None:
    watcher = PressureWatcher(memory, MemoryConfig(threshold_mb=64), rss=Rss())
    assert watcher.limit == 64 * MB


def test_without_threshold_mb_the_cgroup_limit_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = tmp_path / "memory.max"
    limit.write_text("536870912\n")
    monkeypatch.setattr(pressure, "_CGROUP_LIMIT", limit)
    assert memory_limit(MemoryConfig()) == 536870912


@pytest.mark.parametrize("cgroup", ["max\n", None], ids=["unlimited", "absent"])
def test_without_threshold_mb_or_a_cgroup_limit_the_machines_ram_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cgroup: str | None
) -> None:
    limit = tmp_path / "memory.max"
    if cgroup is not None:
        limit.write_text(cgroup)
    monkeypatch.setattr(pressure, "_CGROUP_LIMIT", limit)
    assert memory_limit(MemoryConfig()) == psutil.virtual_memory().total

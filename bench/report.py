"""Turn measured points into derived figures and a markdown report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TARGET_ORDER = ("direct", "floor", "gateway")


@dataclass
class Point:
    """One measured (mode, concurrency, target) point."""

    mode: str
    concurrency: int
    target: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    rss_max_mb: float | None
    cpu_util: float | None = None
    cpu_us_per_req: float | None = None
    rps_runs: list[float] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @classmethod
    def from_wrk(
        cls, mode: str, concurrency: int, target: str, wrk: dict[str, Any], rss_kb: int | None
    ) -> Point:
        lat = wrk["latency_us"]
        cpu_s = wrk.get("server_cpu_s")
        seconds = wrk["duration_us"] / 1e6
        return cls(
            mode=mode,
            concurrency=concurrency,
            target=target,
            requests=wrk["requests"],
            duration_s=seconds,
            rps=wrk["rps"],
            p50_ms=lat["p50"] / 1000,
            p90_ms=lat["p90"] / 1000,
            p99_ms=lat["p99"] / 1000,
            mean_ms=lat["mean"] / 1000,
            max_ms=lat["max"] / 1000,
            non2xx=wrk["non2xx"],
            socket_errors=wrk["socket_errors"],
            rss_max_mb=None if rss_kb is None else rss_kb / 1024,
            cpu_util=None if cpu_s is None else cpu_s / seconds,
            cpu_us_per_req=None if cpu_s is None else cpu_s * 1e6 / max(1, wrk["requests"]),
        )


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def derive(points: list[Point]) -> list[dict[str, Any]]:
    """Each point as a dict plus its comparisons with direct and floor at the same load."""
    index = {(p.mode, p.concurrency, p.target): p for p in points}
    rows = []
    for p in points:
        row: dict[str, Any] = asdict(p) | {"errors": p.errors}
        direct = index.get((p.mode, p.concurrency, "direct"))
        floor = index.get((p.mode, p.concurrency, "floor"))
        if p.target != "direct" and direct:
            row["added_p50_ms"] = p.p50_ms - direct.p50_ms
            row["added_p99_ms"] = p.p99_ms - direct.p99_ms
        if p.target == "gateway" and floor:
            row["rps_vs_floor"] = _ratio(p.rps, floor.rps)
            if direct:
                row["added_p50_vs_floor"] = _ratio(
                    row["added_p50_ms"], floor.p50_ms - direct.p50_ms
                )
            if p.cpu_us_per_req and floor.cpu_us_per_req:
                row["cpu_per_req_vs_floor"] = p.cpu_us_per_req / floor.cpu_us_per_req
            if p.rss_max_mb is not None and floor.rss_max_mb:
                row["rss_vs_floor"] = p.rss_max_mb / floor.rss_max_mb
        rows.append(row)
    return rows


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def _errors(row: dict[str, Any]) -> str:
    if not row["errors"]:
        return "0"
    return f"{row['errors']} ({row['non2xx']} http, {row['socket_errors']} sock)"


COLUMNS = (
    "c",
    "target",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "req/s ÷ floor",
    "+p50 ms",
    "+p99 ms",
    "+p50 ÷ floor's",
    "CPU %",
    "CPU µs/req",
    "µs/req ÷ floor",
    "max RSS MB",
)


def _table_line(row: dict[str, Any]) -> str:
    cells = [
        str(row["concurrency"]),
        row["target"],
        f"{row['rps']:,.0f}",
        f"{row['p50_ms']:.2f}",
        f"{row['p99_ms']:.2f}",
        _errors(row),
        _fmt(row.get("rps_vs_floor"), ".2f", "×"),
        _fmt(row.get("added_p50_ms"), "+.2f"),
        _fmt(row.get("added_p99_ms"), "+.2f"),
        _fmt(row.get("added_p50_vs_floor"), ".2f", "×"),
        _fmt(None if row["cpu_util"] is None else row["cpu_util"] * 100, ".0f"),
        _fmt(row.get("cpu_us_per_req"), ".0f"),
        _fmt(row.get("cpu_per_req_vs_floor"), ".2f", "×"),
        _fmt(row.get("rss_max_mb"), ".1f"),
    ]
    return "| " + " | ".join(cells) + " |"


def mode_table(rows: list[dict[str, Any]], mode: str) -> str:
    selected = sorted(
        (r for r in rows if r["mode"] == mode),
        key=lambda r: (r["concurrency"], TARGET_ORDER.index(r["target"])),
    )
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" if i < 2 else "--:" for i in range(len(COLUMNS))) + "|"
    return "\n".join([header, rule, *(_table_line(r) for r in selected)])


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]], notes: list[str]) -> str:
    lines = [
        "# ProxyAPI benchmark",
        "",
        f"- when: {meta['started']}  commit: `{meta['git_rev']}`",
        f"- machine: {meta['cpu_model']}, {meta['cpus']} CPUs, kernel {meta['kernel']}",
        f"- {meta['duration_s']} s per point (median of {meta['repeat']}) "
        f"after a {meta['warmup_s']} s warm-up; "
        f"pinning: {meta['pinning']}",
        f"- {meta['tools']}",
        "",
        "`+p50`/`+p99`: latency added over calling nginx directly at the same concurrency. "
        "`÷ floor`: the gateway against the bare forwarder (bench/floor.py) in the same run.",
    ]
    for mode in meta["modes"]:
        if any(r["mode"] == mode for r in rows):
            lines += ["", f"## {mode}", "", mode_table(rows, mode)]
    if notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"

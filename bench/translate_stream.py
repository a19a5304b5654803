"""Streaming translation throughput of the Anthropic adapter, in events per second.

    python bench/translate_stream.py [--events 10000] [--rounds 20] [--chunk 4096]

Builds one Anthropic text stream of about ``--events`` SSE events (the recorded
tests/fixtures/anthropic/stream_text.sse with its text deltas repeated), then feeds
it through exactly what the gateway runs per stream: the transport's ``SSEDecoder``
(bytes split into ``--chunk``-byte network reads) and a fresh
``AnthropicStreamTranslator``. Prints the best and median rate over ``--rounds``
runs, one process, one core. The issue's target is >= 20,000 chunks/s per worker.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from proxyapi.providers.anthropic import AnthropicStreamTranslator
from proxyapi.transport.sse import SSEDecoder

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "anthropic" / "stream_text.sse"


def build_stream(events: int) -> tuple[bytes, int]:
    """The recorded stream with its text deltas repeated to about ``events`` events."""
    blocks = FIXTURE.read_bytes().split(b"\n\n")
    blocks = [block + b"\n\n" for block in blocks if block]
    deltas = [b for b in blocks if b.startswith(b"event: content_block_delta")]
    head = blocks[: blocks.index(deltas[0])]
    tail = blocks[blocks.index(deltas[-1]) + 1 :]
    repeats = max(1, (events - len(head) - len(tail)) // len(deltas))
    body = deltas * repeats
    return b"".join(head + body + tail), len(head) + len(body) + len(tail)


def run_once(stream: bytes, chunk: int) -> tuple[float, int]:
    """Seconds to decode and translate the whole stream, and the chunks produced."""
    started = time.perf_counter()
    decoder = SSEDecoder()
    translator = AnthropicStreamTranslator(
        {"model": "claude-sonnet-4-5", "stream_options": {"include_usage": True}}
    )
    produced = 0
    for start in range(0, len(stream), chunk):
        for event in decoder.feed(stream[start : start + chunk]):
            produced += len(translator.feed(event))
    for event in decoder.close():
        produced += len(translator.feed(event))
    produced += len(translator.close())
    return time.perf_counter() - started, produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=4096, help="bytes per network read")
    args = parser.parse_args()
    stream, events = build_stream(args.events)
    run_once(stream, args.chunk)  # warm-up
    rates: list[float] = []
    produced = 0
    for _ in range(args.rounds):
        seconds, produced = run_once(stream, args.chunk)
        rates.append(events / seconds)
    print(
        f"{events} Anthropic events ({len(stream) / 1024:.0f} KiB) -> {produced} OpenAI chunks, "
        f"{args.rounds} rounds, {args.chunk}-byte reads"
    )
    print(f"best   {max(rates):>10,.0f} events/s")
    print(f"median {statistics.median(rates):>10,.0f} events/s")


if __name__ == "__main__":
    main()

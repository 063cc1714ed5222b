"""The fake AI/ML API of the tests (tests/fake_aimlapi.py), unchanged, run for a benchmark.

    python -m benchmarks.fake_upstream --port P --latency 1.0 --stats FILE

It is `tests.fake_aimlapi.FakeAimlApi` with its default reply, plus two
additions that only a benchmark needs, made from the outside:

- A prompt may carry ``[upstream-latency=1.234]``: that response then takes
  1.234 s instead of ``--latency``. The latency benchmark uses it to spread the
  moment an answer is ready uniformly over the page's poll interval, as real
  model latencies do (a fixed latency would always land on the same phase of
  the poll and measure an accident of timing).
- Every 0.5 s (and on exit) it writes ``--stats FILE``: the number of
  prompts received (``POST /v1/responses`` and ``/v1/chat/completions``), how many
  each benchmark prompt received (by its ``[bench-id=...]``), and when each
  started, so the benchmark can check that no prompt was sent twice or lost,
  and how many were in flight at once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fake_aimlapi import FakeAimlApi, default_reply, request_messages, user_messages  # noqa: E402

LATENCY_TAG = re.compile(r"\[upstream-latency=(\d+(?:\.\d+)?)\]")
ID_TAG = re.compile(r"\[bench-id=([\w.-]+)\]")

_request = threading.local()  # ThreadingHTTPServer: one thread per request


class BenchFake(FakeAimlApi):
    """FakeAimlApi whose latency may be chosen per request by the prompt."""

    @property
    def latency(self) -> float:
        return getattr(_request, "latency", self._base_latency)

    @latency.setter
    def latency(self, value: float) -> None:
        self._base_latency = value


def _last_prompt(body) -> str:
    users = user_messages(request_messages(body)) if isinstance(body, dict) else []
    return users[-1] if users else ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per response unless the prompt says")
    parser.add_argument("--stats", required=True, help="JSON file rewritten every 0.5 s")
    args = parser.parse_args(argv)

    starts: list[tuple[float, str, float]] = []  # (time, bench id, latency) per answered POST
    lock = threading.Lock()

    def reply(body: dict) -> str:
        # Called once per valid POST /v1/responses, in the request's own thread,
        # before the fake reads `latency` for this request.
        prompt = _last_prompt(body)
        tag = LATENCY_TAG.search(prompt)
        _request.latency = float(tag.group(1)) if tag else fake._base_latency
        bench_id = ID_TAG.search(prompt)
        with lock:
            starts.append((time.time(), bench_id.group(1) if bench_id else "", _request.latency))
        return default_reply(body)

    fake = BenchFake(host=args.host, port=args.port, latency=args.latency, reply=reply)
    stats_path = Path(args.stats)
    stop = threading.Event()

    def write_stats() -> None:
        posts_by_id: dict[str, int] = {}
        posts = fake.post_requests + fake.chat_requests  # every POST of a prompt, on either endpoint
        for request in posts:  # answered or not
            bench_id = ID_TAG.search(_last_prompt(request.get("json")))
            key = bench_id.group(1) if bench_id else ""
            posts_by_id[key] = posts_by_id.get(key, 0) + 1
        with lock:
            answered = list(starts)
        data = {
            "written_at": time.time(),
            "post_count": len(posts),
            "request_count": len(fake.requests),
            "posts_by_id": posts_by_id,
            "starts": answered,
        }
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, stats_path)

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake.start()
    print(f"bench fake AI/ML API on {fake.base_url}, latency {args.latency}s", flush=True)
    try:
        while not stop.wait(0.5):
            write_stats()
    finally:
        write_stats()
        fake.stop()


if __name__ == "__main__":
    main()

"""Rendering a streamed answer as it grows: the cost of re-rendering partial Markdown.

    python -m benchmarks.render                  # 30,000 characters, a few seconds
    python -m benchmarks.render --chars 60000 --seconds 240 --repeat 5

While an answer streams, the worker renders the text received so far with the same
safe renderer as a finished answer (conversations/rendering.py: markdown-it, Pygments,
nh3) each time it saves progress (conversations/attempts.py), so every page shows it as
Markdown and the page's request renders nothing. This measures:

- one render from scratch (median and p95 of `--repeat` runs, CPU time) at 25 %, 50 % and
  100 % of the answer's length: the most one progress save costs at that point;
- a whole stream: the answer arriving evenly over `--seconds`, saved with the worker's
  own throttle (`attempts.progress_interval`: every 0.5 s, longer when a render is slow),
  the CPU spent rendering in total and as a share of one core. Code blocks already closed
  come from the renderer's cache, as in the worker.

The answer is realistic model output: prose, lists, a table and Python code blocks
(Pygments is most of the cost), cut at an arbitrary point, so the last code fence is
usually open. No database or server is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimlweb.settings")

SECTION = """## Step {n}: load and validate the input

The loader reads the **whole file** once and checks every row before anything is written, so a
bad row never leaves half an import behind. It keeps *one* batch in memory at a time.

- Parse each line with `json.loads` and keep its number for the error message.
- Refuse a row without `id`, `created_at` or `turns`.
- Sort by `created_at`, oldest first, so [references](https://example.com/docs/{n}) resolve.

```python
def load_rows_{n}(path: str, batch: int = {n}00) -> Iterator[list[dict]]:
    rows: list[dict] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            row = json.loads(line)
            if not {{"id", "created_at", "turns"}} <= row.keys():
                raise ValueError(f"line {{number}}: missing fields")
            rows.append(row)
            if len(rows) >= batch:
                yield sorted(rows, key=lambda r: r["created_at"])
                rows = []
    if rows:
        yield rows
```

| option | time | memory |
|---|---|---|
| one pass | O(n) | one batch |
| load everything | O(n log n) | the whole file |

> Keep the batch small enough that a retry after a failure costs seconds, not minutes.

"""


def answer(chars: int) -> str:
    text, n = "", 1
    while len(text) < chars:
        text += SECTION.format(n=n)
        n += 1
    return text[:chars]


def timed_render(text: str, *, cold: bool = False) -> float:
    """CPU seconds of one render (CPU time, so other jobs on the machine do not inflate it).

    `cold`: without the cache of highlighted code blocks, as a finished answer is rendered once.
    """
    from conversations.chat import rendering

    if cold:
        rendering._highlighted_cached.cache_clear()
    start = time.thread_time()
    rendering.markdown_to_html(text)
    return time.thread_time() - start


def render_costs(text: str, repeat: int) -> dict:
    timed_render(text[:2000])  # warm up: lexers loaded, markdown-it built
    out = {}
    for share in (0.25, 0.5, 1.0):
        part = text[: int(len(text) * share)]
        times = sorted(timed_render(part, cold=True) for _ in range(repeat))
        out[f"{int(share * 100)}%"] = {
            "chars": len(part),
            "median_ms": round(statistics.median(times) * 1000, 2),
            "p95_ms": round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))] * 1000, 2),
        }
    return out


def stream_cost(text: str, seconds: float) -> dict:
    """The answer arriving evenly over `seconds`, saved as the worker's throttle allows.

    Time is simulated (no sleeping): a save happens at the first delta after the interval
    the previous render allowed, and its render is measured for real.
    """
    from conversations.generation.attempts import progress_interval

    deltas = 600  # a delta every `seconds / 600`
    step = len(text) / deltas
    now = last_save = -1e9
    interval = progress_interval(0.0)
    renders, busy, worst = 0, 0.0, 0.0
    for index in range(1, deltas + 1):
        now = seconds * index / deltas
        if now - last_save < interval and index < deltas:
            continue
        last_save = now
        took = timed_render(text[: int(step * index)])
        renders += 1
        busy += took
        worst = max(worst, took)
        interval = progress_interval(took)
    return {
        "stream_seconds": seconds,
        "renders": renders,
        "render_cpu_s": round(busy, 3),
        "core_share_pct": round(100 * busy / seconds, 2),
        "slowest_render_ms": round(worst * 1000, 2),
        "last_interval_s": round(interval, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=30_000, help="length of the answer (default 30,000)")
    parser.add_argument("--seconds", type=float, default=120, help="how long the simulated stream lasts")
    parser.add_argument("--repeat", type=int, default=15, help="renders per measured length")
    parser.add_argument("--no-code-cache", action="store_true", help="highlight every code block at every save")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    import django

    django.setup()
    text = answer(args.chars)
    from conversations.chat import rendering

    rendering._highlighted_cached.cache_clear()
    if args.no_code_cache:
        rendering.CACHED_CODE_CHARS = -1
    result = {
        "chars": len(text),
        "code_cache": not args.no_code_cache,
        "load_average_before": os.getloadavg(),
        "one_render": render_costs(text, args.repeat),
        "stream": stream_cost(text, args.seconds),
        "load_average_after": os.getloadavg(),
        "python": sys.version.split()[0],
    }
    print(f"Rendering a {len(text):,}-character answer (load average before {result['load_average_before'][0]:.2f})")
    for share, figures in result["one_render"].items():
        print(f"  one render from scratch at {share:>4} ({figures['chars']:>6,} chars): "
              f"median {figures['median_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms")  # fmt: skip
    stream = result["stream"]
    print(f"  streamed over {stream['stream_seconds']:.0f} s: {stream['renders']} renders, "
          f"{stream['render_cpu_s']:.2f} s of CPU ({stream['core_share_pct']:.1f} % of one core), "
          f"slowest {stream['slowest_render_ms']:.1f} ms, "
          f"last save interval {stream['last_interval_s']:.2f} s")  # fmt: skip
    print(f"  load average after {result['load_average_after'][0]:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

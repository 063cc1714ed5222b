"""Figures from timings: percentiles, summaries, medians, and milliseconds as a report writes them."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float | None:
    """Percentile with linear interpolation between closest ranks (numpy's default); None of no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: list[float]) -> dict:
    """How many, p50, p95 and the largest (None of no values)."""
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "max": max(values) if values else None,
    }


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def verdict(seconds: float | None, target_ms: float, *, or_equal: bool = False) -> str:
    """PASS when `seconds` is under `target_ms` (or equal to it, with `or_equal`), else MISS; n/a of no figure."""
    if seconds is None:
        return "n/a"
    ok = seconds * 1000 <= target_ms if or_equal else seconds * 1000 < target_ms
    return "PASS" if ok else "MISS"


def table_row(*cells: str) -> str:
    """A row of a Markdown table (an empty cell as `| |`)."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def summary_table(first: tuple[str, dict, str, str], rest: dict[str, dict]) -> list[str]:
    """A report's table of summaries in ms: the `first` row (name, summary, target, verdict), then the `rest`."""
    rows = [first, *((name, part, "", "") for name, part in rest.items())]
    return [
        "| metric | p50 | p95 | max | target | |",
        "|---|---|---|---|---|---|",
        *(table_row(name, ms(p["p50"]), ms(p["p95"]), ms(p["max"]), target, ok) for name, p, target, ok in rows),
    ]


def peak(spans: list[tuple[float, float]]) -> int:
    """The most spans (start, end) open at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    level = top = 0
    for _, step in events:
        level += step
        top = max(top, level)
    return top

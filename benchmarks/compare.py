"""One Markdown table from several `benchmarks.run --json` files, one row per run.

    python -m benchmarks.compare base=a.json web4x4=b.json ...

A label before `=` names the row (default: the file name).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def ms(seconds) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def other(cores: dict) -> str:
    value = cores.get("other processes")
    return "-" if value is None else f"{max(0.0, value):.2f}"


def settings_of(part: dict) -> str:
    s = part["settings"]
    poll = f"poll {s['LIVE_POLL_MS']} ms"
    if "visible" in part:
        hidden = "all tabs in front" if part["visible"] == "all" else f"hidden tabs {s.get('LIVE_POLL_HIDDEN_MS')} ms"
        poll += f" ({hidden})"
    bits = [poll, f"gunicorn {part.get('web_workers', 2)}x{part.get('web_threads', 16)}"]
    extra = {k: v for k, v in part.get("env_overrides", {}).items() if k not in ("LIVE_POLL_MS", "LIVE_POLL_HIDDEN_MS")}
    bits += [f"{k}={v}" for k, v in extra.items()]
    return ", ".join(bits)


def main(argv: list[str]) -> None:
    latency_rows, concurrency_rows = [], []
    for arg in argv:
        label, _, path = arg.rpartition("=")
        data = json.loads(Path(path).read_text())
        label = label or Path(path).stem
        lat, con = data.get("latency"), data.get("concurrency")
        if lat:
            b = lat["breakdown"]
            latency_rows.append(
                f"| {label} | {settings_of(lat)} | {ms(lat['added']['p50'])} | {ms(lat['added']['p95'])} | "
                f"{ms(b['turn saved -> worker claimed it']['p50'])} | "
                f"{ms(b['answer saved -> visible in page']['p50'])} | {other(lat['cpu_cores'])} |"
            )
        if con:
            cores = con["cpu_cores"]
            concurrency_rows.append(
                f"| {label} | {settings_of(con)} | {con['completed']}/{con['turns']}, {len(con['problems'])} | "
                f"{con['upstream_peak_in_flight']} | {con['send_burst_s']:.1f} | "
                f"{ms(con['page_loads']['p50'])} / {ms(con['page_loads']['p95'])} | "
                f"{ms(con['page_phases']['while sending']['p95'])} | "
                f"{ms(con['page_phases']['while waiting']['p95'])} | "
                f"{con['worker_peak_rss_mib']:.0f} | {cores['while waiting'].get('worker', 0):.2f} | "
                f"{cores['while sending'].get('web', 0):.2f} | {other(cores['whole window'])} |"
            )
    if latency_rows:
        print("| run | settings | added p50 (ms) | added p95 (ms) | queue wait p50 | poll wait p50 | others' CPU |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(latency_rows))
        print()
    if concurrency_rows:
        print(
            "| run | settings | completed, problems | peak in flight | send all (s) | pages p50 / p95 (ms) "
            "| p95 while sending | p95 while waiting | worker peak RSS (MiB) | worker CPU waiting | web CPU sending "
            "| others' CPU |"
        )
        print("|---" * 12 + "|")
        print("\n".join(concurrency_rows))


if __name__ == "__main__":
    main(sys.argv[1:])

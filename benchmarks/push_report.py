"""The report of `benchmarks.push`: its results as Markdown, readable in a terminal, pasted into docs/benchmarks.md."""

from __future__ import annotations

from .figures import ms, summary_table, verdict
from .machine import load_average

TARGETS = {"added_p50_ms": 50, "added_p95_ms": 150, "page_p95_ms": 300}


def report(results: dict) -> str:
    results.setdefault("load_after", load_average())  # made right after the benchmarks: the load they left
    lines = [f"Run {results['started']}; command: `{results['command']}`; app code {results['code']}; load average "
             f"before {results['load_before']:.2f}, after {results.get('load_after', 0):.2f}.", ""]  # fmt: skip
    lat = results.get("latency")
    if lat:
        s = lat["settings"]
        a = lat["added"]
        lines += [
            f"#### Added latency in a real browser ({lat['turns']} turns, {lat['warmup']} warm-up)",
            "",
            f"Server {lat['server']} x{lat['web_workers']}, LIVE_EVENTS={s.get('LIVE_EVENTS')}, "
            f"LIVE_EVENTS_INTERVAL_MS={s.get('LIVE_EVENTS_INTERVAL_MS')}, LIVE_POLL_MS={s['LIVE_POLL_MS']}, "
            f"upstream {lat['upstream']}; pages: {', '.join(lat['page_states'])}"
            + (f"; overrides {lat['env_overrides']}" if lat["env_overrides"] else "")
            + ".",
            "",
            *summary_table(
                (
                    "answer saved -> painted in the page",
                    a,
                    "p50 ≤ 50 ms, p95 ≤ 150 ms",
                    f"{verdict(a['p50'], TARGETS['added_p50_ms'], or_equal=True)} / "
                    f"{verdict(a['p95'], TARGETS['added_p95_ms'], or_equal=True)}",
                ),
                lat["breakdown"],
            ),
        ]
        f = lat["fragment_requests_per_turn"]
        lines += [
            "",
            f"Fragment requests per turn: p50 {f['p50']:.0f}, max {f['max']:.0f}. Failures: {len(lat['failures'])}. "
            "CPU (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in lat["cpu_cores"].items()) + ".",
            "",
        ]
    tabs = results.get("tabs")
    if tabs:
        s = tabs["settings"]
        lines += [
            f"#### {tabs['tabs']} visible tabs waiting on running answers",
            "",
            f"Server {tabs['server']} x{tabs['web_workers']}, LIVE_EVENTS={s.get('LIVE_EVENTS')}, "
            f"LIVE_EVENTS_INTERVAL_MS={s.get('LIVE_EVENTS_INTERVAL_MS')}, LIVE_POLL_MS={s['LIVE_POLL_MS']}, "
            f"{tabs['users']} users" + (f"; overrides {tabs['env_overrides']}" if tabs["env_overrides"] else "") + ".",
            "",
            "| tabs waiting | pushed / polling | web CPU, tabs alone (cores) | page loads meanwhile p50 / p95 / max (n)"
            " | target p95 | web CPU with the page loads | worker | other processes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for w in tabs["windows"]:
            p = w["page_loads"]
            cpu = w["cpu_cores"]
            lines.append(
                f"| {w['waiting']} | {w['modes']['push']} / {w['modes']['poll']} | "
                f"{w['idle_cpu_cores'].get('web', 0):.3f} | {ms(p['p50'])} / {ms(p['p95'])} / {ms(p['max'])} "
                f"({p['n']}) | {verdict(p['p95'], TARGETS['page_p95_ms'], or_equal=True)} | {cpu.get('web', 0):.3f} | "
                f"{cpu.get('worker', 0):.3f} | {cpu.get('other processes', 0):.3f} |"
            )
        lines.append("")
        for w in tabs["windows"]:
            if "opening_cpu_cores" not in w:  # results from before 2026-12-07's second session
                continue
            cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in w["opening_cpu_cores"].items())
            lines.append(
                f"Opening {w['tabs']} tabs (home page, send, conversation page, stream) took {w['open_s']:.1f} s "
                f"({w['tabs'] / w['open_s']:.1f} a second); cores meanwhile: {cpu}."
            )
        a = tabs["added_at_once"]
        lines += [
            "",
            f"Then all {tabs['tabs']} answers arrived at once: {tabs['completed']} / {tabs['tabs']} shown; answer "
            f"saved -> shown p50 {ms(a['p50'])}, p95 {ms(a['p95'])}, max {ms(a['max'])}. Events per tab p50 "
            f"{tabs['events_per_tab']['p50']}, fragment requests per tab p50 "
            f"{tabs['fragment_requests_per_tab']['p50']}. Web processes peak RSS {tabs['web_peak_rss_mib_sum']:.0f} "
            f"MiB, {tabs['web_peak_threads']} threads. Problems: {tabs['problems'] or 'none'}.",
            "",
        ]
    return "\n".join(lines)

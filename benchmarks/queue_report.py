"""The report of `benchmarks.queue`: its results as Markdown, pasted into docs/benchmarks.md."""

from __future__ import annotations

from .queue_figures import queue_report


def report(results: dict) -> str:
    lines = []
    for vendor, pick in results.get("pick", {}).items():
        lines += [
            f"### The pick ({vendor})",
            "",
            "| prompts queued (whose, besides the user's 10) | the pick's SQL p50 / p95 | through the ORM p50 / p95 | "
            "a whole start p50 / p95 |",
            "|---|---|---|---|",
        ]
        for label, row in pick.items():
            cells = [f"{row[k]['p50'] * 1000:.2f} / {row[k]['p95'] * 1000:.2f} ms" for k in ("sql", "orm", "start")]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        plans = {" · ".join(row["plan"]) for row in pick.values()}
        lines += ["", "Plan" + (" (the same for each)" if len(plans) == 1 else "s") + ":", ""]
        lines += [f"    {plan}" for plan in sorted(plans)]
        lines.append("")
    for vendor, post in results.get("post", {}).items():
        w = post["wall"]
        lines += [
            f"### POST / in-process ({vendor}; {post['posts']} POSTs, one at a time)",
            "",
            f"Wall time per POST: p50 {w['p50'] * 1000:.1f} ms, p95 {w['p95'] * 1000:.1f} ms; "
            f"{post['queries']} SQL statements (COMMIT not counted; SQLite's BEGIN IMMEDIATE is). Under the profiler "
            f"(slower, the shares are what counts): {post['profiled_mean'] * 1000:.1f} ms per POST.",
            "",
            "| part | ms per POST (profiled) | share |",
            "|---|---|---|",
        ]
        for label, seconds in post["parts"].items():
            share = seconds / post["profiled_mean"] * 100 if post["profiled_mean"] else 0
            lines.append(f"| {label} | {seconds * 1000:.2f} | {share:.0f} % |")
        lines.append("")
    for pool in results.get("pool", []):
        a = pool["accepted_to_provider"]
        lines += [
            f"- pool of {pool['threads']} threads, {pool['users']} users x {pool['prompts']} prompts (limit "
            f"{pool['limit']}), accepted in {pool['accept_s']:.1f} s: {pool['reached_provider']} of "
            f"{pool['expected_in_flight']} with the provider at once; accepted -> provider p50 / p95 "
            f"{a['p50'] or 0:.2f} / {a['p95'] or 0:.2f} s; worker {pool['worker_peak_rss_mib']:.0f} MiB peak "
            f"(idle {pool['worker_idle_rss_mib']:.0f}; {pool['mib_per_answer_in_flight']:.2f} MiB per answer in "
            f"flight), {pool['worker_peak_threads']} threads, {pool['worker_peak_fds']} open files"
        ]
    start = results.get("start")
    if start:
        lines += [
            f"### A queued prompt's start ({start['users']} users x {start['prompts']} prompts, limit "
            f"{start['limit']}, upstream {start['upstream_latency']:g} s; pushed updates)",
            "",
            f"Completed {start['completed']} / {start['expected']}; each posted once: {start['posted_once']}.",
            "",
            "| metric | value | target | |",
            "|---|---|---|---|",
            *queue_report(start),
            "",
        ]
    return "\n".join(lines)

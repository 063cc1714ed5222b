"""The report of `benchmarks.run`: its results as Markdown, readable in a terminal, pasted into docs/benchmarks.md."""

from __future__ import annotations

from .figures import ms, summary_table, verdict
from .queue_figures import queue_report

TARGETS = {
    "added_p50_ms": 250,
    "added_p95_ms": 1000,
    "page_p95_ms": 300,
}


def busy_warning(other_cores: float, nproc: int) -> list[str]:
    if other_cores < 0.2:
        return []
    return [
        "",
        f"**Warning: other processes used {other_cores:.2f} of the {nproc} cores on average during this run**; "
        "the figures above are skewed by them. Re-run on a quiet machine (see --quiet-wait).",
    ]


def report(results: dict) -> str:
    """The results as Markdown: readable in a terminal, pasted into docs/benchmarks.md."""
    lines = []
    m = results["machine"]
    lines.append(f"Run {results['started']} on {m['nproc']} CPU ({m['cpu']}), {m['memory_gib']} GiB RAM, "
                 f"Linux {m['kernel']}, Python {m['python']}")  # fmt: skip
    lines.append(f"Command: `{results['command']}`")
    lines.append(
        f"App code fingerprint {results['code']} (sha256 of the app's sources and config), from {results['app_dir']}"
    )
    lines.append("")
    if results.get("latency"):
        lines += latency_part(results["latency"], m["nproc"])
    if results.get("concurrency"):
        lines += concurrency_part(results["concurrency"], m["nproc"])
    return "\n".join(lines)


def latency_part(lat: dict, nproc: int) -> list[str]:
    s, a = lat["settings"], lat["added"]
    lines = [
        f"### Added latency ({lat['turns']} sequential turns, {lat['warmup']} warm-up turns not counted)",
        "",
        f"Upstream latency {lat['upstream_latency']:g} s + uniform 0-{lat['upstream_jitter']:g} s per turn "
        f"(subtracted per turn). LIVE_POLL_MS={s['LIVE_POLL_MS']}, HUEY_MAX_DELAY={s['HUEY_MAX_DELAY']}, "
        f"Huey -w {lat['huey_workers']}, gunicorn gthread {lat['web_workers']}x{lat['web_threads']}, "
        f"AIMLAPI_MODE={s['AIMLAPI_MODE']}"
        + (f", overrides {lat['env_overrides']}" if lat["env_overrides"] else "")
        + ".",
        "",
        *summary_table(
            (
                "added latency",
                a,
                "p50 < 250 ms, p95 < 1 s",
                f"{verdict(a['p50'], TARGETS['added_p50_ms'])} / {verdict(a['p95'], TARGETS['added_p95_ms'])}",
            ),
            lat["breakdown"],
        ),
        "",
    ]
    lines.append(
        f"Polls per turn: p50 {lat['polls_per_turn']['p50']:.0f}; failures: {len(lat['failures'])}"
        f"{' ' + '; '.join(lat['failures'][:5]) if lat['failures'] else ''}; "
        f"run took {lat['elapsed_s']:.0f} s. Average CPU use, in cores: "
        + ", ".join(f"{k} {v:.2f}" for k, v in lat["cpu_cores"].items())
        + "."
    )
    lines += busy_warning(lat["cpu_cores"].get("other processes", 0), nproc)
    lines.append("")
    return lines


def concurrency_part(con: dict, nproc: int) -> list[str]:
    s = con["settings"]
    # Only a user's own running limit may hold prompts back: at most users x limit at once.
    in_flight_goal = min(con["turns"], con["users"] * con.get("queue", {}).get("limit", con["turns"]))
    lines = [
        f"### Concurrency ({con['turns']} turns at once, upstream {con['upstream_latency']:g} s each)",
        "",
        f"{con['users']} users, {con['creators']} sending threads; every turn's tab polls, "
        + (
            "all of them in front"
            if con.get("visible") == "all"
            else "each user's newest tab in front and the others hidden"
        )
        + f"; one more tab loads pages back to back ({con['page_pause_s']:g} s pause). "
        f"Huey -w {con['huey_workers']}, LIVE_POLL_MS={s['LIVE_POLL_MS']}, "
        f"LIVE_POLL_HIDDEN_MS={s.get('LIVE_POLL_HIDDEN_MS')}, HUEY_MAX_DELAY={s['HUEY_MAX_DELAY']}, "
        f"gunicorn gthread {con['web_workers']}x{con['web_threads']}"
        + (f", overrides {con['env_overrides']}" if con["env_overrides"] else "")
        + ".",
        "",
        "| metric | value | target | |",
        "|---|---|---|---|",
        f"| completed, as seen in the pages | {con['completed']} / {con['turns']} | all | "
        f"{'PASS' if con['completed'] == con['turns'] else 'MISS'} |",
        f"| lost or duplicated (DB + upstream checks) | {len(con['problems'])} problems | none | "
        f"{'PASS' if not con['problems'] else 'MISS'} |",
        f"| peak upstream calls in flight | {con['upstream_peak_in_flight']} | {in_flight_goal} | "
        f"{'PASS' if con['upstream_peak_in_flight'] >= in_flight_goal else 'MISS'} |",
        f"| page loads meanwhile: p50 / p95 / max (n={con['page_loads']['n']}) | "
        f"{ms(con['page_loads']['p50'])} / {ms(con['page_loads']['p95'])} / {ms(con['page_loads']['max'])} | "
        f"p95 < 300 ms | {verdict(con['page_loads']['p95'], TARGETS['page_p95_ms'])} |",
    ]
    for phase, part in con["page_phases"].items():
        lines.append(f"| &nbsp; page loads {phase}: p50 / p95 (n={part['n']}) | {ms(part['p50'])} / "
                     f"{ms(part['p95'])} | | |")  # fmt: skip
    for kind, part in con["page_kinds"].items():
        lines.append(f"| &nbsp; GET {kind}: p50 / p95 (n={part['n']}) | {ms(part['p50'])} / "
                     f"{ms(part['p95'])} | | |")  # fmt: skip
    lines += [
        f"| worker peak RSS (VmHWM) | {con['worker_peak_rss_mib']:.0f} MiB (idle {con['worker_idle_rss_mib']:.0f} "
        f"MiB) | report | |",
        f"| worker peak threads / open files | {con['worker_peak_threads']} / {con['worker_peak_fds']} | | |",
        f"| worker CPU while idle (queue polling) | {con['worker_idle_cpu_cores'] * 100:.0f}% of a core | | |",
        f"| gunicorn peak RSS (master + workers) | {con['web_peak_rss_mib_sum']:.0f} MiB | | |",
        f"| time to send all prompts | {con['send_burst_s']:.1f} s | | |",
        f"| POST -> 302: p50 / p95 | {ms(con['creation_posts']['p50'])} / {ms(con['creation_posts']['p95'])} | | |",
        f"| queue wait (saved -> claimed): p50 / p95 / max | {ms(con['pickup']['p50'])} / "
        f"{ms(con['pickup']['p95'])} / {ms(con['pickup']['max'])} | | |",
        f"| answer visible after the upstream finished, p50 / p95 (fixed upstream latency: depends on the "
        f"phase of the poll timers, indicative only) | {ms(con['added']['p50'])} / {ms(con['added']['p95'])} | | |",
        f"| live polls: {con['polls']['n']} ({con['poll_rate_per_s']:.0f}/s), p50 / p95 | "
        f"{ms(con['polls']['p50'])} / {ms(con['polls']['p95'])} | | |",
    ]
    if con.get("queue"):
        lines += queue_report(con["queue"])
    for phase, part in con["poll_phases"].items():
        lines.append(
            f"| &nbsp; live polls {phase}: p50 / p95 (n={part['n']}) | {ms(part['p50'])} / {ms(part['p95'])} | | |"
        )
    lines += [
        "",
        "Time inside the server (gunicorn's %(D)s: from a thread taking the request to the last byte):",
        "",
    ]
    lines += ["| request | n | p50 | p95 | max |", "|---|---|---|---|---|"]
    for key, part in con["server_side"].items():
        lines.append(f"| {key} | {part['n']} | {ms(part['p50'])} | {ms(part['p95'])} | {ms(part['max'])} |")
    lines += [
        "",
        f"Poll answers: {con['poll_statuses']}. Average CPU use, in cores (of {nproc}):",
        "",
    ]
    lines += [
        "| phase | " + " | ".join(con["cpu_cores"]["whole window"]) + " | total |",
        "|---" * (len(con["cpu_cores"]["whole window"]) + 2) + "|",
    ]
    for phase, cores in con["cpu_cores"].items():
        lines.append(
            f"| {phase} | " + " | ".join(f"{v:.2f}" for v in cores.values()) + f" | {sum(cores.values()):.2f} |"
        )
    lines += busy_warning(con["cpu_cores"]["whole window"].get("other processes", 0), nproc)
    if con["problems"]:
        lines += ["", "Problems:", *[f"- {p}" for p in con["problems"]]]
    lines.append("")
    return lines

"""The queue's figures of a run (issue 17), from its turns: when each reached the provider, a queued
prompt's start after a slot frees, fairness, one user's peak. Used by benchmarks/run.py (concurrency)
and benchmarks/queue.py (start)."""

from __future__ import annotations

from collections import defaultdict

from .figures import peak, summary


def start_after_slot(turns: list[dict], limit: int) -> list[float]:
    """Seconds from a slot freeing to the next queued prompt of that user being claimed by a worker.

    Per user, the i-th turn to start (by `started_at`), past the first `limit`, took the slot the
    (i - limit)-th turn to end freed. Counted when that prompt was sent before the slot freed, so it
    waited in the queue (a later one starts as it is sent, with no wait).
    """
    by_user: dict[object, list[dict]] = defaultdict(list)
    for turn in turns:
        if turn["started_at"] and turn["completed_at"]:
            by_user[turn["owner_id"]].append(turn)
    out = []
    for mine in by_user.values():
        starts = sorted(mine, key=lambda t: t["started_at"])
        ends = sorted(t["completed_at"] for t in mine)
        for i, turn in enumerate(starts[limit:]):
            freed = ends[i]
            if turn["created_at"] < freed <= turn["started_at"]:
                out.append(turn["started_at"] - freed)
    return out


def fairness(turns: list[dict], limit: int, latency: float) -> dict:
    """How long each user's prompts waited for the provider, against the fairest order.

    In the fairest order only a user's own limit holds a prompt back: the j-th prompt a user sent
    (0-based) reaches the provider about (j // limit) answers after their first send. Per user,
    the mean wait (send -> provider) over that ideal's mean, the ideal floored at 5 s (the goal
    for any prompt). Reported: the worst user and the mean.
    """
    by_user: dict[object, list[dict]] = defaultdict(list)
    for turn in turns:
        if turn.get("provider_at") is not None:
            by_user[turn["owner_id"]].append(turn)
    ratios = []
    for mine in by_user.values():
        mine.sort(key=lambda t: t["sent_at"])
        waits = [t["provider_at"] - t["sent_at"] for t in mine]
        ideal = [(j // limit) * latency for j in range(len(mine))]
        ratios.append((sum(waits) / len(waits)) / max(5.0, sum(ideal) / len(ideal)))
    return {
        "users": len(ratios),
        "worst": max(ratios) if ratios else None,
        "mean": sum(ratios) / len(ratios) if ratios else None,
    }


def queue_figures(
    turns: list[dict], sends: dict[str, float], provider: dict[str, float], limit: int, latency: float
) -> dict:
    """The queue's figures of a run: `sends` and `provider` map a turn id (no dashes) to its POST's start and to
    the moment the provider got its prompt."""
    for turn in turns:
        key = str(turn["id"]).replace("-", "")
        turn["sent_at"] = sends.get(key)
        turn["provider_at"] = provider.get(key)
    reached = [t["provider_at"] - t["sent_at"] for t in turns if t["sent_at"] and t["provider_at"]]
    by_user: dict[object, list[tuple[float, float]]] = defaultdict(list)
    for turn in turns:
        if turn["started_at"] and turn["completed_at"]:
            by_user[turn["owner_id"]].append((turn["started_at"], turn["completed_at"]))
    ready = [t for t in turns if t["sent_at"] and t["provider_at"]]
    return {
        "limit": limit,
        "send_to_provider": summary(reached),
        "send_to_provider_within_5s": sum(1 for r in reached if r <= 5) / len(reached) if reached else None,
        "start_after_slot": summary(start_after_slot(turns, limit)),
        "user_peak": max((peak(spans) for spans in by_user.values()), default=0),
        "fairness": fairness(ready, limit, latency),
    }


def queue_report(q: dict) -> list[str]:
    def ms(value):
        return "-" if value is None else f"{value * 1000:.0f} ms"

    s, a, f = q["send_to_provider"], q["start_after_slot"], q["fairness"]
    within = "-" if q["send_to_provider_within_5s"] is None else f"{q['send_to_provider_within_5s'] * 100:.0f} %"
    worst = "-" if f["worst"] is None else f"{f['worst']:.2f}x (mean {f['mean']:.2f}x)"
    return [
        f"| send -> with the provider: p50 / p95 / max (n={s['n']}) | {ms(s['p50'])} / {ms(s['p95'])} / "
        f"{ms(s['max'])}; {within} within 5 s | p95 <= 5 s | |",
        f"| queued prompt: slot freed -> claimed, p50 / p95 / max (n={a['n']}, per-user limit {q['limit']}) | "
        f"{ms(a['p50'])} / {ms(a['p95'])} / {ms(a['max'])} | p95 <= 1 s | |",
        f"| wait against the fairest order (per user, worst) | {worst} | <= 2x | |",
        f"| one user's answers being generated at once, at most | {q['user_peak']} | <= {q['limit']} | |",
    ]

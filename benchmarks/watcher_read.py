"""CPU of one read of the live watcher (conversations/live/reads.read_changes) by the running turns it asks about.

    DATABASE_URL=postgres://…/aimlweb_bench_watcher python -m benchmarks.watcher_read --ids 10,1000 --users 100

Each open page's running turn is in every read (up to 50 a second while prompts are sent), so its cost
grows with the pages a web process serves. Measured in the steady state: the turns run, nothing changed
since the last read, the read finds nothing. The database is migrated first. BENCH_APP_DIR=<worktree>
times another commit's code (its `conversations` package is imported first).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from benchmarks.in_process import app_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ids", default="10,1000", help="running turns asked about, one run each")
    parser.add_argument("--users", type=int, default=100, help="connected users (the read's second list)")
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    app_for(parser, "users, conversations and turns")
    os.environ.setdefault("DATABASE_POOL", "false")
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from conversations.live import reads
    from conversations.models import Conversation, Turn

    call_command("migrate", verbosity=0)
    users = [User.objects.get_or_create(username=f"watcher{i}")[0] for i in range(args.users)]
    results = {"database": connection.vendor, "users": args.users, "reads": args.reads, "cpu_ms_per_read": {}}
    for count in (int(n) for n in args.ids.split(",")):
        Turn.objects.filter(conversation__owner__username__startswith="watcher").delete()
        conversations = Conversation.objects.bulk_create(
            Conversation(owner=users[i % len(users)], title=f"w{i}", model="openai/gpt-5-pro") for i in range(count)
        )
        turns = Turn.objects.bulk_create(
            Turn(conversation=c, prompt="?", status="in_progress", model="openai/gpt-5-pro") for c in conversations
        )
        # Steady state: the pages' turns run and nothing changed since the last read (the read finds nothing).
        hour_ago = timezone.now() - timedelta(hours=1)
        Turn.objects.filter(pk__in=[t.pk for t in turns]).update(updated_at=hour_ago)
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(updated_at=hour_ago)
        plan = reads.Plan(
            turn_ids=[t.pk for t in turns],
            user_ids=[u.pk for u in users],
            since=timezone.now() - timedelta(seconds=5),
        )
        found = reads.read_changes(plan)  # warm
        assert not found.turns and not found.rows, "the steady state changed nothing"
        start = time.process_time()
        for _ in range(args.reads):
            reads.read_changes(plan)
        results["cpu_ms_per_read"][count] = round((time.process_time() - start) / args.reads * 1000, 2)
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).delete()
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""CPU and queries of each request of a send, in one process: the home page, the send, the conversation page.

    DATABASE_URL=postgres://…/aimlweb_bench_send python -m benchmarks.send_cpu --users 30 --rounds 5

What `benchmarks.push` opens 1,000 times (a tab: home page, `POST /`, the page it redirects to; its event
stream is not here), measured as CPU time of this process around each request of Django's test client
(the middleware chain and the view, in one thread, as aimlweb/handlers.py runs a page), so the other
processes of a busy machine do not count; the machine's own pace still does (it moves by a fifth between
hours here): compare commits in alternate runs. The first round warms up and is not counted.
BENCH_APP_DIR=<worktree> measures another commit's code. The database is migrated first; its users
`send0…` are made afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
import uuid

from benchmarks.in_process import app_for

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CLIENT_TOKEN = re.compile(r'name="client_token" value="([^"]+)"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5, help="sends per user (the first one is not counted)")
    args = parser.parse_args()
    app_for(parser, "users and conversations", "benchmarks.settings")
    # As benchmarks.push runs it: no prompt of the run waits for a slot (a queued one draws more).
    os.environ.setdefault("MAX_ACTIVE_TURNS_PER_USER", str(args.rounds + 1))
    os.environ.setdefault("BENCH_STATIC_ROOT", tempfile.mkdtemp(prefix="aimlweb-bench-static-"))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    User.objects.filter(username__startswith="send").delete()
    password = make_password(uuid.uuid4().hex)
    users = User.objects.bulk_create(User(username=f"send{i}", password=password) for i in range(args.users))
    host = settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS and settings.ALLOWED_HOSTS[0] != "*" else "127.0.0.1"
    clients = []
    for user in users:
        client = Client(HTTP_HOST=host)
        client.force_login(user)
        clients.append(client)
    cpu: dict[str, list[float]] = {"home": [], "send": [], "page": []}
    queries: dict[str, list[int]] = {"home": [], "send": [], "page": []}

    def measured(name: str, counted: bool, method, *args):
        with CaptureQueriesContext(connection) as captured:
            start = time.process_time()
            response = method(*args)
            spent = time.process_time() - start
        if counted:
            cpu[name].append(spent * 1000)
            queries[name].append(len(captured))
        return response

    for round_ in range(args.rounds):
        for client in clients:
            counted = round_ > 0
            home = measured("home", counted, client.get, "/")
            assert home.status_code == 200, home.status_code
            html = home.content.decode()
            data = {
                "csrfmiddlewaretoken": CSRF.search(html).group(1),
                "client_token": CLIENT_TOKEN.search(html).group(1),
                "prompt": f"Question {round_}: {uuid.uuid4()}",
            }
            sent = measured("send", counted, client.post, "/", data)
            assert sent.status_code == 302, (sent.status_code, sent.content[:2000])
            page = measured("page", counted, client.get, sent["Location"])
            assert page.status_code == 200, page.status_code
    results = {
        "database": connection.vendor,
        "users": args.users,
        "sends_counted": len(cpu["send"]),
        "cpu_ms_median": {name: round(statistics.median(values), 2) for name, values in cpu.items()},
        "queries": {name: statistics.median(values) for name, values in queries.items()},
    }
    results["cpu_ms_median"]["all three"] = round(sum(results["cpu_ms_median"].values()), 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

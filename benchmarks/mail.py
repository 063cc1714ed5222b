"""An answer's email (issue 17, "Performance"): from the answer stored to the email handed to the SMTP server.

    python -m benchmarks.mail                            # 30 answers one by one, then a burst of 100
    python -m benchmarks.mail --sequential 10 --burst 300 --upstream-latency 2
    python -m benchmarks.mail --smtp-delay 1.5           # a slow mail server (each message takes 1.5 s)
    python -m benchmarks.mail --json out.json

Target: every email is handed to the SMTP server <= 10 s after its answer is stored.

The real worker (`manage.py run_huey`, as `make run` starts it, on a fresh SQLite database and queue file in a
temp dir) answers prompts from the fake AI/ML API of the tests, and sends through Django's SMTP backend to a
real SMTP server on loopback (aiosmtpd: tests/mailbox.py), as a deployment with EMAIL_URL=smtp://... does. The
prompts are sent by this process through the app's own service (as the web process does), by users with an
address and no page open, so every answer is emailed. For each answer: the time from its commit (the turn's
`completed_at`, stamped in the transaction that stores it, once that holds the write lock) to the moment the
SMTP server took the message (end of DATA), on the same machine clock. `--sequential` answers are sent one
after the other's email arrived (the path alone); `--burst` answers are sent at once and end together (the
queue, the sender threads and the SMTP server under a wave). docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fake_aimlapi import FakeAimlApi  # noqa: E402
from tests.mailbox import Mailbox  # noqa: E402

from .figures import summary as figures  # noqa: E402
from .machine import load_average, wait_for_quiet  # noqa: E402

TARGET_SECONDS = 10.0
TURN_LINK = re.compile(r"\?turn=([0-9a-f-]{36})#turn-")


class SlowMailbox(Mailbox):
    """A mail server that takes `delay` seconds to accept each message."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def summary(delays: list[float]) -> dict:
    found = figures(delays)
    return {
        "emails": found["n"],
        **{f"{key}_s": round(found[key] or 0, 3) for key in ("p50", "p95", "max")},
        "within_target": all(d <= TARGET_SECONDS for d in delays),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=30, help="answers sent one after another's email")
    parser.add_argument("--burst", type=int, default=100, help="answers sent at once (0: none)")
    parser.add_argument("--users", type=int, default=10, help="the burst's senders")
    parser.add_argument("--upstream-latency", type=float, default=1.0, help="seconds the fake model takes")
    parser.add_argument("--smtp-delay", type=float, default=0.0, help="seconds the SMTP server takes a message")
    parser.add_argument("--huey-workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300.0, help="the longest wait for all emails")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, worker log)")
    parser.add_argument("--quiet-wait", type=float, default=0.0, help="first wait up to this long for a quiet machine")
    args = parser.parse_args(argv)

    machine = wait_for_quiet(args.quiet_wait, 0.5, "mail")
    workdir = Path(tempfile.mkdtemp(prefix="aimlweb-bench-mail-"))
    fake = FakeAimlApi(latency=args.upstream_latency).start()
    box = SlowMailbox(args.smtp_delay).start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "HUEY_", "EMAIL_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "aimlweb.settings",
        "DATA_DIR": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "HUEY_FILENAME": str(workdir / "huey.sqlite3"),
        "HUEY_IMMEDIATE": "false",
        "HUEY_WORKERS": str(args.huey_workers),
        "AIMLAPI_KEY": "bench-key",
        "AIMLAPI_BASE_URL": fake.base_url,
        "EMAIL_URL": f"smtp://127.0.0.1:{box.port}",
        "SITE_URL": "https://chat.example.com",
        "DEFAULT_FROM_EMAIL": "aimlweb <chat@example.com>",
        "MAX_ACTIVE_TURNS_PER_USER": "100000",
        "MAX_PROMPTS_PER_HOUR": "0",
        "BUDGET_MONTHLY_USD": "",
        "INSTANCE_BUDGET_MONTHLY_USD": "",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import User

    from accounts.models import EmailNotice
    from conversations.chat import services
    from conversations.models import Turn

    log = open(workdir / "worker.log", "wb")  # noqa: SIM115 (closed at the end)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey", "-k", "thread", "-w", str(args.huey_workers)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    results: dict = {
        "upstream_latency_s": args.upstream_latency,
        "smtp_delay_s": args.smtp_delay,
        "huey_workers": args.huey_workers,
        "load_before": load_average(),
        "background_cores_before": round(machine["background_cores_before"], 2),
    }

    seen_links: dict[str, float] = {}  # turn id -> when the SMTP server took its email
    read_upto = 0

    def read_mailbox() -> None:
        nonlocal read_upto
        messages = box.messages[read_upto:]
        read_upto += len(messages)
        for message in messages:
            if match := TURN_LINK.search(message.text):
                seen_links.setdefault(match.group(1), message.at)

    def delays_of(turns: list) -> tuple[dict[str, list[float]], int]:
        """Wait for every turn's email; the delays after its answer was stored: in all, and in two stages
        (answer stored -> email written by the notices task; written -> taken by the SMTP server)."""
        wanted = {str(turn.pk) for turn in turns}
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and not wanted <= seen_links.keys():
            read_mailbox()
            time.sleep(0.05)
        stored = {
            str(pk): at.timestamp() for pk, at in Turn.objects.filter(pk__in=wanted).values_list("pk", "completed_at")
        }
        written = {
            key.split(":")[0]: at.timestamp()
            for key, at in EmailNotice.objects.filter(kind="answer_done").values_list("key", "created_at")
        }
        got = [key for key in wanted if key in seen_links]
        stages = {
            "total": [seen_links[key] - stored[key] for key in got],
            "decided": [written[key] - stored[key] for key in got],
            "sent": [seen_links[key] - written[key] for key in got],
        }
        return stages, len(wanted) - len(got)

    try:
        users = [User.objects.create_user(f"mail{i}", email=f"mail{i}@example.com") for i in range(args.users)]
        sequential: dict[str, list[float]] = {"total": [], "decided": [], "sent": []}
        for i in range(args.sequential):
            turn = services.conversation_create(owner=users[0], prompt=f"Sequential question {i}")
            stages, missing = delays_of([turn])
            if missing:
                raise SystemExit(f"no email for sequential answer {i} within {args.timeout:g} s (see {workdir})")
            for name, values in stages.items():
                sequential[name] += values
        results["sequential"] = summary(sequential["total"])
        results["sequential"]["stages_p95_s"] = {name: summary(v)["p95_s"] for name, v in sequential.items()}
        if args.burst:
            burst = [
                services.conversation_create(owner=users[i % len(users)], prompt=f"Burst question {i}")
                for i in range(args.burst)
            ]
            stages, missing = delays_of(burst)
            results["burst"] = {**summary(stages["total"]), "answers": args.burst, "missing": missing}
            results["burst"]["stages_p95_s"] = {name: summary(v)["p95_s"] for name, v in stages.items()}
            ended = sorted(Turn.objects.filter(pk__in=[t.pk for t in burst]).values_list("completed_at", flat=True))
            results["burst"]["answers_ended_within_s"] = round((ended[-1] - ended[0]).total_seconds(), 2)
        results["load_after"] = load_average()
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        box.stop()
        fake.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    ok = results["sequential"]["within_target"] and results.get("burst", {}).get("missing", 0) == 0
    ok = ok and results.get("burst", {}).get("within_target", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Scale-out: two web processes and two worker processes on one database and one queue.

CI runs this on SQLite with the SQLite queue, and on PostgreSQL with Redis (the
production shape). Prompts go in through both web processes, some are stopped
and retried, one worker is killed mid-answer: every turn must end exactly once,
with exactly one upstream call per attempt and at most one charge per attempt.
"""

import re
import subprocess
import sys
from collections import Counter

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db.models import Count

from conversations.models import Charge, Turn
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.slow

PASSWORD = "pw-scale-123456"
USERS = 10
PER_USER = 5


def _web(env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "aimlweb.wsgi", "--bind", f"127.0.0.1:{port}", "-k", "gthread",
         "--threads", "4", "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=30)
    return process


def _form_values(html: str) -> dict:
    return {
        "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1),
        "client_token": re.search(r'name="client_token" value="([^"]+)"', html).group(1),
    }


def _login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login/").text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{base}/login/", data={"csrfmiddlewaretoken": csrf, "username": username, "password": PASSWORD}
    )
    assert response.ok and "/login/" not in response.url, f"{username} could not sign in"
    return session


def _post(session: requests.Session, url: str, **data) -> requests.Response:
    csrf = session.cookies.get("csrftoken") or session.cookies.get("__Host-csrftoken")
    return session.post(url, data={"csrfmiddlewaretoken": csrf, **data}, headers={"Referer": url})


def test_two_web_and_two_worker_processes_end_every_turn_exactly_once(worker, fake_api):
    for i in range(USERS):
        User.objects.create(username=f"scale{i}", password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    fake_api.latency = 600  # every answer is still running when some are stopped and a worker is killed
    # No reasoning summary: a stopped answer that had shown some would be retried as a new version of its
    # turn (chat.services.turn_retry), which this test's count of attempts per turn does not follow.
    fake_api.thinking = ""
    worker_env = {"AIMLAPI_MODE": "background", "AIMLAPI_POLL_INTERVAL": 0.2, "TURN_LEASE_SECONDS": 6}
    first = worker(**worker_env)
    worker(**worker_env)
    webs = []
    try:
        ports = [free_port(), free_port()]
        # DEBUG: static files by their plain names, as `make test` runs no collectstatic.
        web_env = {**first.env, **{k: str(v) for k, v in worker_env.items()}, "DEBUG": "true"}
        webs = [_web(web_env, port) for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]

        # 50 prompts, alternating between the two web processes.
        sessions = {(i, base): _login(base, f"scale{i}") for i in range(USERS) for base in bases}
        conversations = []
        for i in range(USERS):
            for n in range(PER_USER):
                base = bases[(i + n) % 2]
                session = sessions[(i, base)]
                page = session.get(f"{base}/").text
                response = _post(session, f"{base}/", prompt=f"Scale prompt {i}-{n}", **_form_values(page))
                assert response.ok, response.status_code
                conversations.append((i, base, f"Scale prompt {i}-{n}"))
        turns = {turn.prompt: turn for turn in Turn.objects.all()}
        assert len(turns) == USERS * PER_USER

        # Stop five of them through the other web process than the one that took them.
        stopped = [prompt for _, _, prompt in conversations[::10]]
        for i, base, prompt in conversations[::10]:
            other = bases[1 - bases.index(base)]
            _post(sessions[(i, other)], f"{other}/t/{turns[prompt].id}/cancel/")
        assert set(Turn.objects.filter(status="cancelled").values_list("prompt", flat=True)) == set(stopped)

        # Kill one worker while answers are being generated.
        wait_for(lambda: Turn.objects.filter(status="in_progress").exists(), timeout=30)
        first.kill()

        # Everything ends: the survivor resumes the dead worker's answers by response id.
        fake_api.finish_all()
        fake_api.latency = 1
        wait_for(lambda: not Turn.objects.filter(status__in=Turn.ACTIVE).exists(), timeout=120)

        # Retry the stopped ones, through the web.
        for i, base, prompt in conversations[::10]:
            response = _post(sessions[(i, base)], f"{base}/t/{turns[prompt].id}/retry/")
            assert response.ok, (prompt, response.status_code)
        wait_for(lambda: not Turn.objects.filter(status__in=Turn.ACTIVE).exists(), timeout=120)

        posts = Counter()
        for request in fake_api.post_requests:
            posts[request["json"]["input"][-1]["content"]] += 1
        for turn in Turn.objects.all():
            assert turn.status == "completed", (turn.prompt, turn.status, turn.error_code)
            assert turn.completed_at and turn.output_text.startswith(f"Echo: {turn.prompt}")
            expected_attempts = 2 if turn.prompt in stopped else 1
            assert turn.attempts == expected_attempts, turn.prompt
            # Exactly one upstream call per attempt: a resumed answer is polled, never sent again.
            assert posts[turn.prompt] == turn.attempts, turn.prompt
        charges = Charge.objects.values("turn_id", "attempt").annotate(n=Count("id"))
        assert all(row["n"] == 1 for row in charges)  # never charged twice
        charged = {(c.turn.prompt, c.attempt): c.status for c in Charge.objects.select_related("turn")}
        for turn in Turn.objects.all():
            assert charged.get((turn.prompt, turn.attempts)) == "completed", (turn.prompt, charged, turn.history)
    finally:
        for web in webs:
            web.terminate()
            web.wait(10)

"""Who may spend the key: first-admin setup link, sign-up modes, invites, throttling, sessions."""

import io
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import services, setup
from accounts.models import FirstAdminSetup, Invite, PendingSignup
from aimlweb.environment import parse_proxies
from tests.helpers import client_for

PASSWORD = "a-Long-pass-77"


def _signup_data(username):
    return {"username": username, "password1": PASSWORD, "password2": PASSWORD}


# --- The first administrator ---------------------------------------------------------


def test_the_setup_link_is_printed_while_no_admin_exists(db):
    out = io.StringIO()
    url = setup.announce(out)
    assert url.startswith("http://") and "/setup/" in url
    assert url in out.getvalue()
    # Every process prints the same link (the token comes from one database row).
    assert setup.announce(io.StringIO()) == url
    User.objects.create_superuser("root", password=PASSWORD)
    out = io.StringIO()
    assert setup.announce(out) == ""
    assert out.getvalue() == ""


def test_setup_link_command(db):
    out = io.StringIO()
    call_command("setup_link", stdout=out)
    assert "/setup/" in out.getvalue()


def test_only_the_setup_link_creates_the_first_admin(client, db):
    url = setup.setup_url()
    token = url.rsplit("/", 2)[-2]
    # A guessed or altered token is a 404, whatever the client address claims.
    for bad in ("x" * len(token), token[:-1] + ("0" if token[-1] != "0" else "1")):
        assert client.get(f"/setup/{bad}/", REMOTE_ADDR="127.0.0.1").status_code == 404
        client.post(f"/setup/{bad}/", _signup_data("mallory"), HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert not User.objects.exists()

    page = client.get(url)
    assert page.status_code == 200 and b"Create the administrator" in page.content
    response = client.post(url, _signup_data("boss"))
    assert response.status_code == 302
    boss = User.objects.get(username="boss")
    assert boss.is_superuser and boss.is_staff and boss.is_active
    assert FirstAdminSetup.objects.get().claimed_by == boss
    # Used once: the same link now does nothing.
    assert Client().get(url).status_code == 404
    Client().post(url, _signup_data("second"))
    assert User.objects.filter(is_superuser=True).count() == 1


def test_createsuperuser_closes_the_setup_link(client, db):
    url = setup.setup_url()
    User.objects.create_superuser("root", password=PASSWORD)
    assert client.get(url).status_code == 404
    assert setup.setup_url() == ""


def test_two_claims_at_once_make_one_admin(transactional_db):
    """Race: two requests with the link at the same moment (threads, each its own connection)."""
    from django.db import connection

    token = setup.setup_token()
    barrier = threading.Barrier(2)
    results = []

    def claim(name):
        try:
            barrier.wait(timeout=10)
            user = setup.claim(token=token, create_user=lambda: User(username=name))
            results.append(user.username)
        except setup.SetupClosed:
            results.append("closed")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"admin{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) in (["admin0", "closed"], ["admin1", "closed"]), results
    assert User.objects.filter(is_superuser=True).count() == 1


# --- Sign-up modes ------------------------------------------------------------------------


def test_approval_mode_keeps_new_accounts_inactive_until_an_admin_approves(client, db, settings):
    settings.SIGNUP = "approval"
    User.objects.create_superuser("root", password=PASSWORD)
    page = client.get("/signup/")
    assert b"approves new accounts" in page.content
    response = client.post("/signup/", _signup_data("ann"), follow=True)
    assert response.status_code == 200 and b"waits for an administrator" in response.content
    assert response.redirect_chain[0][0].startswith("/signup/waiting/")  # a reload posts nothing again
    ann = User.objects.get(username="ann")
    assert not ann.is_active and PendingSignup.objects.filter(user=ann).exists()
    # Cannot sign in yet.
    login = Client().post("/login/", {"username": "ann", "password": PASSWORD})
    assert login.status_code == 200 and "_auth_user_id" not in Client().session
    assert Client().get("/").status_code == 302

    admin = client_for(User.objects.get(username="root"))
    response = admin.post("/admin/auth/user/", {"action": "approve", "_selected_action": [ann.pk]}, follow=True)
    assert b"Approved 1" in response.content
    ann.refresh_from_db()
    assert ann.is_active and not PendingSignup.objects.exists()
    user_client = Client()
    assert user_client.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 302
    assert user_client.get("/").status_code == 200


def test_open_mode_signs_in_at_once(client, db, settings):
    settings.SIGNUP = "open"
    response = client.post("/signup/", _signup_data("ann"))
    assert response.status_code == 302
    ann = User.objects.get(username="ann")
    assert ann.is_active and not ann.is_staff and not ann.is_superuser
    assert client.get("/").status_code == 200


def test_closed_mode_refuses_sign_up_but_invites_work(client, db, settings):
    settings.SIGNUP = "closed"
    assert client.get("/signup/").status_code == 404
    assert client.post("/signup/", _signup_data("ann")).status_code == 404
    assert not User.objects.exists()
    root = User.objects.create_superuser("root", password=PASSWORD)
    invite = Invite.objects.create(created_by=root, expires_at=timezone.now() + timedelta(days=1))
    assert client.get(invite.get_absolute_url()).status_code == 200
    assert client.post(invite.get_absolute_url(), _signup_data("guest")).status_code == 302
    guest = User.objects.get(username="guest")
    assert guest.is_active and not guest.is_staff
    invite.refresh_from_db()
    assert invite.used_by == guest
    # One use only.
    other = Client()
    assert other.get(invite.get_absolute_url()).status_code == 404
    other.post(invite.get_absolute_url(), _signup_data("gatecrasher"))
    assert not User.objects.filter(username="gatecrasher").exists()


def test_an_expired_or_unknown_invite_does_nothing(client, db):
    root = User.objects.create_superuser("root", password=PASSWORD)
    invite = Invite.objects.create(created_by=root, expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(invite.get_absolute_url()).status_code == 404
    assert client.post(invite.get_absolute_url(), _signup_data("late")).status_code == 404
    assert client.post("/invite/not-a-token/", _signup_data("late")).status_code == 404
    assert not User.objects.filter(username="late").exists()


def test_admins_create_invites_and_see_the_link(db):
    root = User.objects.create_superuser("root", password=PASSWORD)
    admin = client_for(root)
    expires = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%d")
    response = admin.post(
        "/admin/accounts/invite/add/",
        {"note": "for Ann", "expires_at_0": expires, "expires_at_1": "12:00:00"},
        follow=True,
    )
    assert response.status_code == 200
    invite = Invite.objects.get()
    assert invite.created_by == root
    page = admin.get(f"/admin/accounts/invite/{invite.pk}/change/").content.decode()
    assert f"/invite/{invite.token}/" in page


def test_the_sign_up_page_says_admins_read_every_prompt(client, db):
    page = client.get("/signup/").content.decode()
    assert "can read every prompt" in page


def test_signup_never_makes_an_admin_even_on_a_fresh_site(client, db, settings):
    settings.SIGNUP = "open"
    client.post("/signup/", _signup_data("early-bird"))
    assert not User.objects.filter(is_superuser=True).exists()
    assert not User.objects.filter(is_staff=True).exists()


# --- Passwords and sessions -----------------------------------------------------------


def test_users_change_their_password_and_other_sessions_end(db):
    User.objects.create_user("ann", password=PASSWORD)
    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        assert device.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 302
    response = laptop.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "another-Pass-88", "new_password2": "another-Pass-88"},
    )
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200  # this session stays
    assert phone.get("/").status_code == 302  # the other one ended
    assert User.objects.get(username="ann").check_password("another-Pass-88")


def test_a_wrong_old_password_changes_nothing(db):
    ann = User.objects.create_user("ann", password=PASSWORD)
    client = client_for(ann)
    response = client.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": "another-Pass-88", "new_password2": "another-Pass-88"},
    )
    assert response.status_code == 200 and b"incorrectly" in response.content
    ann.refresh_from_db()
    assert ann.check_password(PASSWORD)


def test_admins_reset_a_password(db):
    root = User.objects.create_superuser("root", password=PASSWORD)
    ann = User.objects.create_user("ann", password=PASSWORD)
    admin = client_for(root)
    response = admin.post(
        f"/admin/auth/user/{ann.pk}/password/",
        {"password1": "reset-Pass-99", "password2": "reset-Pass-99", "usable_password": "true"},
    )
    assert response.status_code == 302
    ann.refresh_from_db()
    assert ann.check_password("reset-Pass-99")


def test_sign_out_everywhere_ends_every_other_session(db):
    ann = User.objects.create_user("ann", password=PASSWORD)
    bob = User.objects.create_user("bob", password=PASSWORD)
    here, elsewhere, bobs = Client(), Client(), Client()
    here.force_login(ann)
    elsewhere.force_login(ann)
    bobs.force_login(bob)
    assert here.get("/account/").status_code == 200
    response = here.post("/account/sign-out-everywhere/", follow=True)
    assert b"1 other session" in response.content
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    assert bobs.get("/").status_code == 200
    assert Session.objects.count() == 2


def test_sign_out_everywhere_needs_post(db):
    ann = User.objects.create_user("ann", password=PASSWORD)
    client = client_for(ann)
    assert client.get("/account/sign-out-everywhere/").status_code == 405


def test_admin_action_signs_a_user_out_everywhere(db):
    root = User.objects.create_superuser("root", password=PASSWORD)
    ann = User.objects.create_user("ann", password=PASSWORD)
    device = client_for(ann)
    admin = client_for(root)
    admin.post("/admin/auth/user/", {"action": "sign_out_everywhere", "_selected_action": [ann.pk]})
    assert device.get("/").status_code == 302
    assert admin.get("/").status_code == 200


def test_session_age_is_a_setting(client, db, settings):
    assert settings.SESSION_COOKIE_AGE == 14 * 86400
    ann = User.objects.create_user("ann", password=PASSWORD)
    response = client.post("/login/", {"username": "ann", "password": PASSWORD})
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 14 * 86400
    assert ann.pk


# --- Sign-in throttling (django-axes) ------------------------------------------------------


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_many_wrong_passwords_lock_that_user_and_address(db, settings, login_url):
    User.objects.create_user("ann", password=PASSWORD, is_staff=True)
    User.objects.create_user("bob", password=PASSWORD, is_staff=True)
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(40):
        attacker.post(login_url, {"username": "ann", "password": "guess"})
    response = attacker.post(login_url, {"username": "ann", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content and b"15 minutes" in response.content
    assert "_auth_user_id" not in attacker.session
    # Another user from the same address, and the same user from elsewhere, still sign in.
    assert (
        Client(REMOTE_ADDR="203.0.113.9").post(login_url, {"username": "bob", "password": PASSWORD}).status_code == 302
    )
    assert (
        Client(REMOTE_ADDR="198.51.100.7").post(login_url, {"username": "ann", "password": PASSWORD}).status_code == 302
    )


def test_the_lock_ends_after_the_cool_off(db, settings):
    from axes.models import AccessAttempt

    User.objects.create_user("ann", password=PASSWORD)
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "ann", "password": "guess"})
    assert client.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 429
    # Move the clock: the attempts are older than the cool-off.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert client.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 302


def test_fewer_failures_than_the_limit_do_not_lock(db, settings):
    User.objects.create_user("ann", password=PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/login/", {"username": "ann", "password": "guess"}).status_code == 200
    assert client.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 302


def test_services_approve_only_pending_users(db):
    ann = User.objects.create_user("ann", password=PASSWORD, is_active=False)  # deactivated by an admin
    assert services.users_approve(users=User.objects.all()) == 0
    ann.refresh_from_db()
    assert not ann.is_active


@pytest.mark.parametrize("username", ["u" * 5000, "nul\x00name", "\x00"])
def test_odd_user_names_at_sign_in_are_no_500(db, username):
    """A long or NUL-carrying user name is recorded by the throttle without breaking PostgreSQL."""
    for url in ("/login/", "/admin/login/"):
        response = Client().post(url, {"username": username, "password": "x\x00y"})
        assert response.status_code == 200


def test_a_pending_account_is_told_it_waits_for_approval(client, db, settings):
    settings.SIGNUP = "approval"
    client.post("/signup/", _signup_data("ann"))
    page = Client().post("/login/", {"username": "ann", "password": PASSWORD}).content.decode()
    assert "waits for an administrator" in page
    wrong = Client().post("/login/", {"username": "ann", "password": "not-it"}).content.decode()
    assert "did not match" in wrong and "waits" not in wrong  # the password decides what is said


def _sign_in(session, base: str, password: str, forwarded_for: str) -> int:
    import re

    page = session.get(f"{base}/login/").text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return session.post(
        f"{base}/login/",
        data={"csrfmiddlewaretoken": csrf, "username": "ann", "password": password},
        headers={"X-Forwarded-For": forwarded_for, "Referer": f"{base}/login/"},
        allow_redirects=False,
    ).status_code


def test_a_client_cannot_choose_its_address_with_x_forwarded_for(transactional_db, settings):
    """Issue 15 item 2: through gunicorn as in production, 6 wrong passwords from "10.0.0.1…6" then the
    right one signed in (uvicorn trusted forwarded headers from 127.0.0.1 by default)."""
    import requests
    from django.contrib.auth.hashers import make_password

    from tests.helpers import gunicorn, subprocess_env

    User.objects.create(username="ann", password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    process, base = gunicorn(subprocess_env(settings))
    try:
        session = requests.Session()
        codes = [_sign_in(session, base, "guess", f"10.0.0.{n}") for n in range(1, 7)]
        assert codes == [200] * 4 + [429] * 2  # the 5th failure locks: all came from one address
        assert _sign_in(session, base, PASSWORD, "10.0.0.99") == 429  # the right password, still refused
    finally:
        process.terminate()
        process.wait(10)


def test_forwarded_addresses_count_only_from_the_proxies_named(rf, settings):
    from accounts.middleware import client_ip

    settings.TRUSTED_PROXIES = []
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip(request) == "127.0.0.1"  # none named: a client-set header is ignored
    settings.TRUSTED_PROXIES = parse_proxies("127.0.0.1, 10.1.0.0/16")
    assert client_ip(request) == "203.0.113.9"  # what our proxy saw, not what the client prepended
    two_hops = rf.get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 127.0.0.1")
    assert client_ip(two_hops) == "203.0.113.9"  # through both proxies
    stranger = rf.get("/", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_ip(stranger) == "198.51.100.4"  # not a proxy of ours: its header means nothing
    garbage = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(garbage) == "127.0.0.1"  # never a value the database's address column refuses


def test_the_proxy_setting_is_checked_at_start_up(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    def check(**env):
        return subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "aimlweb.settings", "DATA_DIR": str(tmp_path), **env},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert check(TRUSTED_PROXIES="127.0.0.1,::1,10.0.0.0/8", TRUSTED_PROXY_COUNT="0").returncode == 0
    wrong = check(TRUSTED_PROXIES="nginx.local")
    assert wrong.returncode != 0 and "TRUSTED_PROXIES" in wrong.stderr
    old = check(TRUSTED_PROXY_COUNT="1")
    assert old.returncode != 0 and "replaced by TRUSTED_PROXIES" in old.stderr


def test_the_documented_proxy_sets_the_forwarded_address_itself():
    """docs/deploy.md's nginx replaces the client's X-Forwarded-For (appending would keep the client's)."""
    import re
    from pathlib import Path

    deploy = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    nginx = re.search(r"```nginx\n(.*?)```", deploy, re.S).group(1)
    locations = re.findall(r"location [^{]*\{(.*?)\}", nginx, re.S)
    proxied = [block for block in locations if "proxy_pass" in block]
    assert len(proxied) >= 2
    for block in proxied:
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in block
    assert "proxy_add_x_forwarded_for" not in deploy
    assert "TRUSTED_PROXIES=127.0.0.1" in deploy

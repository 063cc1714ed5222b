"""The accounts' emails through a real SMTP server on loopback (tests/mailbox.py): a pending sign-up to the
administrators, an approval to the user, "Forgot password?" end to end; the address and the answer email
setting on sign-up, invites and the account page; the email settings read at start-up.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts import notices
from accounts.models import EmailNotice, EmailPreference, Invite, PendingSignup
from aimlweb.environment import email_config, from_address_problem, site_url_problem
from tests.helpers import client_for, manage_check

PASSWORD = "a-Long-pass-77"
NEW_PASSWORD = "an-Other-pass-88"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)  # emails are queued when their transaction commits


def _signup(username, email=""):
    return {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD}


@pytest.fixture
def admins():
    root = User.objects.create_superuser("root", email="root@example.com", password=PASSWORD)
    staff = User.objects.create_user("staff", email="staff@example.com", password=PASSWORD, is_staff=True)
    User.objects.create_user("noaddress", password=PASSWORD, is_staff=True)
    User.objects.create_user("plain", email="plain@example.com", password=PASSWORD)  # not an admin
    return root, staff


# --- Sign-up and approval --------------------------------------------------------------------


def test_a_pending_sign_up_is_emailed_to_each_admin_with_a_link_to_approve(client, mailbox, settings, admins):
    settings.SIGNUP = "approval"
    response = client.post("/signup/", _signup("ann", "ann@example.com"), follow=True)
    assert b"waits for an administrator" in response.content
    messages = mailbox.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in messages) == ["root@example.com", "staff@example.com"]
    message = messages[0]
    assert message["Subject"] == "New sign-up waiting for approval: ann"
    link = "https://chat.example.com/admin/accounts/pendingsignup/"
    assert link in message.text and link in message.html
    assert "ann@example.com" in message.text
    # The link is the admin's list of sign-ups waiting, where they approve it.
    page = client_for(admins[0]).get(link.removeprefix("https://chat.example.com"))
    assert page.status_code == 200 and "ann" in page.content.decode()
    assert len(mailbox.messages) == 2


def test_the_approved_user_is_told_they_can_sign_in(mailbox, settings, admins):
    settings.SIGNUP = "approval"
    Client().post("/signup/", _signup("ann", "ann@example.com"))
    Client().post("/signup/", _signup("bea"))  # no address: approved all the same, told nothing
    mailbox.wait_for(4)  # the admins' notices of both
    admin = client_for(admins[0])
    selected = list(User.objects.filter(username__in=["ann", "bea"]).values_list("pk", flat=True))
    response = admin.post("/admin/auth/user/", {"action": "approve", "_selected_action": selected}, follow=True)
    assert b"Approved 2" in response.content
    [message] = mailbox.wait_for(5)[4:]
    assert message.rcpt_tos == ["ann@example.com"]
    assert message["Subject"] == "Your aimlweb account is approved"
    assert "https://chat.example.com/login/" in message.text
    assert not PendingSignup.objects.exists()


def test_sign_up_and_invites_take_an_optional_address(client, settings, mailbox):
    settings.SIGNUP = "open"
    assert client.post("/signup/", _signup("ann", "ann@example.com")).status_code == 302
    assert User.objects.get(username="ann").email == "ann@example.com"
    assert Client().post("/signup/", _signup("bea")).status_code == 302
    assert User.objects.get(username="bea").email == ""
    bad = Client().post("/signup/", _signup("cy", "not an address"))
    assert bad.status_code == 200 and "Enter a valid email address" in bad.content.decode()
    assert 'value="not an address"' in bad.content.decode()  # what was typed stays
    root = User.objects.create_superuser("root", password=PASSWORD)
    invite = Invite.objects.create(created_by=root, expires_at=timezone.now() + timedelta(days=1))
    page = Client().get(invite.get_absolute_url()).content.decode()
    assert 'name="email"' in page and "Email (optional)" in page
    assert Client().post(invite.get_absolute_url(), _signup("guest", "guest@example.com")).status_code == 302
    assert User.objects.get(username="guest").email == "guest@example.com"


# --- The account page -------------------------------------------------------------------------


def test_the_account_page_sets_the_address_and_the_answer_email_setting(mailbox):
    ann = User.objects.create_user("ann", password=PASSWORD)
    client = client_for(ann)
    page = client.get("/account/").content.decode()
    assert 'name="email"' in page and "Email me when an answer is done" in page
    assert 'name="answer_done" id="id_answer_done" checked' in page  # on by default
    assert not notices.answer_emails_on(ann)  # no address yet
    response = client.post("/account/", {"email": "ann@example.com", "answer_done": "on"})
    assert response.status_code == 302
    ann.refresh_from_db()
    assert ann.email == "ann@example.com" and notices.answer_emails_on(ann)
    client.post("/account/", {"email": "ann@example.com"})  # the box unticked
    assert not notices.answer_emails_on(ann) and not EmailPreference.objects.get(user=ann).answer_done
    page = client.get("/account/").content.decode()
    assert 'value="ann@example.com"' in page and 'id="id_answer_done" checked' not in page
    bad = client.post("/account/", {"email": "ann@", "answer_done": "on"})
    assert bad.status_code == 400 and "Enter a valid email address" in bad.content.decode()
    assert 'value="ann@"' in bad.content.decode()
    ann.refresh_from_db()
    assert ann.email == "ann@example.com"


def test_the_account_page_says_when_the_site_sends_no_email(settings):
    settings.EMAIL_ENABLED = False
    page = client_for(User.objects.create_user("ann", password=PASSWORD)).get("/account/").content.decode()
    assert "This site sends no email yet" in page


# --- Forgot password? ---------------------------------------------------------------------------


def test_forgot_password_works_by_email_end_to_end(mailbox):
    ann = User.objects.create_user("ann", email="Ann@Example.com", password=PASSWORD)
    login = Client().get("/login/").content.decode()
    assert 'href="/password-reset/"' in login and "Forgot password?" in login
    browser = Client()
    response = browser.post("/password-reset/", {"email": "ann@example.com"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert b"Check your email" in browser.get("/password-reset/sent/").content
    [message] = mailbox.wait_for(1)
    assert message.rcpt_tos == ["Ann@example.com"]  # as stored (the domain in lower case)
    assert message["Subject"] == "Reset your aimlweb password"
    link = re.search(r"https://chat\.example\.com(/reset/[^/\s]+/[^/\s]+/)", message.text).group(1)
    assert link in message.html
    # The database keeps no working link once it is sent.
    notice = EmailNotice.objects.get(kind="password_reset")
    assert notice.sent_at and notice.body == "" and notice.html == ""
    # Followed: Django's confirm view moves the token out of the address, then takes the new password.
    form_page = browser.get(link, follow=True)
    assert b"Choose a new password" in form_page.content
    set_url = form_page.redirect_chain[-1][0]
    done = browser.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)
    assert b"Password changed" in done.content
    old = Client().post("/login/", {"username": "ann", "password": PASSWORD})
    assert old.status_code == 200 and b"did not match" in old.content
    fresh = Client()
    assert fresh.post("/login/", {"username": "ann", "password": NEW_PASSWORD}).status_code == 302
    assert fresh.get("/").status_code == 200
    # The link works once.
    again = Client().get(link, follow=True)
    assert b"This link does not work" in again.content
    ann.refresh_from_db()
    assert ann.check_password(NEW_PASSWORD)


def test_forgot_password_tells_nobody_which_addresses_have_an_account(mailbox):
    User.objects.create_user("ann", email="ann@example.com", password=PASSWORD)
    User.objects.create_user("idle", email="idle@example.com", password=PASSWORD, is_active=False)
    for address in ("nobody@example.com", "idle@example.com"):
        response = Client().post("/password-reset/", {"email": address})
        assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    Client().post("/password-reset/", {"email": "ann@example.com"})
    assert [m.rcpt_tos for m in mailbox.wait_for(1)] == [["ann@example.com"]]


def test_forgot_password_sends_one_email_per_few_minutes_to_an_address(mailbox, clock):
    User.objects.create_user("ann", email="ann@example.com", password=PASSWORD)
    now = timezone.now()
    clock(now)
    for _ in range(3):
        Client().post("/password-reset/", {"email": "ann@example.com"})
    mailbox.wait_for(1)
    clock(now + notices.RESET_EMAIL_EVERY + timedelta(seconds=5))
    Client().post("/password-reset/", {"email": "ann@example.com"})
    assert len(mailbox.wait_for(2)) == 2
    assert EmailNotice.objects.filter(kind="password_reset").count() == 2


def test_without_email_forgot_password_is_hidden_and_off(settings):
    settings.EMAIL_ENABLED = False
    assert "Forgot password?" not in Client().get("/login/").content.decode()
    assert Client().get("/password-reset/").status_code == 404
    assert Client().post("/password-reset/", {"email": "ann@example.com"}).status_code == 404
    assert not EmailNotice.objects.exists()


# --- Settings ----------------------------------------------------------------------------------


def test_email_url_takes_smtp_with_tls_or_ssl_and_the_console():
    tls = email_config("smtp+tls://me%40example.com:p%40ss@mail.example.com:587")
    assert tls["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (tls["EMAIL_HOST"], tls["EMAIL_PORT"], tls["EMAIL_USE_TLS"]) == ("mail.example.com", 587, True)
    assert (tls["EMAIL_HOST_USER"], tls["EMAIL_HOST_PASSWORD"]) == ("me@example.com", "p@ss")
    assert email_config("smtp+ssl://mail.example.com")["EMAIL_PORT"] == 465
    assert email_config("smtp://mail.example.com")["EMAIL_PORT"] == 25
    assert email_config("consolemail://")["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert site_url_problem("https://chat.example.com", True) == ""
    assert site_url_problem("http://chat.example.com", True)
    assert site_url_problem("https://chat.example.com/app", False)
    assert from_address_problem("aimlweb <chat@example.com>") == ""
    assert from_address_problem("a@example.com, b@example.com")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"EMAIL_URL": "https://user:s3cret-pw@mail.example.com"}, "EMAIL_URL must start with smtp://"),
        ({"EMAIL_URL": "smtp://user:s3cret-pw@mail.example.com"}, "EMAIL_URL needs SITE_URL"),
        ({"SITE_URL": "https://chat.example.com/app"}, "SITE_URL="),
        ({"DEFAULT_FROM_EMAIL": "chat@example.com\nBcc: x@example.com"}, "DEFAULT_FROM_EMAIL="),
    ],
)
def test_bad_email_settings_stop_start_up_naming_the_variable_never_the_password(tmp_path, env, says):
    result = manage_check(tmp_path, **env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr
    assert says in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_good_email_settingsmanage_check(tmp_path):
    result = manage_check(
        tmp_path, EMAIL_URL="smtp+tls://u:p@mail.example.com:587", SITE_URL="https://chat.example.com"
    )
    assert result.returncode == 0, result.stderr

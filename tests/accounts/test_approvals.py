"""Waiting sign-ups: the "Almost there" page that checks again, and staff approving from the app's menu."""

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from accounts.models import PendingSignup
from tests.helpers import client_for

PASSWORD = "a-Long-pass-77"


def _sign_up(client, username, email=""):
    data = {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/signup/", data, follow=True)


@pytest.fixture
def approval(db, settings):
    settings.SIGNUP = "approval"
    return User.objects.create_superuser("root", password=PASSWORD)


def test_the_waiting_page_says_what_happens_next_and_checks_again(client, approval, settings):
    settings.EMAIL_ENABLED = True
    page = _sign_up(client, "ann", "ann@example.com")
    url = page.redirect_chain[-1][0]
    text = page.content.decode()
    assert "Almost there" in text and "We'll email <strong>ann@example.com</strong> when it is approved" in text
    assert "/static/js/waiting.js" in text  # it checks again by itself
    assert f'href="{url}" id="check-again"' in text  # and on a click

    ann = User.objects.get(username="ann")
    ann.is_active = True
    ann.save()
    approved = Client().get(url).content.decode()
    assert "You're in" in approved and "was approved" in approved and "waiting.js" not in approved

    # Without an address the page says it checks every minute; a forged or changed link is a 404.
    none = _sign_up(Client(), "ben").content.decode()
    assert "You gave no email address" in none and "We'll email" not in none
    assert Client().get(url[:-3] + "xx/").status_code == 404


@pytest.mark.django_db(transaction=True)  # the approval email is queued when its transaction commits
def test_staff_see_waiting_sign_ups_in_the_menu_and_approve_one_with_a_click(client, approval, mailbox):
    _sign_up(client, "ann", "ann@example.com")
    _sign_up(Client(), "ben")
    root = client_for(approval)
    home = root.get("/").content.decode()
    assert re.search(r'id="pending-count">2<', home)
    assert "Waiting for approval (2)" in home and "ann@example.com" in home
    ann = User.objects.get(username="ann")
    response = root.post(f"/signup/{ann.pk}/approve/", {"next": "/usage/"})
    assert response.status_code == 302 and response.url == "/usage/"
    ann.refresh_from_db()
    assert ann.is_active and not PendingSignup.objects.filter(user=ann).exists()
    page = root.get("/").content.decode()
    assert "Approved ann: an email tells them they can sign in." in page
    assert re.search(r'id="pending-count">1<', page)
    [message] = mailbox.wait_for(1)  # root has no address: only ann's approval goes out
    assert message.rcpt_tos == ["ann@example.com"] and message["Subject"] == "Your aimlweb account is approved"
    # Approved already: said so; a foreign `next` goes home.
    again = root.post(f"/signup/{ann.pk}/approve/", {"next": "https://evil.example/"}, follow=True)
    assert again.redirect_chain[0][0] == "/" and "already approved" in again.content.decode()


def test_only_staff_who_may_change_users_approve(client, approval):
    _sign_up(client, "ann")
    ann = User.objects.get(username="ann")
    plain = User.objects.create_user("plain", password=PASSWORD)
    staff = User.objects.create_user("staff", password=PASSWORD, is_staff=True)
    for who in (plain, staff):
        assert 'id="pending-count"' not in client_for(who).get("/").content.decode()
        assert client_for(who).post(f"/signup/{ann.pk}/approve/").status_code == 404  # as a missing page
    assert Client().post(f"/signup/{ann.pk}/approve/").status_code == 302  # to sign in
    assert client_for(approval).get(f"/signup/{ann.pk}/approve/").status_code == 405  # a POST only
    ann.refresh_from_db()
    assert not ann.is_active

    staff.user_permissions.add(Permission.objects.get(codename="change_user"))
    staff = User.objects.get(pk=staff.pk)  # permissions are cached per instance
    assert 'id="pending-count">1<' in client_for(staff).get("/").content.decode()
    assert client_for(staff).post(f"/signup/{ann.pk}/approve/").status_code == 302
    ann.refresh_from_db()
    assert ann.is_active


def test_approving_checks_the_csrf_token(approval):
    _sign_up(Client(), "ann")
    ann = User.objects.get(username="ann")
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(approval)
    assert csrf_client.post(f"/signup/{ann.pk}/approve/").status_code == 403
    ann.refresh_from_db()
    assert not ann.is_active

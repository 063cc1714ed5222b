"""Every URL pattern, walked: another user's ids give 404 for every method; anonymous users are sent
to sign in; admin pages are for staff only. A new pattern with an unknown parameter fails here until
the walk knows how to fill it (so later apps are covered too)."""

import io
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from conversations.attachments import services as attachment_services
from conversations.chat import services
from conversations.models import Attachment, Conversation, Share, Turn
from tests import attachment_files
from tests.helpers import client_for

METHODS = ("get", "post", "put", "patch", "delete")
# Reachable without signing in (sign-in itself, health probes, the one-time links, "Forgot password?" and
# its emailed link: tests/accounts/test_emails.py).
PUBLIC = {"healthz", "readyz", "metrics", "signup", "login", "logout", "invite", "first_admin_setup"}
PUBLIC |= {"password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete"}
# The browser's /favicon.ico, and "Almost there" (a waiting sign-up cannot sign in; its link is signed).
PUBLIC |= {"favicon", "signup_waiting"}
# Not pages but an EventSource stream: anonymous gets 401 (or 204, "stop reconnecting"), no data.
STREAMS = {"events": (204, 401)}
# Meant for other signed-in users who have the link: a conversation snapshot shared on purpose.
SHARED_BY_DESIGN = {"share"}
HOSTILE_POST = {
    "prompt": "pwned",
    "title": "pwned",
    "instructions": "pwned",
    "model": "openai/gpt-5-pro",
    "client_token": str(uuid.uuid4()),
    "show_cost": "on",
}


def _patterns(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern).startswith("admin/"):
                continue  # the admin is walked below
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.name, list(pattern.pattern.converters)


ALL = list(_patterns())
WITH_IDS = [(route, name, params) for route, name, params in ALL if params and name not in PUBLIC]


@pytest.fixture
def victim(db):
    """Alice's data, and what it looks like, to check that nothing changed."""
    alice = User.objects.create_user("alice", password="pw-alice-123")
    turn = services.conversation_create(owner=alice, prompt="alice's secret")
    Turn.objects.filter(id=turn.id).update(status="failed", error_code="x")
    services.conversation_create(owner=alice, prompt="second")  # one queued turn too
    share = Share.objects.create(
        token="alices-share-token", conversation=turn.conversation, owner=alice, title="t", snapshot=[]
    )
    # A file of her prompt (the share above does not include files: through it, 404 too).
    image = attachment_files.png()
    attachment = attachment_services.attachment_upload(
        owner=alice, name="secret.png", content=io.BytesIO(image), size=len(image), model=None
    )
    attachment_services.attachments_attach(turn=turn, attachments=[attachment])
    return {
        "alice": alice,
        "conversation_id": turn.conversation_id,
        "turn_id": turn.id,
        "token": share.token,
        "attachment_id": attachment.id,
        "user_id": alice.pk,  # approving a sign-up: staff who may change users only
        "state": _state(),
    }


def _state():
    return (
        list(Conversation.objects.order_by("id").values_list("id", "title", "instructions", "model", "owner_id")),
        list(Turn.objects.order_by("id").values_list("id", "status", "prompt", "attempts", "conversation_id")),
        list(Share.objects.order_by("id").values_list("id", "revoked_at")),
        list(Attachment.objects.order_by("id").values_list("id", "turn_id", "owner_id", "path")),
    )


def _url(name, params, values):
    missing = [p for p in params if p not in values]
    assert not missing, f"the URL walk does not know how to fill {missing} of {name!r}: add it to `victim`"
    return reverse(name, kwargs={p: values[p] for p in params})


def _random(params):
    return {p: (10**9 if p == "user_id" else uuid.uuid4() if p.endswith("_id") else "no-such-token") for p in params}


def test_the_walk_sees_every_app():
    names = {name for _, name, _ in ALL}
    assert {"conversation", "turn_live", "signup", "account"} <= names
    assert len(WITH_IDS) >= 10


@pytest.mark.parametrize(("route", "name", "params"), WITH_IDS, ids=[name for _, name, _ in WITH_IDS])
def test_another_users_ids_are_404_for_every_method(victim, route, name, params, fake_api):
    """reliability.md §5 case 15: no page, no change, no upstream call; indistinguishable from a missing id."""
    bob = User.objects.create_user("bob", password="pw-bob-123")
    client = client_for(bob)
    url = _url(name, params, victim)
    missing = _url(name, params, _random(params))
    for method in METHODS:
        if name in SHARED_BY_DESIGN and method == "get":
            continue
        response = getattr(client, method)(url, HOSTILE_POST if method == "post" else None)
        expected = getattr(client, method)(missing, HOSTILE_POST if method == "post" else None).status_code
        assert response.status_code in (404, 405), (method, url, response.status_code)
        assert response.status_code == expected, (method, url)
        assert b"alice" not in response.content
    assert _state() == victim["state"]
    assert fake_api.post_count == 0


@pytest.mark.parametrize(("route", "name", "params"), ALL, ids=[name or route for route, name, _ in ALL])
def test_anonymous_users_are_sent_to_sign_in(victim, route, name, params):
    if name in PUBLIC:
        pytest.skip("public on purpose")
    url = _url(name, params, victim) if params else reverse(name)
    client = Client()
    for method in METHODS:
        response = getattr(client, method)(url)
        if name in STREAMS:
            assert response.status_code in (*STREAMS[name], 405) and b"alice" not in response.content
            continue
        assert response.status_code == 302, (method, url, response.status_code)
        assert response["Location"].startswith("/login/?next="), (method, url)
    assert _state() == victim["state"]


def _admin_urls():
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


def test_admin_pages_are_for_staff_only(victim):
    urls = _admin_urls()
    assert len(urls) > 5
    user = client_for(User.objects.create_user("bob", password="pw-bob-123"))
    anonymous = Client()
    staff = client_for(User.objects.create_superuser("root", password="pw-root-123"))
    for url in urls:
        for client in (user, anonymous):
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url
        assert staff.get(url).status_code == 200, url
    # A non-staff user posting to an admin action changes nothing.
    opts = Turn._meta
    user.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"action": "delete_selected"})
    assert _state() == victim["state"]

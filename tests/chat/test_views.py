"""Pages: sign-up, sending prompts, reading answers, ownership, live updates."""

import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from conversations.chat import selectors, services
from conversations.models import Conversation, Turn
from tests import factories
from tests.helpers import form_token


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_the_first_account_is_not_an_administrator_without_the_setup_link(client, db):
    """Reaching a fresh site first gives nothing: sign-up waits for approval, never makes an admin."""
    data = {"username": "first", "password1": "a-Long-pass-77", "password2": "a-Long-pass-77"}
    response = client.post("/signup/", data, follow=True)
    assert response.status_code == 200
    assert b"approval" in response.content
    first = User.objects.get(username="first")
    assert not first.is_superuser and not first.is_staff and not first.is_active
    # The setup link (printed at start-up) is the way to the first administrator.
    from accounts import setup

    Client().post(setup.setup_url(), {**data, "username": "boss"})
    assert User.objects.get(username="boss").is_superuser
    Client().post("/signup/", {**data, "username": "second"})
    second = User.objects.get(username="second")
    assert not second.is_superuser and not second.is_staff


def test_signup_can_be_closed(client, db, settings):
    settings.SIGNUP = "closed"
    assert client.get("/signup/").status_code == 404


def test_signup_shows_errors_and_keeps_the_name(client, db):
    response = client.post("/signup/", {"username": "ann", "password1": "x", "password2": "y"})
    assert response.status_code == 200
    assert b"didn" in response.content  # "The two password fields didn't match."
    assert b'value="ann"' in response.content


def test_home_shows_a_prompt_form_with_a_token(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 200
    uuid.UUID(form_token(response))
    assert b'name="prompt"' in response.content


def test_posting_a_prompt_stores_it_and_shows_the_answer(alice_client, fake_api, transactional_db):
    response = alice_client.post("/", {"prompt": "What is 2+2?", "client_token": str(uuid.uuid4())})
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response.url == conversation.get_absolute_url()
    page = alice_client.get(response.url).content.decode()
    turn = conversation.turns.get()
    assert turn.status == "completed"
    assert "Echo: What is 2+2?" in page
    assert f"{turn.total_tokens} total" in page
    assert "badge-completed" in page


def test_three_prompts_in_one_conversation(alice_client, fake_api, transactional_db):
    response = alice_client.post("/", {"prompt": "one", "client_token": str(uuid.uuid4())})
    url = response.url
    for prompt in ("two", "three"):
        token = form_token(alice_client.get(url))
        assert alice_client.post(url, {"prompt": prompt, "client_token": token}).status_code == 302
    turns = list(Conversation.objects.get().turns.all())
    assert [t.prompt for t in turns] == ["one", "two", "three"]
    assert all(t.status == "completed" and t.total_tokens for t in turns)
    assert "turns=3" in turns[-1].output_text


@pytest.mark.parametrize("prompt", ["", "   \n\t "])
def test_an_empty_prompt_is_refused_and_nothing_is_made(alice_client, prompt):
    response = alice_client.post("/", {"prompt": prompt, "client_token": str(uuid.uuid4())})
    assert response.status_code == 200
    assert b"Type a prompt before sending." in response.content
    assert Conversation.objects.count() == 0 and Turn.objects.count() == 0


def test_an_empty_prompt_in_a_conversation_is_refused(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="hi")
    response = alice_client.post(turn.conversation.get_absolute_url(), {"prompt": " ", "client_token": ""})
    assert response.status_code == 400
    assert b"Type a prompt before sending." in response.content
    assert Turn.objects.count() == 1


def test_a_too_long_prompt_is_refused_and_kept(alice_client, settings):
    settings.MAX_PROMPT_CHARS = 10
    response = alice_client.post("/", {"prompt": "x" * 11 + "KEEP", "client_token": ""})
    assert b"This prompt has 15 characters, over the limit of 10: shorten it by 5 characters" in response.content
    assert b"xxxxxxxxxxxKEEP" in response.content
    assert Turn.objects.count() == 0


def test_a_second_prompt_while_one_runs_is_queued_after_it(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="slow")
    url = turn.conversation.get_absolute_url()
    response = alice_client.post(url, {"prompt": "my careful follow-up", "client_token": str(uuid.uuid4())})
    assert response.status_code == 302
    follow_up = Turn.objects.get(prompt="my careful follow-up")
    assert follow_up.status == "waiting" and follow_up.parent_id == turn.id
    assert b"my careful follow-up" in alice_client.get(url).content
    # Regenerating the running answer is still refused, with the reason.
    alice_client.post(reverse("turn_regenerate", args=[turn.id]), {"client_token": str(uuid.uuid4())})
    assert b"still being generated" in alice_client.get(url).content
    assert Turn.objects.count() == 2


def test_a_resubmitted_form_lands_on_the_first_turn(alice_client, alice):
    token = str(uuid.uuid4())
    first = alice_client.post("/", {"prompt": "once", "client_token": token})
    second = alice_client.post("/", {"prompt": "once", "client_token": token})
    assert first.url == second.url
    assert Turn.objects.count() == 1


def test_a_running_turn_shows_progress_and_stop(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="thinking")
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    assert "Starting…" in page  # handed to a worker (the test database never commits)
    assert reverse("turn_live", args=[turn.id]) in page
    assert "Stop" in page


def test_live_fragment_answers_204_while_unchanged(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="thinking")
    url = reverse("turn_live", args=[turn.id])
    fragment = alice_client.get(url)
    assert fragment.status_code == 200
    version = re.search(r"\?v=(\d+)", fragment.content.decode()).group(1)
    assert alice_client.get(url, {"v": version}).status_code == 204
    services.turn_cancel(turn=turn)
    changed = alice_client.get(url, {"v": version})
    assert changed.status_code == 200
    assert b"Stopped by the user" in changed.content
    assert b"hx-trigger" not in changed.content  # finished turns stop polling


def test_missing_key_is_explained_on_the_page(alice_client, settings):
    settings.AIMLAPI_KEY = ""
    assert b"AIMLAPI_KEY" in alice_client.get("/").content


def test_cancel_and_retry_buttons(alice_client, alice, fake_api, transactional_db):
    turn = services.conversation_create(owner=alice, prompt="x")  # completes at once (immediate mode)
    Turn.objects.filter(id=turn.id).update(status="in_progress")
    response = alice_client.post(reverse("turn_cancel", args=[turn.id]))
    assert response.status_code == 302
    turn.refresh_from_db()
    assert turn.status == "cancelled"
    assert b"Retry" in alice_client.get(turn.conversation.get_absolute_url()).content
    alice_client.post(reverse("turn_retry", args=[turn.id]))
    turn.refresh_from_db()
    # What the stopped attempt wrote stays, as the first version; the retry is the second.
    assert turn.status == "cancelled" and turn.output_text
    retried = Turn.objects.exclude(id=turn.id).get()
    assert (retried.prompt, retried.parent_id, retried.status) == (turn.prompt, turn.parent_id, "completed")


@pytest.mark.parametrize(
    ("method", "name", "kind"),
    [
        ("get", "conversation", "c"),
        ("post", "conversation", "c"),
        ("post", "conversation_settings", "c"),
        ("post", "conversation_rename", "c"),
        ("post", "conversation_delete", "c"),
        ("get", "turn_live", "t"),
        ("post", "turn_cancel", "t"),
        ("post", "turn_retry", "t"),
    ],
)
def test_another_users_conversation_is_404(client, alice, bob, method, name, kind):
    turn = services.conversation_create(owner=alice, prompt="private")
    client.force_login(bob)
    target = turn.conversation.id if kind == "c" else turn.id
    response = getattr(client, method)(reverse(name, args=[target]), {"prompt": "x", "title": "pwned"})
    assert response.status_code == 404
    turn.refresh_from_db()
    assert turn.status == "queued" and turn.conversation.title == "private"
    assert Conversation.objects.count() == 1


def test_the_sidebar_lists_only_my_conversations(alice_client, alice, bob):
    services.conversation_create(owner=alice, prompt="alice's question")
    services.conversation_create(owner=bob, prompt="bob's secret")
    page = alice_client.get("/").content.decode()
    assert "alice&#x27;s question" in page
    # Whole words: the page's random CSRF token may hold "bob" (it once did, on CI).
    assert not re.search(r"\bbob\b|secret", page)  # no leak of titles


def test_csrf_is_enforced(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/", {"prompt": "hi", "client_token": str(uuid.uuid4())})
    assert response.status_code == 403
    assert Turn.objects.count() == 0


def test_settings_rename_and_delete(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="x")
    conversation = turn.conversation
    alice_client.post(
        reverse("conversation_settings", args=[conversation.id]),
        {"title": "Renamed", "model": "openai/gpt-5-pro", "instructions": "Be terse", "max_output_tokens": "2000"},
    )
    conversation.refresh_from_db()
    assert (conversation.title, conversation.instructions, conversation.max_output_tokens) == (
        "Renamed",
        "Be terse",
        2000,
    )
    alice_client.post(reverse("conversation_delete", args=[conversation.id]))
    assert Conversation.objects.count() == 0


def test_admin_lists_conversations_and_turns_with_usage(client, alice, fake_api, transactional_db):
    admin = User.objects.create_superuser("root", password="pw-root-123")
    services.conversation_create(owner=alice, prompt="for the admin")
    client.force_login(admin)
    turns = client.get("/admin/conversations/turn/").content.decode()
    assert "for the admin" in turns or "alice" in turns
    # The list's token columns are one cell (it fits 1280 px); each one is on the turn's page.
    assert "column-model" in turns and "column-tokens" in turns and "column-cost_usd" in turns
    assert client.get("/admin/conversations/conversation/").status_code == 200
    turn = Turn.objects.get()
    page = client.get(f"/admin/conversations/turn/{turn.id}/change/")
    assert page.status_code == 200 and "Reasoning tokens" in page.content.decode()


def test_edit_and_regenerate_buttons(alice_client, alice, fake_api, transactional_db):
    turn = services.conversation_create(owner=alice, prompt="original prompt")
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    assert "Regenerate" in page and "Edit prompt" in page
    alice_client.post(reverse("turn_regenerate", args=[turn.id]), {"prompt": "edited prompt", "client_token": ""})
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    # The new version is shown, with a switcher back to the first one (its answer is not drawn meanwhile).
    assert 'aria-label="Version 2 of 2"' in page and f'formaction="{reverse("turn_show", args=[turn.id])}"' in page
    assert "Echo: edited prompt" in page and "Echo: original prompt" not in page
    page = alice_client.get(alice_client.post(reverse("turn_show", args=[turn.id]))["Location"]).content.decode()
    assert 'aria-label="Version 1 of 2"' in page and "Echo: original prompt" in page
    response = alice_client.post(reverse("turn_regenerate", args=[turn.id]), {"prompt": "  "}, follow=True)
    assert b"Type a prompt before sending." in response.content


def test_a_long_conversation_page_makes_few_queries(alice_client, alice, django_assert_max_num_queries):
    turn = services.conversation_create(owner=alice, prompt="first")
    Turn.objects.filter(id=turn.id).update(status="completed", output_text="a", output_html="<p>a</p>")
    for i in range(30):
        factories.turn(conversation=turn.conversation, prompt=f"p{i}", status="completed", output_html="<p>x</p>")
    # The turns are two reads whatever their number: the tree of versions, then the turns shown. The
    # composer's estimate (usage/budgets.composer_cost) adds the model, the path, its usage (none known
    # here: the path's text too, two more), and the hold's indexed read of recent answers. Attachments
    # (issue 18): the shown turns' files (one prefetch), the path's files' tokens for the estimate, and
    # the model's row for the composer's Attach.
    with django_assert_max_num_queries(22):
        response = alice_client.get(turn.conversation.get_absolute_url())
    # The newest turns; earlier ones load as the reader scrolls up (tests/chat/test_history_list.py).
    assert response.content.decode().count('class="turn ') == min(31, selectors.TURNS_PAGE)


def test_a_finished_turn_refreshes_the_conversation_totals(alice_client, alice, fake_api, transactional_db):
    turn = services.conversation_create(owner=alice, prompt="count me")
    fragment = alice_client.get(reverse("turn_live", args=[turn.id])).content.decode()
    assert 'id="conversation-usage" hx-swap-oob="true"' in fragment
    assert f"{Turn.objects.get().total_tokens} tokens" in fragment


def test_prompt_line_breaks_are_stored_as_typed(alice_client, fake_api, transactional_db):
    alice_client.post("/", {"prompt": "line one\r\nline two", "client_token": ""})
    assert Turn.objects.get().prompt == "line one\nline two"

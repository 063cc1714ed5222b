"""The chat page's finish (issue 9): titles, counting, error pages, partial answers as Markdown,
the model of each answer, the new chat's model picker, prompts as typed."""

import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import include, path, reverse

from conversations.chat import services
from conversations.chat.titles import TITLE_CHARS, title_from
from conversations.generation.attempts import Attempt, progress_interval
from conversations.models import AIModel, Conversation, Turn

# --- Error pages: a URLconf of the app plus views that fail on purpose --------------------------


def _forbidden(request):
    raise PermissionDenied


def _broken(request):
    raise RuntimeError("a bug")


urlpatterns = [
    path("polish-test/forbidden/", _forbidden),
    path("polish-test/broken/", _broken),
    path("", include("aimlweb.urls")),
]
handler500 = "aimlweb.errors.server_error"  # as aimlweb/urls.py has it


# --- Titles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("```python\ndef merge(a, b):\n    return a\n```\nWhy is this slow?", "Why is this slow?"),
        ("Why is this slow?\n\n```python\ndef merge(a, b):\n    return sorted(a + b)\n```", "Why is this slow?"),
        ("```python\ndef merge(a, b):\n    return a\n```", "def merge(a, b)"),
        ("```\nunclosed fence\nmore", "unclosed fence"),
        (
            "## Plan\n**Review** this [doc](https://x.example/a) and *tell* me: `foo_bar`?",
            "Plan: Review this doc and tell me: foo_bar?",
        ),
        ("Summarise https://example.com/a/long/path?q=1 for me", "Summarise for me"),
        ("https://example.com/only", "example.com/only"),
        ("- first item\n- second item\n1. third", "first item second item third"),
        ("> quoted\n\n---\n\nafter the rule", "quoted after the rule"),
        ("Explain 2*3*4 and snake_case_names", "Explain 2*3*4 and snake_case_names"),
        ("What is 2 + 2?", "What is 2 + 2?"),
        ("Why is this slow?\n\ndef merge(a, b):\n    out = []\n    return out", "Why is this slow?"),
        ("    def indented():\n        pass\n\nFix it please", "Fix it please"),
        ("Hi\n\nI need help with my thesis", "Hi I need help with my thesis"),
    ],
)
def test_titles_leave_out_code_markdown_and_urls(prompt, title):
    assert title_from(prompt) == title


def test_a_long_title_is_cut_at_a_word_boundary():
    title = title_from("How do I merge two sorted lists in Python? Show code and compare every option you know of.")
    assert title == "How do I merge two sorted lists in Python? Show code and…"
    assert len(title) <= TITLE_CHARS + 1
    assert title_from("x" * 100) == "x" * TITLE_CHARS + "…"


def test_a_new_conversation_is_titled_from_its_prompt(alice_client):
    alice_client.post("/", {"prompt": "```python\nprint(1)\n```\nWhat does this print?", "client_token": ""})
    assert Conversation.objects.get().title == "What does this print?"


# --- Counting as typed ------------------------------------------------------------------------


def _prompt_of(length: int, breaks: int) -> str:
    """`length` characters as typed, `breaks` of them line breaks (sent as CRLF, as browsers do)."""
    line = "a" * ((length - breaks) // (breaks + 1))
    text = "\n".join([line] * (breaks + 1))
    text += "b" * (length - len(text))
    assert len(text) == length and text.count("\n") == breaks
    return text


def test_the_limit_counts_a_line_break_as_one_character(alice_client, settings):
    settings.MAX_PROMPT_CHARS = 2_000
    typed = _prompt_of(2_000, breaks=99)
    response = alice_client.post("/", {"prompt": typed.replace("\n", "\r\n"), "client_token": ""})
    assert response.status_code == 302
    assert Turn.objects.get().prompt == typed


def test_a_prompt_over_the_limit_reports_its_length_as_typed(alice_client, settings):
    settings.MAX_PROMPT_CHARS = 2_000
    typed = _prompt_of(2_012, breaks=99)
    response = alice_client.post("/", {"prompt": typed.replace("\n", "\r\n"), "client_token": ""})
    page = response.content.decode()
    assert "This prompt has 2,012 characters, over the limit of 2,000: shorten it by 12 characters" in page
    assert 'data-max-chars="2000"' in page
    assert Turn.objects.count() == 0


def test_a_prompt_keeps_its_indentation(alice_client):
    code = "    def indented():\n\treturn  1\n"
    alice_client.post("/", {"prompt": "\r\n\r\n" + code.replace("\n", "\r\n") + "   \r\n", "client_token": ""})
    turn = Turn.objects.get()
    assert turn.prompt == code.rstrip()
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    # Drawn as typed (CSS pre-wrap), not with <br> between lines.
    assert '<div class="message-body prompt-text">    def indented():\n\treturn  1</div>' in page


def test_a_long_prompt_shows_collapsed_with_show_more(alice_client, alice):
    short = services.conversation_create(owner=alice, prompt="\n".join(f"line {i}" for i in range(15)))
    page = alice_client.get(short.conversation.get_absolute_url()).content.decode()
    assert "Show more" not in page
    long = services.conversation_create(owner=alice, prompt="\n".join(f"line {i}" for i in range(16)))
    page = alice_client.get(long.conversation.get_absolute_url()).content.decode()
    assert '<details class="prompt-more">' in page and "Show more" in page
    wide = services.conversation_create(owner=alice, prompt="word " * 300)  # one line that wraps to 19
    assert "Show more" in alice_client.get(wide.conversation.get_absolute_url()).content.decode()


# --- Partial answers as Markdown ---------------------------------------------------------------

PARTIAL = "Here is **the plan**:\n\n1. Read\n2. Write\n\n```python\ndef f(x):\n    return x <b>"


def _running(alice) -> Turn:
    turn = services.conversation_create(owner=alice, prompt="Plan it")
    Turn.objects.filter(id=turn.id).update(status="in_progress", attempts=1)
    turn.refresh_from_db()
    return turn


def test_a_progress_save_stores_the_partial_answer_rendered(alice):
    turn = _running(alice)
    Attempt(turn).save_progress(PARTIAL, "resp_1")
    turn.refresh_from_db()
    assert turn.output_text == PARTIAL
    assert "<strong>the plan</strong>" in turn.output_html
    assert "<ol>" in turn.output_html
    # The open fence is an open code block, highlighted and escaped like a finished one.
    assert '<pre class="code highlight" data-lang="Python">' in turn.output_html
    assert "&lt;" in turn.output_html and "<b>" not in turn.output_html


def test_saves_wait_longer_when_rendering_is_slow():
    assert progress_interval(0.0) == 0.5
    assert progress_interval(0.02) == 0.5
    assert progress_interval(0.2) == pytest.approx(2.0)


def test_the_live_fragment_says_thinking_then_writing_with_markdown(alice_client, alice):
    turn = _running(alice)
    url = reverse("turn_live", args=[turn.id])
    fragment = alice_client.get(url).content.decode()
    assert '<span class="status-label">Thinking…</span>' in fragment
    assert 'class="elapsed" data-since=' in fragment
    Attempt(turn).save_progress(PARTIAL, "resp_1")
    fragment = alice_client.get(url).content.decode()
    assert '<span class="status-label">Writing…</span>' in fragment
    assert 'class="elapsed" data-since=' in fragment
    assert '<div class="message-body markdown partial">' in fragment
    assert "<strong>the plan</strong>" in fragment and "**the plan**" not in fragment
    assert "<pre" in fragment


def test_a_stopped_answer_kept_as_raw_text_is_shown_as_markdown(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="Stop me")
    # Stored before partial answers were rendered: text without HTML.
    Turn.objects.filter(id=turn.id).update(status="cancelled", output_text=PARTIAL, output_html="")
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    assert "<strong>the plan</strong>" in page and "**the plan**" not in page.split("answer-source")[0]


def test_a_finished_answer_carries_its_markdown_for_copy(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="Copy me")
    Turn.objects.filter(id=turn.id).update(
        status="completed", output_text="**bold** <tag> & `code`", output_html="<p><strong>bold</strong></p>"
    )
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    assert '<template class="answer-source">**bold** &lt;tag&gt; &amp; `code`</template>' in page


# --- Which model wrote an answer ----------------------------------------------------------------


def test_an_answer_names_its_model_when_the_conversation_moved_on(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="Hello", model="openai/gpt-5-pro")
    Turn.objects.filter(id=turn.id).update(status="completed", model="gpt-5-pro-2025-10-06", output_text="Hi")
    url = turn.conversation.get_absolute_url()
    assert "turn-model" not in alice_client.get(url).content.decode()
    Conversation.objects.filter(id=turn.conversation_id).update(model="openai/gpt-5.6-sol-pro")
    page = alice_client.get(url).content.decode()
    assert '<span class="meta-item turn-model" title="Written by gpt-5-pro-2025-10-06' in page
    assert ">GPT-5 Pro</span>" in page


def test_an_unknown_model_is_named_as_the_provider_echoed_it(alice_client, alice):
    turn = services.conversation_create(owner=alice, prompt="Hello", model="openai/gpt-5-pro")
    Turn.objects.filter(id=turn.id).update(status="completed", model="some-other-model", output_text="Hi")
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    assert ">some-other-model</span>" in page


# --- The new chat's model picker -----------------------------------------------------------------


@pytest.fixture
def two_models(db):
    AIModel.objects.filter(provider_id="openai/gpt-5.6-sol-pro").update(enabled=True)
    return ["openai/gpt-5-pro", "openai/gpt-5.6-sol-pro"]


def test_the_new_chat_offers_the_enabled_models_and_names_the_default(alice_client, two_models):
    AIModel.objects.create(provider_id="openai/disabled-one", label="Disabled One", enabled=False)
    page = alice_client.get("/").content.decode()
    assert '<select name="model" id="new-chat-model" form="composer">' in page
    assert '<option value="openai/gpt-5-pro" data-label="GPT-5 Pro" data-efforts="" selected>' in page
    sol = '<option value="openai/gpt-5.6-sol-pro" data-label="GPT-5.6 Sol Pro" data-efforts="none,low,medium,high">'
    assert sol in page
    assert "Disabled One" not in page
    assert 'placeholder="Ask GPT-5 Pro anything…"' in page


def test_the_chosen_model_starts_the_conversation(alice_client, two_models):
    alice_client.post("/", {"prompt": "hi", "model": "openai/gpt-5.6-sol-pro", "client_token": ""})
    conversation = Conversation.objects.get()
    assert conversation.model == "openai/gpt-5.6-sol-pro"
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'placeholder="Ask GPT-5.6 Sol Pro anything…"' in page


def test_a_model_no_longer_offered_is_refused_and_the_prompt_kept(alice_client, two_models):
    response = alice_client.post("/", {"prompt": "keep me", "model": "openai/gone", "client_token": ""})
    page = response.content.decode()
    assert "That model is no longer offered here." in page and "keep me" in page
    assert Conversation.objects.count() == 0


# --- Error pages, as the handlers serve them (DEBUG off) --------------------------------------


@pytest.fixture
def no_debug(settings):
    settings.DEBUG = False
    return settings


def _error_page(response, code: int) -> str:
    page = response.content.decode()
    assert response.status_code == code
    assert f'<p class="error-code">{code}</p>' in page
    assert "/static/css/app.css" in page and "Back to your chats" in page
    return page


def test_404_page(alice_client, no_debug):
    page = _error_page(alice_client.get("/no-such-page/"), 404)
    assert "This page does not exist" in page and 'href="/"' in page


def test_404_page_for_another_users_conversation(client, alice, bob, no_debug):
    turn = services.conversation_create(owner=alice, prompt="mine")
    client.force_login(bob)
    _error_page(client.get(turn.conversation.get_absolute_url()), 404)


def test_400_page(client, no_debug):
    page = _error_page(client.get("/login/", HTTP_HOST="evil.example"), 400)
    assert "could not be understood" in page


@pytest.mark.urls(__name__)
def test_403_page(alice_client, no_debug):
    page = _error_page(alice_client.get("/polish-test/forbidden/"), 403)
    assert "You cannot open this page" in page


def test_403_page_of_an_expired_form(alice, no_debug):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = _error_page(client.post("/", {"prompt": "hi", "client_token": str(uuid.uuid4())}), 403)
    assert "This form has expired" in page and "kept as a draft" in page


@pytest.mark.urls(__name__)
def test_500_page(alice_client, no_debug):
    alice_client.raise_request_exception = False
    page = _error_page(alice_client.get("/polish-test/broken/"), 500)
    assert "Something went wrong on our side" in page
    assert "{%" not in page and "{{" not in page


@pytest.mark.urls(__name__)
def test_500_page_when_the_page_itself_cannot_be_drawn(alice_client, no_debug, tmp_path):
    """A deployment without its static manifest: {% static %} raises while drawing the 500 page."""
    alice_client.raise_request_exception = False
    storages = {
        **no_debug.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    no_debug.STORAGES = storages
    no_debug.STATIC_ROOT = str(tmp_path)  # empty: no manifest
    response = alice_client.get("/polish-test/broken/")
    page = response.content.decode()
    assert response.status_code == 500
    assert '<p class="error-code">500</p>' in page and "Something went wrong on our side" in page
    assert "/static/" not in page and "{%" not in page


# --- Titles from a cheap model (TITLE_MODEL, off by default) ----------------------------------

TITLE_MODEL = "openai/gpt-5.6-sol-pro"


@pytest.fixture
def title_model(settings, fake_api, transactional_db, clock):
    from datetime import UTC, datetime

    from conversations.usage import catalog

    # Before gpt-5-pro's retirement date: with its successor enabled here, a later day would hand the
    # conversation to it (usage/continuity.py), whatever today is.
    clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))

    catalog.seed(AIModel)
    AIModel.objects.filter(provider_id=TITLE_MODEL).update(enabled=True)
    settings.TITLE_MODEL = TITLE_MODEL
    fake_api.reply = lambda body: "“Merging sorted lists.”" if body["model"] == TITLE_MODEL else "Use heapq.merge."
    return fake_api


def test_without_title_model_no_title_is_asked(alice, fake_api, transactional_db):
    turn = services.conversation_create(owner=alice, prompt="How do I merge two sorted lists?")
    assert Turn.objects.get(id=turn.id).status == "completed"
    assert fake_api.post_count == 1
    assert Conversation.objects.get().title == "How do I merge two sorted lists?"


def test_the_title_model_names_the_conversation_and_is_charged(alice, title_model):
    from conversations.models import Charge

    turn = services.conversation_create(owner=alice, prompt="```python\nheapq\n```\nHow do I merge two sorted lists?")
    conversation = Conversation.objects.get(id=turn.conversation_id)
    assert conversation.title == "Merging sorted lists"
    # The answer on /v1/responses (gpt-5-pro), the title on /v1/chat/completions (the catalogue's API of sol-pro).
    assert title_model.post_count == 1 and len(title_model.chat_requests) == 1
    body = title_model.chat_requests[-1]["json"]
    assert body["model"] == TITLE_MODEL and body["max_completion_tokens"] == 1000
    assert body["reasoning_effort"] == "none"  # the least the catalogue says it accepts
    assert body["messages"][0]["role"] == "system"
    assert "How do I merge two sorted lists?" in body["messages"][1]["content"]
    charges = {charge.model: charge for charge in Charge.objects.all()}
    assert set(charges) == {"openai/gpt-5-pro", TITLE_MODEL}
    title_charge = charges[TITLE_MODEL]
    assert title_charge.turn is None and title_charge.conversation_id == conversation.id
    assert title_charge.purpose == Charge.Purpose.TITLE
    assert title_charge.user == alice and title_charge.cost_usd > 0 and title_charge.output_tokens > 0

    # Only the first answer: the next one asks for no title.
    services.turn_create(conversation=conversation, prompt="And three lists?")
    assert title_model.post_count == 2 and len(title_model.chat_requests) == 1
    assert Conversation.objects.get().title == "Merging sorted lists"


def test_a_title_is_not_asked_when_the_budget_could_not_take_it(alice, title_model, settings):
    from decimal import Decimal

    from conversations.models import UserBudget

    # Enough for the answer's estimate check to pass here (checked before it is sent), not for more.
    UserBudget.objects.create(user=alice, monthly_usd=Decimal("0.01"), unlimited=False)
    AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(input_price=0, output_price=0)
    settings.BUDGET_MONTHLY_USD = None
    AIModel.objects.filter(provider_id=TITLE_MODEL).update(input_price=Decimal(5000), output_price=Decimal(5000))
    turn = services.conversation_create(owner=alice, prompt="How do I merge two sorted lists?")
    assert Turn.objects.get(id=turn.id).status == "completed"
    assert title_model.post_count == 1
    assert Conversation.objects.get().title == "How do I merge two sorted lists?"


def test_a_renamed_conversation_keeps_its_name(alice, title_model, settings):
    from conversations.generation import title_model as titles

    settings.TITLE_MODEL = ""
    turn = services.conversation_create(owner=alice, prompt="How do I merge two sorted lists?")
    assert title_model.post_count == 1
    settings.TITLE_MODEL = TITLE_MODEL
    Conversation.objects.filter(id=turn.conversation_id).update(title="Merge notes")  # renamed meanwhile
    assert titles.title_after_answer(turn_id=turn.id) is None
    assert title_model.post_count == 1 and Conversation.objects.get().title == "Merge notes"
    Conversation.objects.filter(id=turn.conversation_id).update(title="How do I merge two sorted lists?")
    assert titles.title_after_answer(turn_id=turn.id) == "Merging sorted lists"  # not renamed: named

"""A new chat's max output tokens and effort: offered on the new-chat page, they become the conversation's
settings (sent with its answers, and what its prompts are held at); a bad value is refused in the page,
with the prompt still typed."""

import html
import re
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from conversations.models import AIModel, Conversation, Turn
from tests.factories import PRO, SOL

THEN = "Choose another, or Model default, then send."
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # before gpt-5-pro retires (2026-12-11)


@pytest.fixture(autouse=True)
def _pinned(clock):
    clock(NOW)


@pytest.fixture
def two_models(db):
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)


def errors(page: str) -> list[str]:
    return [html.unescape(e) for e in re.findall(r'class="field-error" role="alert">([^<]*)<', page)]


def test_the_page_offers_max_output_tokens_and_the_efforts_models_take(alice_client, two_models):
    page = alice_client.get("/").content.decode()
    assert '<details class="new-chat-options" id="new-chat-options">' in page  # closed until used
    assert '<input type="number" name="max_output_tokens" form="composer" placeholder="No cap"' in page
    assert '<select name="reasoning_effort" form="composer" id="id_reasoning_effort">' in page
    assert '<option value="" selected>Model default</option>' in page and '<option value="low">Low</option>' in page


def test_a_model_without_efforts_alone_offers_no_effort(alice_client, alice):
    page = alice_client.get("/").content.decode()  # gpt-5-pro only: it takes no effort setting
    assert 'name="max_output_tokens"' in page
    assert 'name="reasoning_effort"' not in page and 'id="new-chat-effort"' not in page


def test_the_settings_become_the_conversations_and_are_sent(alice_client, two_models, fake_api, transactional_db):
    data = {"prompt": "Plan it", "model": SOL, "max_output_tokens": "4000", "reasoning_effort": "low"}
    response = alice_client.post("/", {**data, "client_token": ""})
    assert response.status_code == 302
    conversation = Conversation.objects.get()
    assert (conversation.model, conversation.max_output_tokens, conversation.reasoning_effort) == (SOL, 4000, "low")
    sent = fake_api.chat_requests[-1]["json"]
    assert sent["max_completion_tokens"] == 4000 and sent["reasoning_effort"] == "low"
    # Its settings popover shows them; the prompt was held at the cap (below the 16,000 typical).
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'name="max_output_tokens" value="4000"' in page
    assert '<option value="low" selected>Low</option>' in page
    turn = Turn.objects.get()
    assert turn.estimate_usd == ((3 * D("5.5016") + 4000 * D("27.508")) / 1_000_000).quantize(D("0.000001"))


def test_empty_settings_leave_the_model_defaults(alice_client, alice, fake_api, transactional_db):
    response = alice_client.post("/", {"prompt": "Hi", "max_output_tokens": "", "client_token": ""})
    assert response.status_code == 302
    conversation = Conversation.objects.get()
    assert (conversation.model, conversation.max_output_tokens, conversation.reasoning_effort) == (PRO, None, "")
    assert "max_output_tokens" not in fake_api.post_requests[-1]["json"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_output_tokens": "5"}, "Ensure this value is greater than or equal to 16."),
        ({"max_output_tokens": "300000"}, "Ensure this value is less than or equal to 272000."),
        ({"max_output_tokens": "many"}, "Enter a whole number."),
        (
            {"reasoning_effort": "low"},
            "GPT-5 Pro takes no effort setting. Choose another, or Model default, then send.",
        ),
        ({"reasoning_effort": "extreme"}, "Select a valid choice. extreme is not one of the available choices."),
        (
            {"model": SOL, "reasoning_effort": "minimal"},
            "Select a valid choice. minimal is not one of the available choices.",
        ),
    ],
)
def test_a_bad_setting_is_refused_in_the_page_with_the_prompt_kept(alice_client, two_models, fields, message):
    prompt = "Keep <this> prompt"
    response = alice_client.post("/", {"prompt": prompt, "client_token": "", **fields})
    page = response.content.decode()
    assert errors(page) == [message]
    assert '<details class="new-chat-options" id="new-chat-options" open>' in page  # the error is in view
    assert "Keep &lt;this&gt; prompt</textarea>" in page
    assert not Conversation.objects.exists() and not Turn.objects.exists()


def test_a_cap_above_the_models_maximum_is_refused(alice_client, alice):
    AIModel.objects.filter(provider_id=PRO).update(max_output_tokens=100_000)
    page = alice_client.post("/", {"prompt": "p", "max_output_tokens": "120000", "client_token": ""}).content.decode()
    assert errors(page) == ["GPT-5 Pro writes at most 100,000 output tokens: enter that or less."]
    assert 'value="120000"' in page and not Conversation.objects.exists()


def test_an_effort_the_other_model_takes_is_refused_for_this_one(alice_client, two_models):
    AIModel.objects.filter(provider_id=SOL).update(reasoning_efforts="low,high")
    AIModel.objects.filter(provider_id=PRO).update(reasoning_efforts="medium")
    page = alice_client.post(
        "/", {"prompt": "p", "model": SOL, "reasoning_effort": "medium", "client_token": ""}
    ).content.decode()
    assert errors(page) == [
        "GPT-5.6 Sol Pro takes these efforts: low, high. Choose another, or Model default, then send."
    ]

"""The model catalogue: admin, settings choices, retirement banner, successor switch, deprecated errors."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from conversations.chat.forms import ConversationSettingsForm
from conversations.generation import aimlapi
from conversations.models import AIModel, Turn, UserBudget
from conversations.usage import catalog
from tests import factories
from tests.helpers import client_for

PRO, SOL = "openai/gpt-5-pro", "openai/gpt-5.6-sol-pro"


@pytest.fixture
def staff_client(client, db):
    admin = User.objects.create_superuser("root", password="pw-root-123")
    client.force_login(admin)
    return client


def _retire(provider_id=PRO, *, in_days: int) -> AIModel:
    """Move the model's retirement date relative to today (never sleep, never wait for a date)."""
    AIModel.objects.filter(provider_id=provider_id).update(retires_on=timezone.localdate() + timedelta(days=in_days))
    return AIModel.objects.get(provider_id=provider_id)


# --- Settings form -------------------------------------------------------------------


def test_the_settings_form_offers_only_enabled_models_and_accepted_efforts(db):
    AIModel.objects.create(provider_id="acme/off", enabled=False)
    form = ConversationSettingsForm(model=PRO)
    assert [value for value, _ in form.fields["model"].choices] == [PRO]  # the successor is seeded disabled
    assert form.fields["reasoning_effort"].disabled  # gpt-5-pro takes no effort setting
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    form = ConversationSettingsForm(model=SOL)
    assert [value for value, _ in form.fields["model"].choices] == [PRO, SOL]
    assert [value for value, _ in form.fields["reasoning_effort"].choices] == ["", "none", "low", "medium", "high"]
    data = {"title": "t", "model": SOL, "reasoning_effort": "extreme"}
    assert "reasoning_effort" in ConversationSettingsForm(data, model=SOL).errors
    assert "model" in ConversationSettingsForm({**data, "model": "acme/off", "reasoning_effort": ""}, model=SOL).errors
    assert ConversationSettingsForm({**data, "reasoning_effort": "low"}, model=SOL).is_valid()


# --- Admin: the catalogue and budgets ------------------------------------------------------


def _model_form(model: AIModel, **changes) -> dict:
    data = {
        "provider_id": model.provider_id,
        "label": model.label,
        "api": model.api,
        "input_price": model.input_price or "",
        "cached_input_price": model.cached_input_price or "",
        "output_price": model.output_price or "",
        "reasoning_efforts": model.reasoning_efforts,
        "max_output_tokens": model.max_output_tokens or "",
        "typical_output_tokens": model.typical_output_tokens,
        "retires_on": model.retires_on or "",
        "successor": model.successor_id or "",
    }
    if model.enabled:
        data["enabled"] = "on"
    if model.is_default:
        data["is_default"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_admin_lists_models_with_prices_and_retirement(staff_client):
    page = staff_client.get("/admin/conversations/aimodel/").content.decode()
    assert PRO in page and SOL in page
    assert "165.048" in page and "27.508" in page and "Dec. 11, 2026" in page
    sol = AIModel.objects.get(provider_id=SOL)
    assert "0.55016" in staff_client.get(f"/admin/conversations/aimodel/{sol.pk}/change/").content.decode()


def test_making_a_model_default_in_the_admin_unsets_the_other(staff_client):
    sol = AIModel.objects.get(provider_id=SOL)
    response = staff_client.post(
        f"/admin/conversations/aimodel/{sol.pk}/change/", _model_form(sol, enabled="on", is_default="on")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(AIModel.objects.filter(is_default=True).values_list("provider_id", flat=True)) == [SOL]
    assert catalog.default_model_id() == SOL
    # The action does the same from the list.
    pro = AIModel.objects.get(provider_id=PRO)
    staff_client.post(
        "/admin/conversations/aimodel/", {"action": "make_default", "_selected_action": [pro.pk], "index": 0}
    )
    assert list(AIModel.objects.filter(is_default=True).values_list("provider_id", flat=True)) == [PRO]


def test_a_disabled_model_cannot_be_the_default(staff_client):
    sol = AIModel.objects.get(provider_id=SOL)  # seeded disabled
    response = staff_client.post(f"/admin/conversations/aimodel/{sol.pk}/change/", _model_form(sol, is_default="on"))
    assert response.status_code == 200
    assert "The default model must be enabled." in response.content.decode()
    assert catalog.default_model_id() == PRO


def test_a_users_budget_is_edited_on_the_user_admin_page(staff_client, alice, settings):
    settings.BUDGET_MONTHLY_USD = Decimal("50")
    url = f"/admin/auth/user/{alice.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert 'name="budget-0-monthly_usd"' in page and "BUDGET_MONTHLY_USD, now 50 USD" in page
    data = {
        "username": "alice",
        "is_active": "on",
        "date_joined_0": timezone.localtime(alice.date_joined).strftime("%Y-%m-%d"),
        "date_joined_1": timezone.localtime(alice.date_joined).strftime("%H:%M:%S"),
        "budget-TOTAL_FORMS": "1",
        "budget-INITIAL_FORMS": "0",
        "budget-MIN_NUM_FORMS": "0",
        "budget-MAX_NUM_FORMS": "1",
        "budget-0-monthly_usd": "12.50",
        "budget-0-user": str(alice.pk),
    }
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert UserBudget.objects.get(user=alice).monthly_usd == Decimal("12.50")


# --- Retirement ---------------------------------------------------------------------------


def test_staff_see_the_retirement_banner_from_14_days_before(staff_client, alice):
    alice_client = client_for(alice)
    _retire(in_days=15)
    assert "retires on" not in staff_client.get("/").content.decode()
    model = _retire(in_days=14)
    date = f"{model.retires_on:%-d %B %Y}"
    for url in ("/", "/admin/"):
        page = staff_client.get(url).content.decode()
        assert f"retires on {date}, in 14 days" in page
        assert "Its successor is <strong>GPT-5.6 Sol Pro</strong> (openai/gpt-5.6-sol-pro)" in page
        # Seeded disabled: the banner says what happens unless an admin enables it.
        assert "which is <strong>not enabled</strong>: enable it (and Check it) before that day" in page
    assert "retires on" not in alice_client.get("/").content.decode()  # users are not told
    _retire(in_days=-1)
    assert "was retired on" in staff_client.get("/admin/").content.decode()
    AIModel.objects.filter(provider_id=PRO).update(enabled=False)  # handled: the banner goes
    assert "retire" not in staff_client.get("/").content.decode()


def test_after_retirement_a_conversation_offers_a_one_click_switch(alice_client, alice):
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    conversation = factories.conversation(owner=alice, title="c", model=PRO, max_output_tokens=300_000)
    url = conversation.get_absolute_url()
    _retire(in_days=1)
    assert "model-switch" not in alice_client.get(url).content.decode()
    _retire(in_days=0)
    page = alice_client.get(url).content.decode()
    assert "GPT-5 Pro is retired" in page and "your next prompt goes to its successor" in page
    assert "Switch to GPT-5.6 Sol Pro now" in page
    response = alice_client.post(f"/c/{conversation.id}/switch-model/", follow=True)
    conversation.refresh_from_db()
    assert conversation.model == SOL
    assert conversation.max_output_tokens is None  # above the successor's maximum: cleared
    page = response.content.decode()
    assert "now uses openai/gpt-5.6-sol-pro instead of openai/gpt-5-pro" in page
    assert "model-switch" not in page


def test_the_switch_needs_a_successor_and_the_owner(alice_client, alice, bob):
    conversation = factories.conversation(owner=bob, title="b", model=PRO)
    assert alice_client.post(f"/c/{conversation.id}/switch-model/").status_code == 404
    mine = factories.conversation(owner=alice, title="a", model=SOL)  # SOL has no successor
    response = alice_client.post(f"/c/{mine.id}/switch-model/", follow=True)
    assert "no successor" in response.content.decode()
    mine.refresh_from_db()
    assert mine.model == SOL


def test_the_providers_deprecated_error_without_an_enabled_successor_says_so(
    alice_client, alice, fake_api, transactional_db
):
    """With an enabled successor the prompt is answered by it (tests/usage/test_continuity.py); without, it says so."""
    UserBudget.objects.create(user=alice, unlimited=True)
    fake_api.faults = [("deprecated",)]  # the successor is seeded disabled
    response = alice_client.post("/", {"prompt": "hello", "client_token": str(uuid.uuid4())})
    turn = Turn.objects.get(prompt="hello")
    assert fake_api.post_count == 1  # not retried: asking again cannot help
    assert turn.status == "failed" and turn.error_code == "model_deprecated"
    assert turn.error_message.startswith("GPT-5 Pro (openai/gpt-5-pro) is deprecated")
    assert "Its successor is GPT-5.6 Sol Pro (openai/gpt-5.6-sol-pro)" in turn.error_message
    # Once an admin enables the successor, the switch is offered at once; Retry then uses the successor.
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    page = alice_client.get(response.url).content.decode()
    assert "Switch to GPT-5.6 Sol Pro" in page
    alice_client.post(f"/c/{turn.conversation_id}/switch-model/")
    alice_client.post(f"/t/{turn.id}/retry/")
    turn.refresh_from_db()
    assert turn.status == "completed" and fake_api.chat_requests[-1]["json"]["model"] == SOL


def test_error_for_status_maps_the_deprecated_answer(fake_api, settings):
    fake_api.faults = [("deprecated",)]
    body = aimlapi.build_body(model=PRO, input=[{"role": "user", "content": "x"}])
    with pytest.raises(aimlapi.AimlApiError) as caught:
        aimlapi.create_response(body)
    assert caught.value.code == "model_deprecated" and not caught.value.retryable
    assert caught.value.status_code == 404 and "Model is deprecated" in caught.value.message
    fake_api.faults = [("status", 404)]  # a plain 404 stays a plain refusal
    with pytest.raises(aimlapi.AimlApiError) as caught:
        aimlapi.create_response(body)
    assert caught.value.code == "bad_request"

"""Keep answering after a model retires: Chat Completions models, the retirement day, the provider's
"deprecated" or "unknown model" answer, the admin's move of conversations, and the model Check.

Everything goes through the real client against the fake AI/ML API on loopback (tests/fake_aimlapi.py).
"""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from conversations.chat import services
from conversations.generation import aimlapi, worker
from conversations.models import AIModel, Charge, Conversation, Turn, UserBudget
from conversations.usage import catalog
from tests import factories

PRO, SOL = "openai/gpt-5-pro", "openai/gpt-5.6-sol-pro"
LUNA = "openai/gpt-5.6-luna-pro"
RETIRES = date(2026, 12, 11)
# The evening before gpt-5-pro's retirement date, and the first minute of it (TIME_ZONE is UTC in tests).
EVE = datetime(2026, 12, 10, 23, 59, tzinfo=UTC)
DAY = datetime(2026, 12, 11, 0, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def before_the_retirement(clock):
    """These tests enable gpt-5-pro's successor: from its retirement date on it would take over every
    conversation, so the clock is put before that date, whatever today is (a test that is about the
    date puts the clock where it needs it)."""
    clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def sol(transactional_db):
    """The successor enabled, as an admin does before the retirement date."""
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    return AIModel.objects.get(provider_id=SOL)


@pytest.fixture
def unlimited(alice):
    UserBudget.objects.create(user=alice, unlimited=True)
    return alice


def _cost(model: str, turn: Turn) -> Decimal:
    """What the turn must cost at the catalogue's prices, worked out here by hand."""
    row = AIModel.objects.get(provider_id=model)
    cached = turn.cached_tokens or 0
    cached_rate = row.cached_input_price if row.cached_input_price is not None else row.input_price
    usd = (turn.input_tokens - cached) * row.input_price + cached * cached_rate + turn.output_tokens * row.output_price
    return (usd / Decimal(1_000_000)).quantize(Decimal("0.000001"))


# --- The client speaks Chat Completions ------------------------------------------------------


def test_the_catalogue_knows_sol_pro_as_a_chat_completions_model(db):
    assert catalog.api_for(SOL) == aimlapi.API_CHAT
    assert catalog.api_for(PRO) == aimlapi.API_RESPONSES
    assert catalog.api_for("acme/unknown") == aimlapi.API_RESPONSES


def test_a_chat_body_carries_instructions_path_effort_and_cap():
    body = aimlapi.build_body(
        api=aimlapi.API_CHAT,
        model=SOL,
        input=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
        instructions="Be brief.",
        max_output_tokens=5000,
        reasoning_effort="low",
    )
    assert body == {
        "model": SOL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
        "reasoning_effort": "low",
        "max_completion_tokens": 5000,
    }


def test_a_chat_completion_maps_onto_a_response(fake_api):
    fake_api.cached_tokens = 3
    body = aimlapi.build_body(api=aimlapi.API_CHAT, model=SOL, input=[{"role": "user", "content": "hello there"}])
    result = aimlapi.create_response(body, api=aimlapi.API_CHAT)
    sent = fake_api.chat_requests[0]["json"]
    assert sent["stream"] is False and "temperature" not in sent and "top_p" not in sent
    assert fake_api.post_count == 0  # nothing went to /v1/responses
    assert result.status == "completed" and result.id.startswith("gen-")
    assert result.text.startswith("Echo: hello there")
    usage = result.raw["usage"]
    assert result.usage == aimlapi.Usage(
        input_tokens=usage["prompt_tokens"],
        cached_tokens=3,
        output_tokens=usage["completion_tokens"],
        reasoning_tokens=64,
        total_tokens=usage["total_tokens"],
        usd_spent=result.raw["meta"]["usage"]["usd_spent"],
    )


@pytest.mark.parametrize(
    ("fault", "status", "detail"),
    [("incomplete", "incomplete", "max_output_tokens"), ("failed", "failed", "content_filter")],
)
def test_finish_reasons_map_to_statuses(fake_api, fault, status, detail):
    fake_api.faults = [(fault,)]
    body = aimlapi.build_body(api=aimlapi.API_CHAT, model=SOL, input="x")
    result = aimlapi.create_response(body, api=aimlapi.API_CHAT)
    assert result.status == status
    assert detail in (result.incomplete_reason, result.error_code)
    assert result.usage is not None  # paid for, so charged


def test_a_chat_stream_gives_the_text_as_it_grows_and_the_usage_of_the_last_chunk(fake_api):
    seen = []
    body = aimlapi.build_body(api=aimlapi.API_CHAT, model=SOL, input="stream it")
    result = aimlapi.stream_response(body, api=aimlapi.API_CHAT, on_event=lambda text, rid: seen.append(text))
    sent = fake_api.chat_requests[0]["json"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert result.status == "completed" and result.text.startswith("Echo: stream it")
    assert len({text for text in seen if text}) > 3  # it grew chunk by chunk
    assert result.usage.output_tokens > result.usage.reasoning_tokens == 64 and result.usage.usd_spent > 0
    assert result.raw["object"] == "chat.completion" and result.raw["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("fault", [("stream_cut",), ("stream_cut", "clean"), ("stream_error",)])
def test_a_broken_chat_stream_keeps_the_text_and_is_never_sent_again(fake_api, fault):
    fake_api.faults = [fault]
    body = aimlapi.build_body(api=aimlapi.API_CHAT, model=SOL, input="cut me")
    with pytest.raises(aimlapi.AimlApiError) as caught:
        aimlapi.stream_response(body, api=aimlapi.API_CHAT)
    assert caught.value.code in ("stream_cut", "server_error")
    assert caught.value.partial_text  # what arrived is kept on the turn
    assert len(fake_api.chat_requests) == 1


def test_chat_errors_follow_the_same_retry_rules(fake_api):
    body = aimlapi.build_body(api=aimlapi.API_CHAT, model=SOL, input="x")
    fake_api.faults = [("429", 0), ("status", 503)]  # the request was refused: safe to repeat
    assert aimlapi.create_response(body, api=aimlapi.API_CHAT).status == "completed"
    assert len(fake_api.chat_requests) == 3
    fake_api.reset()
    fake_api.faults = [("status", 401)]
    with pytest.raises(aimlapi.AimlApiError) as caught:
        aimlapi.create_response(body, api=aimlapi.API_CHAT)
    assert caught.value.code == "auth_error" and len(fake_api.chat_requests) == 1
    fake_api.reset()
    fake_api.faults = [("drop",)]  # written, then the connection dropped: never sent again
    with pytest.raises(aimlapi.AimlApiError) as caught:
        aimlapi.create_response(body, api=aimlapi.API_CHAT)
    assert caught.value.code == "connection_dropped" and len(fake_api.chat_requests) == 1


def test_an_unknown_model_answer_is_recognised(fake_api):
    fake_api.unknown_models = {"openai/nope"}
    body = aimlapi.build_body(api=aimlapi.API_CHAT, model="openai/nope", input="x")
    with pytest.raises(aimlapi.AimlApiError) as caught:
        aimlapi.create_response(body, api=aimlapi.API_CHAT)
    assert caught.value.code == "model_unknown" and not caught.value.retryable


def test_background_mode_streams_a_chat_completions_model():
    assert aimlapi.effective_mode(aimlapi.API_CHAT, "background") == "stream"
    assert aimlapi.effective_mode(aimlapi.API_CHAT, "sync") == "sync"
    assert aimlapi.effective_mode(aimlapi.API_RESPONSES, "background") == "background"


# --- A conversation that moves from a Responses model to a Chat Completions one -------------------


@pytest.mark.parametrize("mode", ["sync", "stream", "background"])
def test_a_conversation_switches_endpoint_midway_with_its_history_and_exact_costs(
    alice, unlimited, sol, fake_api, settings, mode
):
    settings.AIMLAPI_MODE = mode
    fake_api.cached_tokens = 2
    first = services.conversation_create(owner=alice, prompt="What is a heap?", client_token=uuid.uuid4())
    conversation = Conversation.objects.get(pk=first.conversation_id)
    services.conversation_update(conversation=conversation, model=SOL, reasoning_effort="low")
    second = services.turn_create(conversation=conversation, prompt="And a priority queue?")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "completed"
    assert fake_api.post_count == 1 and len(fake_api.chat_requests) == 1
    # The history went along, as user/assistant messages; effort as reasoning_effort.
    messages = fake_api.chat_requests[0]["json"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "What is a heap?" and messages[1]["content"] == first.output_text
    assert fake_api.chat_requests[0]["json"]["reasoning_effort"] == "low"
    # Background is a Responses feature: the Chat Completions answer streamed.
    assert first.mode == mode and second.mode == ("stream" if mode == "background" else mode)
    assert second.response_id.startswith("gen-") and second.model == SOL
    # Exact usage and cost for both, each at its model's prices, in the turns and the ledger.
    for turn, model in ((first, PRO), (second, SOL)):
        assert turn.input_tokens and turn.output_tokens and turn.total_tokens == turn.input_tokens + turn.output_tokens
        assert turn.cached_tokens == 2 and turn.reasoning_tokens == 64
        assert turn.cost_usd == _cost(model, turn) and turn.provider_cost_usd > 0
        charge = Charge.objects.get(turn=turn)
        assert charge.model == model and charge.cost_usd == turn.cost_usd and charge.purpose == Charge.Purpose.ANSWER
    assert second.response_json["object"] == "chat.completion"  # the raw body is kept


# --- The retirement day ------------------------------------------------------------------------


def test_on_the_retirement_day_the_next_prompt_goes_to_the_successor_with_a_line(
    alice, alice_client, unlimited, sol, fake_api, clock
):
    assert AIModel.objects.get(provider_id=PRO).retires_on == RETIRES
    clock(EVE)
    first = services.conversation_create(owner=alice, prompt="Before", client_token=uuid.uuid4())
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.model == PRO and fake_api.post_count == 1 and not first.notice
    clock(DAY)
    second = services.turn_create(conversation=conversation, prompt="After")
    second.refresh_from_db()
    conversation.refresh_from_db()
    assert conversation.model == SOL and second.status == "completed"
    assert fake_api.post_count == 1 and fake_api.chat_requests[0]["json"]["model"] == SOL
    line = "GPT-5 Pro retired on 11 Dec 2026; this conversation continues with GPT-5.6 Sol Pro."
    assert second.notice == line
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert f'<p class="turn-notice" role="note">{line}</p>' in page
    assert Charge.objects.get(turn=second).model == SOL


def test_a_prompt_queued_before_the_day_and_sent_after_goes_to_the_successor(alice, sol, fake_api, clock):
    clock(EVE)
    conversation = factories.conversation(owner=alice, title="t", model=PRO)
    turn = factories.turn(conversation=conversation, prompt="queued on the eve", parent=None)
    clock(DAY)
    worker.turn_run(turn_id=turn.id)
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.notice.startswith("GPT-5 Pro retired on 11 Dec 2026")
    assert fake_api.post_count == 0 and len(fake_api.chat_requests) == 1
    assert Conversation.objects.get(pk=conversation.pk).model == SOL


def test_a_retired_successor_hands_on_to_its_own(alice, unlimited, sol, fake_api, clock):
    luna = AIModel.objects.create(provider_id=LUNA, label="GPT-5.6 Luna Pro", api="chat", enabled=True)
    AIModel.objects.filter(provider_id=SOL).update(retires_on=RETIRES, successor=luna)
    clock(DAY)
    turn = services.conversation_create(owner=alice, prompt="hi", client_token=uuid.uuid4(), model=PRO)
    turn.refresh_from_db()
    assert Conversation.objects.get(pk=turn.conversation_id).model == LUNA
    assert fake_api.chat_requests[0]["json"]["model"] == LUNA
    assert turn.notice == "GPT-5 Pro retired on 11 Dec 2026; this conversation continues with GPT-5.6 Luna Pro."


def test_without_an_enabled_successor_a_retired_model_is_still_asked(
    alice, unlimited, fake_api, clock, transactional_db
):
    clock(DAY)  # the successor is seeded disabled: nothing to continue with
    turn = services.conversation_create(owner=alice, prompt="hi", client_token=uuid.uuid4())
    turn.refresh_from_db()
    assert turn.status == "completed" and fake_api.post_count == 1 and not turn.notice


# --- The provider says the model is gone -------------------------------------------------------


@pytest.mark.parametrize(
    ("gone", "setup"),
    [
        ("model_deprecated", lambda fake: fake.retired_models.add(PRO)),
        ("model_unknown", lambda fake: fake.unknown_models.add(PRO)),
    ],
)
def test_a_gone_model_answer_is_answered_by_the_successor_and_charged_once(
    alice, alice_client, unlimited, sol, fake_api, clock, gone, setup
):
    clock(EVE)  # before the date: only the provider's answer says it is gone
    setup(fake_api)
    response = alice_client.post("/", {"prompt": "still there?", "client_token": str(uuid.uuid4())})
    turn = Turn.objects.get(prompt="still there?")
    assert turn.status == "completed"
    assert turn.output_text.startswith("Echo: still there?")
    assert fake_api.post_count == 1 and len(fake_api.chat_requests) == 1  # once each: no loop, no repeat
    assert turn.attempts == 1 and not turn.error_code
    assert turn.notice == "The AI/ML API no longer serves GPT-5 Pro; this conversation continues with GPT-5.6 Sol Pro."
    assert list(Charge.objects.values_list("model", flat=True)) == [SOL]  # charged once
    page = alice_client.get(response.url).content.decode()
    assert turn.notice in page and "model-switch" not in page


def test_a_gone_successor_is_not_chased_round_a_loop(alice, unlimited, sol, fake_api):
    AIModel.objects.filter(provider_id=SOL).update(successor=AIModel.objects.get(provider_id=PRO))
    fake_api.retired_models.update({PRO, SOL})
    turn = services.conversation_create(owner=alice, prompt="anyone?", client_token=uuid.uuid4())
    turn.refresh_from_db()
    assert turn.status == "failed" and turn.error_code == "model_deprecated"
    assert fake_api.post_count == 1 and len(fake_api.chat_requests) == 1  # one hop, then it says so


# --- Admin: move conversations, check a model -----------------------------------------------------


@pytest.fixture
def staff_client(client, db):
    admin = User.objects.create_superuser("root", password="pw-root-123")
    client.force_login(admin)
    client.admin = admin
    return client


def test_an_admin_moves_every_conversation_on_a_model_after_a_preview(staff_client, alice, bob, sol):
    for owner, effort in ((alice, ""), (alice, ""), (bob, "")):
        factories.conversation(owner=owner, title="t", model=PRO, reasoning_effort=effort, max_output_tokens=300_000)
    factories.conversation(owner=bob, title="already", model=SOL)
    pro = AIModel.objects.get(provider_id=PRO)
    url = "/admin/conversations/aimodel/"
    chosen = {"action": "move_conversations", "_selected_action": [pro.pk], "index": 0}
    page = staff_client.post(url, chosen).content.decode()
    assert "Move to" in page and "every conversation on GPT-5 Pro" in page
    page = staff_client.post(url, {**chosen, "target": sol.pk, "preview": "1"}).content.decode()
    assert "3 conversations of 2 users will move to GPT-5.6 Sol Pro" in page
    assert "20.631000 → 5.501600" in page and "165.048000 → 27.508000" in page
    assert Conversation.objects.filter(model=PRO).count() == 3  # a preview changes nothing
    response = staff_client.post(url, {**chosen, "target": sol.pk, "confirm": "1"}, follow=True)
    assert "3 conversations moved to GPT-5.6 Sol Pro." in response.content.decode()
    assert not Conversation.objects.filter(model=PRO).exists()
    assert not Conversation.objects.filter(max_output_tokens=300_000).exists()  # above sol's maximum: cleared


def test_an_admin_moves_selected_conversations(staff_client, alice, sol):
    chosen = factories.conversation(owner=alice, title="move me", model=PRO)
    other = factories.conversation(owner=alice, title="leave me", model=PRO)
    data = {"action": "move_to_model", "_selected_action": [chosen.pk], "index": 0, "target": sol.pk}
    page = staff_client.post("/admin/conversations/conversation/", {**data, "preview": "1"}).content.decode()
    assert "1 conversation of 1 user will move" in page
    staff_client.post("/admin/conversations/conversation/", {**data, "confirm": "1"})
    assert Conversation.objects.get(pk=chosen.pk).model == SOL
    assert Conversation.objects.get(pk=other.pk).model == PRO


def test_an_admin_checks_a_model_and_the_check_is_charged_to_them(staff_client, sol, fake_api):
    url = "/admin/conversations/aimodel/"
    staff_client.post(url, {"action": "check_models", "_selected_action": [sol.pk], "index": 0})
    sol.refresh_from_db()
    assert sol.last_check_ok is True and sol.last_check_ms is not None
    assert "Chat Completions (/v1/chat/completions) answered" in sol.last_check_message
    assert len(fake_api.chat_requests) == 1 and fake_api.chat_requests[0]["json"]["reasoning_effort"] == "none"
    charge = Charge.objects.get()
    assert charge.purpose == Charge.Purpose.CHECK and charge.user == staff_client.admin
    assert charge.model == SOL and charge.conversation is None and charge.cost_usd == sol.last_check_cost_usd > 0
    page = staff_client.get(url).content.decode()
    assert "✔ OK" in page and f"${sol.last_check_cost_usd:.4f}" in page
    # The model's page has the whole outcome: what the model answered, its id, the exact cost.
    page = staff_client.get(f"{url}{sol.pk}/change/").content.decode()
    assert "answered “" in page and f"${sol.last_check_cost_usd:.6f}" in page


def test_a_failed_check_shows_the_providers_error(staff_client, fake_api, transactional_db):
    pro = AIModel.objects.get(provider_id=PRO)
    fake_api.faults = [("status", 401)]
    staff_client.post(
        "/admin/conversations/aimodel/", {"action": "check_models", "_selected_action": [pro.pk], "index": 0}
    )
    pro.refresh_from_db()
    assert pro.last_check_ok is False and "rejected the API key (401)" in pro.last_check_message
    assert not Charge.objects.exists()  # nothing was generated, nothing charged
    page = staff_client.get("/admin/conversations/aimodel/").content.decode()
    assert "✘ Failed" in page and "rejected the API key (401)" in page  # on hover


def test_the_admin_says_a_chat_model_streams_in_background_mode(staff_client, settings):
    settings.AIMLAPI_MODE = "background"
    page = staff_client.get("/admin/conversations/aimodel/").content.decode()
    assert "Chat Completions (streams: no background mode)" in page


def test_the_sign_in_page_names_the_default_model(client, db):
    assert "Chat with GPT-5 Pro." in client.get("/login/").content.decode()
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    AIModel.objects.filter(is_default=True).update(is_default=False)
    AIModel.objects.filter(provider_id=SOL).update(is_default=True)
    page = client.get("/login/").content.decode()
    assert "Chat with GPT-5.6 Sol Pro." in page and "gpt-5-pro" not in page.lower()


def test_the_models_and_the_client_name_endpoints_and_gone_codes_alike():
    """models.py keeps its own copy (the tables do not import the client): the two must agree."""
    from conversations import models

    assert {value for value, _ in models.API_CHOICES} == {aimlapi.API_RESPONSES, aimlapi.API_CHAT}
    assert models.MODEL_GONE_CODES == aimlapi.MODEL_GONE_CODES

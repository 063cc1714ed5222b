"""Budgets: spend from the ledger, estimates, and refusal before anything is sent."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from django.utils import timezone

from conversations.chat import services
from conversations.models import AIModel, Charge, Conversation, Turn, UserBudget
from conversations.usage import budgets, ledger
from tests import factories
from tests.helpers import form_token

D = Decimal
PRO_IN, PRO_OUT = D("20.631"), D("165.048")  # openai/gpt-5-pro, USD per 1M tokens (seeded)


def _spend(user, usd, *, when=None, model="openai/gpt-5-pro") -> Charge:
    """Record one charge of `usd` for `user` through the ledger's own writer."""
    conversation = factories.conversation(owner=user, title="spent", model=model)
    turn = factories.turn(conversation=conversation, prompt="p", status=Turn.Status.COMPLETED, attempts=1)
    fields = {"input_tokens": 10, "output_tokens": 10, "total_tokens": 20, "cost_usd": D(usd)}
    return ledger.charge_record(turn=turn, status="completed", model=model, response_id="r", fields=fields, now=when)


def _conversation(user, *, max_output_tokens=1000, **extra) -> Conversation:
    return factories.conversation(
        owner=user, title="c", model="openai/gpt-5-pro", max_output_tokens=max_output_tokens, **extra
    )


def _answered(conversation, *, input_tokens=1000, output_tokens=500, prompt="first") -> Turn:
    return factories.turn(
        conversation=conversation,
        prompt=prompt,
        output_text="answer",
        status=Turn.Status.COMPLETED,
        attempts=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def _usd(input_tokens, output_tokens) -> Decimal:
    return ((input_tokens * PRO_IN + output_tokens * PRO_OUT) / 1_000_000).quantize(D("0.000001"))


# --- Budgets and spend -------------------------------------------------------------


def test_budget_comes_from_the_user_row_else_the_default_and_unlimited_means_none(alice, settings):
    settings.BUDGET_MONTHLY_USD = None
    assert budgets.budget_for(alice) is None
    settings.BUDGET_MONTHLY_USD = D("50")
    assert budgets.budget_for(alice) == D("50")
    row = UserBudget.objects.create(user=alice, monthly_usd=D("120"))
    assert budgets.budget_for(alice) == D("120")
    row.monthly_usd = None
    row.save()
    assert budgets.budget_for(alice) == D("50")  # an empty amount: the default applies
    row.unlimited = True
    row.monthly_usd = D("5")
    row.save()
    assert budgets.budget_for(alice) is None
    settings.INSTANCE_BUDGET_MONTHLY_USD = D("900")
    assert budgets.instance_budget() == D("900")


def test_spend_this_month_equals_the_sum_of_this_months_charges(alice, bob):
    now = timezone.now()
    last_month = timezone.localtime(now).replace(day=1) - timedelta(days=2)
    for usd in ("1.25", "0.000123", "3"):
        _spend(alice, usd)
    _spend(bob, "7.5")
    _spend(alice, "100", when=last_month)  # not this month
    start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    charges = Charge.objects.filter(created_at__gte=start)
    assert budgets.spend_this_month(alice) == charges.filter(user=alice).aggregate(s=Sum("cost_usd"))["s"]
    assert budgets.spend_this_month(alice) == D("4.250123")
    assert budgets.spend_this_month() == charges.aggregate(s=Sum("cost_usd"))["s"] == D("11.750123")
    # A deleted conversation takes its turns, not its spend.
    Conversation.objects.filter(owner=alice).delete()
    assert budgets.spend_this_month(alice) == D("4.250123")


def test_status_counts_running_estimates_and_warns_at_80_percent(alice, bob, settings):
    settings.BUDGET_MONTHLY_USD = D("50")
    _spend(alice, "39.99")
    status = budgets.status_for(alice)
    assert (status.spent, status.reserved, status.left, status.percent) == (D("39.99"), 0, D("10.01"), 79)
    assert not status.warning and not status.over
    running = _conversation(alice)
    factories.turn(conversation=running, prompt="p", status=Turn.Status.IN_PROGRESS, estimate_usd=D("6"))
    factories.turn(conversation=_conversation(bob), prompt="p", status=Turn.Status.QUEUED, estimate_usd=D("9"))
    factories.turn(conversation=running, prompt="old", status=Turn.Status.COMPLETED, estimate_usd=D("9"))
    _spend(alice, "0.01")
    status = budgets.status_for(alice)
    assert (status.spent, status.reserved, status.left, status.percent) == (D("40.00"), D("6"), D("4.00"), 80)
    assert status.warning and not status.over
    _spend(alice, "10")
    status = budgets.status_for(alice)
    assert status.over and status.left == 0
    assert budgets.status_for(bob).reserved == D("9")


def test_a_bad_budget_value_stops_start_up(monkeypatch):
    from aimlweb.environment import env_usd

    for value in ("fifty", "-1", "NaN", "Infinity"):
        monkeypatch.setenv("BUDGET_MONTHLY_USD", value)
        with pytest.raises(ImproperlyConfigured, match="BUDGET_MONTHLY_USD"):
            env_usd("BUDGET_MONTHLY_USD")
    monkeypatch.setenv("BUDGET_MONTHLY_USD", " 12.50 ")
    assert env_usd("BUDGET_MONTHLY_USD") == D("12.50")
    monkeypatch.setenv("BUDGET_MONTHLY_USD", "")
    assert env_usd("BUDGET_MONTHLY_USD") is None


# --- Estimates ------------------------------------------------------------------


def test_a_first_turn_is_estimated_from_its_characters_and_the_output_cap(alice):
    conversation = _conversation(alice, max_output_tokens=2000, instructions="x" * 30)
    turn = Turn(conversation=conversation, prompt="y" * 301, created_at=timezone.now())
    found = budgets.estimate(turn)
    assert found.input_tokens == 10 + 101  # 3 characters a token, rounded up
    assert found.output_tokens == 2000
    assert found.usd == _usd(111, 2000)


def test_a_later_turn_is_estimated_from_the_previous_turns_actual_usage(alice, settings):
    settings.BUDGET_HOLD = "worst"  # the output: the most the model can write (holds: tests/usage/test_holds.py)
    conversation = _conversation(alice, max_output_tokens=None)
    previous = _answered(conversation, input_tokens=1200, output_tokens=800)
    turn = Turn(conversation=conversation, prompt="z" * 30, created_at=timezone.now(), parent=previous)
    found = budgets.estimate(turn)
    assert found.input_tokens == 1200 + 800 + 10
    assert found.output_tokens == 272_000  # no cap on the conversation: the model's maximum
    assert found.usd == _usd(2010, 272_000)


def test_an_accepted_turn_stores_its_estimate(alice, settings, django_capture_on_commit_callbacks):
    settings.BUDGET_MONTHLY_USD = D("50")
    conversation = _conversation(alice)
    with django_capture_on_commit_callbacks(execute=False):
        turn = services.turn_create(conversation=conversation, prompt="abc")
    turn.refresh_from_db()
    assert turn.estimate_usd == _usd(1, 1000)
    assert budgets.status_for(alice).reserved == turn.estimate_usd


# --- Refusals: nothing is queued, nothing is sent, the prompt is kept ------------------


def test_a_first_prompt_over_budget_is_refused_with_the_figures_and_kept(
    alice_client, alice, fake_api, transactional_db, settings
):
    settings.BUDGET_MONTHLY_USD = D("50")
    settings.BUDGET_HOLD = "worst"  # a hard wall: the model's whole output cap
    _spend(alice, "10")
    prompt = "Write a long essay <about> budgets"
    response = alice_client.post("/", {"prompt": prompt, "client_token": str(uuid.uuid4())})
    assert response.status_code == 402
    page = response.content.decode()
    estimate = budgets.usd(_usd(-(-len(prompt) // 3), 272_000))
    assert "Not sent" in page and estimate in page and "$10.00" in page and "$50.00" in page
    assert "could cost up to" in page and "up to 272,000 output tokens, the most GPT-5 Pro can write" in page
    assert "Set a lower max output tokens for the new chat" in page
    assert "Write a long essay &lt;about&gt; budgets</textarea>" in page
    assert fake_api.post_count == 0
    assert not Conversation.objects.filter(title__startswith="Write").exists()
    assert not Turn.objects.filter(prompt=prompt).exists()
    # With room in the budget, the same form goes through (the test can fail).
    UserBudget.objects.create(user=alice, monthly_usd=D("100"))
    response = alice_client.post("/", {"prompt": prompt, "client_token": form_token(page)})
    assert response.status_code == 302
    assert fake_api.post_count == 1


def test_a_later_prompt_over_budget_is_refused_and_kept(alice_client, alice, fake_api, transactional_db, settings):
    settings.BUDGET_MONTHLY_USD = D("1")
    conversation = _conversation(alice, max_output_tokens=4000)  # at most 4000 x $165.048/1M = $0.66
    _answered(conversation, input_tokens=10_000, output_tokens=2_000)
    _spend(alice, "0.25")
    url = conversation.get_absolute_url()
    response = alice_client.post(url, {"prompt": "and then?", "client_token": str(uuid.uuid4())})
    assert response.status_code == 402
    page = response.content.decode()
    assert "and then?</textarea>" in page
    assert budgets.usd(_usd(12_000 + 3, 4000)) in page  # $0.9081: previous input + output + this prompt
    assert "Lower this conversation&#x27;s max output tokens in its settings" in page
    assert conversation.turns.count() == 1 and fake_api.post_count == 0
    # A lower output cap fits the budget: the prompt goes through.
    Conversation.objects.filter(pk=conversation.pk).update(max_output_tokens=1000)
    assert alice_client.post(url, {"prompt": "and then?", "client_token": form_token(page)}).status_code == 302
    assert conversation.turns.count() == 2 and fake_api.post_count == 1


def test_retry_over_budget_is_refused_and_the_turn_stays_failed(
    alice_client, alice, fake_api, transactional_db, settings
):
    settings.BUDGET_MONTHLY_USD = D("5")
    conversation = _conversation(alice)
    turn = factories.turn(
        conversation=conversation, prompt="q", status=Turn.Status.FAILED, attempts=1, error_code="server_error"
    )
    _spend(alice, "4.90")
    response = alice_client.post(f"/t/{turn.id}/retry/", follow=True)
    assert "Not sent" in response.content.decode() and "$4.90" in response.content.decode()
    turn.refresh_from_db()
    assert (turn.status, turn.attempts, turn.history, turn.estimate_usd) == ("failed", 1, [], None)
    assert fake_api.post_count == 0
    UserBudget.objects.create(user=alice, monthly_usd=D("6"))
    alice_client.post(f"/t/{turn.id}/retry/")
    turn.refresh_from_db()
    assert turn.status == "completed" and fake_api.post_count == 1


def test_regenerate_and_edit_over_budget_are_refused_and_the_edit_is_kept(
    alice_client, alice, fake_api, transactional_db, settings
):
    settings.BUDGET_MONTHLY_USD = D("5")
    conversation = _conversation(alice)
    turn = _answered(conversation, prompt="original")
    _spend(alice, "4.90")
    response = alice_client.post(f"/t/{turn.id}/regenerate/", {"client_token": str(uuid.uuid4())}, follow=True)
    assert "Not sent" in response.content.decode()
    edited = "an edited prompt & more"
    response = alice_client.post(f"/t/{turn.id}/regenerate/", {"prompt": edited, "client_token": str(uuid.uuid4())})
    assert response.status_code == 402
    page = response.content.decode()
    assert '<details class="edit-prompt" open>' in page
    assert "an edited prompt &amp; more</textarea>" in page and "Not sent" in page
    assert conversation.turns.count() == 1 and fake_api.post_count == 0
    assert 'class="versions"' not in page  # no other version was made
    UserBudget.objects.create(user=alice, unlimited=True)
    alice_client.post(f"/t/{turn.id}/regenerate/", {"prompt": edited, "client_token": str(uuid.uuid4())})
    assert conversation.turns.count() == 2 and fake_api.post_count == 1


def test_the_instance_budget_counts_everyone(alice_client, alice, bob, fake_api, transactional_db, settings):
    settings.INSTANCE_BUDGET_MONTHLY_USD = D("20")
    UserBudget.objects.create(user=alice, unlimited=True)  # no personal budget: the instance's still applies
    conversation = _conversation(alice)
    _spend(bob, "19.90")
    response = alice_client.post(conversation.get_absolute_url(), {"prompt": "hi", "client_token": str(uuid.uuid4())})
    assert response.status_code == 402
    assert "this instance&#x27;s monthly budget of $20.00" in response.content.decode()
    assert fake_api.post_count == 0
    settings.INSTANCE_BUDGET_MONTHLY_USD = D("21")
    alice_client.post(conversation.get_absolute_url(), {"prompt": "hi", "client_token": str(uuid.uuid4())})
    assert fake_api.post_count == 1


def test_running_turns_count_with_their_estimates(alice_client, alice, fake_api, transactional_db, settings):
    settings.BUDGET_MONTHLY_USD = D("1")
    running = factories.turn(
        conversation=_conversation(alice), prompt="p", status=Turn.Status.IN_PROGRESS, estimate_usd=D("0.90")
    )
    other = _conversation(alice)  # an estimate of $0.165 (1000 output tokens) + input
    response = alice_client.post(other.get_absolute_url(), {"prompt": "hi", "client_token": str(uuid.uuid4())})
    assert response.status_code == 402
    assert "plus $0.9000 reserved by answers still running" in response.content.decode()
    assert fake_api.post_count == 0
    Turn.objects.filter(pk=running.pk).update(status=Turn.Status.COMPLETED)
    alice_client.post(other.get_absolute_url(), {"prompt": "hi", "client_token": str(uuid.uuid4())})
    assert fake_api.post_count == 1


def test_a_model_without_prices_is_not_refused(alice, settings, django_capture_on_commit_callbacks):
    """No price, no cost: the ledger would record nothing, so the budget has nothing to hold back."""
    settings.BUDGET_MONTHLY_USD = D("0")
    AIModel.objects.create(provider_id="acme/free", enabled=True)
    conversation = factories.conversation(owner=alice, title="c", model="acme/free")
    with django_capture_on_commit_callbacks(execute=False):
        turn = services.turn_create(conversation=conversation, prompt="hi")
    assert turn.estimate_usd is None
    priced = _conversation(alice)
    with pytest.raises(budgets.BudgetExceeded):
        services.turn_create(conversation=priced, prompt="hi")


# --- The composer ------------------------------------------------------------------


def test_the_composer_shows_what_is_left_and_warns_at_80_percent(alice_client, alice, settings):
    page = alice_client.get("/").content.decode()
    assert "composer-budget" not in page  # no budget, nothing shown
    settings.BUDGET_MONTHLY_USD = D("50")
    _spend(alice, "10")
    page = alice_client.get("/").content.decode()
    assert "$40.00 left of your $50.00 monthly budget" in page
    assert "is-warning" not in page
    _spend(alice, "30.50")
    page = alice_client.get(_conversation(alice).get_absolute_url()).content.decode()
    assert 'class="composer-budget is-warning"' in page
    assert "81 % of your monthly budget is spent:</strong> $9.50 left of $50.00" in page
    _spend(alice, "9.50")
    page = alice_client.get("/").content.decode()
    assert 'class="composer-budget is-over"' in page and "Your monthly budget is used up" in page


def test_the_composer_shows_the_shared_budget_when_it_leaves_less(alice_client, alice, bob, settings):
    settings.BUDGET_MONTHLY_USD = D("50")
    settings.INSTANCE_BUDGET_MONTHLY_USD = D("100")
    _spend(bob, "90")
    page = alice_client.get("/").content.decode()
    assert "90 % of the shared monthly budget is spent:</strong> $10.00 left of $100.00" in page

"""The model catalogue and the ledger: every attempt that reports usage is one charge, priced once."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from conversations.chat import services
from conversations.models import AIModel, Charge, DailyUsage, Turn
from conversations.usage import catalog, ledger, pricing

D = Decimal


def test_the_catalogue_is_seeded_with_gpt_5_pro_and_its_successor(db):
    pro = AIModel.objects.get(provider_id="openai/gpt-5-pro")
    assert (pro.input_price, pro.cached_input_price, pro.output_price) == (D("20.631"), None, D("165.048"))
    assert pro.is_default and pro.enabled and pro.efforts == []
    assert str(pro.retires_on) == "2026-12-11"
    assert pro.successor.provider_id == "openai/gpt-5.6-sol-pro"
    assert pro.successor.efforts == ["none", "low", "medium", "high"]
    assert not pro.successor.enabled  # not in AIMLAPI_MODELS: an admin enables it


def test_seed_adds_models_named_in_the_environment_but_never_changes_a_row(db, settings):
    AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(input_price=D("1"))
    settings.AIMLAPI_MODELS = ["openai/gpt-5-pro", "acme/other"]
    settings.AIMLAPI_PRICES = "openai/gpt-5-pro=20.631:165.048;acme/other=2:8"
    assert catalog.seed(AIModel) == 1
    assert AIModel.objects.get(provider_id="openai/gpt-5-pro").input_price == D("1")  # the admin's edit wins
    other = AIModel.objects.get(provider_id="acme/other")
    assert (other.input_price, other.output_price, other.enabled) == (D("2"), D("8"), True)


def test_cost_by_hand_with_cached_and_reasoning_tokens():
    prices = pricing.Prices(input=D("5.5016"), cached_input=D("0.55016"), output=D("27.508"))
    # 10,000 input of which 4,000 cached; 3,000 output of which 2,000 reasoning (reasoning is output).
    expected = (6_000 * D("5.5016") + 4_000 * D("0.55016") + 3_000 * D("27.508")) / 1_000_000
    got = pricing.cost(prices=prices, input_tokens=10_000, cached_tokens=4_000, output_tokens=3_000)
    assert got == expected.quantize(D("0.000001")) == D("0.117734")  # 33,009.6 + 2,200.64 + 82,524 micro-dollars
    # No cached price (gpt-5-pro): cached input costs the input price.
    no_cache = pricing.Prices(input=D("20.631"), cached_input=None, output=D("165.048"))
    assert pricing.cost(prices=no_cache, input_tokens=1_000, cached_tokens=900, output_tokens=0) == D("0.020631")
    assert (
        pricing.cost(prices=pricing.Prices(None, None, None), input_tokens=1, cached_tokens=0, output_tokens=1) is None
    )


@pytest.mark.parametrize(
    "fault, status", [(None, "completed"), (("incomplete",), "incomplete"), (("failed",), "failed")]
)
def test_each_outcome_with_usage_is_charged_at_the_prices_of_its_time(alice, fake_api, run_now, fault, status):
    fake_api.cached_tokens = 3
    if fault:
        fake_api.faults = [fault]
    turn = run_now(services.conversation_create, owner=alice, prompt="Price me please")
    turn.refresh_from_db()
    assert turn.status == status
    charge = Charge.objects.get(turn=turn)
    assert (charge.user, charge.username, charge.conversation_id) == (alice, "alice", turn.conversation_id)
    assert (charge.status, charge.attempt, charge.model, charge.response_id) == (
        status,
        1,
        turn.conversation.model,
        turn.response_id,
    )
    assert (charge.input_tokens, charge.cached_tokens, charge.output_tokens, charge.reasoning_tokens) == (
        turn.input_tokens, 3, turn.output_tokens, turn.reasoning_tokens,
    )  # fmt: skip
    by_hand = ((turn.input_tokens - 3) * D("20.631") + 3 * D("20.631") + turn.output_tokens * D("165.048")) / 1_000_000
    assert charge.cost_usd == turn.cost_usd == by_hand.quantize(D("0.000001"))
    assert (charge.input_price, charge.output_price) == (D("20.631"), D("165.048"))
    assert (turn.input_price, turn.output_price) == (D("20.631"), D("165.048"))
    # The provider's own figure is stored beside ours, never instead of it.
    usd_spent = turn.response_json["meta"]["usage"]["usd_spent"]
    assert charge.provider_cost_usd == turn.provider_cost_usd == D(str(usd_spent)).quantize(D("0.000001"))
    # A later price change does not rewrite history.
    AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(input_price=D("99"), output_price=D("999"))
    turn.refresh_from_db()
    charge.refresh_from_db()
    assert turn.cost_usd == charge.cost_usd == by_hand.quantize(D("0.000001"))


def test_a_cancelled_answer_that_still_reports_usage_is_charged(alice, fake_api, run_now):
    turn = run_now(services.conversation_create, owner=alice, prompt="Charge me")
    Turn.objects.filter(id=turn.id).update(status="cancelled")
    assert Charge.objects.filter(turn=turn).count() == 1  # recorded when it finished; never twice
    turn.refresh_from_db()
    assert ledger.charge_record(turn=turn, status="cancelled", model="openai/gpt-5-pro", response_id="x",
                                  fields={"input_tokens": 1, "output_tokens": 1}) is None  # fmt: skip
    assert Charge.objects.filter(turn=turn).count() == 1


def test_retry_keeps_the_earlier_attempts_charge(alice, fake_api, run_now):
    fake_api.faults = [("failed",)]
    turn = run_now(services.conversation_create, owner=alice, prompt="Try twice")
    turn.refresh_from_db()
    first_cost = turn.cost_usd
    services.turn_retry(turn=turn)
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.attempts == 2
    charges = list(Charge.objects.filter(turn=turn).order_by("attempt"))
    assert [(c.attempt, c.status) for c in charges] == [(1, "failed"), (2, "completed")]
    assert charges[0].cost_usd == first_cost
    assert charges[1].cost_usd == turn.cost_usd


def test_charges_outlive_the_conversation(alice, fake_api, run_now):
    turn = run_now(services.conversation_create, owner=alice, prompt="Delete me later")
    services.conversation_delete(conversation=turn.conversation)
    charge = Charge.objects.get()
    assert charge.turn_id is None and charge.conversation_id is None
    assert charge.user == alice and charge.cost_usd > 0


def test_the_daily_rollup_equals_the_sums_of_the_charges(alice, bob, fake_api, run_now):
    for owner, prompt in [(alice, "one"), (alice, "two"), (bob, "three")]:
        run_now(services.conversation_create, owner=owner, prompt=prompt)
    fake_api.faults = [("failed",)]
    run_now(services.conversation_create, owner=bob, prompt="four")
    fields = ["input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd"]
    for user in (alice, bob):
        from_charges = Charge.objects.filter(user=user).aggregate(**{f: Sum(f) for f in fields})
        from_rollup = DailyUsage.objects.filter(user=user).aggregate(**{f: Sum(f) for f in fields})
        assert from_charges == from_rollup
        assert DailyUsage.objects.filter(user=user).aggregate(n=Sum("charges"))["n"] == user.charges.count()
    assert set(DailyUsage.objects.values_list("status", flat=True)) == {"completed", "failed"}

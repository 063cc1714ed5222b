"""The composer's estimate of the next prompt (budgets.composer_cost, drawn by _composer_money.html, kept
current by static/js/cost.js), and the budget line: both arrive again with a turn's fragment once its
answer ended, so neither is stale after an answer (tests/e2e/test_budget.py sees it in a browser)."""

import html
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from conversations.chat import services
from conversations.models import AIModel, Turn
from conversations.usage import budgets
from tests import factories
from tests.factories import PRO, SOL

D = Decimal
PRO_IN, PRO_OUT = D("20.631"), D("165.048")
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # before gpt-5-pro retires (2026-12-11)


@pytest.fixture(autouse=True)
def _pinned(clock):
    clock(NOW)


def money(page: str) -> tuple[dict, str]:
    """The data attributes of #composer-money and its text."""
    block = re.search(r'<div class="composer-money" id="composer-money"([^>]*)>(.*?)</div>', page, re.S)
    assert block, "no #composer-money"
    attrs = {name: html.unescape(value) for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', block.group(1))}
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", block.group(2))).split())
    return attrs, text


def usd_of(input_tokens: int, output_tokens: int) -> Decimal:
    return ((input_tokens * PRO_IN + output_tokens * PRO_OUT) / 1_000_000).quantize(D("0.000001"))


def test_a_new_chat_carries_each_models_prices_and_hold(alice_client, alice, settings):
    AIModel.objects.filter(provider_id=SOL).update(enabled=True, typical_output_tokens=8_000)
    settings.BUDGET_MONTHLY_USD = D("50")
    factories.charge(alice, when=NOW - timedelta(hours=1), cost=D("10"))
    attrs, text = money(alice_client.get("/").content.decode())
    assert attrs["model"] == PRO and attrs["input-tokens"] == "0" and attrs["chars-per-token"] == "3"
    assert D(attrs["left"]) == 40
    models = json.loads(attrs["models"])
    why = "a typical answer of GPT-5 Pro"
    assert models[PRO] == {"input": "20.631000", "output": "165.048000", "hold": 16_000, "why": why}
    assert models[SOL]["hold"] == 8_000 and models[SOL]["output"] == "27.508000"
    assert text.startswith("Next prompt: up to about $2.64")  # 16,000 x $165.048 / 1M
    assert "$40.00 left of your $50.00 monthly budget" in text


def test_a_conversation_carries_its_input_so_far_its_cap_and_the_recent_hold(alice_client, alice):
    conversation = factories.conversation(owner=alice, title="c", max_output_tokens=30_000)
    first = factories.turn(conversation=conversation, prompt="q", status="completed", output_text="a",
                           input_tokens=1_200, output_tokens=800)  # fmt: skip
    for _ in range(20):  # 20 answers here: the hold is what they took
        factories.charge(alice, when=NOW - timedelta(hours=1), output=12_000)
    attrs, text = money(alice_client.get(conversation.get_absolute_url()).content.decode())
    assert attrs["input-tokens"] == "2000"  # the last answer's input + output: sent again with the next prompt
    assert json.loads(attrs["models"])[PRO]["hold"] == 12_000
    assert "left" not in attrs  # no budget
    assert text == f"Next prompt: up to about {budgets.about_usd(usd_of(2_000, 12_000))}"
    Turn.objects.filter(pk=first.pk).update(output_tokens=100)
    conversation.max_output_tokens = 5_000
    conversation.save()
    attrs, _ = money(alice_client.get(conversation.get_absolute_url()).content.decode())
    assert attrs["input-tokens"] == "1300" and json.loads(attrs["models"])[PRO]["hold"] == 5_000  # the cap


def test_the_estimate_is_what_the_prompt_is_then_held_at(alice, django_capture_on_commit_callbacks):
    conversation = factories.conversation(owner=alice, title="c", instructions="Be brief." * 5)
    cost = budgets.composer_cost(conversation=conversation, leaf=None)
    assert cost.input_tokens == 15  # the instructions' 45 characters, sent with every prompt
    prompt = "Why is the sky blue?" * 7  # 140 characters: 47 tokens, as cost.js counts them too
    typed = -(-len(prompt) // cost.chars_per_token)
    expected = usd_of(cost.input_tokens + typed, cost.models[PRO]["hold"])
    with django_capture_on_commit_callbacks(execute=False):
        turn = services.turn_create(conversation=conversation, prompt=prompt)
    turn.refresh_from_db()
    assert turn.estimate_usd == expected


def test_a_retired_models_next_prompt_is_priced_at_its_successor(alice_client, alice):
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    AIModel.objects.filter(provider_id=PRO).update(retires_on=NOW.date())
    conversation = factories.conversation(owner=alice, title="c")
    attrs, _ = money(alice_client.get(conversation.get_absolute_url()).content.decode())
    assert attrs["model"] == SOL and list(json.loads(attrs["models"])) == [SOL]


def test_a_model_without_prices_shows_no_estimate(alice_client, alice):
    AIModel.objects.create(provider_id="acme/free", enabled=True)
    conversation = factories.conversation(owner=alice, title="c", model="acme/free")
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert '<p class="composer-estimate" id="composer-estimate" hidden>' in page


def test_an_estimate_over_what_is_left_says_so(alice_client, alice, settings):
    settings.BUDGET_MONTHLY_USD = D("3")
    factories.charge(alice, when=NOW - timedelta(hours=1), cost=D("1"))
    page = alice_client.get("/").content.decode()
    assert '<p class="composer-estimate is-over" id="composer-estimate">' in page
    assert "Next prompt: up to about $2.64, more than the $2.00 left" in money(page)[1]


def test_an_ended_turns_fragment_brings_the_budget_line_and_the_estimate(
    alice_client, alice, settings, fake_api, transactional_db
):
    settings.BUDGET_MONTHLY_USD = D("50")
    factories.charge(alice, when=NOW - timedelta(hours=1), cost=D("10"))
    running = factories.turn(conversation=factories.conversation(owner=alice, title="r"), prompt="p",
                             status="in_progress", estimate_usd=D("2.5"))  # fmt: skip
    fragment = alice_client.get(reverse("turn_live", args=[running.id])).content.decode()
    assert "composer-money" not in fragment  # still running: nothing changed yet
    attrs, text = money(alice_client.get("/").content.decode())
    assert D(attrs["left"]) == D("37.5") and "($2.50 held for answers still running)" in text

    turn = services.conversation_create(owner=alice, prompt="count me")  # answered at once (Huey immediate)
    turn.refresh_from_db()
    Turn.objects.filter(pk=running.pk).update(status="completed")
    fragment = alice_client.get(reverse("turn_live", args=[turn.id])).content.decode()
    assert '<div class="composer-money" id="composer-money" hx-swap-oob="true"' in fragment
    attrs, text = money(fragment)
    left = D(40) - turn.cost_usd
    assert D(attrs["left"]) == left
    assert f"${left:,.2f} left of your $50.00 monthly budget" in text and "held" not in text
    assert attrs["input-tokens"] == str(turn.input_tokens + turn.output_tokens)


def _file(owner, turn, tokens: int):
    from conversations.models import Attachment

    return Attachment.objects.create(
        owner=owner, turn=turn, kind="image", name="a.png", content_type="image/png", size=10, sha256="0" * 64,
        tokens=tokens, path=f"x/{turn.pk}.png",
    )  # fmt: skip


@pytest.mark.parametrize("shape", ["no usage known", "usage known", "usage on an earlier turn", "a failed last turn"])
def test_a_pages_estimate_counts_the_turns_it_shows_as_a_read_would_without_reading_them_again(
    alice, alice_client, shape, django_assert_max_num_queries
):
    """The conversation page had read the path already; its estimate read the tree, the usage, the
    texts and the files again (four queries). Counted from the rows in hand, it is the same figure."""
    conversation = factories.conversation(owner=alice, title="c", instructions="Be brief, please.")
    usage = {"usage known": [None, (900, 300)], "usage on an earlier turn": [(500, 200), None]}.get(shape, [None, None])
    turns = []
    for index, known in enumerate(usage):
        fields = {"input_tokens": known[0], "output_tokens": known[1]} if known else {}
        status = "failed" if shape == "a failed last turn" and index == 1 else "completed"
        turns.append(factories.turn(conversation=conversation, prompt=f"Question {index} " * 9, status=status,
                                    output_text=f"Answer {index} " * 20, **fields))  # fmt: skip
        _file(alice, turns[-1], tokens=85 * (index + 1))
    read = budgets.composer_cost(conversation=conversation, leaf=turns[-1].pk)
    from conversations.chat import selectors

    page = selectors.conversation_turns_page(conversation=conversation)
    assert page.path_end is not None and [t.pk for t in page.path_end] == [t.pk for t in turns]
    with django_assert_max_num_queries(4):  # the model's row, its successor's offer, the recent answers
        in_hand = budgets.composer_cost(conversation=conversation, leaf=page.leaf, shown=page.path_end)
    assert in_hand == read and read.input_tokens > 0
    # Only the last turn in hand (a long conversation's page shows its end): the same figure, read
    # from the rows when they hold the last usage, else from the database.
    tail = budgets.composer_cost(conversation=conversation, leaf=page.leaf, shown=page.path_end[-1:])
    assert tail == read
    attrs, _ = money(alice_client.get(conversation.get_absolute_url()).content.decode())
    assert int(attrs["input-tokens"]) == read.input_tokens

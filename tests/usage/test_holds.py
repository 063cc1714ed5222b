"""The hold rule (usage/holds.py): a prompt is held at what answers of its model really take here.

The 95th percentile of the output tokens of the model's last 200 charged answers; until 20 exist, the
catalogue's typical output tokens; never above the conversation's cap nor the model's maximum;
BUDGET_HOLD=worst holds the most an answer can take.
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.chat import services
from conversations.models import AIModel, Charge, Turn
from conversations.usage import budgets, holds
from tests import factories
from tests.factories import PRO, SOL

D = Decimal
PRO_IN, PRO_OUT = D("20.631"), D("165.048")  # openai/gpt-5-pro, USD per 1M tokens (seeded)
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # before gpt-5-pro retires (2026-12-11)


@pytest.fixture(autouse=True)
def _pinned(clock):
    clock(NOW)


def answers(outputs, *, model=PRO, status="completed", purpose=Charge.Purpose.ANSWER, unknown=False, start=None):
    """Charges of answers with these output tokens, the last one newest (a second apart, ending a minute ago).

    Written in one statement: the hold reads charges only (the ledger's writer, with its rollup, is
    exercised by the tests that run a turn)."""
    start = start or NOW - timedelta(minutes=1) - timedelta(seconds=len(outputs))
    rows = [
        Charge(model=model, purpose=purpose, status=status, usage_unknown=unknown, output_tokens=out,
               input_tokens=100, total_tokens=100 + out, created_at=start + timedelta(seconds=i))
        for i, out in enumerate(outputs)
    ]  # fmt: skip
    return Charge.objects.bulk_create(rows)


def hold(model=PRO, cap=None) -> holds.Hold:
    return holds.output_hold(model=model, row=AIModel.objects.get(provider_id=model), cap=cap)


# --- The percentile ---------------------------------------------------------------------


def test_the_nearest_rank_percentile():
    assert holds.nearest_rank(list(range(1, 201)), 95) == 190  # 190 of 200 are at or below it
    assert holds.nearest_rank(list(range(1, 21)), 95) == 19
    assert holds.nearest_rank([7], 95) == 7
    values = [5, 1, 4, 2, 3] * 4  # unsorted, repeated: 20 values
    assert holds.nearest_rank(values, 95) == 5
    assert holds.nearest_rank(values, 50) == 3
    # Against a direct count, on random data: the smallest value with 95 % at or below it.
    rng = random.Random(17)
    for size in (20, 21, 57, 199, 200):
        data = [rng.randrange(1, 100_000) for _ in range(size)]
        found = holds.nearest_rank(data, 95)
        assert sum(v <= found for v in data) * 100 >= 95 * size
        assert sum(v < found for v in data) * 100 < 95 * size


# --- Typical until 20 answers, then the p95 of the last 200 --------------------------------


def test_until_20_answers_the_catalogues_typical_output_tokens_holds(db):
    assert AIModel.objects.get(provider_id=PRO).typical_output_tokens == 16_000  # the default
    assert hold() == holds.Hold(16_000, "typical")
    AIModel.objects.filter(provider_id=PRO).update(typical_output_tokens=9_000)  # an admin's edit
    answers([1_000] * 19)
    assert hold() == holds.Hold(9_000, "typical")
    answers([5_000])  # the 20th: from now on what answers really take
    assert hold() == holds.Hold(1_000, "recent", 20)  # 19 of the 20 (95 %) took 1,000 or fewer
    answers([5_000] * 2)
    assert hold() == holds.Hold(5_000, "recent", 22)  # 21 of 22 is 95 %: the 21st smallest


def test_the_hold_is_the_p95_of_the_last_200_answers_only(db):
    old = answers([250_000] * 40, start=NOW - timedelta(days=30))  # long ago: beyond the last 200
    recent = list(range(100, 20_100, 100))  # 200 answers: 100, 200, ... 20,000, shuffled in time
    random.Random(3).shuffle(recent)
    answers(recent)  # in this order: recent[0] is the oldest of them
    assert hold() == holds.Hold(19_000, "recent", 200)  # the 190th smallest of the 200
    assert len(old) == 40 and Charge.objects.count() == 240
    # A longer answer pushes the oldest of the 200 out, and counts.
    answers([60_000], start=NOW - timedelta(seconds=30))
    assert sorted(holds.recent_output_tokens(PRO)) == sorted([*recent[1:], 60_000])
    assert hold().output_tokens == (19_100 if recent[0] <= 19_000 else 19_000)


def test_only_finished_answers_of_this_model_with_readable_usage_count(db):
    answers([3_000] * 20)
    # None of these says how long an answer of gpt-5-pro runs; all newer and far longer.
    answers([200_000] * 5, model=SOL)
    answers([200_000] * 5, purpose=Charge.Purpose.TITLE)
    answers([200_000] * 5, purpose=Charge.Purpose.CHECK)
    answers([200_000] * 5, status="cancelled")  # stopped by the user: cut short, says nothing
    answers([200_000] * 5, status="failed")
    answers([0] * 5, unknown=True)  # usage unreadable: charged at its hold, no token count
    assert hold() == holds.Hold(3_000, "recent", 20)
    answers([200_000] * 2, status="incomplete")  # ran to the cap: these count
    assert hold() == holds.Hold(200_000, "recent", 22)  # 22 answers: the 21st smallest


def test_imported_turns_are_history_not_answers_of_this_instance(alice):
    conversation = factories.conversation(owner=alice, title="imported")
    for i in range(30):
        factories.turn(conversation=conversation, prompt=f"q{i}", status="completed", output_tokens=250_000,
                       input_tokens=10, imported=True)  # fmt: skip
    assert hold() == holds.Hold(16_000, "typical")


# --- Never above the conversation's cap nor the model's maximum ------------------------------


def test_the_hold_never_passes_the_conversations_cap_nor_the_models_maximum(db):
    assert hold(cap=4_000) == holds.Hold(4_000, "cap")
    assert hold(cap=20_000) == holds.Hold(16_000, "typical")
    AIModel.objects.filter(provider_id=PRO).update(max_output_tokens=10_000)
    assert hold() == holds.Hold(10_000, "maximum")
    assert hold(cap=300_000) == holds.Hold(10_000, "maximum")  # a cap above the model's maximum
    answers([8_000] * 30)
    assert hold(cap=5_000) == holds.Hold(5_000, "cap")
    assert hold() == holds.Hold(8_000, "recent", 30)


def test_worst_holds_the_cap_or_the_models_maximum_whatever_answers_take(db, settings):
    settings.BUDGET_HOLD = "worst"
    answers([1_000] * 50)
    assert hold() == holds.Hold(272_000, "maximum")
    assert hold(cap=4_000) == holds.Hold(4_000, "cap")
    assert holds.output_hold(model="acme/unknown", row=None, cap=None) == holds.Hold(272_000, "maximum")
    settings.BUDGET_HOLD = "typical"
    assert hold() == holds.Hold(1_000, "recent", 50)
    assert holds.output_hold(model="acme/unknown", row=None, cap=None) == holds.Hold(16_000, "typical")


@pytest.mark.parametrize("rule", ["typical", "worst"])
def test_a_queued_turn_reserves_its_input_plus_the_hold(alice, settings, rule, django_capture_on_commit_callbacks):
    settings.BUDGET_HOLD = rule
    settings.BUDGET_MONTHLY_USD = D("100")
    answers(list(range(1_000, 21_000, 1_000)) * 3)  # 60 answers: the 57th smallest is 19,000
    with django_capture_on_commit_callbacks(execute=False):
        turn = services.conversation_create(owner=alice, prompt="x" * 30)
    turn.refresh_from_db()
    output = 19_000 if rule == "typical" else 272_000
    assert turn.estimate_usd == ((10 * PRO_IN + output * PRO_OUT) / 1_000_000).quantize(D("0.000001"))
    assert budgets.status_for(alice).reserved == turn.estimate_usd


def test_a_typical_hold_lets_a_5_dollar_budget_start_a_new_chat(alice_client, alice, settings, fake_api,
                                                                 transactional_db):  # fmt: skip
    """The issue's case: at the worst case ($44.89 on gpt-5-pro) a $5 budget could not start one chat."""
    settings.BUDGET_MONTHLY_USD = D("5")
    response = alice_client.post("/", {"prompt": "Plan a trip", "client_token": ""})
    assert response.status_code == 302 and fake_api.post_count == 1
    settings.BUDGET_HOLD = "worst"
    response = alice_client.post("/", {"prompt": "Plan another", "client_token": ""})
    assert response.status_code == 402 and fake_api.post_count == 1
    assert "could cost up to $44.89" in response.content.decode()


def test_a_refusal_says_what_the_prompt_is_held_at_and_why(alice_client, alice, settings, fake_api, transactional_db):
    settings.BUDGET_MONTHLY_USD = D("3")
    factories.charge(alice, when=NOW - timedelta(hours=1), cost=D("1"))
    page = alice_client.post("/", {"prompt": "Write it all", "client_token": ""}).content.decode()
    held = budgets.usd((D(4) * PRO_IN + 16_000 * PRO_OUT) / 1_000_000)
    assert f"Not sent: this prompt is held at {held} while it runs" in page
    assert "about 4 input tokens and 16,000 output tokens, a typical answer of GPT-5 Pro" in page
    assert "Set a lower max output tokens for the new chat" in page
    assert "Write it all</textarea>" in page and fake_api.post_count == 0


# --- Cheap at prompt time -----------------------------------------------------------------------


def test_the_hold_is_one_query(db):
    answers([1_000] * 250)
    row = AIModel.objects.get(provider_id=PRO)
    with CaptureQueriesContext(connection) as captured:
        holds.output_hold(model=PRO, row=row, cap=None)
    assert len(captured.captured_queries) == 1
    assert "LIMIT 200" in captured.captured_queries[0]["sql"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan text")
def test_the_hold_reads_the_newest_answers_from_its_covering_index(db):
    answers([1_000] * 30)
    sql, params = holds.recent_answers(PRO).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "COVERING INDEX charge_model_answers" in plan
    assert "TEMP B-TREE" not in plan  # read in index order: it stops after 200 rows


def test_the_finished_statuses_are_turn_statuses():
    assert set(holds.FINISHED) == {Turn.Status.COMPLETED, Turn.Status.INCOMPLETE}


def test_the_admins_model_page_edits_the_typical_output_and_shows_the_hold_now(db):
    from tests.helpers import client_for

    boss = factories.user("boss", is_staff=True, is_superuser=True)
    row = AIModel.objects.get(provider_id=PRO)
    page = client_for(boss).get(f"/admin/conversations/aimodel/{row.pk}/change/").content.decode()
    assert 'name="typical_output_tokens" value="16000"' in page
    assert "16,000 output tokens: a typical answer of GPT-5 Pro" in page
    answers([7_000] * 25)
    page = client_for(boss).get(f"/admin/conversations/aimodel/{row.pk}/change/").content.decode()
    assert "7,000 output tokens: what 95 % of the last 25 answers of GPT-5 Pro here stayed within" in page

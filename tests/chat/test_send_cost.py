"""What sending a prompt costs the database (POST / and POST /c/<id>/: chat/services.py, usage/budgets.py).

The prompt's hold (its input, the model's recent answers, the catalogue row) and the user's budget are
read before the transaction that accepts it: that transaction locks the user's running count and budget
(PostgreSQL: a row lock and an advisory lock; SQLite: the write lock) and only compares and writes.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Turn
from tests import factories

# Reads of the hold: the path's turns and usage, the model's recent answers, the user's budget row.
HOLD_READS = ("conversations_charge", "conversations_userbudget", '"parent_id" FROM "conversations_turn"')


def in_transaction(sql: list[str]) -> list[str]:
    """The statements inside the service's transaction (a savepoint: the test runs in a transaction)."""
    start = next(i for i, statement in enumerate(sql) if statement.startswith("SAVEPOINT"))
    end = next(i for i, statement in enumerate(sql) if statement.startswith("RELEASE SAVEPOINT"))
    return sql[start + 1 : end]


def post(client, url: str, data: dict, django_capture_on_commit_callbacks) -> list[str]:
    with django_capture_on_commit_callbacks(execute=False), CaptureQueriesContext(connection) as queries:
        response = client.post(url, {"client_token": str(uuid.uuid4()), **data})
    assert response.status_code == 302, response.content[:2000]
    # PostgreSQL serialises each budget's check with an advisory lock (SQLite has its write lock): a lock
    # taken, nothing read or written, so not counted.
    return [q["sql"] for q in queries.captured_queries if "pg_advisory_xact_lock" not in q["sql"]]


def locked_part(sql: list[str], *, catalogue_reads: int) -> list[str]:
    """The statements inside the transaction, after checking that the model's catalogue row was read
    `catalogue_reads` times in all, and the hold and the catalogue outside the transaction."""
    assert sum('FROM "conversations_aimodel"' in statement for statement in sql) == catalogue_reads
    locked = in_transaction(sql)
    assert not [statement for statement in locked if any(read in statement for read in HOLD_READS)]
    assert not [statement for statement in locked if 'FROM "conversations_aimodel"' in statement]
    return locked


@pytest.fixture
def budgeted(settings, clock):
    # Before gpt-5-pro retires (2026-12-11): after it, a prompt also reads its successor's row.
    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    settings.BUDGET_MONTHLY_USD = Decimal("50")
    settings.INSTANCE_BUDGET_MONTHLY_USD = Decimal("500")


def test_a_new_chat_reads_its_model_once_and_holds_the_lock_only_to_compare_and_write(
    alice_client, budgeted, django_capture_on_commit_callbacks
):
    sql = post(alice_client, "/", {"prompt": "Hello", "model": "openai/gpt-5-pro"}, django_capture_on_commit_callbacks)
    # The form reads the catalogue once (the enabled models, which is the default); the service reads no
    # row again.
    locked = locked_part(sql, catalogue_reads=1)
    # The lock, the running count, the conversation and turn (inserted with its hold), this month's spend
    # and holds (the user's, the instance's), the conversation's current turn.
    assert not [statement for statement in locked if statement.startswith('UPDATE "conversations_turn"')]
    assert len(locked) <= 9
    assert len(sql) <= 17
    assert Turn.objects.get().estimate_usd > 0


def test_a_follow_up_reads_its_model_once_and_holds_the_lock_only_to_compare_and_write(
    alice, alice_client, budgeted, django_capture_on_commit_callbacks
):
    conversation = factories.conversation(owner=alice, title="Earlier", model="openai/gpt-5-pro")
    first = factories.turn(
        conversation=conversation, status=Turn.Status.COMPLETED, output_text="Yes.", input_tokens=900, output_tokens=40
    )
    data = {"prompt": "And then?", "parent": str(first.pk)}
    sql = post(alice_client, f"/c/{conversation.pk}/", data, django_capture_on_commit_callbacks)
    locked = locked_part(sql, catalogue_reads=1)
    # As above, with the conversation's open turns (a follow-up waits behind a running answer) for its insert.
    assert not [statement for statement in locked if statement.startswith('UPDATE "conversations_turn"')]
    assert len(locked) <= 9
    assert len(sql) <= 21
    follow_up = Turn.objects.get(prompt="And then?")
    assert follow_up.parent_id == first.pk and follow_up.estimate_usd > 0

"""Rows for tests, with the defaults a test does not care about: `factories.conversation(alice, title="Plan")`.

Plain functions over the models' own managers (so `turn` follows the conversation's newest turn unless it
names a `parent`, as `Turn.objects.create` does); a test names only the fields it is about.
"""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.utils import timezone

from conversations.models import Charge, Conversation, Turn
from conversations.usage.ledger import charge_record

PRO = "openai/gpt-5-pro"
SOL = "openai/gpt-5.6-sol-pro"
D = Decimal


def user(username: str, password: str | None = None, **fields) -> User:
    """A signed-up user; the password is `pw-<username>-123` unless given."""
    return User.objects.create_user(username, password=password or f"pw-{username}-123", **fields)


def conversation(owner: User, **fields) -> Conversation:
    """A conversation of `owner` on gpt-5-pro, untitled unless `title=` says."""
    return Conversation.objects.create(owner=owner, **{"model": PRO, **fields})


def turn(conversation: Conversation, prompt: str = "A question", **fields) -> Turn:
    """A turn of `conversation` (queued unless `status=` says), after its newest turn unless `parent=` says."""
    return Turn.objects.create(conversation=conversation, prompt=prompt, **fields)


def at(day: date, hour: int = 12) -> datetime:
    """`hour` o'clock of `day`, local time."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()).replace(hour=hour))


def charge(user, *, when, model=PRO, status="completed", input_tokens=1000, cached=0, output=500, reasoning=100,
           cost=..., provider=None, seconds=90, conversation=None, attempts=1) -> Charge:  # fmt: skip
    """One charged attempt, ended at `when`, written by the ledger's own writer (charge and rollup together)."""
    cost = D("0.100000") if cost is ... else cost
    conversation = conversation or Conversation.objects.create(owner=user, model=model, title=f"talk {uuid.uuid4()}")
    answered = Turn.objects.create(
        conversation=conversation,
        prompt="a prompt",
        status=status,
        model=model,
        attempts=attempts,
        response_id=f"resp_{uuid.uuid4().hex}",
        created_at=when - timedelta(seconds=(seconds or 0) + 1),
        started_at=when - timedelta(seconds=seconds) if seconds is not None else None,
        completed_at=when,
        input_tokens=input_tokens,
        cached_tokens=cached,
        output_tokens=output,
        reasoning_tokens=reasoning,
        total_tokens=input_tokens + output,
        cost_usd=cost,
        provider_cost_usd=provider,
    )
    fields = {
        "input_tokens": input_tokens,
        "cached_tokens": cached,
        "output_tokens": output,
        "reasoning_tokens": reasoning,
        "total_tokens": input_tokens + output,
        "cost_usd": cost,
        "provider_cost_usd": provider,
    }
    return charge_record(
        turn=answered, status=status, model=model, response_id=answered.response_id, fields=fields, now=when
    )


def ledger() -> dict:
    """Forty days of spend up to today: three users (cat deleted after spending), two models, every status.

    Ann's first three charges are in one conversation, "needle talk"; one charge has no known price (cost
    unknown, counts as 0) and one is 45 days old, outside the 40 days. Failed turns carry `server_error`.
    Returns {"today", "ann", "ben", "cat_id", "talk"}.
    """
    today = timezone.localdate()
    ann, ben, cat = (user(name, password="pw-usage-1") for name in ("ann", "ben", "cat"))
    talk = conversation(ann, title="needle talk")
    plan = [  # who, model, status, days back, cost, provider's cost, seconds, conversation
        (ann, PRO, "completed", 0, D("1.250000"), D("1.300000"), 120, talk),
        (ann, PRO, "failed", 0, D("0.400000"), None, 30, talk),
        (ann, SOL, "completed", 1, D("0.020000"), D("0.020000"), 15, talk),
        (ben, PRO, "incomplete", 1, D("2.000000"), None, 600, None),
        (ben, SOL, "cancelled", 3, D("0.010000"), None, None, None),
        (ben, PRO, "completed", 12, D("0.750000"), D("0.700000"), 200, None),
        (cat, PRO, "completed", 2, D("3.000000"), None, 300, None),
        (cat, SOL, "completed", 35, D("0.050000"), None, 20, None),
        (ann, PRO, "completed", 38, None, None, 45, None),  # unknown price: cost unknown, counts as 0
        (ben, PRO, "completed", 45, D("9.000000"), None, 10, None),  # outside 40 days
    ]
    for i, (who, model, status, back, cost, provider, seconds, talk_or_none) in enumerate(plan):
        charge(who, when=at(today - timedelta(days=back), hour=9 + i % 8), model=model, status=status, cost=cost,
               provider=provider, seconds=seconds, conversation=talk_or_none, input_tokens=1000 * (i + 1),
               cached=100 * i, output=300 * (i + 1), reasoning=50 * i)  # fmt: skip
    Turn.objects.filter(status="failed").update(error_code="server_error")
    cat_id = cat.pk
    cat.delete()  # the money stays in the ledger, attributed to nobody
    return {"today": today, "ann": ann, "ben": ben, "cat_id": cat_id, "talk": talk}

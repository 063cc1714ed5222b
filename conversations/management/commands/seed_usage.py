"""Seed realistic usage for benchmarks and demos: N turns across U users and M models over K months.

    python manage.py seed_usage                       # 1,000,000 turns, 100 users, 3 models, 12 months
    python manage.py seed_usage --turns 20000 --users 10 --models 3 --months 2

Turns are written in time order, in batches (bulk_create), with their
conversations, one ledger charge per attempt that reported usage (retried turns
keep the earlier attempt in `history` and in the ledger, as `turn_retry` does),
and the daily rollup added exactly as `ledger.charge_record` adds it. Users are
`seed-user-NNN` (password `seed-password`); `seed-admin` is a superuser with the
same password. Models missing from the catalogue are added as `seed/model-N`.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from datetime import UTC, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone

from conversations.models import ROLLUP_COLUMNS, AIModel, Charge, Conversation, DailyUsage, Turn
from conversations.usage import pricing

PASSWORD = "seed-password"  # noqa: S105 (throwaway accounts of a benchmark database)
WORDS = (
    "the a of to and in is for that with on as are this be by from it at or an was which can how why when what "
    "data model query index cache latency budget token cost answer prompt python django sqlite postgres table row "
    "server worker queue retry stream error timeout test deploy review design plan metric chart month user team"
).split()
STATUSES = [  # (status, share, error code, reports usage)
    ("completed", 0.90, "", True),
    ("incomplete", 0.03, "incomplete", True),
    ("failed", 0.02, "server_error", True),
    ("failed", 0.02, "timeout", False),
    ("cancelled", 0.03, "cancelled", True),
]
RETRIED_SHARE = 0.05  # turns whose first attempt failed with usage, then a Retry succeeded
ROLLUP_FIELDS = ROLLUP_COLUMNS  # the rollup counters, in the order the seeder sums them


class RawInsert:
    """executemany of plain rows: bulk_create prepares each value through the ORM, ~20x slower at 1M rows."""

    def __init__(self, model):
        self.fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
        self.defaults = {f.attname: f.get_default() for f in self.fields}
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        self.sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
        self.convert = [self._converter(f) for f in self.fields]

    @staticmethod
    def _converter(field):
        kind = field.target_field.get_internal_type() if field.is_relation else field.get_internal_type()
        sqlite = connection.vendor == "sqlite"
        if kind == "UUIDField" and sqlite:
            return lambda v: v.hex if v is not None else None
        if kind == "DateTimeField" and sqlite:
            return lambda v: v.astimezone(UTC).replace(tzinfo=None).isoformat(" ") if v is not None else None
        if kind == "JSONField":
            return lambda v: field.get_db_prep_save(v, connection)
        return None

    def insert(self, rows: list[dict]) -> None:
        values = []
        for row in rows:
            full = {**self.defaults, **row}
            values.append(
                tuple(
                    (c(full[f.attname]) if c else full[f.attname])
                    for f, c in zip(self.fields, self.convert, strict=True)
                )
            )
        with connection.cursor() as cursor:
            cursor.executemany(self.sql, values)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


class Command(BaseCommand):
    help = "Seed N turns across U users and M models over K months (for benchmarks and demos)."

    def add_arguments(self, parser):
        parser.add_argument("--turns", type=int, default=1_000_000)
        parser.add_argument("--users", type=int, default=100)
        parser.add_argument("--models", type=int, default=3)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument("--batch", type=int, default=2000, help="turns per bulk insert")
        parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")

    def handle(self, *args, turns, users, models, months, batch, seed, **options):
        if min(turns, users, models, months, batch) < 1:
            raise CommandError("--turns, --users, --models, --months and --batch must be at least 1.")
        started = time.monotonic()
        self.rng = random.Random(seed)
        self.user_ids = self._users(users)
        self.models = self._models(models)
        self.texts = [
            (_text(self.rng, self.rng.randint(12, 60)), _text(self.rng, self.rng.randint(60, 180))) for _ in range(500)
        ]
        self.html = [f"<p>{answer}</p>" for _, answer in self.texts]
        # An hour back: the slowest answers of the last turns have finished by now.
        now = timezone.now().replace(microsecond=0) - timedelta(hours=1)
        start = now - timedelta(days=round(months * 30.44))
        step = (now - start) / turns
        # Heavier and lighter users (Zipf-like), as on a real team.
        user_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(self.user_ids))]
        model_weights = [0.6, 0.3, 0.1] + [0.05] * max(0, len(self.models) - 3)
        self.current = {}  # user id -> (conversation id, model id, turns so far)
        self.conversations_updated = {}
        self.last_turn = {}  # conversation id -> its newest turn (the parent of the next)
        self.turn_rows, self.charge_rows = RawInsert(Turn), RawInsert(Charge)
        self.rollup = defaultdict(lambda: [0] * len(ROLLUP_FIELDS))
        written = charges = 0
        while written < turns:
            size = min(batch, turns - written)
            picks = self.rng.choices(self.user_ids, user_weights, k=size)
            times = [start + step * (written + i) for i in range(size)]
            charges += self._write_batch(picks, times, model_weights)
            written += size
            self._flush_rollup(before=timezone.localdate(times[-1]) - timedelta(days=1))
            if written % (batch * 25) == 0 or written == turns:
                self.stdout.write(f"{written:,} turns, {charges:,} charges, {time.monotonic() - started:.0f} s")
        self._flush_rollup(before=None)
        self._touch_conversations()
        if connection.vendor == "postgresql":
            # Fresh statistics and visibility map, as autovacuum would leave them (index-only scans).
            with connection.cursor() as cursor:
                for table in (
                    "conversations_turn",
                    "conversations_charge",
                    "conversations_dailyusage",
                    "conversations_conversation",
                ):
                    # VACUUM cannot run in a transaction (a test's): statistics alone then.
                    cursor.execute(f"{'ANALYZE' if connection.in_atomic_block else 'VACUUM ANALYZE'} {table}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {written:,} turns ({charges:,} charges) for {len(self.user_ids)} users on "
                f"{len(self.models)} models in {time.monotonic() - started:.0f} s."
            )
        )

    # --- setup ------------------------------------------------------------------

    def _users(self, count: int) -> list[int]:
        password = make_password(PASSWORD)
        names = [f"seed-user-{i:03d}" for i in range(1, count + 1)]
        existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        User.objects.bulk_create([User(username=name, password=password) for name in names if name not in existing])
        if not User.objects.filter(username="seed-admin").exists():
            User.objects.create(username="seed-admin", password=password, is_staff=True, is_superuser=True)
        return list(User.objects.filter(username__in=names).order_by("username").values_list("id", flat=True))

    def _models(self, count: int) -> list[tuple[str, pricing.Prices]]:
        rows = list(AIModel.objects.order_by("-enabled", "-is_default", "provider_id")[:count])
        for n in range(len(rows) + 1, count + 1):
            rows.append(
                AIModel.objects.get_or_create(
                    provider_id=f"seed/model-{n}",
                    defaults={
                        "label": f"Seed model {n}",
                        "input_price": Decimal("1.25"),
                        "cached_input_price": Decimal("0.125"),
                        "output_price": Decimal("10"),
                        "enabled": False,
                    },
                )[0]
            )
        return [
            (row.provider_id, pricing.Prices(row.input_price, row.cached_input_price, row.output_price)) for row in rows
        ]

    # --- one batch ------------------------------------------------------------------

    def _conversation_for(self, user_id, when, model_weights, new_conversations):
        conversation = self.current.get(user_id)
        # About 50 turns per conversation on average; some run to several hundred.
        if conversation is None or self.rng.random() < 0.02:
            model_index = self.rng.choices(range(len(self.models)), model_weights[: len(self.models)])[0]
            conversation = Conversation(
                owner_id=user_id,
                title=_text(self.rng, self.rng.randint(2, 7))[:80],
                model=self.models[model_index][0],
                created_at=when,
                updated_at=when,
            )
            new_conversations.append(conversation)
            conversation = (conversation.id, model_index, 0)
        conversation = (conversation[0], conversation[1], conversation[2] + 1)
        self.current[user_id] = conversation
        return conversation

    def _usage(self, model_index: int, depth: int):
        rng = self.rng
        prices = self.models[model_index][1]
        input_tokens = rng.randint(200, 3000) + min(depth, 60) * rng.randint(300, 900)
        cached = rng.randint(0, input_tokens // 2) if prices.cached_input is not None and depth > 1 else 0
        output = rng.randint(300, 4000) + rng.choice((0, 0, 2000, 8000, 20000))
        reasoning = int(output * rng.uniform(0.3, 0.85))
        cost = pricing.cost(prices=prices, input_tokens=input_tokens, cached_tokens=cached, output_tokens=output)
        provider = None
        if cost is not None and rng.random() < 0.5:
            provider = (cost * Decimal(str(rng.uniform(0.98, 1.03)))).quantize(pricing.CENTS6)
        return {
            "input_tokens": input_tokens,
            "cached_tokens": cached,
            "output_tokens": output,
            "reasoning_tokens": reasoning,
            "total_tokens": input_tokens + output,
            "input_price": prices.input,
            "cached_input_price": prices.cached_input,
            "output_price": prices.output,
            "cost_usd": cost,
            "provider_cost_usd": provider,
        }

    def _attempt_times(self, when, model_index):
        started = when + timedelta(milliseconds=self.rng.randint(50, 1500))
        median_s = (180, 40, 15)[model_index % 3]
        seconds = min(max(self.rng.lognormvariate(0, 0.6) * median_s, 1), 1800)
        return started, started + timedelta(seconds=seconds)

    def _write_batch(self, picks, times, model_weights) -> int:
        rng = self.rng
        new_conversations: list[Conversation] = []
        turns, charges = [], []
        for user_id, when in zip(picks, times, strict=True):
            conversation_id, model_index, depth = self._conversation_for(
                user_id, when, model_weights, new_conversations
            )
            model = self.models[model_index][0]
            status, _, error_code, reports = rng.choices(STATUSES, [s[1] for s in STATUSES])[0]
            text_index = rng.randrange(len(self.texts))
            prompt, answer = self.texts[text_index]
            created = when
            turn_id = uuid.uuid4()
            response_id = f"resp_{uuid.uuid4().hex}"
            history = []
            attempt = 1
            if rng.random() < RETRIED_SHARE:
                # A first attempt that failed after reporting usage; a Retry made this one.
                first = self._usage(model_index, depth)
                first_started, first_done = self._attempt_times(when, model_index)
                first_id = f"resp_{uuid.uuid4().hex}"
                charges.append(
                    self._charge(
                        user_id,
                        conversation_id,
                        turn_id,
                        1,
                        model,
                        first_id,
                        "failed",
                        first,
                        first_started,
                        first_done,
                    )
                )
                history.append(
                    {
                        "attempt": 1,
                        "status": "failed",
                        "error_code": "server_error",
                        "error_message": "The provider had an error.",
                        "response_id": first_id,
                        "output_tokens": first["output_tokens"],
                        "input_tokens": first["input_tokens"],
                        "cost_usd": str(first["cost_usd"]) if first["cost_usd"] is not None else None,
                        "started_at": first_started.isoformat(),
                        "completed_at": first_done.isoformat(),
                    }
                )
                when = first_done + timedelta(seconds=rng.randint(5, 120))
                attempt = 2
            started, done = self._attempt_times(when, model_index)
            usage = self._usage(model_index, depth) if reports else {}
            if reports:
                charges.append(
                    self._charge(
                        user_id, conversation_id, turn_id, attempt, model, response_id, status, usage, started, done
                    )
                )
            json_usage = {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")} if usage else None
            turns.append(
                dict(
                    id=turn_id,
                    conversation_id=conversation_id,
                    parent_id=self.last_turn.get(conversation_id),  # each turn follows the one before
                    prompt=prompt,
                    status=status,
                    attempts=attempt,
                    mode="sync",
                    response_id=response_id,
                    model=model,
                    output_text=answer if status != "failed" else "",
                    output_html=self.html[text_index] if status != "failed" else "",
                    response_json={"id": response_id, "object": "response", "status": status, "usage": json_usage},
                    error_code=error_code,
                    error_message="" if not error_code else f"The answer ended: {error_code}.",
                    history=history,
                    created_at=created,
                    started_at=started,
                    completed_at=done,
                    updated_at=done,
                    **usage,
                )
            )
            self.conversations_updated[conversation_id] = done
            self.last_turn[conversation_id] = turn_id
        with transaction.atomic():
            Conversation.objects.bulk_create(new_conversations)
            self.turn_rows.insert(turns)
            self.charge_rows.insert(charges)
        return len(charges)

    def _charge(self, user_id, conversation_id, turn_id, attempt, model, response_id, status, usage, started, done):
        charge = dict(
            user_id=user_id,
            username=self._username(user_id),
            conversation_id=conversation_id,
            turn_id=turn_id,
            attempt=attempt,
            model=model,
            response_id=response_id,
            status=status,
            duration_ms=int((done - started).total_seconds() * 1000),
            created_at=done,
            **usage,
        )
        row = self.rollup[(timezone.localdate(done), user_id, model, status)]
        values = [1] + [charge.get(name) or 0 for name in ROLLUP_FIELDS[1:]]
        for i, value in enumerate(values):
            row[i] += value
        return charge

    def _username(self, user_id) -> str:
        if not hasattr(self, "_names"):
            self._names = dict(User.objects.filter(id__in=self.user_ids).values_list("id", "username"))
        return self._names[user_id]

    # --- rollup and conversations -------------------------------------------------

    def _flush_rollup(self, before) -> None:
        """Add the finished days to DailyUsage, as charge_record's _rollup_add would have, row by row."""
        keys = [key for key in self.rollup if before is None or key[0] < before]
        if not keys:
            return
        existing = {}
        for day in {key[0] for key in keys}:
            for row in DailyUsage.objects.filter(day=day):
                existing[(row.day, row.user_id, row.model, row.status)] = row
        new, changed = [], []
        for key in keys:
            sums = dict(zip(ROLLUP_FIELDS, self.rollup.pop(key), strict=True))
            if key in existing:
                row = existing[key]
                for name, value in sums.items():
                    setattr(row, name, getattr(row, name) + value)
                changed.append(row)
            else:
                new.append(DailyUsage(day=key[0], user_id=key[1], model=key[2], status=key[3], **sums))
        with transaction.atomic():
            DailyUsage.objects.bulk_create(new, batch_size=1000)
            DailyUsage.objects.bulk_update(changed, ROLLUP_FIELDS, batch_size=500)

    def _touch_conversations(self) -> None:
        items = list(self.conversations_updated.items())
        for i in range(0, len(items), 1000):
            with transaction.atomic():
                for conversation_id, when in items[i : i + 1000]:
                    Conversation.objects.filter(pk=conversation_id, updated_at__lt=when).update(updated_at=when)

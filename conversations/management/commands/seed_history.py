"""Seed one user's history for the history benchmark (benchmarks/history.py): many conversations, many turns.

    python manage.py seed_history --username big --password pw                    # 10,000 conversations, 200,000 turns
    python manage.py seed_history --username small --password pw --conversations 100 --turns 2000

Answers have realistic length and shape (1-6 KB of Markdown: headings, paragraphs, lists, tables,
code), drawn from a pool rendered once, each with a few words of its own; prompts are 1-4
sentences. Conversations are spread over the last two years, turns three minutes apart. The
first conversation has 200 turns and the second 20 (the benchmark opens both); the rest share
the remaining turns at random. The prompts of three turns hold the rare word `RARE_WORD`.
Rows are written with bulk_create in batches; the search index is built once at the end.
Prints one JSON line: what was made and where to look. The import benchmark (benchmarks/imports.py)
makes its rows with the functions here (`answer`, `seeded_turn`, `seeded_answer`, `sentence`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Container
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from conversations.chat.rendering import markdown_to_html
from conversations.history import search_index
from conversations.models import Conversation, Turn

RARE_WORD = "zyzzogeton"
COMMON_WORD = "model"
# Roughly Zipf-distributed technical English: "the" is in every answer, "model" in most, the tail in few.
WORDS = (
    "the of and to a in is that for it with as on this be are by can use you data model will an or from "
    "when should which each not but if your more then time we its one at query cache index value system "
    "first code request user table file test error result case run build service change set type number "
    "function server response process step memory version default list key method state field review risk "
    "plan budget cost token latency stream worker queue retry timeout schema column migration report deploy "
    "rollback feature metric alert threshold owner replica invoice customer contract payload endpoint header "
    "session cookie browser layout theme component render template parser compiler thread lock transaction "
    "commit branch merge release pipeline container cluster node shard partition replication backup restore "
    "encryption signature certificate gradient tensor embedding vector matrix estimate variance median "
    "percentile histogram sample experiment hypothesis baseline regression forecast inventory shipment "
    "warehouse supplier margin revenue quarterly churn cohort onboarding roadmap milestone stakeholder"
).split()
WEIGHTS = [1 / (rank + 1) ** 0.9 for rank in range(len(WORDS))]


def _words(rng: random.Random, count: int) -> list[str]:
    return rng.choices(WORDS, WEIGHTS, k=count)


def sentence(rng: random.Random, low: int = 8, high: int = 22) -> str:
    return " ".join(_words(rng, rng.randint(low, high))).capitalize() + "."


def answer(rng: random.Random, chars: tuple[int, int] | None = None) -> str:
    """A gpt-5-pro-like answer: a heading, paragraphs, lists, sometimes a table or code; 1 to 6 KB, or about
    `chars` (low, high) characters."""
    parts = [f"## {sentence(rng, 4, 9)[:-1]}"]
    target = rng.randint(*chars) if chars else rng.choice([1000, 2000, 3000, 3000, 4000, 6000])
    while sum(len(p) for p in parts) < target:
        kind = rng.random()
        if kind < 0.5:
            parts.append(" ".join(sentence(rng) for _ in range(rng.randint(2, 5))))
        elif kind < 0.72:
            parts.append("\n".join(f"- **{w}**: {sentence(rng)}" for w in _words(rng, rng.randint(3, 6))))
        elif kind < 0.82:
            parts.append(f"### {sentence(rng, 3, 7)[:-1]}")
        elif kind < 0.92:
            pairs = zip(_words(rng, 4), _words(rng, 4), strict=True)
            rows = "\n".join(f"| {a} | {rng.randint(1, 999)} | {b} |" for a, b in pairs)
            parts.append(f"| item | value | note |\n|---|---|---|\n{rows}")
        else:
            name = rng.choice(WORDS)
            parts.append(f"```python\ndef {name}_step(x):\n    # {sentence(rng, 4, 8)}\n    return x * 2\n```")
    return "\n\n".join(parts)


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` turns over `parts` conversations, each at least one."""
    counts = [1] * parts
    for index in rng.choices(range(parts), k=max(total - parts, 0)):
        counts[index] += 1
    return counts


def seeded_turn(
    rng: random.Random, conversation: Conversation, at: datetime, index: int, rare: Container[int] = ()
) -> Turn:
    """The `index`-th turn seeded, at `at`, its prompt with the rare word if `index` is in `rare` (no answer yet)."""
    status = "completed" if rng.random() > 0.04 else rng.choice(["failed", "cancelled", "incomplete"])
    input_tokens, output_tokens = rng.randint(200, 20_000), rng.randint(300, 9_000)
    prompt = " ".join(sentence(rng) for _ in range(rng.randint(1, 4)))
    if index in rare:
        prompt += f" What does {RARE_WORD} mean here?"
    return Turn(
        conversation=conversation,
        prompt=prompt,
        status=status,
        attempts=1,
        mode="stream",
        response_id=f"resp_seed_{index:09d}",
        model="openai/gpt-5-pro-2025-10-06",
        input_tokens=input_tokens,
        cached_tokens=0,
        output_tokens=output_tokens,
        reasoning_tokens=output_tokens * 3 // 4,
        total_tokens=input_tokens + output_tokens,
        input_price=Decimal("20.631"),
        output_price=Decimal("165.048"),
        cost_usd=(Decimal(input_tokens) * Decimal("20.631") + Decimal(output_tokens) * Decimal("165.048")) / 1_000_000,
        error_code="" if status == "completed" else status,
        error_message="" if status == "completed" else "The answer did not complete. Press Retry.",
        created_at=at,
        started_at=at + timedelta(seconds=1),
        completed_at=at + timedelta(seconds=rng.randint(30, 240)),
        updated_at=at + timedelta(seconds=240),
    )


def seeded_answer(rng: random.Random, answers: list[str], answers_html: list[str], index: int) -> tuple[str, str]:
    """The `index`-th turn's answer (text, HTML): one of the pool, with a few words of its own."""
    choice = rng.randrange(len(answers))
    # A few words of its own, so no two answers are the same text.
    own = " ".join(_words(rng, 6))
    return f"{answers[choice]}\n\n{own.capitalize()} (answer {index}).", (
        f"{answers_html[choice]}<p>{own.capitalize()} (answer {index}).</p>"
    )


class Command(BaseCommand):
    help = "Seed one user's history (conversations, turns with realistic answers, the search index) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="history")
        parser.add_argument("--password", help="create the user with this password when missing")
        parser.add_argument("--conversations", type=int, default=10_000)
        parser.add_argument("--turns", type=int, default=200_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--pool", type=int, default=300, help="distinct answers (each rendered once)")

    def handle(self, *args, username, password, conversations, turns, seed, pool, **options):
        if conversations < 2 or turns < conversations + 218:
            raise CommandError("Need at least 2 conversations and 218 more turns than conversations.")
        started = time.monotonic()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not password:
                raise CommandError(f"No user {username!r}: give --password to create one.")
            user = User.objects.create_user(username, password=password)
        rng = random.Random(seed)
        answers = [answer(rng) for _ in range(pool)]
        answers_html = [markdown_to_html(text) for text in answers]
        counts = [200, 20, *_split(rng, turns - 220, conversations - 2)]
        rare = set(rng.sample(range(220, turns), 3))
        now = timezone.now()
        span = timedelta(days=730)
        made = {"conversations": 0, "turns": 0}
        firsts = []
        with search_index.suspended():
            index = 0
            for first in range(0, conversations, 500):
                batch, rows = [], []
                for position in range(first, min(first + 500, conversations)):
                    # Newest last: the 200- and 20-turn conversations are among the most recent.
                    last = now - span * (conversations - 1 - position) / conversations
                    if position < 2:
                        last = now - timedelta(minutes=5 * (position + 1))
                    count = counts[position]
                    created = last - timedelta(minutes=3 * (count - 1))
                    conversation = Conversation(
                        owner=user,
                        title=sentence(rng, 3, 8)[:-1],
                        model="openai/gpt-5-pro",
                        created_at=created,
                        updated_at=last,
                    )
                    batch.append(conversation)
                    for k in range(count):
                        rows.append(seeded_turn(rng, conversation, created + timedelta(minutes=3 * k), index, rare))
                        if k:  # each turn follows the one before it (one version of each)
                            rows[-1].parent_id = rows[-2].id
                        rows[-1].output_text, rows[-1].output_html = seeded_answer(rng, answers, answers_html, index)
                        index += 1
                with transaction.atomic():
                    Conversation.objects.bulk_create(batch)
                    Turn.objects.bulk_create(rows, batch_size=2000)
                if first == 0:
                    firsts = [batch[0].id, batch[1].id]
                made["conversations"] += len(batch)
                made["turns"] += len(rows)
                self.stderr.write(f"  {made['conversations']:,} conversations, {made['turns']:,} turns")
            seeded = time.monotonic()
        # Leaving suspended() rebuilt the index in one pass.
        report = {
            "user": username,
            **made,
            "long": str(firsts[0]),
            "medium": str(firsts[1]),
            "common_word": COMMON_WORD,
            "rare_word": RARE_WORD,
            "seconds_rows": round(seeded - started, 1),
            "seconds_total": round(time.monotonic() - started, 1),
        }
        self.stdout.write(json.dumps(report))

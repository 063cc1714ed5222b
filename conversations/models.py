import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from conversations.attachments.models import Attachment, ModelInputs  # noqa: F401 (one set of tables)

# A DecimalField's size, spread into its arguments (`**PRICE`).
PRICE: dict[str, Any] = {"max_digits": 12, "decimal_places": 6}
USD: dict[str, Any] = {"max_digits": 14, "decimal_places": 6}
# The one list of usage columns; every other list of them is made from these.
# The five token counts the provider reports (reasoning tokens are part of output tokens).
TOKEN_COLUMNS = ["input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens"]
# Our cost (tokens x prices) and the provider's own figure (meta.usage.usd_spent).
COST_COLUMNS = ["cost_usd", "provider_cost_usd"]
# The unit prices (USD per 1M tokens) a turn's and a charge's attempt was charged at.
PRICE_COLUMNS = ["input_price", "cached_input_price", "output_price"]
# The usage columns an admin list sums (kept together in the covering indexes of Turn).
USAGE_COLUMNS = [*TOKEN_COLUMNS, *COST_COLUMNS]
# What a charged attempt records: tokens, the prices they were charged at, both costs.
CHARGED_COLUMNS = [*TOKEN_COLUMNS, *PRICE_COLUMNS, *COST_COLUMNS]
# The counters of the daily rollup (kept together in its covering indexes).
ROLLUP_COLUMNS = ["charges", *USAGE_COLUMNS, "duration_ms"]
# The turns whose usage was spent here: every sum of Turn usage filters on it (imported turns are history).
SPENT_HERE = Q(imported=False)


# Which endpoint answers a model (the client, generation/aimlapi, speaks both; it names them the same).
API_CHOICES = [("responses", "Responses (/v1/responses)"), ("chat", "Chat Completions (/v1/chat/completions)")]
# The error codes of a provider answer saying the model is gone: deprecated, or unknown (generation/aimlapi).
MODEL_GONE_CODES = frozenset({"model_deprecated", "model_unknown"})


class AIModel(ModelInputs):
    """One model of the catalogue: what it costs and which parameters it accepts.

    Editable in the admin. Settings, request bodies and cost all read this one table.
    """

    provider_id = models.CharField("provider id", max_length=100, unique=True, help_text="e.g. openai/gpt-5-pro")
    label = models.CharField(max_length=100, blank=True)
    api = models.CharField(
        "API",
        max_length=16,
        choices=API_CHOICES,
        default="responses",
        help_text="The endpoint AI/ML API documents for this model. Chat Completions has no background mode: "
        "with AIMLAPI_MODE=background its answers stream instead.",
    )
    input_price = models.DecimalField("input USD / 1M", **PRICE, null=True, blank=True, help_text="Empty: unknown.")
    cached_input_price = models.DecimalField(
        "cached input USD / 1M", **PRICE, null=True, blank=True, help_text="Empty: cached input costs the input price."
    )
    output_price = models.DecimalField(
        "output USD / 1M", **PRICE, null=True, blank=True, help_text="Reasoning tokens are output tokens."
    )
    reasoning_efforts = models.CharField(
        max_length=100,
        blank=True,
        help_text="Comma list of the reasoning.effort values the model accepts. Empty: the field is never sent.",
    )
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Reasoning summaries (the model's thinking, shown under "Thinking…"): asked for, read and kept only
    # when set (generation/aimlapi; README "The model's thinking").
    reasoning_summaries = models.BooleanField(
        "returns reasoning summaries",
        default=False,
        help_text="Ask for the model's reasoning summary (Responses: reasoning.summary “auto”; Chat Completions: "
        "message.reasoning) and show it under “Thinking…”. Set it only for a model whose AI/ML API page documents "
        "it; a provider that refuses the field is asked once more without it (the answer is not lost).",
    )
    # What a prompt is held at until 20 answers of the model were charged here (usage/holds.py).
    typical_output_tokens = models.PositiveIntegerField(
        default=16_000,
        help_text="Output tokens a prompt is held at against budgets until 20 answers of this model were charged "
        "here; from then on, what 95 % of its last 200 answers stayed within.",
    )
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField("default", default=False)
    retires_on = models.DateField(null=True, blank=True)
    successor = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The last Check (admin action, checks.py): one tiny prompt through the model's endpoint.
    # Started but not finished: `last_check_ok` is empty.
    last_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_check_ok = models.BooleanField(null=True, editable=False)
    last_check_message = models.TextField(blank=True, editable=False)
    last_check_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_check_cost_usd = models.DecimalField(**USD, null=True, blank=True, editable=False)
    # Not columns: set on the rows of the admins' retirement banner (usage/catalog.models_retiring).
    days_left: int
    retired: bool

    class Meta:
        verbose_name = "model"
        ordering = ["provider_id"]
        constraints = [models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default")]

    def __str__(self) -> str:
        return self.label or self.provider_id

    @property
    def efforts(self) -> list[str]:
        return [value.strip() for value in self.reasoning_efforts.split(",") if value.strip()]


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100)
    instructions = models.TextField(blank=True, help_text="System prompt sent with every turn.")
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_effort = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    pinned_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # The id of the conversation this one was imported from: importing it again finds it.
    origin_id = models.UUIDField(null=True, blank=True, editable=False)
    # The version on screen: the page shows the path from the first turn to the newest turn
    # below this one (selectors.Tree). Empty: the newest turn of the conversation.
    current_turn = models.ForeignKey(
        "Turn", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # Not columns: set on the rows a sidebar draws (chat/selectors.py, live/reads.py).
    list_group: str  # its heading: "Today", "Previous 7 days", ...
    running: bool  # an answer is queued or running (a query annotation)
    running_turn: uuid.UUID | None  # which one (a query annotation of live/reads.py)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="conv_owner_updated"),
            models.Index(fields=["owner", "archived_at", "-updated_at", "-id"], name="conv_owner_list"),
            # The sidebar's pinned group, read on every page: a few rows, not a scan of the owner's list.
            models.Index(
                fields=["owner", "-pinned_at", "-id"], condition=Q(pinned_at__isnull=False), name="conv_owner_pinned"
            ),
        ]
        constraints = [models.UniqueConstraint(fields=["owner", "origin_id"], name="unique_conversation_origin")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.id])


class ChargedAt(models.Model):
    """What a call was charged at: the unit prices (USD per 1M tokens) and the provider's own figure
    (meta.usage.usd_spent) beside our computed cost. A turn keeps its current attempt's; each charge its own."""

    input_price = models.DecimalField(**PRICE, null=True, blank=True)
    cached_input_price = models.DecimalField(**PRICE, null=True, blank=True)
    output_price = models.DecimalField(**PRICE, null=True, blank=True)
    provider_cost_usd = models.DecimalField(**USD, null=True, blank=True)

    class Meta:
        abstract = True


class TokenSums(models.Model):
    """The five token figures (TOKEN_COLUMNS) as counts that add up: a charge's, a day's sums."""

    input_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        abstract = True


class TurnManager(models.Manager):
    def create(self, **kwargs):
        """Without `parent`, a new turn follows the conversation's newest turn.

        So a conversation written turn by turn (a script, a test) is one line. The
        app's own writes (services.py) always say which turn a new one follows;
        `parent=None` makes a first turn, or another version of it.
        """
        if "parent" not in kwargs and "parent_id" not in kwargs:
            conversation = kwargs.get("conversation_id") or getattr(kwargs.get("conversation"), "pk", None)
            newest = self.filter(conversation_id=conversation).order_by("-created_at", "-id")
            kwargs["parent_id"] = newest.values_list("id", flat=True).first()
        return super().create(**kwargs)


class Turn(ChargedAt):
    """One prompt and its answer. A conversation is a tree of turns (see `parent`).

    Editing a prompt or regenerating an answer adds a sibling: another version of
    the turn at the same place, with the same parent. Nothing is replaced or deleted.
    """

    class Status(models.TextChoices):
        # Accepted, not allowed to start yet (the user's running limit, or the conversation's answer
        # still running): shown as "Queued"; generation/scheduler.py starts it. Then handed to a worker.
        WAITING = "waiting", "Queued"
        QUEUED = "queued", "Starting"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        INCOMPLETE = "incomplete", "Incomplete"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # Running: holds one of its user's slots, its conversation's one answer at a time, its budget hold.
    ACTIVE = (Status.QUEUED, Status.IN_PROGRESS)
    # Not ended yet: the page follows it (live updates), Cancel or Stop is offered.
    OPEN = (Status.WAITING, *ACTIVE)
    RETRYABLE = (Status.FAILED, Status.INCOMPLETE, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    prompt = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # One-time token from the form that created this turn: a resubmitted form finds it.
    client_token = models.UUIDField(null=True, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    # How the current attempt talks to the provider (sync/stream/background), so a
    # sweeper knows whether it can resume it.
    mode = models.CharField(max_length=12, blank=True)
    response_id = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=100, blank=True)
    output_text = models.TextField(blank=True)
    output_html = models.TextField(blank=True)
    # The model's reasoning summary as it sent it (plain text, shown escaped: rendering.thinking_to_html);
    # saved as it streams, like output_text. Empty when its model's catalogue row does not ask for one.
    thinking = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # The unit prices and the provider's own figure: ChargedAt (of the current attempt).
    # What this attempt is held at against budgets while it runs (usage/budgets.py: whole input + the hold).
    estimate_usd = models.DecimalField(**USD, null=True, blank=True)
    response_json = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # Outcomes of earlier attempts (error, response id, usage), kept for admins.
    history = models.JSONField(default=list, blank=True)
    # A line shown above the turn: why it went to another model than the turn before it
    # (its model retired, or the provider said it is gone; continuity.py).
    notice = models.CharField(max_length=300, blank=True)
    # The turn this one follows on its path (its answer and the ones above it are the model's
    # input); empty for a first turn. Turns with the same parent are versions of one another.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Came in with an import: its usage and cost are history from elsewhere, never spend here
    # (no charge in the ledger; left out of every sum of cost: SPENT_HERE).
    imported = models.BooleanField(default=False, editable=False)
    # Not a column: the `‹ 2 / 3 ›` switcher the turn's template draws, set where turns are read for a
    # page (a chat.selectors.Versions, or None; nothing in Python reads it back).
    versions: object

    objects = TurnManager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One generation at a time per conversation, across every process.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["queued", "in_progress"]),
                name="one_active_turn_per_conversation",
            ),
            # One prompt waits at a time per conversation: sending again while one waits edits it.
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(status="waiting"), name="one_waiting_turn_per_conversation"
            ),
            models.UniqueConstraint(fields=["client_token"], name="unique_turn_client_token"),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="turn_conv_created"),
            models.Index(fields=["status", "lease_expires_at"], name="turn_status_lease"),
            models.Index(fields=["created_at"], name="turn_created"),
            # The usage admin at a million turns (conversations/admin.py): filters that list in
            # time order without sorting, a response id found at once, and the sums of a filtered
            # list read from an index instead of the (large) rows.
            models.Index(fields=["status", "created_at"], name="turn_status_created"),
            models.Index(fields=["model", "created_at"], name="turn_model_created"),
            models.Index(fields=["error_code", "created_at"], name="turn_error_created"),
            models.Index(fields=["response_id"], name="turn_response_id"),
            models.Index(
                fields=["created_at", "status", "model", "error_code", *USAGE_COLUMNS, "imported"],
                name="turn_usage_time",
            ),
            models.Index(fields=["conversation", *USAGE_COLUMNS, "imported"], name="turn_usage_conversation"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt[:60]} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_waiting(self) -> bool:
        return self.status == self.Status.WAITING

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def can_retry(self) -> bool:
        return self.status in self.RETRYABLE

    @property
    def model_gone(self) -> bool:
        """The provider said the model is deprecated or unknown."""
        return self.error_code in MODEL_GONE_CODES

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.completed_at:
            return self.completed_at - self.started_at
        return None


class WaitingTurn(models.Model):
    """The queue: one row per turn that waits to start (status `waiting`), ordered and filtered by
    generation/scheduler.py with one indexed query per user. Deleted when the turn starts or is cancelled."""

    turn = models.OneToOneField(Turn, primary_key=True, on_delete=models.CASCADE, related_name="waiting")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # A follow-up: sent once this answer is complete. Failed or stopped: it waits for the user (Send now).
    follows = models.ForeignKey(Turn, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Its place in its owner's queue (an edit keeps it).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at", "turn"], name="waiting_owner_created")]

    def __str__(self) -> str:
        return f"waiting: {self.turn_id}"


class Charge(ChargedAt, TokenSums):
    """One upstream attempt that reported usage: the ledger every total reads.

    Written once by the app and never edited. It outlives the deletion of its
    conversation and turn (the prompt and answer go; the money stays, attributed
    to the user).
    """

    class Purpose(models.TextChoices):
        ANSWER = "answer", "Answer"
        TITLE = "title", "Title"
        CHECK = "check", "Admin check"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="charges")
    username = models.CharField(max_length=150, blank=True)
    # What the call was for: a turn's answer, a conversation's title (TITLE_MODEL), an admin's model check.
    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.ANSWER)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    turn = models.ForeignKey(Turn, null=True, blank=True, on_delete=models.SET_NULL, related_name="charges")
    attempt = models.PositiveIntegerField(default=1)
    model = models.CharField(max_length=100)
    response_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16)
    cost_usd = models.DecimalField(**USD, null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True)
    # The provider sent usage the client could not read (negative, fractional, absurd): charged at the
    # turn's estimate instead of $0, so budgets count a paid answer; flagged in the dashboard.
    usage_unknown = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One charge per attempt: a late worker or a second sweep records nothing twice.
            models.UniqueConstraint(fields=["turn", "attempt"], name="one_charge_per_attempt"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="charge_created"),
            models.Index(fields=["user", "created_at"], name="charge_user_created"),
            models.Index(fields=["model", "created_at"], name="charge_model_created"),
            # The usage dashboard and ledger admin (conversations/reports.py): percentiles and the
            # most expensive attempts read in index order from the nearer end, filters checked in
            # the index; the status filter and a response id without a scan.
            models.Index(fields=["duration_ms", "created_at", "user", "model", "status"], name="charge_duration"),
            models.Index(fields=["cost_usd", "created_at", "user", "model", "status"], name="charge_cost"),
            models.Index(fields=["status", "created_at"], name="charge_status_created"),
            models.Index(fields=["response_id"], name="charge_response_id"),
            # A prompt's hold (usage/holds.py): the newest answers of a model, read from the index alone.
            models.Index(
                fields=["model", "purpose", "created_at", "status", "usage_unknown", "output_tokens"],
                name="charge_model_answers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.cost_usd} USD ({self.status})"


class DailyUsage(TokenSums):
    """Charges summed per day, user, model and status, kept in step where a charge is written.

    The dashboards read this instead of scanning a million charges; a test proves
    it equals the sums of the charges.
    """

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=100)
    status = models.CharField(max_length=16)
    charges = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal(0))
    provider_cost_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal(0))
    duration_ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user", "model", "status"], name="one_daily_row")]
        indexes = [
            models.Index(fields=["user", "day"], name="daily_user_day"),
            # The dashboard groups a year of rows by (day, model, status) and by (user, model,
            # status) (conversations/reports.py): in index order, from the index alone.
            models.Index(fields=["day", "model", "status", "user", *ROLLUP_COLUMNS], name="daily_by_day"),
            models.Index(fields=["user", "model", "status", "day", *ROLLUP_COLUMNS], name="daily_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.status}"


class UserBudget(models.Model):
    """A user's monthly USD budget, overriding BUDGET_MONTHLY_USD. Empty: the default applies."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="budget")
    monthly_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    unlimited = models.BooleanField(default=False, help_text="No budget for this user, whatever the default.")

    def __str__(self) -> str:
        return f"budget of {self.user}"


class Share(models.Model):
    """A read-only link to a snapshot of a conversation, for signed-in users of this instance."""

    token = models.CharField(max_length=64, unique=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="shares")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    title = models.CharField(max_length=200)
    snapshot = models.JSONField(default=list)
    show_cost = models.BooleanField(default=False)
    show_thinking = models.BooleanField(default=False)
    show_attachments = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Not a column: the absolute link, set for the conversation page's Share menu (chat/pages.share_links).
    url: str

    def __str__(self) -> str:
        return f"share of {self.title}"


class ProviderCircuit(models.Model):
    """The circuit breaker's state, shared by every worker process (one row).

    After AIMLAPI_BREAKER_FAILURES outage-kind failures in a row the circuit opens:
    new prompts fail at once until `open_until`; then one worker claims the probe
    (`probe_until` is its lease) and its outcome closes or reopens the circuit.
    """

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    probe_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"provider circuit ({self.consecutive_failures} failures in a row)"


class TurnSeen(models.Model):
    """When a page of its owner last showed the turn: its open stream or its poll (conversations/notices/seen.py).
    An answer that ends while a page shows it sends no email."""

    turn = models.OneToOneField(Turn, primary_key=True, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"turn {self.turn_id} seen at {self.seen_at:%H:%M:%S}"

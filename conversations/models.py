import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


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

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conv_owner_updated")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.id])


class Turn(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        INCOMPLETE = "incomplete", "Incomplete"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.IN_PROGRESS)
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
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    response_json = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # Outcomes of earlier attempts (error, response id, usage), kept for admins.
    history = models.JSONField(default=list, blank=True)
    # Set when the prompt was edited or the answer regenerated: the newer turn.
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One generation at a time per conversation, across every process.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["queued", "in_progress"]),
                name="one_active_turn_per_conversation",
            ),
            models.UniqueConstraint(fields=["client_token"], name="unique_turn_client_token"),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="turn_conv_created"),
            models.Index(fields=["status", "lease_expires_at"], name="turn_status_lease"),
            models.Index(fields=["created_at"], name="turn_created"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt[:60]} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def can_retry(self) -> bool:
        return self.status in self.RETRYABLE

    @property
    def duration(self):
        if self.started_at and self.completed_at:
            return self.completed_at - self.started_at
        return None

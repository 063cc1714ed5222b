"""The tables of attachments, re-exported by `conversations/models.py` (one set of tables; kept here so
that module stays under 500 lines). Nothing here imports app code: migrations may read it as it is."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ModelInputs(models.Model):
    """What a catalogue row (AIModel) takes besides text: the composer offers Attach only for these."""

    accepts_images = models.BooleanField(
        default=True, help_text="Takes images (PNG, JPEG, WebP, GIF) in a prompt. Off: the composer hides Attach."
    )
    accepts_files = models.BooleanField(
        "accepts PDFs", default=True, help_text="Takes PDF files in a prompt (read as text plus an image per page)."
    )

    class Meta:
        abstract = True


class Attachment(models.Model):
    """An image or a PDF of a prompt: checked and stored (conversations/attachments/), sent with its turn.

    Uploaded first without a turn (the composer's list); sending the prompt gives it its turn. Each
    version of a turn has its own rows; rows with the same content share one stored file (`path`, named
    by its hash), removed once no row names it (attachments/storage.py).
    """

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        PDF = "pdf", "PDF"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments")
    turn = models.ForeignKey(
        "conversations.Turn", null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=255, help_text="The file's name as uploaded.")
    content_type = models.CharField(max_length=40)
    size = models.PositiveBigIntegerField(help_text="Bytes stored (an image after it was re-encoded).")
    sha256 = models.CharField(max_length=64)
    pages = models.PositiveIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # Input tokens it adds to a prompt (attachments/tokens.py), for the estimate and budgets.
    tokens = models.PositiveIntegerField(default=0)
    path = models.CharField(max_length=255, editable=False)
    thumbnail_path = models.CharField(max_length=255, blank=True, editable=False)
    thumbnail_size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "created_at"]
        indexes = [
            models.Index(fields=["turn", "position"], name="attachment_turn"),
            models.Index(fields=["owner", "turn", "created_at"], name="attachment_owner"),
            models.Index(fields=["path"], name="attachment_path"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.kind == self.Kind.IMAGE

    @property
    def long_side(self) -> int:
        return max(self.width or 0, self.height or 0) or 1

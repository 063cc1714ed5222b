from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from conversations.models import Turn


class Command(BaseCommand):
    help = (
        "Drop the stored raw response JSON of turns finished more than N days ago. Prompts, answers, "
        "usage, cost and the ledger stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, required=True, help="Keep the JSON of the last N days.")
        parser.add_argument("--batch", type=int, default=1000)
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be pruned.")

    def handle(self, *args, days, batch, dry_run, **options):
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        cutoff = timezone.now() - timedelta(days=days)
        old = Turn.objects.filter(completed_at__lt=cutoff, response_json__isnull=False)
        if dry_run:
            self.stdout.write(f"{old.count()} turns finished before {cutoff:%Y-%m-%d %H:%M} have response JSON.")
            return
        pruned = 0
        while True:
            # Batches keep each write transaction short (SQLite has one writer).
            ids = list(old.values_list("id", flat=True)[:batch])
            if not ids:
                break
            pruned += Turn.objects.filter(id__in=ids).update(response_json=None)
        self.stdout.write(f"Pruned the response JSON of {pruned} turns finished before {cutoff:%Y-%m-%d %H:%M}.")

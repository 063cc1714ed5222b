"""Rebuild the full-text search index from the stored conversations and turns.

    python manage.py search_rebuild

Safe at any time (one transaction; searches see the old index until it commits). Needed
only if the index was damaged or rows were written while its triggers were missing;
the triggers keep it in step otherwise (see conversations/search_index.py).
"""

import time

from django.core.management.base import BaseCommand
from django.db import connection

from conversations.history import search_index


class Command(BaseCommand):
    help = "Rebuild the full-text search index of titles, prompts and answers."

    def handle(self, *args, **options):
        started = time.monotonic()
        search_index.ensure_installed()
        count = search_index.rebuild()
        self.stdout.write(
            f"Search index rebuilt ({connection.vendor}): {count:,} titles and messages in "
            f"{time.monotonic() - started:.1f} s."
        )

from django.core.management.base import BaseCommand

from accounts import setup


class Command(BaseCommand):
    help = "Print the one-time link that creates the first administrator (while none exists)."

    def handle(self, *args, **options):
        if not setup.announce(self.stdout):
            self.stdout.write("An administrator exists: no setup link. Sign in, or use createsuperuser.")

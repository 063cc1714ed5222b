import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimlweb.settings")
application = get_wsgi_application()

# While no administrator exists, print the one-time link that creates one (`make run` shows it).
from accounts.setup import announce  # noqa: E402 (needs the app registry loaded above)

announce()

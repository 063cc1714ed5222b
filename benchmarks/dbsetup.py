"""Create the benchmark's users and print the effective settings as JSON.

    DJANGO_SETTINGS_MODULE=benchmarks.settings python -m benchmarks.dbsetup --users 20 --password PW

Run after `manage.py migrate`, with the same environment as the web and
worker processes, so the settings it prints are the ones they use.
"""

import argparse
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    # One hash for all: hashing is slow on purpose and the accounts are throwaway.
    password = make_password(args.password)
    User.objects.bulk_create(User(username=f"bench{i}", password=password) for i in range(args.users))
    consumer = settings.HUEY["consumer"]
    print(
        json.dumps(
            {
                "LIVE_POLL_MS": settings.LIVE_POLL_MS,
                "LIVE_POLL_HIDDEN_MS": getattr(settings, "LIVE_POLL_HIDDEN_MS", None),
                "LIVE_EVENTS": getattr(settings, "LIVE_EVENTS", None),
                "LIVE_EVENTS_INTERVAL_MS": getattr(settings, "LIVE_EVENTS_INTERVAL_MS", None),
                "HUEY_WORKERS": settings.HUEY_WORKERS,
                "HUEY_INITIAL_DELAY": consumer.get("initial_delay"),
                "HUEY_BACKOFF": consumer.get("backoff"),
                "HUEY_MAX_DELAY": consumer.get("max_delay"),
                "AIMLAPI_MODE": settings.AIMLAPI_MODE,
                "TURN_CANCEL_CHECK_SECONDS": settings.TURN_CANCEL_CHECK_SECONDS,
                "TURN_LEASE_SECONDS": settings.TURN_LEASE_SECONDS,
                "CONN_MAX_AGE": settings.DATABASES["default"].get("CONN_MAX_AGE"),
                "DATABASE_ENGINE": settings.DATABASES["default"]["ENGINE"],
                "DEBUG": settings.DEBUG,
            }
        )
    )


if __name__ == "__main__":
    main()

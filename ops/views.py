"""Health, readiness and metrics: cheap, unauthenticated (metrics: bearer token), revealing nothing sensitive."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import metrics
from .models import Heartbeat

WORKER_SEEN_WITHIN = timedelta(minutes=1)
_migrated = False  # once every migration is applied it stays so for this process


@require_GET
@never_cache
def healthz(request):
    """The process is alive and serving requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, asked for by browsers (and the admin's pages) whatever the page links: the app's icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def _database() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def _migrations() -> bool:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrated


def _queue() -> bool:
    from huey.contrib.djhuey import HUEY

    HUEY.pending_count()
    return True


def _worker() -> bool:
    seen = Heartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    return bool(seen and timezone.now() - seen <= WORKER_SEEN_WITHIN)


CHECKS = {"database": _database, "migrations": _migrations, "queue": _queue, "worker": _worker}


@require_GET
@never_cache
def readyz(request):
    """Ready to take prompts: 200 when every check passes, else 503 naming the failing checks (no details)."""
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = "ok" if check() else "failing"
        except Exception:
            results[name] = "failing"
    ok = all(value == "ok" for value in results.values())
    return JsonResponse({"status": "ok" if ok else "failing", "checks": results}, status=200 if ok else 503)


@require_GET
@never_cache
def prometheus(request):
    """Prometheus metrics, for a scraper holding METRICS_TOKEN; 404 when no token is configured."""
    if not settings.METRICS_TOKEN:
        raise Http404
    sent = request.headers.get("Authorization", "")
    if not secrets.compare_digest(sent.encode(), f"Bearer {settings.METRICS_TOKEN}".encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")

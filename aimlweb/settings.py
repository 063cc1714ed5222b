"""Settings for aimlweb, read from the environment (and `.env` when present).

Every variable is listed with a comment in `.env.example`. A value that cannot be
parsed stops start-up with a message naming the variable, instead of silently
falling back to a default.
"""

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from aimlweb.environment import (
    base_url_problem,
    email_config,
    env,
    env_bool,
    env_choice,
    env_list,
    env_number,
    env_usd,
    from_address_problem,
    parse_proxies,
    private_file,
    site_url_problem,
    weak_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

environ.Env.read_env(BASE_DIR / ".env")

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
# Only this account may read the prompts, sessions and keys kept here (0700; the SQLite files 0600).
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
try:
    DATA_DIR.chmod(0o700)
except PermissionError:  # a folder someone else owns: their choice
    pass


# The production switch: HTTPS only, secure __Host- cookies, HSTS, no generated secret key.
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)


def _secret_key() -> str:
    """Use SECRET_KEY, or generate one once and keep it in data/secret_key (mode 600)."""
    key = env.str("SECRET_KEY", default="")
    if HTTPS_ONLY and weak_secret_key(key):
        raise ImproperlyConfigured(
            "HTTPS_ONLY=true needs a real SECRET_KEY (50+ random characters), e.g. from "
            '`python -c "import secrets; print(secrets.token_urlsafe(50))"`; none is generated in production.'
        )
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # O_EXCL: when web and worker start together only one of them writes the key.
        try:
            fd = path.open("x", encoding="utf-8")
        except FileExistsError:
            pass
        else:
            with fd:
                path.chmod(0o600)
                fd.write(secrets.token_urlsafe(50))
    for _ in range(50):
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
        time.sleep(0.01)
    raise ImproperlyConfigured(f"{path} is empty; delete it or set SECRET_KEY.")


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
PORT = env_number("PORT", 8000, minimum=1)
# Who may create an account: open (anyone), approval (an admin approves each; default), closed
# (invites only). The first administrator comes only from the setup link printed at start-up.
SIGNUP = env_choice(
    "SIGNUP", "approval" if env_bool("SIGNUP_ENABLED", True) else "closed", ("open", "approval", "closed")
)
SIGNUP_ENABLED = SIGNUP != "closed"
# Base URL of the setup link, invitations and the links in emails (default: from ALLOWED_HOSTS and PORT).
SITE_URL = env.str("SITE_URL", default="").rstrip("/")
if SITE_URL and (problem := site_url_problem(SITE_URL, HTTPS_ONLY)):
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r} {problem}.")
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto, set SECURE_COOKIES=true.
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "huey.contrib.djhuey",
    "axes",
    "accounts",
    "conversations",
    "ops",
]

MIDDLEWARE = [
    "ops.logs.RequestIdMiddleware",
    # Reference reads (a model's catalogue row) done once per request: aimlweb/request_memo.py.
    "aimlweb.request_memo.RequestMemoMiddleware",
    # Django's own by name, as X-Frame-Options' below: `check --deploy` looks for both as named.
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise, able to run as a coroutine (aimlweb/middleware.py: no middleware here is sync only).
    "aimlweb.middleware.StaticFiles",
    "django.contrib.sessions.middleware.SessionMiddleware",  # may save the session: in a thread
    # Django's (and django-csp's) own, as `aimlweb.in_loop.X` where their hooks do no I/O: under ASGI
    # those run in the event loop rather than each in a thread and back (aimlweb/middleware.py InLoop).
    "aimlweb.in_loop.Common",
    "django.middleware.csrf.CsrfViewMiddleware",
    "aimlweb.in_loop.Authentication",
    "aimlweb.in_loop.Messages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "aimlweb.in_loop.ContentSecurityPolicy",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.NoStoreMiddleware",
    # Last, as django-axes requires: it answers a locked-out sign-in.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "aimlweb.urls"
WSGI_APPLICATION = "aimlweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "conversations.context_processors.site",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web and worker processes write to the same file: WAL lets readers run
    # beside a writer, IMMEDIATE takes the write lock at BEGIN (no upgrade
    # deadlocks), and the timeout waits for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    if str(DATABASES["default"]["NAME"]) != ":memory:":
        private_file(DATABASES["default"]["NAME"])
DATABASES["default"].setdefault("CONN_MAX_AGE", 0)
# PostgreSQL: a pool of connections per process (psycopg_pool). Under ASGI each request runs in a
# thread of its own, so a connection kept per thread (CONN_MAX_AGE) is never reused and every
# request would open one (about 20 ms here: docs/benchmarks.md, "Web server"); and the worker's
# generation threads give their connection back while they wait on the provider, so hundreds of
# answers in flight share a few. DATABASE_POOL_MAX connections at most per process.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_number("DATABASE_POOL_MAX", 20, minimum=1),
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Sign-in throttling (django-axes), on /login/ and /admin/login/ alike: after LOGIN_FAILURE_LIMIT
# wrong passwords for one user name from one address, that pair is refused (HTTP 429, even with
# the right password) for LOGIN_COOLOFF_MINUTES. Other users, and the same user elsewhere, are not.
AXES_FAILURE_LIMIT = env_number("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_number("LOGIN_COOLOFF_MINUTES", 15, float, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.middleware.client_ip"
AXES_USERNAME_CALLABLE = "accounts.middleware.axes_username"
AXES_VERBOSE = False


# The reverse proxies whose X-Forwarded-For is believed (the sign-in throttle's client address; gunicorn.conf.py
# gives uvicorn the same list). None by default: anyone could send the header, so it means nothing.
TRUSTED_PROXIES = parse_proxies(env.str("TRUSTED_PROXIES", default=""))
if env_number("TRUSTED_PROXY_COUNT", 0, minimum=0):
    raise ImproperlyConfigured(
        "TRUSTED_PROXY_COUNT was replaced by TRUSTED_PROXIES: name your reverse proxies' addresses, "
        "e.g. TRUSTED_PROXIES=127.0.0.1 for nginx on this machine (docs/deploy.md)."
    )
SESSION_COOKIE_AGE = int(env_number("SESSION_DAYS", 14, float, minimum=0.01) * 86400)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "aimlweb.storage.StaticFilesStorage"},
    # Attachments (conversations/attachments/): never under a public URL, served by a view to their owner.
    # Any django-storages backend works (README "Attachments": ATTACHMENTS_STORAGE_BACKEND and its options).
    "attachments": {
        "BACKEND": env.str("ATTACHMENTS_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env.json("ATTACHMENTS_STORAGE_OPTIONS", default={})
        or {"location": str(DATA_DIR / "media" / "attachments"), "base_url": None},
    },
}
# --- Attachments (README "Attachments") ---
# Bytes: one file, all files of one prompt, everything a user keeps; files per prompt.
ATTACHMENT_MAX_BYTES = env_number("ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
ATTACHMENT_MAX_PROMPT_BYTES = env_number("ATTACHMENT_MAX_PROMPT_BYTES", 50 * 1024 * 1024, minimum=1024)
ATTACHMENT_MAX_FILES = env_number("ATTACHMENT_MAX_FILES", 10, minimum=1)
ATTACHMENT_QUOTA_BYTES = env_number("ATTACHMENT_QUOTA_BYTES", 500 * 1024 * 1024, minimum=0)
# Images: the longest side kept (larger ones are scaled down), the most pixels decoded at all.
ATTACHMENT_IMAGE_MAX_SIDE = env_number("ATTACHMENT_IMAGE_MAX_SIDE", 2048, minimum=64)
ATTACHMENT_MAX_PIXELS = env_number("ATTACHMENT_MAX_PIXELS", 40_000_000, minimum=4096)
ATTACHMENT_PDF_MAX_PAGES = env_number("ATTACHMENT_PDF_MAX_PAGES", 100, minimum=1)
# The `detail` sent with images (low: 85 tokens each; high/auto: counted by tiles).
ATTACHMENT_IMAGE_DETAIL = env_choice("ATTACHMENT_IMAGE_DETAIL", "auto", ("auto", "low", "high"))

# Security headers. The pages use no inline script or style, so a strict CSP holds.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = SECURE_COOKIES or HTTPS_ONLY
CSRF_COOKIE_SECURE = SECURE_COOKIES or HTTPS_ONLY
if SECURE_COOKIES or HTTPS_ONLY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
if HTTPS_ONLY:
    # Behind a TLS proxy that sets (and strips from clients) X-Forwarded-Proto.
    SECURE_SSL_REDIRECT = True
    # Health checks and metrics scrapes may come over plain HTTP from the proxy's host.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # __Host-: the browser only accepts them over HTTPS, for this exact host, path /.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    if DEBUG:
        raise ImproperlyConfigured("HTTPS_ONLY=true refuses DEBUG=true (it shows settings and code to visitors).")
    if "ALLOWED_HOSTS" not in os.environ or "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "HTTPS_ONLY=true needs ALLOWED_HOSTS set to your host name(s), e.g. chat.example.com."
        )
    CSRF_TRUSTED_ORIGINS = CSRF_TRUSTED_ORIGINS or [f"https://{host.lstrip('.')}" for host in ALLOWED_HOSTS]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- AI/ML API -------------------------------------------------------------
AIMLAPI_KEY = env.str("AIMLAPI_KEY", default="")
AIMLAPI_BASE_URL = env.str("AIMLAPI_BASE_URL", default="https://api.aimlapi.com/v1").rstrip("/")
if urlsplit(AIMLAPI_BASE_URL).scheme not in ("http", "https") or not urlsplit(AIMLAPI_BASE_URL).netloc:
    raise ImproperlyConfigured(f"AIMLAPI_BASE_URL={AIMLAPI_BASE_URL!r} is not an http(s) URL.")
if urlsplit(AIMLAPI_BASE_URL).username or urlsplit(AIMLAPI_BASE_URL).password:
    raise ImproperlyConfigured("AIMLAPI_BASE_URL must not contain a user name or password.")
# The key travels to this URL: https unless it is this machine; no private or link-local
# addresses (cloud metadata, the office network) unless explicitly allowed.
AIMLAPI_ALLOW_PRIVATE = env_bool("AIMLAPI_ALLOW_PRIVATE", False)


if problem := base_url_problem(AIMLAPI_BASE_URL, AIMLAPI_ALLOW_PRIVATE):
    raise ImproperlyConfigured(f"AIMLAPI_BASE_URL={AIMLAPI_BASE_URL!r} {problem}.")
AIMLAPI_MODEL = env.str("AIMLAPI_MODEL", default="openai/gpt-5-pro")
AIMLAPI_MODELS = env_list("AIMLAPI_MODELS", AIMLAPI_MODEL)
if AIMLAPI_MODEL not in AIMLAPI_MODELS:
    AIMLAPI_MODELS.insert(0, AIMLAPI_MODEL)
# sync: one POST that waits for the whole answer; stream: SSE with live text;
# background: background=true, then poll GET /responses/{id} (resumable after a crash).
AIMLAPI_MODE = env_choice("AIMLAPI_MODE", "sync", ("sync", "stream", "background"))
AIMLAPI_CONNECT_TIMEOUT = env_number("AIMLAPI_CONNECT_TIMEOUT", 10, float, minimum=0.1)
# Without streaming no byte arrives until the answer is done, so this must
# exceed the slowest generation (gpt-5-pro: several minutes).
AIMLAPI_READ_TIMEOUT = env_number("AIMLAPI_READ_TIMEOUT", 1200, float, minimum=0.1)
# Attempts for errors that are safe to repeat (429, 5xx, connection refused).
AIMLAPI_MAX_ATTEMPTS = env_number("AIMLAPI_MAX_ATTEMPTS", 4, minimum=1)
AIMLAPI_BACKOFF_SECONDS = env_number("AIMLAPI_BACKOFF_SECONDS", 1.0, float, minimum=0)
AIMLAPI_RETRY_AFTER_MAX = env_number("AIMLAPI_RETRY_AFTER_MAX", 30.0, float, minimum=0)
AIMLAPI_POLL_INTERVAL = env_number("AIMLAPI_POLL_INTERVAL", 2.0, float, minimum=0.01)
# USD per million tokens, "model=input:output;..." (AI/ML API list price for gpt-5-pro).
AIMLAPI_PRICES = env.str("AIMLAPI_PRICES", default="openai/gpt-5-pro=20.631:165.048")
AIMLAPI_DEMO = env_bool("AIMLAPI_DEMO", False)


# Monthly budgets in USD (empty: none). A user's own budget, set in the admin, overrides the
# default; the instance budget caps everyone together. Prompts that could pass one are refused.
BUDGET_MONTHLY_USD = env_usd("BUDGET_MONTHLY_USD")
INSTANCE_BUDGET_MONTHLY_USD = env_usd("INSTANCE_BUDGET_MONTHLY_USD")
# What a prompt is held at while it runs (conversations/usage/holds.py): "typical", what answers of its
# model really take here (an answer that takes more is charged in full), or "worst", its most.
BUDGET_HOLD = env_choice("BUDGET_HOLD", "typical", ("typical", "worst"))
MAX_PROMPT_CHARS = env_number("MAX_PROMPT_CHARS", 100_000, minimum=1)
# A cheap catalogue model asked for a short title once a conversation's first answer is in
# (conversations/titles.py), charged like any answer. Empty (the default): titles come from the
# first prompt only.
TITLE_MODEL = env.str("TITLE_MODEL", default="")
# Largest file the import page takes (an export of all of one's conversations), in bytes.
IMPORT_MAX_BYTES = env_number("IMPORT_MAX_BYTES", 100 * 1024 * 1024, minimum=1024)
# What one imported conversation may hold: it is validated whole in memory, so these bound an import's memory.
IMPORT_MAX_TURNS = env_number("IMPORT_MAX_TURNS", 10_000, minimum=1)
IMPORT_MAX_ATTEMPTS = env_number("IMPORT_MAX_ATTEMPTS", 100, minimum=0)  # earlier attempts of one turn
IMPORT_MAX_CONVERSATION_MB = env_number("IMPORT_MAX_CONVERSATION_MB", 32, float, minimum=1)
MAX_INSTRUCTIONS_CHARS = env_number("MAX_INSTRUCTIONS_CHARS", 20_000, minimum=1)
# Per user, across every process (counted in the database): answers being generated at once
# (past it a prompt is queued: conversations/generation/scheduler.py), and prompts sent in the
# last hour (0: no hourly limit; past it a prompt is refused).
MAX_ACTIVE_TURNS_PER_USER = env_number("MAX_ACTIVE_TURNS_PER_USER", 3, minimum=1)
MAX_PROMPTS_PER_HOUR = env_number("MAX_PROMPTS_PER_HOUR", 60, minimum=0)
# Bounded reads from the provider: a whole response body, one SSE line, and the raw JSON kept per turn.
AIMLAPI_MAX_RESPONSE_BYTES = env_number("AIMLAPI_MAX_RESPONSE_BYTES", 32 * 1024 * 1024, minimum=1024)
AIMLAPI_MAX_SSE_LINE_BYTES = env_number("AIMLAPI_MAX_SSE_LINE_BYTES", 4 * 1024 * 1024, minimum=1024)
AIMLAPI_MAX_STORED_JSON_BYTES = env_number("AIMLAPI_MAX_STORED_JSON_BYTES", 1024 * 1024, minimum=1024)
# Circuit breaker: after this many server errors in a row, new prompts fail at once for the
# cool-down, then one probe goes through.
AIMLAPI_BREAKER_FAILURES = env_number("AIMLAPI_BREAKER_FAILURES", 5, minimum=1)
AIMLAPI_BREAKER_COOLDOWN = env_number("AIMLAPI_BREAKER_COOLDOWN", 60.0, float, minimum=1)

# --- Background work (Huey) ----------------------------------------------------
# Consumer threads take tasks off the queue and hand turns to the generation pool,
# whose threads (up to GENERATION_THREADS, started as needed) wait on the provider.
HUEY_WORKERS = env_number("HUEY_WORKERS", 4, minimum=1)
# 1024: enough that only each user's own limit holds answers back (1,000 in flight: 161 MiB, about
# 0.1-0.5 MiB each; docs/benchmarks.md, "The queue").
GENERATION_THREADS = env_number("GENERATION_THREADS", 1024, minimum=1)
# How long a running turn may go without a heartbeat before the sweeper takes it back.
TURN_LEASE_SECONDS = env_number("TURN_LEASE_SECONDS", 90, minimum=5)
# How often a running worker checks whether its turn was stopped.
TURN_CANCEL_CHECK_SECONDS = env_number("TURN_CANCEL_CHECK_SECONDS", 1.0, float, minimum=0.05)
# REDIS_URL switches the task queue from a SQLite file to Redis (several machines can share it;
# idle workers wait in a blocking pop instead of polling).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    if urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} is not a redis://, rediss:// or unix:// URL.")
    _queue = {"huey_class": "huey.RedisHuey", "url": REDIS_URL, "blocking": True, "read_timeout": 1}
else:
    _queue = {
        "huey_class": "huey.SqliteHuey",
        "filename": env.str("HUEY_FILENAME", default=str(DATA_DIR / "huey.sqlite3")),
    }
HUEY = {
    **_queue,
    "name": env.str("HUEY_NAME", default="aimlweb"),
    "immediate": env_bool("HUEY_IMMEDIATE", False),
    "results": False,
    "consumer": {
        "workers": HUEY_WORKERS,
        "worker_type": "thread",
        # Idle workers look for new tasks at least this often: a new prompt
        # starts within ~0.1 s instead of waiting on Huey's default 10 s backoff.
        "initial_delay": 0.05,
        "backoff": 1.15,
        "max_delay": env_number("HUEY_MAX_DELAY", 0.1, float, minimum=0.01),
        "periodic": True,
        "check_worker_health": True,
    },
}
if "filename" in HUEY:
    private_file(HUEY["filename"])
# How often a page asks for news of a running answer while the tab is visible,
# and while it is hidden (the title and a notification still tell of an arrival).
LIVE_POLL_MS = env_number("LIVE_POLL_MS", 300, minimum=100)
LIVE_POLL_HIDDEN_MS = env_number("LIVE_POLL_HIDDEN_MS", 5000, minimum=100)
# Pushed live updates: server-sent events at /events/ (conversations/live.py), served under ASGI
# (gunicorn's uvicorn workers, the default); pages poll as above when streams are off or blocked.
# One watcher per web process looks every LIVE_EVENTS_INTERVAL_MS whether anything was committed
# and if so reads what changed, for all its pages at once.
LIVE_EVENTS = env_bool("LIVE_EVENTS", True)
LIVE_EVENTS_INTERVAL_MS = env_number("LIVE_EVENTS_INTERVAL_MS", 20, minimum=5)
# How far each check looks back beyond the previous one (writes committed after their timestamp).
LIVE_EVENTS_OVERLAP = env_number("LIVE_EVENTS_OVERLAP", 5.0, float, minimum=0)
LIVE_EVENTS_HEARTBEAT_SECONDS = env_number("LIVE_EVENTS_HEARTBEAT_SECONDS", 15.0, float, minimum=1)
LIVE_EVENTS_RETRY_MS = env_number("LIVE_EVENTS_RETRY_MS", 2000, minimum=100)
# A stream ends after this long and the page reconnects (signed in again, caught up by event id).
LIVE_EVENTS_MAX_SECONDS = env_number("LIVE_EVENTS_MAX_SECONDS", 600.0, float, minimum=5)
# How often an open stream looks whether its session still holds (sign-out, "Sign out everywhere", a
# password change, a deactivated account end it within this long).
LIVE_EVENTS_SESSION_CHECK_SECONDS = env_number("LIVE_EVENTS_SESSION_CHECK_SECONDS", 5.0, float, minimum=0.01)

# --- Email (accounts/mail.py) ---------------------------------------------------
# EMAIL_URL: smtp://, smtp+tls://, smtp+ssl:// or consolemail:// (django-environ's email_url). Unset: email
# is off, except with DEBUG=true, where emails are printed by the process that sends them (the worker).
EMAIL_URL = env.str("EMAIL_URL", default="").strip()
EMAIL_ENABLED = bool(EMAIL_URL) or DEBUG
_email = email_config(EMAIL_URL or "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"]
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS, EMAIL_USE_SSL = _email.get("EMAIL_USE_TLS", False), _email.get("EMAIL_USE_SSL", False)
if EMAIL_URL and not EMAIL_URL.startswith("consolemail:") and not SITE_URL:
    raise ImproperlyConfigured(
        "EMAIL_URL needs SITE_URL (the links in emails), e.g. SITE_URL=https://chat.example.com."
    )
# Seconds to wait on the mail server (connect, each reply): a stuck server fails the send, which is retried.
EMAIL_TIMEOUT = env_number("EMAIL_TIMEOUT", 10.0, float, minimum=0.1)
# Connections to the mail server at once from the worker (its sender threads, started as needed).
EMAIL_THREADS = env_number("EMAIL_THREADS", 8, minimum=1)
# Days a sent email stays in the outbox (admin > Email notices) before the worker deletes it; unsent ones stay.
OUTBOX_KEEP_DAYS = env_number("OUTBOX_KEEP_DAYS", 30, minimum=1)
DEFAULT_FROM_EMAIL = (
    env.str("DEFAULT_FROM_EMAIL", default="") or f"aimlweb <noreply@{urlsplit(SITE_URL).hostname or 'localhost'}>"
)
if problem := from_address_problem(DEFAULT_FROM_EMAIL):
    raise ImproperlyConfigured(f"DEFAULT_FROM_EMAIL={DEFAULT_FROM_EMAIL!r} {problem}.")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PASSWORD_RESET_TIMEOUT = 3600 * 3  # a reset link works for three hours

# Prometheus metrics at /metrics need "Authorization: Bearer <METRICS_TOKEN>"; unset: /metrics is off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# plain: one readable line per record; json: one JSON object per line with request and turn ids.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "ops.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "ops.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The Huey consumer attaches its own handler to "huey"; not propagating avoids double lines.
    # The Huey consumer gives the "huey" logger its own handler unless it has one: with JSON
    # lines it gets ours, so every line of the worker is JSON too.
    "loggers": {
        "urllib3": {"level": "WARNING"},
        "huey": {"level": "INFO", "propagate": False, **({"handlers": ["console"]} if LOG_FORMAT == "json" else {})},
    },
}

"""DealerCRM settings, read from the environment (see README "Environment variables" and .env.example).

Without DATABASE_URL the app runs on a SQLite file; without REDIS_URL Celery tasks run in-process and the
cache is local memory. That is the embedded default `make run` uses on a fresh machine.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# A secret has a default only in DEBUG: a production deployment that forgets it must not start.
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-dealercrm-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "axes",
    "dealercrm",
    "leads",
    "funnel",
    "baseclients",
    "defeats",
    "planning",
    "reports",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # An empty 405 (require_POST and friends) gets the error page in the layout (dealercrm/error_pages.py).
    "dealercrm.error_pages.MethodNotAllowedPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Which database a request reads from, when a replica is configured (dealercrm/db.py).
    "dealercrm.db.ReplicaMiddleware",
    # Last, so it sees the outcome of authentication (django-axes' requirement).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dealercrm.urls"
WSGI_APPLICATION = "dealercrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # The shared number and date filters (money, units, rate, day), in every template.
            "builtins": ["dealercrm.templatetags.numbers"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
# The development server answers each request in a thread of its own, and a persistent connection belongs to its
# thread: under a burst every thread kept one for DB_CONN_MAX_AGE and PostgreSQL ran out of connections. runserver
# therefore closes its connection after each request. Production (gunicorn, sync workers) keeps one connection per
# worker process for DB_CONN_MAX_AGE seconds: at most --workers connections per web container (docs/security.md).
RUNSERVER = len(sys.argv) > 1 and sys.argv[1] == "runserver"
if RUNSERVER:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif not env_bool("DB_JIT", False):
    # PostgreSQL's JIT compiles any plan its cost model rates above jit_above_cost; the funnel's aggregates are rated
    # far above it (per-lead grade look-ups) yet run in milliseconds, and compiling them took 1.4 s of a 1.6 s query
    # on the bench data set. An interactive app is better off without it (benchmarks/README.md).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
# An optional streaming replica for the heavy reads (dashboards, reports, exports, analyses): dealercrm/db.py says
# which requests read from it. A user who just wrote reads from the primary for REPLICA_PIN_SECONDS.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL") or None
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
    # Under tests the replica alias reads the test database through the primary's connection settings.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["dealercrm.db.ReplicaRouter"]
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 15)
# PgBouncer in transaction pooling mode between the app and PostgreSQL (DB_POOLER=pgbouncer, docs/scaling.md):
# DATABASE_URL names PgBouncer, DATABASE_DIRECT_URL PostgreSQL itself. A server connection serves one transaction of
# one client, then another client's, so nothing the app leaves on a connection may outlive its transaction:
# - no server-side cursors (Django's .iterator() opens them WITH HOLD outside a transaction and fetches later);
# - no prepared statements (psycopg prepares a statement run often enough; Django turns that off, kept off here);
# - no `-c jit=off` startup option (PgBouncer refuses options it does not track): the pooler's server connections
#   are started with JIT off instead (docker/pgbouncer/pgbouncer.ini, connect_query);
# - session advisory locks (an import or export holding its run) are taken on the `direct` connection
#   (reports.tasks), and the commands in POOLER_BYPASS_COMMANDS (migrations, the database shell) connect direct.
# Transaction-scoped state (SET LOCAL, pg_advisory_xact_lock) is what the app uses otherwise, and works pooled.
DB_POOLER = (env_str("DB_POOLER") or "").strip().lower()
if DB_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DB_POOLER must be empty or 'pgbouncer', got {DB_POOLER!r}")
DATABASE_DIRECT_URL = env_str("DATABASE_DIRECT_URL") or None
POOLER_BYPASS_COMMANDS = {"migrate", "prepare", "dbshell"}
if DB_POOLER:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DB_POOLER=pgbouncer needs a PostgreSQL DATABASE_URL (PgBouncer's address)")
    if not DATABASE_DIRECT_URL:
        raise ImproperlyConfigured("DB_POOLER=pgbouncer needs DATABASE_DIRECT_URL: PostgreSQL itself, for migrations "
                                   "and the session locks of imports and exports")
    direct = dj_database_url.parse(DATABASE_DIRECT_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"])
    direct["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
    pooled = DATABASES["default"]
    pooled["DISABLE_SERVER_SIDE_CURSORS"] = True
    pooled["OPTIONS"] = {k: v for k, v in pooled.get("OPTIONS", {}).items()
                         if k not in ("options", "server_side_binding")} | {"prepare_threshold": None}
    if len(sys.argv) > 1 and sys.argv[1] in POOLER_BYPASS_COMMANDS:
        DATABASES["default"] = direct
    else:
        direct["TEST"] = {"MIRROR": "default"}
        DATABASES["direct"] = direct
REPLICA_READ_PATHS = env_list("REPLICA_READ_PATHS", [
    "/funnel/", "/api/v1/funnel/", "/leads/export", "/reports/", "/api/v1/reports/",
    "/defeats/analysis", "/api/v1/defeats/metrics/", "/base-clients/analytics", "/api/v1/base-clients/analytics/",
])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) are a PostgreSQL optimisation; SQLite (the embedded default) builds them without.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_USER_MODEL = "dealercrm.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection: lock a username from one address after repeated failures.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# In DEBUG (make run, tests) WhiteNoise serves straight from the app folders; production serves collectstatic output.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

REDIS_URL = env_str("REDIS_URL") or None


def redis_cache(url: str) -> dict:
    """The cache on Redis: an accelerator (dealercrm/cache.py). Unreachable, it falls back to local memory; the short
    timeouts make a dead Redis cost milliseconds per process every few seconds, not seconds per request."""
    return {"default": {
        "BACKEND": "dealercrm.cache.ResilientRedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "socket_connect_timeout": env_int("REDIS_CONNECT_TIMEOUT_MS", 300) / 1000,
            "socket_timeout": env_int("REDIS_TIMEOUT_MS", 1000) / 1000,
        },
    }}


if REDIS_URL:
    CACHES = redis_cache(REDIS_URL)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker and result backend; without REDIS_URL tasks run in-process (eager).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis redelivers an unacknowledged message after visibility_timeout; the hard time limit stays below it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TIMEZONE = TIME_ZONE
# The daily jobs (leads.tasks), in TIME_ZONE (Asia/Shanghai). Overdue runs hourly: cheap when there is nothing to do,
# and a missed midnight run is made up within the hour. Each job sweeps by condition, so order and misses are harmless;
# `expires` drops a run that waited in the queue past the next one. Run exactly one beat.
# How many database connections a job's batches use at once (leads.services.jobs): each batch is its own
# transaction over its own id range, so on PostgreSQL they run side by side (2 cores: a first run over a backlog
# takes ~0.6× the time, benchmarks/README.md). 1 runs them one after the other.
JOBS_WORKERS = int(os.environ.get("JOBS_WORKERS", "2"))
# Seconds without a heartbeat (every committed batch beats, a batch takes seconds) after which a running job run
# counts as abandoned: its worker was killed (dealercrm.jobs.close_abandoned_runs).
JOBS_HEARTBEAT_TIMEOUT = env_int("JOBS_HEARTBEAT_TIMEOUT", 600)
# A job run that changed at least this many rows vacuums and analyses the tables it wrote when it ends
# (dealercrm.jobs.tidy_tables), so the next morning's pages are not planned on stale statistics.
JOBS_TIDY_MIN_ROWS = env_int("JOBS_TIDY_MIN_ROWS", 5000)
# Lists (the lead list page, every paginated API list) count their rows exactly up to this many; past it they say
# "more than" and page on without a total (dealercrm.pagination).
LIST_COUNT_CAP = env_int("LIST_COUNT_CAP", 10_000)
# Seconds an import (reading or importing) or a background export may go without a sign of life (every batch and
# chunk beats, each takes seconds) before it counts as stalled: its worker died (reports.services.stalls). The page
# then offers to resume the import or retry the export, long before the broker's redelivery (visibility_timeout).
IMPORT_STALL_SECONDS = env_int("IMPORT_STALL_SECONDS", 300)
# The most data rows one import reads (reports.workbooks: counted as read, whatever the sheet declares).
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 100_000)
# Seconds between two drains of the funnel's rollup marks (funnel.tasks.drain_rollups).
ROLLUPS_DRAIN_SECONDS = env_int("ROLLUPS_DRAIN_SECONDS", 10)
CELERY_BEAT_SCHEDULE = {
    "flag-overdue-follow-ups": {
        "task": "leads.tasks.flag_overdue_follow_ups",
        "schedule": crontab(minute=10),
        "options": {"expires": 50 * 60},
    },
    "flag-stale-leads": {
        "task": "leads.tasks.flag_stale_leads",
        "schedule": crontab(hour=0, minute=20),
        "options": {"expires": 12 * 3600},
    },
    "reclaim-overdue-leads": {
        "task": "leads.tasks.reclaim_overdue_leads",
        "schedule": crontab(hour=0, minute=30),
        "options": {"expires": 12 * 3600},
    },
    "send-daily-digests": {
        "task": "leads.tasks.send_daily_digests",
        "schedule": crontab(hour=8, minute=0),
        "options": {"expires": 4 * 3600},
    },
    # The control points' state-now counts (funnel.lead_now): the rows past the overdue and stale thresholds folded
    # every minute (readers are exact without it, they only sum more rows). Every key's deltas are folded nightly by
    # reconcile-rollups, before its check (one full compaction a night, in run_jobs as under the beat).
    "compact-lead-now": {
        "task": "funnel.tasks.compact_lead_now",
        "schedule": 60,
        "options": {"expires": 60},
    },
    # The funnel's rollups (funnel.rollups): the store-days writes marked are recounted within seconds (readers count
    # a marked day live meanwhile, so nothing waits for this), and a sample is checked against the leads nightly.
    "drain-rollups": {
        "task": "funnel.tasks.drain_rollups",
        "schedule": ROLLUPS_DRAIN_SECONDS,
        "options": {"expires": ROLLUPS_DRAIN_SECONDS},
    },
    # The time-in-stage rows (funnel.rollups_stays): the leads writes marked are rebuilt within seconds (readers
    # compute a marked lead's rows live meanwhile).
    "drain-stays": {
        "task": "funnel.tasks.drain_stays",
        "schedule": ROLLUPS_DRAIN_SECONDS,
        "options": {"expires": ROLLUPS_DRAIN_SECONDS},
    },
    "reconcile-rollups": {
        "task": "funnel.tasks.reconcile_rollups",
        "schedule": crontab(hour=1, minute=20),
        "options": {"expires": 12 * 3600},
    },
    # A run whose worker was killed (no heartbeat for JOBS_HEARTBEAT_TIMEOUT) is closed as abandoned and its job sent
    # again, within ~15 minutes rather than at the broker's redelivery an hour later (leads.tasks).
    "recover-abandoned-jobs": {
        "task": "leads.tasks.recover_abandoned_jobs",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # An import or export whose worker died (no sign of life for IMPORT_STALL_SECONDS) is marked stalled; a stalled
    # reading of a file is sent again once (reports.tasks).
    "recover-stalled-imports": {
        "task": "reports.tasks.recover_stalled_runs",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # Base clients (baseclients.tasks): overdue care flagged hourly; care planned a window ahead nightly
    # (idempotent). The consultants' care due is a part of the morning digest (leads).
    "flag-overdue-care-tasks": {
        "task": "baseclients.tasks.flag_overdue_care_tasks",
        "schedule": crontab(minute=15),
        "options": {"expires": 50 * 60},
    },
    "plan-care-tasks": {
        "task": "baseclients.tasks.plan_care_tasks",
        "schedule": crontab(hour=0, minute=40),
        "options": {"expires": 12 * 3600},
    },
    # The month that ended: each store's pack, each group's store comparison (reports/services/files.py).
    "prepare-monthly-packs": {
        "task": "reports.tasks.prepare_monthly_packs",
        "schedule": crontab(day_of_month=1, hour=1, minute=0),
        "options": {"expires": 20 * 3600},
    },
}

# The largest API request body (JSON): no request of the API comes near it. Form posts are bounded by Django's
# DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) and DATA_UPLOAD_MAX_NUMBER_FIELDS (1000).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous call then gets 401 with a WWW-Authenticate header, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "dealercrm.api.pagination.StandardPagination",
    # The API takes JSON (415 for anything else); only a view that uploads a file adds multipart (imports), so the
    # schema offers one content type per operation and a client generated from it sends that one. JSON bodies over
    # API_MAX_BODY_BYTES (413) or nested deeper than 20 levels (400) are refused before parsing.
    "DEFAULT_PARSER_CLASSES": ["dealercrm.api.parsers.BoundedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dealercrm.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/minute"),
        "user": env_str("API_THROTTLE_USER", "5000/hour"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "DealerCRM API",
    "DESCRIPTION": (
        "REST API of DealerCRM, the CRM for car dealerships. Authenticate with a session or with "
        "`Authorization: Token <key>` (get a key from POST /api/v1/auth/token/). Every record is scoped "
        "by role: a consultant sees their own records, a manager their store, a group admin their group."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One enum per choice set, whatever the field is called (grade, grade_after, from_grade, ...).
    "ENUM_NAME_OVERRIDES": {"GradeEnum": "leads.models.Grade", "JobRunStatusEnum": "dealercrm.models.JobRun.Status",
                            "LeadStatusEnum": "leads.models.Status", "ImportKindEnum": "reports.models.ImportKind",
                            "TierEnum": "baseclients.models.Tier", "TierBasisEnum": "baseclients.models.TierBasis",
                            "CareKindEnum": "baseclients.models.CareKind",
                            "CareOutcomeEnum": "baseclients.models.CareOutcome",
                            "ChannelEnum": "baseclients.models.CareChannel",
                            "MethodEnum": "leads.models.FollowUpMethod",
                            "ClientKindEnum": "baseclients.models.ClientKind",
                            "FollowUpOutcomeEnum": "leads.models.FollowUpOutcome",
                            "DefeatKindEnum": "defeats.models.Kind",
                            # The lead's source keeps its name beside the events' guest source and kind.
                            "SourceEnum": "leads.models.Source", "EventKindEnum": "campaigns.models.EventKind",
                            "GuestSourceEnum": "campaigns.models.GuestSource", "PoolListEnum": "defeats.models.PoolList"},
    # The errors every operation can answer (400/401/403/404/413/429) documented everywhere (dealercrm/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "dealercrm.api.schema.add_error_responses"],
}

# Content Security Policy (Django 6 built-in): only our own static files; no inline scripts.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'self'"],
    "form-action": ["'self'"],
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Everything goes to the root's console once. Django's default "django" logger has a console handler of its own
# (with DEBUG) and propagates to the root as well, which wrote each of its records twice: here it keeps only
# mail_admins. A 403 is one line without a traceback (DenialLogFilter).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "denials": {"()": "dealercrm.error_pages.DenialLogFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "mail_admins": {"level": "ERROR", "filters": ["require_debug_false"],
                        "class": "django.utils.log.AdminEmailHandler"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.request": {"filters": ["denials"]},
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

DEMO_PASSWORD = "demo1234"

"""Settings for reviewapp, read from the environment (see docker/.env.example).

Every variable goes through a small typed helper that fails loudly, naming the variable,
when its value cannot be used.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from reviewapp.lib.cache import redis_cache
from reviewapp.lib.env import (
    GENERATE_A_KEY,
    check_secret_key,
    envbool,
    envhosts,
    envint,
    envlist,
    envrate,
    envsecret,
    envurl,
)
from reviewapp.lib.files import file_storages
from reviewapp.lib.logs import log_format, log_level, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state. Importing settings writes nothing (it must work in a read-only container): the
# folder is made by `make run` and by the commands that write into it.
VAR_DIR = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")

# A fixed key for DEBUG only, so a development server starts with nothing set up; its prefix
# makes `check --deploy` flag it, and check_secret_key refuses it with DEBUG=false.
_DEBUG_ONLY_SECRET_KEY = "django-insecure-reviewapp-development-only-never-use-in-production"


def _secret_key(*, debug: bool) -> str:
    """SECRET_KEY (or SECRET_KEY_FILE), else VAR_DIR/secret_key, which `make run` generates."""
    key = envsecret("SECRET_KEY")
    path = VAR_DIR / "secret_key"
    if not key and path.exists():
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"SECRET_KEY: {path} cannot be read: {exc}") from None
    if key:
        return key
    if debug:
        return _DEBUG_ONLY_SECRET_KEY
    raise ImproperlyConfigured(
        f"SECRET_KEY is not set and {path} is missing or empty. Set SECRET_KEY (or "
        f"SECRET_KEY_FILE), or write a key into that file ({GENERATE_A_KEY}); `make run` "
        "generates the file on its first run."
    )


DEBUG = envbool("DEBUG", "false")
SECRET_KEY = _secret_key(debug=DEBUG)
check_secret_key(SECRET_KEY, debug=DEBUG)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_filters",
    "django_scim",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "reviewapp.accounts",
    "reviewapp.catalog",
    "reviewapp.chains",
    "reviewapp.requestlog",
    "reviewapp.feedback",
    "reviewapp.monitoring",
    "reviewapp.queues",
    "reviewapp.adjudication",
    "reviewapp.reliability",
    "reviewapp.comparisons",
    "reviewapp.jobs",
    "reviewapp.exports",
    "reviewapp.judges",
    "reviewapp.chat",
    "reviewapp.front",
]

MIDDLEWARE = [
    # First: every line logged for a request, and its response, carry the request's id.
    "reviewapp.lib.logs.RequestIdMiddleware",
    # Early: counts and times every request for /metrics (no database query).
    "reviewapp.monitoring.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "reviewapp.accounts.middleware.SCIMAuthCheckMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: turns a sign-in refused by django-axes into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reviewapp.urls"
WSGI_APPLICATION = "reviewapp.wsgi.application"
ASGI_APPLICATION = "reviewapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviewapp.front.context_processors.site",
            ],
        },
    },
]

# Database: PostgreSQL in production (DATABASE_URL), an SQLite file under var/ by default.
# SQLite, by default or named by DATABASE_URL: WAL lets the web process read while a worker writes,
# and transactions take the write lock when they begin (waiting up to `timeout` seconds for it), so
# one that read first never fails at once with "database is locked" when it comes to write.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = envurl("DATABASE_URL", "", {"postgres", "postgresql", "postgis", "sqlite", "pgsql"})
if DATABASE_URL:
    # Health checks: a kept connection that a restarted server dropped is replaced before use,
    # rather than failing the first request of each worker.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", "60"), conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend with a health check that needs no round trip (a `SELECT 1` per request).
        DATABASES["default"]["ENGINE"] = "reviewapp.lib.postgresql"
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # An unreachable host fails a request within seconds, not the system's two minutes
        # (a connect_timeout in the URL wins).
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
        # Lets the hot compiled queries (reviewapp.lib.compiled) keep prepared statements; every
        # other query binds client-side and is never prepared. A pooler in transaction mode needs
        # prepared-statement support (PgBouncer 1.21+: max_prepared_statements).
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
    elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
else:
    DATABASES = {
        "default": {
            # Django's SQLite backend, making VAR_DIR on first connect.
            "ENGINE": "reviewapp.lib.embedded_sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out sign-in before any password is checked (django-axes'
    # AxesStandaloneBackend; ModelBackend below already answers permission checks).
    "reviewapp.accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Login lockout (django-axes) on every password form: allauth's sign-in and the admin's.
# Attempts are rows in the database, so a lockout survives restarts and a Redis outage.
# Locked per email + IP: by email alone, anyone could lock a colleague out.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")
LOGIN_COOLOFF_MINUTES = envint("LOGIN_COOLOFF_MINUTES", "15")
for _name, _value in (
    ("LOGIN_FAILURE_LIMIT", LOGIN_FAILURE_LIMIT),
    ("LOGIN_COOLOFF_MINUTES", LOGIN_COOLOFF_MINUTES),
):
    if _value < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1, not {_value}")
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "email"
AXES_USERNAME_CALLABLE = "reviewapp.accounts.lockout.username_of"
AXES_CLIENT_IP_CALLABLE = "reviewapp.accounts.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "reviewapp.accounts.lockout.lockout_response"
# Attempts made while locked out do not push the end of the lockout further, so the time the
# lockout page names holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner at every start; failures are still logged
# allauth's own failed-login limit (in the cache) would also pause an email from every address
# after 5 failures: keep only its per-address part; the lockout above is the per-account one.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip"}

# Redis: Celery broker, result backend and cache. Unset → the embedded default: a
# filesystem broker under var/ that a worker process started by `make run` consumes,
# so background jobs never run inside a web request.
REDIS_URL = envurl("REDIS_URL", "", {"redis", "rediss", "unix"})
CELERY_FS_BROKER_DIR = Path(os.environ.get("CELERY_FS_BROKER_DIR") or VAR_DIR / "broker")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A task of a killed worker comes back after this many seconds (Redis' default is an hour).
    # Jobs do not wait for it (the jobs sweep sends a dead worker's job again once its lease is out),
    # and they are claimed, so an early redelivery of a live task does nothing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "900")}
    # Only counts live in the cache (sign-in limits, API throttles): with Redis down they let
    # requests through instead of failing them, within short timeouts (reviewapp.lib.cache).
    CACHES = {"default": redis_cache(REDIS_URL)}
else:
    # The folders are made by reviewapp.celery when Celery is configured, not here.
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport, with whole-file writes and unreadable messages set aside
    # (in bad_folder, with a warning) instead of stopping the worker.
    CELERY_BROKER_TRANSPORT = "reviewapp.lib.filesystem_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_BROKER_DIR / "in"),
        "data_folder_out": str(CELERY_FS_BROKER_DIR / "in"),
        "processed_folder": str(CELERY_FS_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_FS_BROKER_DIR / "control"),
        "bad_folder": str(CELERY_FS_BROKER_DIR / "bad"),
        "store_processed": False,
        # Seconds a worker waits before it looks again, also when it is busy with as many tasks as
        # it prefetches: kombu's 1 s would cap a worker of two processes at about two jobs a second.
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = f"db+sqlite:///{CELERY_FS_BROKER_DIR / 'results.sqlite3'}"
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Where `celery beat` keeps its last run times (the same file for `make beat` and Docker's /data).
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Two queues, both consumed by every worker unless its command line picks (-Q): jobs and the
# rest on "celery", the periodic sweeps on "sweeps", so a sweep does not wait behind a backlog of
# jobs (a worker takes from its queues in turn). `-Q sweeps` makes a worker of their own.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"celery": {}, "sweeps": {}}
CELERY_TASK_ROUTES = {
    "reviewapp.jobs.sweep": {"queue": "sweeps"},
    "exports.sweep_mlflow_steps": {"queue": "sweeps"},
    "reviewapp.feedback.catch_up_summaries": {"queue": "sweeps"},
    "reviewapp.feedback.tasks.sweep_mlflow_sync": {"queue": "sweeps"},
    "judges.sweep_write_back": {"queue": "sweeps"},
    "reviewapp.adjudication.tasks.sweep_mlflow": {"queue": "sweeps"},
}
JOB_SWEEP_SECONDS = envint("JOB_SWEEP_SECONDS", "15")
# Periodic work, sent by exactly one `celery -A reviewapp beat` (`make beat`; `manage.py serve` starts one).
CELERY_BEAT_SCHEDULE = {
    # Feedback whose MLflow write-back failed (tracking store down) is retried until it lands.
    "feedback-mlflow-sweep": {
        "task": "reviewapp.feedback.tasks.sweep_mlflow_sync",
        "schedule": envint("FEEDBACK_MLFLOW_SWEEP_SECONDS", "300"),
    },
    # Feedback recorded since the last sum, summed for the dashboard and the log's filters (which
    # also sum it before they read: this only keeps their wait short).
    "feedback-summaries": {
        "task": "reviewapp.feedback.catch_up_summaries",
        "schedule": envint("FEEDBACK_SUMMARY_SECONDS", "10"),
        "options": {"expires": 40},
    },
    # Adjudications whose write-back to their MLflow trace failed, or whose message was lost.
    "adjudication-mlflow-sweep": {
        "task": "reviewapp.adjudication.tasks.sweep_mlflow",
        "schedule": envint("FEEDBACK_MLFLOW_SWEEP_SECONDS", "300"),
    },
    # Judge results whose write-back to their MLflow trace failed, or whose message was lost.
    "judges-mlflow-sweep": {
        "task": "judges.sweep_write_back",
        "schedule": envint("JUDGES_MLFLOW_SWEEP_SECONDS", "300"),
    },
    # Jobs are rows first, messages second: this sends again what a lost message or a dead worker
    # left. A sweep still not taken after four intervals is dropped (under a long stall of every
    # worker they would pile up; one that runs late does the work of those it replaces).
    "jobs-sweep": {
        "task": "reviewapp.jobs.sweep",
        "schedule": JOB_SWEEP_SECONDS,
        "options": {"expires": 4 * JOB_SWEEP_SECONDS},
    },
    # The same for the MLflow step of exports (not sent, lost, its worker died, its retry lost).
    "exports-mlflow-sweep": {
        "task": "exports.sweep_mlflow_steps",
        "schedule": JOB_SWEEP_SECONDS,
        "options": {"expires": 4 * JOB_SWEEP_SECONDS},
    },
}
# A send to the broker gets one try of at most this many seconds (connecting, each reply), so a
# request never waits on a broker that is down; what was not sent, the sweeps send later.
TASK_SEND_TIMEOUT_SECONDS = envint("TASK_SEND_TIMEOUT_SECONDS", "1")
# A running job's worker (or an export MLflow step's) renews its lease every third of this; once
# it stops (the worker died), the next sweep sends the job again and another worker takes it
# over: within lease + sweep.
JOB_LEASE_SECONDS = envint("JOB_LEASE_SECONDS", "30")
# A queued job whose message was sent this long ago is sent again: a broker restarted without
# persistence lost it (a duplicate does nothing: the job is claimed once).
JOB_RESEND_SECONDS = envint("JOB_RESEND_SECONDS", "60")
# At most this many jobs (and as many export MLflow steps) are sent by one sweep.
JOB_SWEEP_LIMIT = envint("JOB_SWEEP_LIMIT", "200")
# A running job (or export MLflow step) that reports no progress for this long is taken to be hung:
# its heartbeat stops renewing the lease, and another worker takes it over (the hung one's later
# writes are refused). Generous: a single step of a job (an MLflow call) may take long.
JOB_STALL_SECONDS = envint("JOB_STALL_SECONDS", "1800")

# MLflow: a SQLite tracking store under var/ by default (the file store is in maintenance mode).
MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{VAR_DIR / 'mlflow.db'}"
MLFLOW_ARTIFACT_ROOT = os.environ.get("MLFLOW_ARTIFACT_ROOT") or str(VAR_DIR / "mlartifacts")
MLFLOW_DEMO_MODEL_NAME = os.environ.get("MLFLOW_DEMO_MODEL_NAME", "reviewapp-demo")
# Each chain call reads its trace back at once to log the turn: synchronous export costs
# ~50 ms, where flushing MLflow's async queue costs ~1 s per call.
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")

# Chains
CHAIN_TIMEOUT_SECONDS = envint("CHAIN_TIMEOUT_SECONDS", "60")
# Each web worker loads the live apps' MLflow models as it starts, so no question waits for one.
CHAIN_WARMUP = envbool("CHAIN_WARMUP", "true")
# Seconds between the demo chain's streamed pieces of an answer, so its answers visibly stream.
DEMO_STREAM_DELAY_SECONDS = float(os.environ.get("DEMO_STREAM_DELAY_SECONDS", "0.04") or 0)
# Largest answer read from an HTTP chain (a whole body, or a stream in total): a chain is not
# trusted, and a larger answer would be held in the web process's memory.
CHAIN_MAX_RESPONSE_BYTES = envint("CHAIN_MAX_RESPONSE_BYTES", "10485760")  # 10 MiB
if CHAIN_MAX_RESPONSE_BYTES < 1024:
    raise ImproperlyConfigured(
        f"CHAIN_MAX_RESPONSE_BYTES must be at least 1024, not {CHAIN_MAX_RESPONSE_BYTES}"
    )
# Variables an app's secret_env may name besides CHAIN_SECRET_*; our own settings are refused
# at start-up (reviewapp.chains.egress.check_settings).
CHAIN_SECRET_ENV = envlist("CHAIN_SECRET_ENV", "")
# Non-public hosts / host:port / *.domain / IPs / CIDRs chains may reach; public ones always may.
CHAIN_URL_ALLOW = envlist("CHAIN_URL_ALLOW", "")
# LLM judges (reviewapp.judges.llm): the wait for one answer of a judge model, the attempts at a
# call that failed for a passing reason (down, overloaded, too slow) and the first wait between
# them (doubled each time), and the MLflow model-URI providers (openai, anthropic...) a judge may
# name instead of an endpoint: those calls spend this server's own provider keys, so none by default.
JUDGE_TIMEOUT_SECONDS = envint("JUDGE_TIMEOUT_SECONDS", "60")
JUDGE_ATTEMPTS = max(1, envint("JUDGE_ATTEMPTS", "3"))
JUDGE_RETRY_SECONDS = float(os.environ.get("JUDGE_RETRY_SECONDS", "1") or 1)
JUDGE_MODEL_PROVIDERS = envlist("JUDGE_MODEL_PROVIDERS", "")
# Who may create apps: "staff", or "managers" (staff and anyone who manages an app).
APP_CREATORS = os.environ.get("APP_CREATORS", "staff").strip().lower()
if APP_CREATORS not in {"staff", "managers"}:
    raise ImproperlyConfigured(f"APP_CREATORS must be staff or managers, not {APP_CREATORS!r}")

# The demo users' password (`manage.py load_demo`); unset → generated once into var/demo_password.
DEMO_PASSWORD = envsecret("DEMO_PASSWORD")

# Exports and uploads: folders on this machine, or keys in an S3-compatible bucket when S3_BUCKET
# is set (web and workers on other machines then share them); see reviewapp.lib.files. Workers
# build exports in EXPORT_DIR/.tmp either way.
EXPORT_DIR = Path(os.environ.get("EXPORT_DIR") or VAR_DIR / "exports")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"
FILE_STORAGES = file_storages(EXPORT_DIR, MEDIA_ROOT)
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(10 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# Single sign-on (OpenID Connect through django-allauth); on when OIDC_ISSUER is set.
OIDC_ISSUER = envurl("OIDC_ISSUER", "", {"http", "https"})
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = envsecret("OIDC_CLIENT_SECRET")
OIDC_NAME = os.environ.get("OIDC_NAME", "Single sign-on")
OIDC_ALLOWED_DOMAINS = [d.lower().lstrip("@") for d in envlist("OIDC_ALLOWED_DOMAINS", "")]
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "")
OIDC_ENABLED = bool(OIDC_ISSUER and OIDC_CLIENT_ID)
if OIDC_ISSUER and not OIDC_CLIENT_ID:
    raise ImproperlyConfigured("OIDC_ISSUER is set but OIDC_CLIENT_ID is not")

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ALLOW_SIGNUPS = envbool("ALLOW_SIGNUPS", "false")
ACCOUNT_ADAPTER = "reviewapp.accounts.sso.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "reviewapp.accounts.sso.SocialAccountAdapter"
# Sign-in starts with a POST (a CSRF-protected form); a GET shows a confirmation page.
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
# Placeholders and local accounts are claimed by email in accounts.sso, with the allowed-domain
# and deactivation checks first; allauth's own email matching would bypass those.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_ONLY = False
# The OIDC app itself is built from the OIDC_* settings by SocialAccountAdapter.list_apps, so
# tests can point it at a loopback provider with override_settings. The provider class is ours
# because allauth skips the ID-token signature check when the token came from the token endpoint.
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "provider_class": "reviewapp.accounts.sso.OIDCProvider",
        "OAUTH_PKCE_ENABLED": True,
    }
}

# SCIM 2.0 provisioning (django-scim2); on when SCIM_TOKEN is set.
SCIM_TOKEN = envsecret("SCIM_TOKEN")
# Locations in SCIM answers start with SITE_URL when it is set, else with the request's own host.
SCIM_SITE_URL = SITE_URL if os.environ.get("SITE_URL", "").strip() else ""
SCIM_SERVICE_PROVIDER = {
    "BASE_LOCATION_GETTER": "reviewapp.accounts.scim.base_location",
    "SCHEMAS_GETTER": "reviewapp.accounts.scim.resource_schemas",
    "GROUP_MODEL": "reviewapp.accounts.models.Group",
    "USER_ADAPTER": "reviewapp.accounts.scim.SCIMUser",
    "GROUP_ADAPTER": "reviewapp.accounts.scim.SCIMGroup",
    "USER_FILTER_PARSER": "reviewapp.accounts.scim_filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "reviewapp.accounts.scim_filters.GroupFilterQuery",
    "SERVICE_PROVIDER_CONFIG_MODEL": "reviewapp.accounts.scim.ServiceProviderConfig",
    "AUTH_CHECK_MIDDLEWARE": "reviewapp.accounts.scim.SCIMViewAuthCheck",
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="SCIM"',
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Bearer token from the SCIM_TOKEN environment variable",
            "primary": True,
        }
    ],
}

# API throttles (reviewapp.accounts.throttling): `user` is every user's whole API budget, all
# tokens and the session together; the others limit costly actions per API token (per user for
# session requests).
API_THROTTLE_RATES = {
    "user": envrate("API_THROTTLE_USER", "1200/min"),
    "feedback": envrate("API_THROTTLE_FEEDBACK", "600/min"),
    "invocations": envrate("API_THROTTLE_INVOCATIONS", "60/min"),
    "imports": envrate("API_THROTTLE_IMPORTS", "20/hour"),
    "exports": envrate("API_THROTTLE_EXPORTS", "30/hour"),
}

REST_FRAMEWORK = {
    "DEFAULT_THROTTLE_CLASSES": [
        "reviewapp.accounts.throttling.ApiThrottle",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "reviewapp.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON in, JSON out: any other body is a 415, and /api/docs/ is the page to browse the API.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["reviewapp.lib.parsers.JSONParser"],
    # Any Accept header gets the JSON answer (or the stream the body asked for), never a 406.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "reviewapp.lib.parsers.JSONNegotiation",
    "EXCEPTION_HANDLER": "reviewapp.front.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "reviewapp API",
    "DESCRIPTION": "Expert feedback on LLM / RAG applications: apps, permissions, invocations, feedback, "
    "request logs, review queues and exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get schemas of their own, so a required text says it may not be blank (minLength).
    "COMPONENT_SPLIT_REQUEST": True,
    # Each operation lists the errors it can answer, in one shape (front.api_errors).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reviewapp.front.api_schema.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {"RatingEnum": ["positive", "negative"]},
    # Swagger UI from our own static files (drf-spectacular-sidecar): /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
# Filled by collectstatic: at image build in Docker, and by `manage.py serve` before it starts.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    **FILE_STORAGES,
    # Outside DEBUG: hashed names (cached for ever by browsers) and gzip/brotli copies.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Security headers. Behind TLS: SSL_REDIRECT, HSTS_SECONDS and SESSION_COOKIE_SECURE on (with
# BEHIND_TLS_PROXY when a proxy terminates TLS); docker/.env.example shows the production values.
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "false")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_TLS_PROXY", "false") else None
)
SECURE_SSL_REDIRECT = envbool("SSL_REDIRECT", "false")
# Load balancers probe, and Prometheus scrapes, over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = envint("HSTS_SECONDS", "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("HSTS_INCLUDE_SUBDOMAINS", "false")
SECURE_HSTS_PRELOAD = envbool("HSTS_PRELOAD", "false")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


# Hosts besides our own that images in instructions' Markdown may load from; other images
# become links (reviewapp.catalog.markdown), so text cannot carry a tracking pixel.
MARKDOWN_IMAGE_HOSTS = envhosts("MARKDOWN_IMAGE_HOSTS", "")
# Hosts besides OIDC_ISSUER's that the sign-in form may end up on: browsers check every redirect
# that follows a form against form-action, e.g. an IdP that sends you straight on to another.
SIGN_IN_REDIRECT_HOSTS = envhosts("SIGN_IN_REDIRECT_HOSTS", "")


def _origin(url: str) -> list[str]:
    parts = urlparse(url)
    return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else []


# No inline script or style anywhere: htmx's own indicator style is off (base.html) and its CSS
# is in static/css/app.css. data: images are Pico's icons. Sign-in posts to our own URL, which
# redirects to the identity provider; browsers check that redirect against form-action.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *_origin(SITE_URL), *MARKDOWN_IMAGE_HOSTS],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF, *_origin(OIDC_ISSUER), *SIGN_IN_REDIRECT_HOSTS],
    "frame-ancestors": [CSP.NONE],
}
# /api/docs/ only: Swagger UI (served from our static files) has an inline <style> in its page.
# No inline script: the split view serves its start-up script from our URL.
SWAGGER_UI_CSP = {**SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}

# Logs: one JSON object a line by default, as log collectors read them in production; `make run`
# sets LOG_FORMAT=text for the person watching its console. Every line carries the request id (and
# in a task, the task's id and name): reviewapp.lib.logs; Celery: reviewapp.lib.task_logs.
LOG_FORMAT = log_format()
LOGGING_CONFIG = "reviewapp.lib.logs.configure"
LOGGING = logging_config(
    LOG_FORMAT,
    log_level(),
    levels={
        "alembic": "WARNING",
        "mlflow": "WARNING",
        # Failures and lockouts are warnings; every successful sign-in would be four lines.
        "axes": "WARNING",
    },
)
# Through our handler too: Django's own console handler (DEBUG) and runserver's print text lines.
LOGGING["loggers"]["django"] = {"handlers": [], "propagate": True}
LOGGING["loggers"]["django.server"] = {"handlers": [], "propagate": True}
# MLflow would give its loggers (and alembic's) a text handler of their own as it is imported.
os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
# Its artifact uploads would draw progress bars on standard error, which is a log in a server.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Celery keeps these handlers (reviewapp.lib.task_logs answers its setup_logging signal as well).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Prometheus at /metrics, for whoever holds METRICS_TOKEN (or METRICS_TOKEN_FILE); unset, there is
# no /metrics. The processes' counts are files in METRICS_DIR (reviewapp.monitoring.metrics), a
# folder the web and the Celery workers must share; made by the processes that count, not here.
METRICS_TOKEN = envsecret("METRICS_TOKEN")
METRICS_DIR = Path(os.environ.get("METRICS_DIR") or VAR_DIR / "metrics")

